"""Where app definitions refer to forms and fields, and how renames are followed.

A definition names forms and fields by key in many places: link `target` ("form"
or "app.form") and `display_field`, the link/subform and field of lookups and
rollups (and a rollup's `where`), expressions (formula, default_formula,
visible_if, rule formulas, with paths like `cust.name`, `parts.price` and
`$parent.qty`), a form's title field, layout and rule fields, and automations
(trigger form and fields, conditions, actions naming `app`/`form` and `values`
keyed by field key). Forms and fields keep their id when renamed, so a rename is
found by id (`find_renames`) and every reference that resolves to a renamed thing
is rewritten to its new key (`follow_renames`). Expressions are edited token by
token at parser positions, so the rest of their text stays byte-identical.

Two uses (engine/apps.py):

* another installed app refers to app A, and A's new version renames things: its
  references are resolved against A's *installed* definition (the keys it was
  written against) and rewritten to A's new keys;
* A's new definition still uses an old key of a renamed field or form: resolved
  against the new definition, an old key is read as the renamed thing only when
  nothing in the new definition has that key any more (a reused key means the new
  field).

Everything here tolerates malformed definitions (they are checked afterwards) and
leaves an expression that does not parse unchanged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field
from typing import Any, Iterator

from .model import (LOOKUP_LINK_PROPERTIES, ROLLUP_SOURCE_PROPERTIES, SOURCE_FIELD_PROPERTIES,
                    first_property)

#: Field properties holding an expression evaluated on the field's form (or subform row).
EXPRESSION_PROPERTIES = ("formula", "default_formula", "visible_if")

_PLAIN_KEY = re.compile(r"(?!\d)\w+")


# =========================================================================== renames
@dataclass
class Renames:
    """Renamed forms and fields of one app, by id: {id: (old key, new key)}."""

    app: str
    forms: dict[str, tuple[str, str]] = dc_field(default_factory=dict)
    #: (form id, field id) -> (old key, new key); subform children included
    fields: dict[tuple[str, str], tuple[str, str]] = dc_field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.forms or self.fields)


def _dicts(items: Any) -> list[dict]:
    return [x for x in items if isinstance(x, dict)] if isinstance(items, list) else []


def _fields_with_children(form: dict) -> Iterator[dict]:
    for fdef in _dicts(form.get("fields")):
        yield fdef
        if fdef.get("type") == "subform":
            yield from _dicts(fdef.get("fields"))


def find_renames(old: Any, new: Any) -> Renames:
    """The forms and fields (subform children included) whose key changed from `old` to `new`, matched by id."""
    app = old.get("key") if isinstance(old, dict) else None
    out = Renames(app if isinstance(app, str) else "")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return out
    old_forms = {_id(f): f for f in _dicts(old.get("forms")) if _id(f)}
    for form in _dicts(new.get("forms")):
        before = old_forms.get(_id(form))
        if before is None:
            continue
        if _is_key(before.get("key")) and _is_key(form.get("key")) and before["key"] != form["key"]:
            out.forms[form["id"]] = (before["key"], form["key"])
        old_fields = {_id(f): f for f in _fields_with_children(before) if _id(f)}
        for fdef in _fields_with_children(form):
            was = old_fields.get(_id(fdef))
            if was is not None and _is_key(was.get("key")) and _is_key(fdef.get("key")) \
                    and was["key"] != fdef["key"]:
                out.fields[(form["id"], fdef["id"])] = (was["key"], fdef["key"])
    return out


def _id(obj: dict) -> str | None:
    """The id of a form/field dict when it is text (a malformed one is ignored)."""
    value = obj.get("id")
    return value if isinstance(value, str) else None


def _is_key(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


# =========================================================================== resolving names
@dataclass(frozen=True)
class _Scope:
    """Fields an expression or property can name: a form's, or a subform's rows'."""

    app: str
    form: dict
    container: dict  # the form itself, or a subform field


class _World:
    """Installed definitions by app key, the renames of one app, and how keys resolve.

    `aliases` (own-definition mode): an old key that no longer exists also finds the
    renamed form/field. The key to write for a found thing is its new key.
    """

    def __init__(self, defs: dict[str, dict], renames: Renames, aliases: bool):
        self.defs = defs
        self.renames = renames
        self.aliases = aliases

    def form(self, app: str, key: Any) -> dict | None:
        defn = self.defs.get(app)
        if not isinstance(key, str) or not isinstance(defn, dict):
            return None
        forms = _dicts(defn.get("forms"))
        found = next((f for f in forms if f.get("key") == key), None)
        if found is None and self.aliases and app == self.renames.app:
            ids = {fid for fid, (was, _) in self.renames.forms.items() if was == key}
            found = next((f for f in forms if _id(f) in ids), None)
        return found

    def form_key(self, app: str, form: dict) -> str:
        if app == self.renames.app and _id(form) in self.renames.forms:
            return self.renames.forms[form["id"]][1]
        return form.get("key")

    def field(self, scope: _Scope, key: Any) -> dict | None:
        if not isinstance(key, str):
            return None
        fields = [f for f in _dicts(scope.container.get("fields"))]
        found = next((f for f in fields if f.get("key") == key), None)
        if found is None and self.aliases and scope.app == self.renames.app:
            form_id = _id(scope.form)
            ids = {fid for (frm, fid), (was, _) in self.renames.fields.items() if frm == form_id and was == key}
            found = next((f for f in fields if _id(f) in ids), None)
        return found

    def field_key(self, scope: _Scope, fdef: dict) -> str:
        if scope.app == self.renames.app:
            entry = self.renames.fields.get((_id(scope.form), _id(fdef)))
            if entry is not None:
                return entry[1]
        return fdef.get("key")

    def target(self, scope: _Scope, link: dict) -> _Scope | None:
        """The scope of the form a link field points to."""
        app, key = _split_target(link.get("target"), scope.app)
        form = self.form(app, key) if app else None
        return _Scope(app, form, form) if form is not None else None

    def through(self, scope: _Scope, fdef: dict) -> _Scope | None:
        """What a path continues into after `fdef`: a subform's rows or a link's target."""
        if fdef.get("type") == "subform":
            return _Scope(scope.app, scope.form, fdef)
        if fdef.get("type") == "link":
            return self.target(scope, fdef)
        return None


def _split_target(target: Any, own_app: str) -> tuple[str | None, str | None]:
    if not isinstance(target, str):
        return None, None
    if "." in target:
        app, form = target.split(".", 1)
        return app, form
    return own_app, target


# =========================================================================== recording edits
class _Edits:
    """What was rewritten, as (old full name, new full name) pairs, and the key changes to make.

    Keys and targets are changed only after the whole definition was walked: a link
    target must still name the form as the definition being resolved knows it.
    """

    def __init__(self):
        self.items: list[tuple[str, str]] = []
        self.sets: list[tuple[Any, Any, str]] = []

    def set(self, obj: Any, prop: Any, value: str) -> None:
        self.sets.append((obj, prop, value))

    def apply(self) -> None:
        for obj, prop, value in self.sets:
            obj[prop] = value

    def form(self, app: str, written: str, new: str) -> None:
        self.items.append((f"{app}.{written}", f"{app}.{new}"))

    def field(self, world: _World, scope: _Scope, written: str, new: str) -> None:
        old_form = scope.form.get("key")
        new_form = world.form_key(scope.app, scope.form)
        if world.aliases:  # resolved in the new definition: its form key is the new one
            old_form = world.renames.forms.get(_id(scope.form), (old_form,))[0]
        sub_old = sub_new = ""
        if scope.container is not scope.form:
            sub_old = f"{scope.container.get('key')}."
            sub_new = f"{world.field_key(_Scope(scope.app, scope.form, scope.form), scope.container)}."
        self.items.append((f"{scope.app}.{old_form}.{sub_old}{written}",
                           f"{scope.app}.{new_form}.{sub_new}{new}"))


# =========================================================================== expressions
def rewrite_expression(source: Any, keys_of) -> tuple[Any, int]:
    """(source with the field keys `keys_of` renames rewritten in place, number of edits).

    keys_of(node) -> list of (segment index, new key) for a `field`/`builtin` node.
    An expression that does not parse is returned unchanged.
    """
    if not isinstance(source, str):
        return source, 0
    from .expr.parser import parse
    try:
        tree = parse(source)
    except Exception:  # an invalid expression is reported by the definition checks
        return source, 0
    starts = [0]
    for i, ch in enumerate(source):
        if ch == "\n":
            starts.append(i + 1)
    spans: list[tuple[int, int, str]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.kind in ("field", "builtin"):
            offset = 1 if node.kind == "builtin" else 0
            for index, new in keys_of(node):
                line, col, end_line, end_col = node.ops[index + offset]
                start = starts[line - 1] + col - 1
                end = starts[end_line - 1] + end_col - 1
                spans.append((start, end, _written(source[start:end], new)))
        stack.extend(node.args)
    for start, end, text in sorted(spans, reverse=True):
        source = source[:start] + text + source[end:]
    return source, len(spans)


def _written(before: str, key: str) -> str:
    """`key` as a path segment: braces when the old one had them or the key needs them."""
    if before.startswith("{") or not _PLAIN_KEY.fullmatch(key) or key.lower() in ("true", "false"):
        return "{" + key + "}"
    return key


def _path_edits(world: _World, scope: _Scope | None, segments: tuple, edits: _Edits) -> list[tuple[int, str]]:
    """(index, new key) of each segment of a path that names a renamed field."""
    out = []
    for i, seg in enumerate(segments):
        if scope is None:
            break
        fdef = world.field(scope, seg)
        if fdef is None:
            break
        new = world.field_key(scope, fdef)
        if isinstance(new, str) and new != seg:
            out.append((i, new))
            edits.field(world, scope, seg, new)
        scope = world.through(scope, fdef)
    return out


def _expression(world: _World, source: Any, scope: _Scope | None, parent: _Scope | None,
                edits: _Edits) -> Any:
    if scope is None and parent is None:
        return source

    def keys_of(node):
        if node.kind == "field":
            return _path_edits(world, scope, node.value, edits)
        if node.value and node.value[0] == "parent":  # $parent.x: the record holding a row
            return _path_edits(world, parent, node.value[1:], edits)
        return []

    return rewrite_expression(source, keys_of)[0]


# =========================================================================== definitions
def _rename_key(world: _World, obj: Any, prop: Any, scope: _Scope | None, edits: _Edits) -> dict | None:
    """Rewrite obj[prop] (a dict's property or a list's item), a field key of `scope`; the field it names."""
    if scope is None:
        return None
    key = obj.get(prop) if isinstance(obj, dict) else obj[prop]
    fdef = world.field(scope, key)
    if fdef is not None:
        new = world.field_key(scope, fdef)
        if isinstance(new, str) and new != key:
            edits.field(world, scope, key, new)
            edits.set(obj, prop, new)
    return fdef


def _follow_link_target(world: _World, scope: _Scope, fdef: dict, edits: _Edits) -> _Scope | None:
    target = fdef.get("target")
    app, key = _split_target(target, scope.app)
    form = world.form(app, key) if app else None
    if form is None:
        return None
    new = world.form_key(app, form)
    if isinstance(new, str) and new != key:
        edits.form(app, key, new)
        edits.set(fdef, "target", f"{target.split('.', 1)[0]}.{new}" if "." in target else new)
    return _Scope(app, form, form)


def _follow_field(world: _World, scope: _Scope, parent: _Scope | None, fdef: dict, edits: _Edits) -> None:
    kind = fdef.get("type")
    if kind == "link":
        target = _follow_link_target(world, scope, fdef, edits)
        if "display_field" in fdef:
            _rename_key(world, fdef, "display_field", target, edits)
    elif kind in ("lookup", "rollup"):
        prop, _ = first_property(fdef, LOOKUP_LINK_PROPERTIES if kind == "lookup" else ROLLUP_SOURCE_PROPERTIES)
        source = _rename_key(world, fdef, prop, scope, edits) if prop else None
        rows = world.through(scope, source) if isinstance(source, dict) else None
        field_prop, _ = first_property(fdef, SOURCE_FIELD_PROPERTIES)
        if field_prop:
            _rename_key(world, fdef, field_prop, rows, edits)
        if kind == "rollup" and "where" in fdef:
            fdef["where"] = _expression(world, fdef["where"], rows, scope, edits)
    for prop in EXPRESSION_PROPERTIES:
        if prop in fdef:
            fdef[prop] = _expression(world, fdef[prop], scope, parent, edits)


def _follow_form(world: _World, app: str, form: dict, edits: _Edits) -> None:
    scope = _Scope(app, form, form)
    for fdef in _dicts(form.get("fields")):
        _follow_field(world, scope, None, fdef, edits)
        if fdef.get("type") == "subform":
            rows = _Scope(app, form, fdef)
            for child in _dicts(fdef.get("fields")):
                _follow_field(world, rows, scope, child, edits)
    if "title_field" in form:
        _rename_key(world, form, "title_field", scope, edits)
    layout = form.get("layout")
    for section in _dicts(layout.get("sections")) if isinstance(layout, dict) else []:
        keys = section.get("fields")
        for i in range(len(keys)) if isinstance(keys, list) else ():
            _rename_key(world, keys, i, scope, edits)
    for rule in _dicts(form.get("rules")):
        if "field" in rule:
            _rename_key(world, rule, "field", scope, edits)
        if "formula" in rule:
            rule["formula"] = _expression(world, rule["formula"], scope, None, edits)


def _follow_automation(world: _World, app: str, auto: dict, edits: _Edits) -> None:
    trigger = auto.get("trigger") if isinstance(auto.get("trigger"), dict) else {}
    scope = None
    if "form" in trigger:
        form = world.form(app, trigger["form"])
        if form is not None:
            new = world.form_key(app, form)
            if isinstance(new, str) and new != trigger["form"]:
                edits.form(app, trigger["form"], new)
                edits.set(trigger, "form", new)
            scope = _Scope(app, form, form)
    if scope is not None:
        keys = trigger.get("fields")
        for i in range(len(keys)) if isinstance(keys, list) else ():
            _rename_key(world, keys, i, scope, edits)
        if "field" in trigger:
            _rename_key(world, trigger, "field", scope, edits)
    for cond in ("condition_before", "condition"):
        if cond in auto:
            auto[cond] = _expression(world, auto[cond], scope, None, edits)
    for action in _dicts(auto.get("actions")):
        _follow_action(world, app, action, scope, None, edits)


def _follow_action(world: _World, app: str, action: dict, scope: _Scope | None,
                   parent: _Scope | None, edits: _Edits) -> None:
    kind = action.get("type")
    if kind == "for_each":
        sub = _rename_key(world, action, "subform", scope, edits) if "subform" in action else None
        rows = _Scope(scope.app, scope.form, sub) if scope is not None and isinstance(sub, dict) \
            and sub.get("type") == "subform" else None
        for inner in _dicts(action.get("actions")):
            _follow_action(world, app, inner, rows, scope, edits)
        return
    target = None
    if kind in ("create_record", "update_record", "delete_record"):
        target_app = action.get("app") or app
        form = world.form(target_app, action.get("form")) if isinstance(target_app, str) else None
        if form is not None:
            new = world.form_key(target_app, form)
            if isinstance(new, str) and new != action["form"]:
                edits.form(target_app, action["form"], new)
                edits.set(action, "form", new)
            target = _Scope(target_app, form, form)
        if "record" in action:
            action["record"] = _expression(world, action["record"], scope, parent, edits)
    for prop in ("title", "body"):
        if kind == "notify" and isinstance(action.get(prop), str):
            action[prop] = _expression(world, action[prop], scope, parent, edits)
    if isinstance(action.get("values"), dict):
        # webhook values are payload names, not fields: only their expressions follow
        action["values"] = _follow_values(world, action["values"], target if kind != "webhook" else None,
                                          kind != "webhook", scope, parent, edits)


def _follow_values(world: _World, values: dict, target: _Scope | None, keyed: bool,
                   scope: _Scope | None, parent: _Scope | None, edits: _Edits) -> dict:
    out = {}
    for key, source in values.items():
        fdef = world.field(target, key) if keyed and target is not None else None
        new_key = key
        if fdef is not None:
            new_key = world.field_key(target, fdef)
            if new_key in values:  # both keys written: leave it to validation to say which is wrong
                new_key = key
            if new_key != key:
                edits.field(world, target, key, new_key)
        if isinstance(source, str):
            source = _expression(world, source, scope, parent, edits)
        elif isinstance(source, dict) and "from" in source:  # rows of a subform of the trigger record
            source = dict(source)
            sub = _rename_key(world, source, "from", scope, edits) if scope is not None else None
            rows = _Scope(scope.app, scope.form, sub) if isinstance(sub, dict) \
                and sub.get("type") == "subform" else None
            inner_target = _Scope(target.app, target.form, fdef) if isinstance(fdef, dict) \
                and fdef.get("type") == "subform" else None
            if isinstance(source.get("values"), dict):
                source["values"] = _follow_values(world, source["values"], inner_target, keyed,
                                                  rows, scope, edits)
        out[new_key] = source
    return out


def _follow_definition(world: _World, defn: dict) -> _Edits:
    edits = _Edits()
    app = defn.get("key")
    if not isinstance(app, str):
        return edits
    for form in _dicts(defn.get("forms")):
        _follow_form(world, app, form, edits)
    for auto in _dicts(defn.get("automations")):
        _follow_automation(world, app, auto, edits)
    edits.apply()
    return edits


def follow_renames(defn: dict, renames: Renames, installed: dict[str, dict]) -> list[tuple[str, str]]:
    """Rewrite, in place, another app's references to the forms/fields `renames` renamed.

    `installed` holds every installed definition by app key as it was before the
    renaming version (so the renamed app's entry is its old definition). Returns the
    (old name, new name) pair of each rewritten reference, e.g. ("crm.customer.name",
    "crm.customer.title").
    """
    if not renames or not isinstance(defn, dict) or not isinstance(defn.get("key"), str):
        return []
    world = _World({**installed, defn["key"]: defn}, renames, aliases=False)
    return _follow_definition(world, defn).items


def follow_own_renames(defn: Any, renames: Renames, installed: dict[str, dict]) -> list[tuple[str, str]]:
    """Rewrite, in place, a new definition's leftover old keys of its own renamed forms/fields.

    An old key is rewritten only where no form/field of the new definition has it
    (a reused key names the new thing). `installed` holds the other apps' definitions.
    """
    if not renames or not isinstance(defn, dict) or defn.get("key") != renames.app:
        return []
    world = _World({**installed, renames.app: defn}, renames, aliases=True)
    return _follow_definition(world, defn).items


def summary(app: str, items: list[tuple[str, str]]) -> str:
    """One line saying what following renames changed in `app`."""
    counts: dict[tuple[str, str], int] = {}
    for pair in items:
        counts[pair] = counts.get(pair, 0) + 1
    parts = [f"{n} reference{'s' if n != 1 else ''} to {old} now read{'s' if n == 1 else ''} {new}"
             for (old, new), n in counts.items()]
    return f"{app}: " + "; ".join(parts)


__all__ = ["Renames", "find_renames", "rewrite_expression", "follow_renames", "follow_own_renames",
           "summary", "EXPRESSION_PROPERTIES"]
