"""Loading, checking, normalising, dumping and diffing app definitions.

`load_definition(source)` is the only way a definition enters the engine:

1. parse (JSON text or bytes, at most defaults.MAX_DEFINITION_BYTES; bad JSON is
   reported with its line and column),
2. validate against the JSON Schema of engine.app_schema (every error, translated
   into a located message that says what to do, with "did you mean" hints),
3. check what a schema cannot: unique keys and ids, link/lookup/rollup targets,
   expressions (formulas, default_formula, visible_if, rules) against the form's
   fields, formula cycles, default values, options, min <= max, patterns, limits,
4. normalise: assign missing ids, infer formula result types, order keys
   canonically, so that `dump_definition` gives byte-identical JSON on every
   round trip.

Every problem found is reported at once in one DefinitionError whose `errors`
are {"location": "forms[2].fields[5].type", "message": "..."} dicts.
`diff_definitions(old, new)` lists what changed, matching forms and fields by id.
"""
from __future__ import annotations

import copy
import difflib
import json
import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable

import jsonschema

from . import app_schema, defaults, field_types
from .errors import DefinitionError, FieldValueError
from .model import (dependency_order, expression_reads, field_list, forms_index,
                    link_target, lookup_source, rollup_source, row_expr_schema,
                    form_expr_schema, source_field)

Path = tuple  # of str | int
Installed = Callable[[str, str], bool]

#: Checks of optional sections (automations, ...) registered by the modules owning them:
#: check(defn, add, installed) where add(path: tuple, message: str) reports a problem.
SECTION_CHECKERS: list[Callable[[dict, Callable, Installed | None], None]] = []

_ID_RE = re.compile(app_schema.ID_PATTERN[1:-1])
_KEY_RE = re.compile(app_schema.KEY_PATTERN[1:-1])
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
#: a lookup of a field whose type is not a lookup result type reads it as this type
_LOOKUP_RESULT_FALLBACK = {"select": "text", "serial": "text", "textarea": "text"}


# =========================================================================== public API
def load_definition(source: dict | str | bytes, *, installed: Installed | None = None) -> dict:
    """The normalized definition of `source`, or DefinitionError listing every problem.

    `installed(app_key, form_key) -> bool` answers whether a form of another app
    exists, for links whose `target` is "app.form"; without it such targets are
    accepted unchecked.
    """
    doc = _parse(source)
    problems = _Problems(doc)
    try:
        _validate_schema(doc, problems)
    except RecursionError:
        problems.add((), "the definition is nested too deeply")
    if isinstance(doc, dict):
        _Checker(doc, problems, installed).run()
        for check in SECTION_CHECKERS:
            try:
                check(doc, problems.add, installed)
            except Exception as exc:  # a checker bug must not hide the other problems
                problems.add((), f"could not be checked: {exc}")
    problems.raise_if_any()
    _assign_ids(doc)
    return canonical(doc)


def dump_definition(defn: dict) -> str:
    """Canonical JSON text of a definition: stable key order, 2-space indent, UTF-8 text."""
    return json.dumps(canonical(defn), indent=2, ensure_ascii=False) + "\n"


def check_definition(source: dict | str | bytes, *, installed: Installed | None = None) -> list[dict]:
    """Every problem of a definition as {"location", "message"} dicts ([] when valid)."""
    try:
        load_definition(source, installed=installed)
    except DefinitionError as exc:
        return exc.errors
    return []


def format_location(path: Iterable) -> str:
    """forms[2].fields[5].type from ("forms", 2, "fields", 5, "type")."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[^\W\d][\w-]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return out


def new_id(prefix: str, taken: set[str] | None = None) -> str:
    """A fresh random id: prefix + 10 lowercase base32 characters (e.g. fld_k3n2x7q0ab)."""
    while True:
        candidate = prefix + "".join(secrets.choice(_BASE32) for _ in range(10))
        if not taken or candidate not in taken:
            return candidate


# =========================================================================== parsing
def _parse(source: Any) -> Any:
    limit = defaults.MAX_DEFINITION_BYTES
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = bytes(source)
        if len(source) > limit:
            raise _too_large(len(source))
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DefinitionError("the definition is not UTF-8 text", [{
                "location": "", "message": f"the definition is not UTF-8 text (invalid byte at offset {exc.start})"}])
    if isinstance(source, str):
        if len(source) > limit or len(source.encode("utf-8")) > limit:
            raise _too_large(len(source.encode("utf-8")))
        return _parse_text(source.lstrip("\ufeff"))
    if isinstance(source, dict):
        try:
            text = json.dumps(source, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise DefinitionError("the definition is not JSON data", [{
                "location": "", "message": f"the definition contains a value that is not JSON: {exc}"}])
        except RecursionError:
            raise DefinitionError("the definition is nested too deeply", [{
                "location": "", "message": "the definition is nested too deeply"}])
        if len(text.encode("utf-8")) > limit:
            raise _too_large(len(text.encode("utf-8")))
        return json.loads(text)
    raise _not_object(source)


def _too_large(size: int) -> DefinitionError:
    limit = defaults.MAX_DEFINITION_BYTES
    msg = (f"the definition is {size:,} bytes; the limit is {limit:,} bytes "
           f"(split it into several apps)")
    return DefinitionError("the definition is too large", [{"location": "", "message": msg}])


def _not_object(value: Any) -> DefinitionError:
    msg = (f"an app definition must be a JSON object ({{\"key\": ..., \"label\": ..., \"forms\": [...]}}), "
           f"got {_describe_value(value)}")
    return DefinitionError("the definition is not a JSON object", [{"location": "", "message": msg}])


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _parse_text(text: str) -> Any:
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        hint = ""
        if "property name enclosed in double quotes" in exc.msg:
            hint = " (names need double quotes; is there a trailing comma before this?)"
        elif exc.msg.startswith("Expecting ',' delimiter"):
            hint = " (is a comma missing before this?)"
        elif exc.msg.startswith("Expecting value"):
            hint = " (a trailing comma, a single quote or a comment? JSON allows none of them)"
        raise DefinitionError("the definition is not valid JSON", [{
            "location": f"line {exc.lineno}, column {exc.colno}",
            "message": f"invalid JSON: {exc.msg}{hint}"}]) from None
    except ValueError as exc:  # NaN / Infinity
        raise DefinitionError("the definition is not valid JSON", [{
            "location": "", "message": f"invalid JSON: {exc}"}]) from None
    except RecursionError:
        raise DefinitionError("the definition is nested too deeply", [{
            "location": "", "message": "the definition is nested too deeply"}]) from None
    if not isinstance(doc, dict):
        raise _not_object(doc)
    return doc


# =========================================================================== problems
class _Problems:
    """Collected problems, reported in document order, without duplicates."""

    def __init__(self, doc: Any):
        self.doc = doc
        self.items: list[tuple[Path, str]] = []
        self._seen: set[tuple[Path, str]] = set()

    def add(self, path: Path, message: str) -> None:
        item = (tuple(path), message)
        if item not in self._seen:
            self._seen.add(item)
            self.items.append(item)

    def has(self, path: Path) -> bool:
        """Whether a problem was already reported at `path` or inside it."""
        n = len(path)
        return any(p[:n] == tuple(path) for p, _ in self.items)

    def _order(self, path: Path) -> tuple:
        key, node = [], self.doc
        for part in path:
            if isinstance(node, dict):
                keys = list(node)
                key.append(keys.index(part) if part in node else len(keys))
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int):
                key.append(part)
                node = node[part] if 0 <= part < len(node) else None
            else:
                key.append(0)
                node = None
        return tuple(key)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        ordered = sorted(self.items, key=lambda item: self._order(item[0]))
        errors = [{"location": format_location(p), "message": m} for p, m in ordered]
        n = len(errors)
        raise DefinitionError(
            f"the app definition has {n} problem{'s' if n != 1 else ''}", errors)


# =========================================================================== schema
_VALIDATOR_CACHE: dict[str, jsonschema.protocols.Validator] = {}


def validator() -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator of the current app schema (cached)."""
    schema = app_schema.app_schema()
    marker = json.dumps(schema, sort_keys=True, default=str)
    found = _VALIDATOR_CACHE.get(marker)
    if found is None:
        _VALIDATOR_CACHE.clear()
        found = jsonschema.Draft202012Validator(schema)
        _VALIDATOR_CACHE[marker] = found
    return found


def _validate_schema(doc: Any, problems: _Problems) -> None:
    for error in validator().iter_errors(doc):
        for path, message in _translate(error):
            problems.add(path, message)


_TYPE_WORDS = {"string": "text", "number": "a number", "integer": "a whole number",
               "boolean": "true or false", "object": "an object", "array": "a list",
               "null": "null"}
_HINTS = {"key": ' (e.g. "key": "title")', "label": ' (e.g. "label": {"en": "Title"})',
          "type": ' (e.g. "type": "text")', "fields": ' (a list of fields)',
          "forms": ' (a list of forms)', "formula": ' (an expression that must be TRUE)',
          "message": ' (e.g. "message": {"en": "Explain what to fix"})'}


def _describe_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


#: words people write for a property, and the property they mean
_SYNONYMS = {"expr": "formula", "expression": "formula", "name": "key", "title": "label",
             "kind": "type", "choices": "options", "values": "options", "mandatory": "required",
             "hint": "help", "placeholder": "help", "form": "target", "condition": "visible_if",
             "show_if": "visible_if", "items": "fields", "columns": "fields"}


def _did_you_mean(name: Any, choices: Iterable[str]) -> str:
    choices = list(choices)
    match = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    if not match and _SYNONYMS.get(str(name).lower()) in choices:
        match = [_SYNONYMS[str(name).lower()]]
    return f" (did you mean {_q(match[0])}?)" if match else ""


def _expected(types: Any) -> str:
    types = types if isinstance(types, list) else [types]
    words = [_TYPE_WORDS.get(t, t) for t in types]
    return " or ".join(words)


def _translate(error) -> list[tuple[Path, str]]:
    path = tuple(error.absolute_path)
    kind = error.validator
    value = error.validator_value
    inst = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}

    if kind in ("anyOf", "oneOf"):
        subs = list(error.context or ())
        relevant = [e for e in subs if not (e.validator == "type" and not e.relative_path)]
        if not relevant:
            expected = []
            for e in subs:
                for t in (e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]):
                    if t not in expected:
                        expected.append(t)
            words = _expected(expected)
            if "object" in expected and path and path[-1] in ("description", "help", "message"):
                words = 'text or a label object like {"en": "..."}'
            return [(path, f"expected {words}, got {_describe_value(inst)}")]
        branches: dict[Any, list] = {}
        for e in relevant:
            branches.setdefault(e.relative_schema_path[0] if e.relative_schema_path else 0, []).append(e)
        best = min(branches.values(), key=len)
        return [item for e in best for item in _translate(e)]

    if kind == "type":
        if "label" in path[-1:] or schema.get("minProperties") == 1 and "propertyNames" in schema:
            return [(path, f'expected a label object like {{"en": "Title", "zh-CN": "标题"}}, '
                           f"got {_describe_value(inst)}")]
        return [(path, f"expected {_expected(value)}, got {_describe_value(inst)}")]

    if kind == "required":
        out = []
        for name in value:
            if isinstance(inst, dict) and name not in inst:
                out.append((path, f"{_q(name)} is required{_HINTS.get(name, '')}"))
        return out

    if kind == "additionalProperties" and isinstance(inst, dict):
        allowed = list(schema.get("properties", {}))
        out = []
        where = ""
        if isinstance(inst.get("type"), str) and "type" in allowed and "key" in allowed \
                and inst["type"] in field_types.registry:
            where = f" of a {inst['type']} field"
        for name in inst:
            if name not in allowed:
                out.append((path + (name,),
                            f"unknown property {_q(name)}{where}{_did_you_mean(name, allowed)}"))
        return out

    if kind == "enum":
        if path and path[-1] == "type" and value == field_types.registry.names():
            if isinstance(inst, str):
                hint = field_types.registry.suggest(inst)
                return [(path, f"{_q(inst)} is not a field type"
                               + (f" (did you mean {_q(hint)}?)" if hint else
                                  f" (use one of: {', '.join(value)})"))]
            return [(path, f"expected a field type name (one of: {', '.join(value)}), "
                           f"got {_describe_value(inst)}")]
        choices = ", ".join(_q(v) for v in value)
        hint = _did_you_mean(inst, [v for v in value if isinstance(v, str)]) if isinstance(inst, str) else ""
        return [(path, f"{_q(inst)} is not one of {choices}{hint}")]

    if kind == "const":
        return [(path, f"must be {_q(value)}, got {_describe_value(inst)}")]

    if kind == "pattern":
        if value == app_schema.ID_PATTERN:
            return [(path, f"{_q(inst)} is not a valid id: start with a letter, then only letters "
                           f'A-Z a-z, digits and "_", at most 63 characters (or leave the id out)')]
        if value == app_schema.KEY_PATTERN:
            return [(path, f"{_q(inst)} is not a valid key: start with a letter, then letters, "
                           f'digits or "_" only, at most 63 characters (e.g. "unit_price")')]
        if value == app_schema.LANGUAGE_TAG_PATTERN:
            return [(path + (inst,), f"{_q(inst)} is not a language tag (use e.g. \"en\" or \"zh-CN\")")]
        return [(path, f"{_q(inst)} does not match the pattern {value}")]

    if kind == "not" and schema.get("not") == {"pattern": app_schema.RESERVED_KEY_PATTERN}:
        return [(path, f'{_q(inst)}: keys starting with "_" are reserved for system fields; '
                       f"choose another key")]

    if kind == "minProperties" and value == 1:
        return [(path, 'give the text in at least one language, e.g. {"en": "Title"}')]
    if kind == "minItems":
        if path[-1:] == ("fields",):
            return [(path, "needs at least one field")]
        if path == ("forms",):
            return [(path, "an app needs at least one form")]
        return [(path, f"needs at least {value} item{'s' if value != 1 else ''}")]
    if kind == "maxItems":
        return [(path, f"has {len(inst)} items; the limit is {value}")]
    if kind == "minLength":
        if value == 1:
            return [(path, "must not be empty")]
        return [(path, f"is too short (at least {value} characters)")]
    if kind == "maxLength":
        return [(path, f"is too long ({len(inst)} characters; the limit is {value})")]
    if kind == "minimum":
        return [(path, f"must be at least {value}, got {_describe_value(inst)}")]
    if kind == "maximum":
        return [(path, f"must be at most {value}, got {_describe_value(inst)}")]
    if kind == "exclusiveMinimum":
        return [(path, f"must be greater than {value}, got {_describe_value(inst)}")]
    if kind == "exclusiveMaximum":
        return [(path, f"must be less than {value}, got {_describe_value(inst)}")]
    if kind == "uniqueItems":
        return [(path, "contains the same item twice; remove the duplicate")]
    if kind is False or kind == "false":
        return [(path, "is not allowed here")]
    return [(path, error.message)]


# =========================================================================== semantic checks
class _Checker:
    """Checks that need more than the schema; every problem goes to `problems`."""

    def __init__(self, doc: dict, problems: _Problems, installed: Installed | None):
        self.doc = doc
        self.p = problems
        self.installed = installed
        self.app_key = doc.get("key")
        self.forms = doc.get("forms") if isinstance(doc.get("forms"), list) else []
        self.forms_by_key = forms_index(doc)
        self._links: dict[int, dict] = {}

    def run(self) -> None:
        self._check_ids_and_keys_text()
        self._check_form_uniqueness()
        for i, form in enumerate(self.forms):
            if isinstance(form, dict):
                self._check_form(("forms", i), form)

    # ---- ids and keys ---------------------------------------------------------------
    def _walk_named(self):
        """(path, dict) of the app, every form, field (and child field) and rule."""
        yield (), self.doc
        for i, form in enumerate(self.forms):
            if not isinstance(form, dict):
                continue
            yield ("forms", i), form
            for path, fdef in self._fields_of(("forms", i), form, children=True):
                yield path, fdef
            rules = form.get("rules")
            for j, rule in enumerate(rules if isinstance(rules, list) else []):
                if isinstance(rule, dict):
                    yield ("forms", i, "rules", j), rule

    def _check_ids_and_keys_text(self) -> None:
        # The schema's "$" also matches before a final newline: ids go into SQL paths,
        # so check them exactly here as well.
        for path, obj in self._walk_named():
            for prop, rx, what in (("id", _ID_RE, "id"), ("key", _KEY_RE, "key")):
                value = obj.get(prop)
                if isinstance(value, str) and not rx.fullmatch(value) and not self.p.has(path + (prop,)):
                    self.p.add(path + (prop,), f"{_q(value)} is not a valid {what}: only letters, "
                                               f'digits and "_" are allowed')

    def _fields_of(self, path: Path, container: dict, children: bool = False):
        fields = container.get("fields")
        for j, fdef in enumerate(fields if isinstance(fields, list) else []):
            if isinstance(fdef, dict):
                yield path + ("fields", j), fdef
                if children and fdef.get("type") == "subform":
                    yield from self._fields_of(path + ("fields", j), fdef, children=False)

    def _check_form_uniqueness(self) -> None:
        self._unique([(("forms", i), f) for i, f in enumerate(self.forms) if isinstance(f, dict)],
                     "form")

    def _unique(self, items: list[tuple[Path, dict]], what: str, props=("key", "id")) -> None:
        for prop in props:
            seen: dict[str, Path] = {}
            for path, obj in items:
                value = obj.get(prop)
                if not isinstance(value, str):
                    continue
                if value in seen:
                    self.p.add(path + (prop,), f"duplicate {what} {prop} {_q(value)} "
                                               f"(already used by {format_location(seen[value])})")
                else:
                    seen[value] = path

    # ---- forms ----------------------------------------------------------------------
    def _check_form(self, path: Path, form: dict) -> None:
        top = list(self._fields_of(path, form))
        self._unique(top, "field", props=("key",))
        every = list(self._fields_of(path, form, children=True))
        self._unique(every, "field", props=("id",))
        if len(every) > defaults.MAX_FIELDS_PER_FORM:
            self.p.add(path + ("fields",), f"has {len(every)} fields (subform fields included); "
                                           f"the limit is {defaults.MAX_FIELDS_PER_FORM}")
        siblings = {f["key"]: f for _, f in reversed(top) if isinstance(f.get("key"), str)}
        for fpath, fdef in top:
            self._check_field(fpath, fdef, siblings, parent=None)
            if fdef.get("type") == "subform":
                kids = list(self._fields_of(fpath, fdef))
                self._unique(kids, "field", props=("key",))
                kid_siblings = {f["key"]: f for _, f in reversed(kids) if isinstance(f.get("key"), str)}
                for kpath, kdef in kids:
                    if kdef.get("type") == "subform":
                        self.p.add(kpath + ("type",), "a subform cannot contain another subform; "
                                                      "use a link to another form instead")
                        continue
                    self._check_field(kpath, kdef, kid_siblings, parent=fdef)
        title = form.get("title_field")
        if isinstance(title, str) and title not in siblings:
            self.p.add(path + ("title_field",), f"{_q(title)} is not a field of this form"
                                                + _did_you_mean(title, siblings))
        elif isinstance(title, str) and siblings[title].get("type") == "subform":
            self.p.add(path + ("title_field",), f"{_q(title)} is a subform; a title must be a single value")
        self._check_layout(path, form.get("layout"), siblings)
        self._check_expressions(path, form, top, None, form)
        for spath, sdef in top:  # row expressions see the row (the record is $parent)
            if sdef.get("type") == "subform":
                kids = [(k, d) for k, d in self._fields_of(spath, sdef) if d.get("type") != "subform"]
                self._check_expressions(spath, sdef, kids, sdef, form)

    def _check_layout(self, path: Path, layout: Any, siblings: dict) -> None:
        """Sections name top-level fields of this form, each field in at most one section."""
        if not isinstance(layout, dict) or not isinstance(layout.get("sections"), list):
            return
        placed: dict[str, Path] = {}
        for i, section in enumerate(layout["sections"]):
            keys = section.get("fields") if isinstance(section, dict) else None
            if not isinstance(keys, list):
                continue
            for j, key in enumerate(keys):
                where = path + ("layout", "sections", i, "fields", j)
                if not isinstance(key, str):
                    continue
                if key not in siblings:
                    child_of = [s for s, d in siblings.items() if d.get("type") == "subform"
                                and any(isinstance(c, dict) and c.get("key") == key for c in d.get("fields") or ())]
                    hint = (f" ({_q(key)} is a column of subform {_q(child_of[0])}: place the subform instead)"
                            if child_of else _did_you_mean(key, siblings))
                    self.p.add(where, f"{_q(key)} is not a field of this form{hint}")
                elif key in placed:
                    self.p.add(where, f"field {_q(key)} is already placed in {format_location(placed[key])}; "
                                      f"a field belongs to one section")
                else:
                    placed[key] = where

    # ---- fields ---------------------------------------------------------------------
    def _check_field(self, path: Path, fdef: dict, siblings: dict, parent: dict | None) -> None:
        name = fdef.get("type")
        if not isinstance(name, str) or name not in field_types.registry:
            return  # already reported by the schema
        cls = field_types.registry.get(name)
        if name == "link":
            self._check_link(path, fdef)
        elif name == "lookup":
            self._check_lookup(path, fdef, siblings)
        elif name == "rollup":
            self._check_rollup(path, fdef, siblings)
        self._check_default(path, fdef, cls)
        self._check_options(path, fdef)
        reported = self.p.has(path)
        self._type_problems(path, fdef)
        if reported or self.p.has(path):
            return  # the type's own checks cover min/max and patterns more precisely
        self._check_ranges(path, fdef)
        pattern = fdef.get("pattern")
        if isinstance(pattern, str) and name != "serial":
            try:
                re.compile(pattern)
            except re.error as exc:
                self.p.add(path + ("pattern",), f"{_q(pattern)} is not a valid regular "
                                                f"expression: {exc}")

    def _type_problems(self, path: Path, fdef: dict) -> None:
        """What the field type itself finds wrong (FieldType.definition_problems)."""
        try:
            problems = field_types.field_type(fdef).definition_problems()
        except Exception:  # a definition the type cannot even read: the schema said why
            return
        for prop, message in problems or ():
            if fdef.get("type") == "subform" and prop == "fields":
                continue  # child fields are checked one by one, with their own location
            where = path + (prop,) if prop in fdef else path
            if not self.p.has(where):
                self.p.add(where, message)

    def _check_link(self, path: Path, fdef: dict) -> None:
        target = fdef.get("target")
        if not isinstance(target, str):
            return
        app, form_key = link_target(fdef, self.app_key)
        where = path + ("target",)
        if app is not None:
            if not app or not form_key:
                self.p.add(where, f'{_q(target)} is not a form: write "form_key" or "app_key.form_key"')
            elif self.installed is not None and not self.installed(app, form_key):
                self.p.add(where, f"{_q(target)} is not an installed form (no form {_q(form_key)} "
                                  f"in app {_q(app)}); install that app first or fix the target")
            return
        if form_key not in self.forms_by_key:
            self.p.add(where, f"{_q(target)} is not a form of this app"
                              + _did_you_mean(form_key, self.forms_by_key))
            return
        shown = fdef.get("display_field")
        keys = [f["key"] for f in field_list(self.forms_by_key[form_key])]
        if isinstance(shown, str) and shown not in keys:
            self.p.add(path + ("display_field",), f"{_q(shown)} is not a field of form "
                                                  f"{_q(form_key)}" + _did_you_mean(shown, keys))

    def _source_fields(self, link: dict) -> tuple[dict | None, str]:
        """The target form of a link field (None when in another app), and its name."""
        app, form_key = link_target(link, self.app_key)
        if app is not None:
            return None, f"{app}.{form_key}"
        return self.forms_by_key.get(form_key), str(form_key)

    def _check_source_field(self, path: Path, fdef: dict, container: dict | None, where: str) -> None:
        prop, target_key = source_field(fdef)
        if container is None or not isinstance(target_key, str):
            return
        keys = [f["key"] for f in field_list(container)]
        if target_key not in keys:
            self.p.add(path + (prop,), f"{_q(target_key)} is not a field of {where}"
                                       + _did_you_mean(target_key, keys))

    def _check_lookup(self, path: Path, fdef: dict, siblings: dict) -> None:
        prop, link_key = lookup_source(fdef)
        if not isinstance(link_key, str):
            return
        link = siblings.get(link_key)
        if link is None:
            links = [k for k, f in siblings.items() if f.get("type") == "link"]
            self.p.add(path + (prop,), f"{_q(link_key)} is not a field of this form"
                                       + (_did_you_mean(link_key, links) or _did_you_mean(link_key, siblings)))
            return
        if link.get("type") != "link":
            self.p.add(path + (prop,), f"{_q(link_key)} is a {link.get('type')} field; a lookup "
                                       f"reads through a link field")
            return
        form, name = self._source_fields(link)
        self._check_source_field(path, fdef, form, f"form {_q(name)}")
        self._links[id(fdef)] = link
        if form is not None and not self.p.has(path):
            self._fill_lookup_result_type(fdef, form)

    def _fill_lookup_result_type(self, fdef: dict, form: dict) -> None:
        """Normalisation: a lookup's result_type is the looked-up field's type."""
        _, target_key = source_field(fdef)
        target = next((f for f in field_list(form) if f["key"] == target_key), None)
        cls = field_types.registry._items.get("lookup")
        if target is None or cls is None or "result_type" not in cls.definition_properties:
            return
        result = target.get("type")
        if result in ("formula", "lookup", "rollup"):
            result = target.get("result_type") or ("number" if result == "rollup" else None)
        prop = jsonschema.Draft202012Validator(cls.definition_properties["result_type"])
        if not isinstance(result, str):
            return
        for candidate in (result, _LOOKUP_RESULT_FALLBACK.get(result)):
            if isinstance(candidate, str) and prop.is_valid(candidate):
                fdef["result_type"] = candidate
                break
        if "multiple" in cls.definition_properties:
            # through a multiple link a lookup gives a list: the engine records it here
            link = self._links.get(id(fdef))
            if link is not None and link.get("multiple") is True:
                fdef["multiple"] = True
            else:
                fdef.pop("multiple", None)

    def _check_rollup(self, path: Path, fdef: dict, siblings: dict) -> None:
        prop, source_key = rollup_source(fdef)
        if not isinstance(source_key, str):
            return
        source = siblings.get(source_key)
        if source is None:
            choices = [k for k, f in siblings.items() if f.get("type") in ("subform", "link")]
            self.p.add(path + (prop,), f"{_q(source_key)} is not a field of this form"
                                       + (_did_you_mean(source_key, choices) or _did_you_mean(source_key, siblings)))
            return
        if source.get("type") == "subform":
            self._check_source_field(path, fdef, source, f"subform {_q(source_key)}")
            self._check_where(path, fdef, source)
        elif source.get("type") == "link":
            form, name = self._source_fields(source)
            self._check_source_field(path, fdef, form, f"form {_q(name)}")
            if form is not None:
                self._check_where(path, fdef, form)
        else:
            self.p.add(path + (prop,), f"{_q(source_key)} is a {source.get('type')} field; a rollup "
                                       f"aggregates a subform or a link field")

    def _check_where(self, path: Path, fdef: dict, rows: dict) -> None:
        """A rollup's `where` sees the fields of the rows/records it aggregates."""
        source = fdef.get("where")
        if not isinstance(source, str) or self.p.has(path + ("where",)):
            return
        from .expr import check, compile_expression
        schema = form_expr_schema(rows, self.forms_by_key, self.app_key)
        result = self._check_one(path + ("where",), source, schema, check, compile_expression)
        self._expect_boolean(path + ("where",), result)

    def _check_default(self, path: Path, fdef: dict, cls: type) -> None:
        if "default" in fdef and "default_formula" in fdef:
            self.p.add(path + ("default_formula",), 'give either "default" or "default_formula", not both')
        if "default" not in fdef:
            return
        if cls.computed:
            self.p.add(path + ("default",), f"a {fdef['type']} field is computed by the engine "
                                            f"and cannot have a default")
            return
        if self.p.has(path):
            return  # the field's own properties are wrong: coercing would mislead
        value = fdef["default"]
        try:
            ftype = cls(fdef)
            coerced = ftype.coerce(value)
            if coerced is not None:
                ftype.check(coerced)
        except FieldValueError as exc:
            self.p.add(path + ("default",), f"{_describe_value(value)} is not a valid default: "
                                            f"{exc.message}")
        except NotImplementedError:
            pass
        except Exception as exc:  # a type rejecting the value in another way
            self.p.add(path + ("default",), f"{_describe_value(value)} is not a valid default: {exc}")

    def _check_options(self, path: Path, fdef: dict) -> None:
        options = fdef.get("options")
        if not isinstance(options, list):
            return
        seen: dict[Any, int] = {}
        for j, option in enumerate(options):
            value = option
            if isinstance(option, dict):
                value = option.get("value", option.get("key", option.get("id")))
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                continue
            if value in seen:
                self.p.add(path + ("options", j), f"duplicate option {_q(value)} "
                                                  f"(also options[{seen[value]}])")
            else:
                seen[value] = j

    def _check_ranges(self, path: Path, fdef: dict) -> None:
        for prop in list(fdef):
            if not prop.startswith("min"):
                continue
            upper = "max" + prop[3:]
            if upper not in fdef:
                continue
            low, high = _comparable(fdef[prop]), _comparable(fdef[upper])
            if low is None or high is None or type(low) is not type(high):
                continue
            if low > high:
                self.p.add(path + (upper,), f"{upper} ({_q(fdef[upper])}) is less than "
                                            f"{prop} ({_q(fdef[prop])})")

    # ---- expressions ----------------------------------------------------------------
    def _check_expressions(self, path: Path, container: dict, fields: list[tuple[Path, dict]],
                           subform: dict | None, form: dict) -> None:
        """Formulas (with cycles and result types), then default_formula, visible_if and,
        for a form, its rules, against the fields they can see."""
        from .expr import FieldSig, check, compile_expression

        def schema_with(overrides: dict) -> dict:
            if subform is None:
                return form_expr_schema(form, self.forms_by_key, self.app_key, overrides=overrides)
            return row_expr_schema(form, subform, self.forms_by_key, self.app_key, overrides=overrides)

        formulas = {f["key"]: (p, f) for p, f in fields
                    if f.get("type") == "formula" and isinstance(f.get("formula"), str)
                    and isinstance(f.get("key"), str) and not self.p.has(p + ("formula",))}
        overrides: dict = {}
        for key, (_, fdef) in formulas.items():
            declared = field_types.registry._items.get(fdef.get("result_type"))
            overrides[key] = FieldSig(getattr(declared, "expr_type", None) or "any")
        schema = schema_with(overrides)

        deps: dict[str, set[str]] = {}
        for key, (_, fdef) in formulas.items():
            try:
                reads = expression_reads(compile_expression(fdef["formula"], schema))
            except Exception:
                reads = set()
            deps[key] = {r for r in reads if r in formulas}
        cyclic = self._report_cycles(formulas, deps)

        for key in dependency_order(list(formulas), deps):
            fpath, fdef = formulas[key]
            result = self._check_one(fpath + ("formula",), fdef["formula"], schema, check,
                                     compile_expression)
            if result is None or key in cyclic:
                continue
            declared = fdef.get("result_type")
            if isinstance(declared, str):
                cls = field_types.registry._items.get(declared)
                expected = getattr(cls, "expr_type", None)
                if expected and result not in ("any", expected):
                    self.p.add(fpath + ("result_type",), f"the formula gives {_type_word(result)}, "
                                                         f"but result_type {_q(declared)} holds "
                                                         f"{_type_word(expected)}")
                continue
            if _settable_result_type(result):
                fdef["result_type"] = result
            schema[key] = FieldSig(result)

        for fpath, fdef in fields:
            for prop in ("default_formula", "visible_if"):
                source = fdef.get(prop)
                if isinstance(source, str) and not self.p.has(fpath + (prop,)):
                    result = self._check_one(fpath + (prop,), source, schema, check, compile_expression)
                    if prop == "visible_if":
                        self._expect_boolean(fpath + (prop,), result)
        if subform is None:
            layout = form.get("layout")
            sections = layout.get("sections") if isinstance(layout, dict) else None
            for j, section in enumerate(sections if isinstance(sections, list) else []):
                source = section.get("visible_if") if isinstance(section, dict) else None
                spath = path + ("layout", "sections", j, "visible_if")
                if isinstance(source, str) and not self.p.has(spath):
                    self._expect_boolean(spath, self._check_one(spath, source, schema, check,
                                                                compile_expression))
            rules = form.get("rules")
            for j, rule in enumerate(rules if isinstance(rules, list) else []):
                source = rule.get("formula") if isinstance(rule, dict) else None
                rpath = path + ("rules", j, "formula")
                shown_on = rule.get("field") if isinstance(rule, dict) else None
                if isinstance(shown_on, str) and shown_on not in schema:
                    hint = difflib.get_close_matches(shown_on, list(schema), n=1)
                    self.p.add(path + ("rules", j, "field"), f'"{shown_on}" is not a field of this form'
                               + (f' (did you mean "{hint[0]}"?)' if hint else ""))
                if isinstance(source, str) and not self.p.has(rpath):
                    self._expect_boolean(rpath, self._check_one(rpath, source, schema, check,
                                                                compile_expression))

    def _check_one(self, path: Path, source: str, schema: dict, check, compile_expression) -> str | None:
        """Report the diagnostics of one expression; its result type when it compiles."""
        try:
            diagnostics = check(source, schema)
        except Exception as exc:  # the checker itself failed: report, do not crash
            self.p.add(path, f"could not be checked: {exc}")
            return None
        if diagnostics:
            for d in diagnostics:
                self.p.add(path, _diagnostic_message(d))
            return None
        try:
            return getattr(compile_expression(source, schema), "result_type", "any") or "any"
        except Exception as exc:
            self.p.add(path, f"does not compile: {exc}")
            return None

    def _expect_boolean(self, path: Path, result: str | None) -> None:
        if result is not None and result not in ("boolean", "any"):
            self.p.add(path, f"must be TRUE or FALSE, but this expression gives {_type_word(result)}")

    def _report_cycles(self, formulas: dict, deps: dict[str, set[str]]) -> set[str]:
        cyclic: set[str] = set()
        order = list(formulas)
        for start in order:
            if start in cyclic:
                continue
            cycle = _find_cycle(start, deps)
            if cycle:
                cyclic.update(cycle)
                fpath, _ = formulas[cycle[0]]
                chain = " → ".join([*cycle, cycle[0]])
                self.p.add(fpath + ("formula",), f"formula fields depend on each other in a "
                                                 f"cycle: {chain}; break the cycle")
        return cyclic


def _find_cycle(start: str, deps: dict[str, set[str]]) -> list[str] | None:
    """The cycle through `start` (as a list starting at start), if any."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for dep in sorted(deps.get(node, ())):
            if dep == start:
                return trail
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, trail + [dep]))
    return None


def _diagnostic_message(d: Any) -> str:
    message = str(getattr(d, "message", d))
    line, column = getattr(d, "line", None), getattr(d, "column", None)
    suggestion = getattr(d, "suggestion", None)
    if suggestion and isinstance(suggestion, str) and suggestion not in message:
        message += f" (did you mean {_q(suggestion)}?)"
    if line is not None and column is not None:
        return f"{line}:{column}: {message}"
    return message


def _type_word(result: str) -> str:
    return {"number": "a number", "text": "text", "boolean": "TRUE/FALSE", "date": "a date",
            "datetime": "a date and time", "time": "a time", "list": "a list",
            "record": "a record", "records": "records"}.get(result, result)


def _settable_result_type(result: str) -> bool:
    try:
        cls = field_types.registry.get("formula")
    except KeyError:
        return False
    schema = cls.definition_properties.get("result_type")
    if schema is None:
        return False
    return jsonschema.Draft202012Validator(schema).is_valid(result)


def _comparable(value: Any):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            pass
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][\d:.]+)?", value) or re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value):
            return value
    return None


# =========================================================================== normalisation
def _all_ids(doc: dict) -> set[str]:
    ids: set[str] = set()

    def visit(node):
        if isinstance(node, dict):
            if isinstance(node.get("id"), str):
                ids.add(node["id"])
            for child in node.get("fields", ()) if isinstance(node.get("fields"), list) else ():
                visit(child)
    for form in doc.get("forms", ()):
        visit(form)
        for rule in form.get("rules", ()):
            visit(rule)
    return ids


def _assign_ids(doc: dict) -> None:
    """Give every form, field and rule without an id a fresh one (given ids are kept)."""
    taken = _all_ids(doc)

    def give(obj: dict, prefix: str) -> None:
        if "id" not in obj:
            obj["id"] = new_id(prefix, taken)
            taken.add(obj["id"])

    for form in doc["forms"]:
        give(form, "frm_")
        for fdef in form["fields"]:
            give(fdef, "fld_")
            for child in fdef.get("fields", ()) if fdef.get("type") == "subform" else ():
                give(child, "fld_")
        for rule in form.get("rules", ()):
            give(rule, "rul_")


def _ordered(obj: dict, order: Iterable[str], last: Iterable[str] = ()) -> dict:
    last = list(last)
    out = {k: obj[k] for k in order if k in obj and k not in last}
    out.update({k: obj[k] for k in sorted(obj) if k not in out and k not in last})
    out.update({k: obj[k] for k in last if k in obj})
    return out


def _canonical_field(fdef: Any) -> Any:
    if not isinstance(fdef, dict):
        return fdef
    cls = field_types.registry._items.get(fdef.get("type")) if isinstance(fdef.get("type"), str) else None
    specific = list(cls.definition_properties) if cls is not None else []
    out = _ordered(fdef, [*app_schema.COMMON_FIELD_PROPERTIES, *specific], last=("fields",))
    if isinstance(out.get("fields"), list):
        out["fields"] = [_canonical_field(c) for c in out["fields"]]
    return out


def canonical(defn: dict) -> dict:
    """A copy of a definition with every object's keys in canonical order."""
    defn = copy.deepcopy(defn)
    out = _ordered(defn, app_schema.app_properties_order())
    forms = out.get("forms")
    if isinstance(forms, list):
        new_forms = []
        for form in forms:
            if isinstance(form, dict):
                form = _ordered(form, app_schema.FORM_PROPERTIES)
                if isinstance(form.get("fields"), list):
                    form["fields"] = [_canonical_field(f) for f in form["fields"]]
                if isinstance(form.get("rules"), list):
                    form["rules"] = [_ordered(r, app_schema.RULE_PROPERTIES) if isinstance(r, dict) else r
                                     for r in form["rules"]]
                layout = form.get("layout")
                if isinstance(layout, dict):
                    layout = form["layout"] = _ordered(layout, app_schema.LAYOUT_SCHEMA["properties"])
                    if isinstance(layout.get("sections"), list):
                        order = app_schema.LAYOUT_SCHEMA["properties"]["sections"]["items"]["properties"]
                        layout["sections"] = [_ordered(x, order) if isinstance(x, dict) else x
                                              for x in layout["sections"]]
            new_forms.append(form)
        out["forms"] = new_forms
    return out


# =========================================================================== diff
#: Field properties whose change affects stored data or validation of existing records.
CONSTRAINT_PROPERTIES = ("required", "unique", "indexed", "min", "max", "min_length",
                         "max_length", "pattern", "precision", "scale", "multiple", "target",
                         "min_items", "max_items", "min_rows", "max_rows", "sensitive")
_FIELD_IDENTITY = ("id", "key", "type", "fields", "options")


def diff_definitions(old: dict, new: dict) -> list[dict]:
    """What changed from `old` to `new` (both normalized), matching forms and fields by id.

    A changed key with the same id is a rename. Each change is a dict with "op" and
    the ids involved, e.g. {"op": "rename_field", "form": "frm_...", "field": "fld_...",
    "from": "qty", "to": "quantity"}. Ops: change_app, add_form, remove_form,
    rename_form, change_form, add_field, remove_field, rename_field, move_field,
    change_type, change_options, change_constraint, change_property.
    """
    changes: list[dict] = []
    for prop in sorted(set(old) | set(new)):
        if prop in ("forms", "version"):
            continue
        if old.get(prop) != new.get(prop):
            changes.append({"op": "change_app", "property": prop,
                            "from": old.get(prop), "to": new.get(prop)})
    old_forms = {f["id"]: f for f in old.get("forms", ())}
    new_forms = {f["id"]: f for f in new.get("forms", ())}
    for form_id, form in new_forms.items():
        before = old_forms.get(form_id)
        if before is None:
            changes.append({"op": "add_form", "form": form_id, "key": form["key"]})
            for fdef in form["fields"]:
                changes.extend(_field_added(form_id, fdef, None))
            continue
        if before["key"] != form["key"]:
            changes.append({"op": "rename_form", "form": form_id,
                            "from": before["key"], "to": form["key"]})
        for prop in sorted((set(before) | set(form)) - {"id", "key", "fields"}):
            if before.get(prop) != form.get(prop):
                changes.append({"op": "change_form", "form": form_id, "property": prop,
                                "from": before.get(prop), "to": form.get(prop)})
        changes.extend(_diff_fields(form_id, before, form))
    for form_id, form in old_forms.items():
        if form_id not in new_forms:
            changes.append({"op": "remove_form", "form": form_id, "key": form["key"]})
    return changes


def _flat_fields(form: dict) -> dict[str, tuple[dict, str | None]]:
    out: dict[str, tuple[dict, str | None]] = {}
    for fdef in form.get("fields", ()):
        out[fdef["id"]] = (fdef, None)
        if fdef.get("type") == "subform":
            for child in fdef.get("fields", ()):
                out[child["id"]] = (child, fdef["id"])
    return out


def _field_added(form_id: str, fdef: dict, parent: str | None) -> list[dict]:
    change = {"op": "add_field", "form": form_id, "field": fdef["id"], "key": fdef["key"],
              "type": fdef["type"]}
    if parent:
        change["parent"] = parent
    out = [change]
    if fdef.get("type") == "subform" and parent is None:
        for child in fdef.get("fields", ()):
            out.extend(_field_added(form_id, child, fdef["id"]))
    return out


def _option_values(options: Any) -> list:
    values = []
    for o in options or ():
        values.append(o.get("value", o.get("key", o.get("id"))) if isinstance(o, dict) else o)
    return values


def _diff_fields(form_id: str, old_form: dict, new_form: dict) -> list[dict]:
    changes: list[dict] = []
    before, after = _flat_fields(old_form), _flat_fields(new_form)
    for field_id, (fdef, parent) in after.items():
        if field_id not in before:
            if parent is None or parent in before:
                changes.extend(_field_added(form_id, fdef, parent))
            continue
        old_def, old_parent = before[field_id]
        base = {"form": form_id, "field": field_id}
        if old_parent != parent:
            changes.append({"op": "move_field", **base, "from": old_parent, "to": parent})
        if old_def["key"] != fdef["key"]:
            changes.append({"op": "rename_field", **base, "from": old_def["key"], "to": fdef["key"]})
        if old_def["type"] != fdef["type"]:
            changes.append({"op": "change_type", **base, "from": old_def["type"], "to": fdef["type"]})
        if old_def.get("options") != fdef.get("options"):
            was, now = _option_values(old_def.get("options")), _option_values(fdef.get("options"))
            changes.append({"op": "change_options", **base,
                            "added": [v for v in now if v not in was],
                            "removed": [v for v in was if v not in now],
                            "from": old_def.get("options"), "to": fdef.get("options")})
        for prop in sorted((set(old_def) | set(fdef)) - set(_FIELD_IDENTITY)):
            if old_def.get(prop) != fdef.get(prop):
                op = "change_constraint" if prop in CONSTRAINT_PROPERTIES else "change_property"
                changes.append({"op": op, **base, "property": prop,
                                "from": old_def.get(prop), "to": fdef.get(prop)})
    for field_id, (fdef, parent) in before.items():
        if field_id not in after and (parent is None or parent in after):
            change = {"op": "remove_field", "form": form_id, "field": field_id, "key": fdef["key"]}
            if parent:
                change["parent"] = parent
            changes.append(change)
    return changes


__all__ = ["load_definition", "dump_definition", "check_definition", "diff_definitions",
           "canonical", "format_location", "new_id", "validator", "CONSTRAINT_PROPERTIES"]
