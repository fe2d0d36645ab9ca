"""Read-only objects over a normalized app definition: App -> Form -> Field.

Built once per definition version (`App.from_definition(defn)`) and shared by the
record lifecycle, the API and the query layer, so everything here is cheap to
read: lookups by key and id are dicts, derived data (expression schema,
computed-field order) is computed on first use and cached.

The module-level helpers (`form_expr_schema`, `row_expr_schema`, `lookup_source`,
...) work on plain definition dicts and tolerate invalid ones: the definition
checker uses them before a definition is known to be valid.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable

from . import field_types
from .errors import NotFound

#: Property naming the link field a lookup reads through (first one present wins).
LOOKUP_LINK_PROPERTIES = ("link", "source", "through", "via")
#: Property naming the subform or link a rollup aggregates over.
ROLLUP_SOURCE_PROPERTIES = ("source", "subform", "link", "through", "via")
#: Property naming the field read in the linked form / subform rows.
SOURCE_FIELD_PROPERTIES = ("field", "source_field", "target_field")
#: Computed types whose value depends on other fields of the same record.
DERIVED_TYPES = ("formula", "lookup", "rollup")

_SCALAR_EXPR_TYPES = {"text", "number", "boolean", "date", "datetime", "time"}


class UnknownName(NotFound, KeyError):
    """A form or field key/id that does not exist (a KeyError and a 404)."""

    def __str__(self) -> str:
        return self.message


def _suggest(name: Any, names: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(str(name), list(names), n=1, cutoff=0.6)
    return match[0] if match else None


def _unknown(kind: str, name: Any, names: Iterable[str], where: str = "") -> UnknownName:
    hint = _suggest(name, names)
    msg = f"{name!r} is not a {kind}{where}"
    return UnknownName(f"{msg} (did you mean {hint!r}?)" if hint else msg)


# --------------------------------------------------------------------------- dict helpers
def first_property(fdef: dict, names: tuple[str, ...]) -> tuple[str | None, Any]:
    """(property name, value) of the first of `names` present in a field definition."""
    for name in names:
        if name in fdef:
            return name, fdef[name]
    return None, None


def lookup_source(fdef: dict) -> tuple[str | None, Any]:
    """(property, value) naming the link field of a lookup definition."""
    return first_property(fdef, LOOKUP_LINK_PROPERTIES)


def rollup_source(fdef: dict) -> tuple[str | None, Any]:
    """(property, value) naming the subform/link field of a rollup definition."""
    return first_property(fdef, ROLLUP_SOURCE_PROPERTIES)


def source_field(fdef: dict) -> tuple[str | None, Any]:
    """(property, value) naming the field a lookup/rollup reads in its source."""
    return first_property(fdef, SOURCE_FIELD_PROPERTIES)


def field_list(container: Any) -> list[dict]:
    """The well-formed field dicts of a form or subform definition (others skipped)."""
    fields = container.get("fields") if isinstance(container, dict) else None
    if not isinstance(fields, list):
        return []
    return [f for f in fields if isinstance(f, dict) and isinstance(f.get("key"), str)]


def link_target(fdef: dict, app_key: Any = None) -> tuple[str | None, str | None]:
    """(app key or None for this app, form key) of a link definition's target."""
    target = fdef.get("target")
    if not isinstance(target, str):
        return None, None
    if "." in target:
        app, form = target.split(".", 1)
        return (None if app == app_key else app), form
    return None, target


def _type_class(fdef: dict):
    name = fdef.get("type")
    if isinstance(name, str) and name in field_types.registry:
        return field_types.registry.get(name)
    return None


def field_expr_type(fdef: dict, siblings: dict[str, dict], forms_by_key: dict[str, dict],
                    app_key: Any = None, _seen: frozenset = frozenset()) -> str:
    """The expression-language type of a field's value (see engine.expr.FieldSig).

    `siblings` are the field definitions of the same form/subform by key (a lookup
    reads through one of them), `forms_by_key` the app's form definitions.
    """
    cls = _type_class(fdef)
    if cls is None:
        return "any"
    name = fdef["type"]
    if name == "formula":
        # result_type names a field type ("money", "date"); absent = not inferable
        result = _type_class({"type": fdef.get("result_type")})
        return (result.expr_type or "any") if result is not None else "any"
    if name == "lookup":
        return _lookup_expr_type(fdef, siblings, forms_by_key, app_key, _seen)
    try:  # instances know per-definition types (multiple links, computed results)
        expr_type = field_types.field_type(fdef).expr_type
    except Exception:
        expr_type = cls.expr_type
    expr_type = expr_type or "any"
    if fdef.get("multiple") is True:
        if expr_type == "record":
            return "records"
        if expr_type in _SCALAR_EXPR_TYPES:
            return "list"
    return expr_type


def _lookup_expr_type(fdef, siblings, forms_by_key, app_key, seen) -> str:
    if id(fdef) in seen:
        return "any"
    _, link_key = lookup_source(fdef)
    _, target_key = source_field(fdef)
    link = siblings.get(link_key) if isinstance(link_key, str) else None
    if not isinstance(link, dict):
        return "any"
    app, form_key = link_target(link, app_key)
    form = forms_by_key.get(form_key) if app is None else None
    if form is None:
        return "any"
    target_siblings = {f["key"]: f for f in field_list(form)}
    target = target_siblings.get(target_key) if isinstance(target_key, str) else None
    if target is None:
        return "any"
    inner = field_expr_type(target, target_siblings, forms_by_key, app_key, seen | {id(fdef)})
    if link.get("multiple") is True and inner not in ("records", "list"):
        return "list"
    return inner


def _sig(type_: str, fields=None):
    from .expr import FieldSig  # late: the expression package imports field types
    try:
        return FieldSig(type_, fields)
    except ValueError:  # a field type with an expression type the language lacks
        return FieldSig("any", None)


def form_expr_schema(form: dict, forms_by_key: dict[str, dict], app_key: Any = None,
                     depth: int = 2, overrides: dict | None = None) -> dict:
    """dict[field key, FieldSig] of a form definition's fields, as formulas see them.

    Subform fields carry their rows' fields; link fields carry the target form's
    fields (`depth` levels of links deep; deeper links have fields=None).
    `overrides` replaces the signature of some keys (used while inferring types).
    """
    schema: dict = {}
    fields = field_list(form)
    siblings = {}
    for f in fields:
        siblings.setdefault(f["key"], f)
    for fdef in fields:
        key = fdef["key"]
        if overrides and key in overrides:
            schema[key] = overrides[key]
            continue
        expr_type = field_expr_type(fdef, siblings, forms_by_key, app_key)
        sub = None
        if fdef.get("type") == "subform":
            sub = form_expr_schema(fdef, forms_by_key, app_key, depth)
        elif fdef.get("type") == "link":
            app, target = link_target(fdef, app_key)
            target_form = forms_by_key.get(target) if app is None else None
            if depth > 0 and isinstance(target_form, dict):
                sub = form_expr_schema(target_form, forms_by_key, app_key, depth - 1)
        schema[key] = _sig(expr_type, sub)
    return schema


def row_expr_schema(form: dict, subform: dict, forms_by_key: dict[str, dict],
                    app_key: Any = None, overrides: dict | None = None) -> dict:
    """The schema seen by expressions inside a subform row: the row's own fields.

    The record holding the row is reached through the builtin `$parent`
    (`$parent.rate`), which is how the engine evaluates row formulas.
    """
    return form_expr_schema(subform, forms_by_key, app_key, overrides=overrides)


def forms_index(defn: dict) -> dict[str, dict]:
    """Form definitions by key (well-formed ones; the first wins on duplicates)."""
    out: dict[str, dict] = {}
    forms = defn.get("forms") if isinstance(defn, dict) else None
    for form in forms if isinstance(forms, list) else []:
        if isinstance(form, dict) and isinstance(form.get("key"), str):
            out.setdefault(form["key"], form)
    return out


def expression_reads(compiled) -> set[str]:
    """Top-level field keys an expression reads ("parts.price" reads "parts")."""
    return {str(name).split(".", 1)[0] for name in getattr(compiled, "fields", ())}


def dependency_order(items: list[str], deps: dict[str, set[str]]) -> list[str]:
    """`items` topologically sorted (dependencies first), stable by input order;
    members of cycles come last in input order."""
    order: list[str] = []
    state: dict[str, int] = {}
    cyclic: set[str] = set()

    def visit(name: str, stack: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cyclic.update(stack[stack.index(name):])
            return
        state[name] = 1
        stack.append(name)
        for dep in sorted(deps.get(name, ()), key=_position(items)):
            if dep in deps:
                visit(dep, stack)
        stack.pop()
        state[name] = 2
        if name not in cyclic:
            order.append(name)

    for item in items:
        visit(item, [])
    return order + [i for i in items if i in cyclic and i not in order]


def _position(items: list[str]):
    index = {name: i for i, name in enumerate(items)}
    return lambda name: index.get(name, len(index))


# --------------------------------------------------------------------------- objects
class Field:
    """One field of a form (or of a subform's rows)."""

    def __init__(self, definition: dict, form: "Form", parent: "Field | None" = None):
        self.definition = definition
        self.form = form
        self.parent = parent
        self.id: str = definition["id"]
        self.key: str = definition["key"]
        self.type_name: str = definition["type"]
        self.type = field_types.field_type(definition)
        self.required = bool(definition.get("required", False))
        self.unique = bool(definition.get("unique", False))
        self.indexed = bool(definition.get("indexed", False))
        self.computed = bool(type(self.type).computed)
        self.children: list[Field] = [Field(c, form, self) for c in definition.get("fields", ())] \
            if self.type_name == "subform" else []

    @property
    def label(self) -> dict:
        return self.definition.get("label", {})

    @cached_property
    def row_schema(self) -> dict | None:
        """Expression schema of one row/record this field holds: a subform's row
        fields, or a link's target form (None when the target is in another app)."""
        if self.type_name == "subform":
            return self.form.row_expr_schema(self.key)
        if self.type_name == "link":
            app, target = link_target(self.definition, self.form.app.key)
            if app is None and target in self.form.app.forms_by_key:
                return self.form.app.forms_by_key[target].expr_schema()
        return None

    def get(self, prop: str, default: Any = None) -> Any:
        """A property of the definition (e.g. "min", "options", "target")."""
        return self.definition.get(prop, default)

    def child(self, key: str) -> "Field":
        """A subform's child field by key; UnknownName with a suggestion otherwise."""
        for c in self.children:
            if c.key == key:
                return c
        raise _unknown("field", key, [c.key for c in self.children], f" of subform {self.key!r}")

    @cached_property
    def computed_children(self) -> list["Field"]:
        """A subform's computed child fields in dependency order."""
        return _computed_order(self.children, lambda: self.form.row_expr_schema(self.key))

    def __repr__(self) -> str:
        return f"<Field {self.key} ({self.type_name}) {self.id}>"


@dataclass(frozen=True)
class Section:
    """A group of top-level fields shown together (the form's `layout`); label None: no title."""

    label: dict | None
    description: Any
    columns: int
    collapsed: bool
    fields: tuple["Field", ...]
    visible_if: str | None = None


class Form:
    """One form of an app: its fields, rules and derived data."""

    def __init__(self, definition: dict, app: "App"):
        self.definition = definition
        self.app = app
        self.id: str = definition["id"]
        self.key: str = definition["key"]
        self.label: dict = definition.get("label", {})
        self.title_field: str | None = definition.get("title_field")
        self.rules: list[dict] = list(definition.get("rules", ()))
        self.fields: list[Field] = [Field(f, self) for f in definition["fields"]]
        self._by_key = {f.key: f for f in self.fields}
        self._by_id: dict[str, Field] = {}
        for f in self.fields:
            self._by_id[f.id] = f
            for c in f.children:
                self._by_id[c.id] = c

    @property
    def fields_by_key(self) -> dict[str, Field]:
        """Top-level fields by key."""
        return self._by_key

    @property
    def fields_by_id(self) -> dict[str, Field]:
        """Every field (subform children included) by id."""
        return self._by_id

    def suggest_field(self, name: str) -> str | None:
        """The closest top-level field key, for "did you mean" messages."""
        return _suggest(name, self._by_key)

    @cached_property
    def sections(self) -> list[Section]:
        """The fields in display order, grouped as the layout says.

        Fields no section names come first, untitled, in `fields` order; then each section
        with its fields in the section's order (empty sections are kept: builders see them).
        """
        layout = self.definition.get("layout") or {}
        columns = layout.get("columns", 1)
        listed = layout.get("sections") or []
        placed = {key for section in listed for key in section.get("fields", ())}
        loose = tuple(f for f in self.fields if f.key not in placed)
        out = [Section(None, None, columns, False, loose)] if loose or not listed else []
        for section in listed:
            out.append(Section(section["label"], section.get("description"), section.get("columns", columns),
                               bool(section.get("collapsed")),
                               tuple(self._by_key[k] for k in section["fields"] if k in self._by_key),
                               section.get("visible_if")))
        return out

    @cached_property
    def conditional_sections(self) -> list[Section]:
        """Sections shown only when their `visible_if` is TRUE (their fields are hidden with them)."""
        return [s for s in self.sections if isinstance(s.visible_if, str)]

    @cached_property
    def link_fields(self) -> list[Field]:
        """Top-level link fields."""
        return [f for f in self.fields if f.type_name == "link"]

    @cached_property
    def text_fields(self) -> list[Field]:
        """Top-level fields whose stored value is text in SQL (matched casefolded)."""
        return [f for f in self.fields if getattr(f.type, "sql_type", None) == "text"]

    @cached_property
    def conditional_fields(self) -> list[Field]:
        """Top-level fields shown only when their `visible_if` is TRUE."""
        return [f for f in self.fields if isinstance(f.definition.get("visible_if"), str)]

    @cached_property
    def subforms_with_formulas(self) -> list[Field]:
        """Subform fields with at least one formula child."""
        return [f for f in self.fields
                if any(c.type_name == "formula" for c in f.children)]

    @cached_property
    def link_keys_read(self) -> list[str]:
        """Keys of link fields whose linked records the form reads (formulas,
        default_formula, visible_if, rules, e.g. `machine.name`; lookups; rollups)."""
        links = {f.key for f in self.link_fields}
        if not links:
            return []
        schema = self.expr_schema()
        sources = [f.definition.get(p) for f in self.fields
                   for p in ("formula", "default_formula", "visible_if")]
        sources += [r.get("formula") for r in self.rules if isinstance(r, dict)]
        read: set[str] = set()
        for source in sources:
            read |= _reads(source, schema) & links
        for f in self.fields:  # lookups and rollups read through their link too
            if f.type_name == "lookup":
                read.add(lookup_source(f.definition)[1])
            elif f.type_name == "rollup":
                read.add(rollup_source(f.definition)[1])
        return [f.key for f in self.link_fields if f.key in read]

    def field(self, key: str) -> Field:
        """A top-level field by key; UnknownName (KeyError) with a suggestion otherwise."""
        try:
            return self._by_key[key]
        except KeyError:
            raise _unknown("field", key, self._by_key, f" of form {self.key!r}") from None

    def field_by_id(self, field_id: str) -> Field:
        """A field (top-level or subform child) by id."""
        try:
            return self._by_id[field_id]
        except KeyError:
            raise UnknownName(f"{field_id!r} is not a field id of form {self.key!r}") from None

    def has_field(self, key: str) -> bool:
        return key in self._by_key

    @cached_property
    def stored_fields(self) -> list[Field]:
        """Top-level fields whose values clients write (not computed by the engine)."""
        return [f for f in self.fields if not f.computed]

    @cached_property
    def computed_fields(self) -> list[Field]:
        """Top-level computed fields (formula, lookup, rollup, serial), dependencies first."""
        return _computed_order(self.fields, self.expr_schema)

    def expr_schema(self) -> dict:
        """dict[field key, FieldSig] for expressions evaluated on this form's records."""
        cached = self.__dict__.get("_expr_schema")
        if cached is None:
            cached = form_expr_schema(self.definition, self.app._forms_defs, self.app.key)
            self.__dict__["_expr_schema"] = cached
        return cached

    def row_expr_schema(self, subform_key: str) -> dict:
        """The schema for expressions inside rows of the subform `subform_key`."""
        cache = self.__dict__.setdefault("_row_schemas", {})
        if subform_key not in cache:
            cache[subform_key] = row_expr_schema(self.definition, self.field(subform_key).definition,
                                                 self.app._forms_defs, self.app.key)
        return cache[subform_key]

    def __repr__(self) -> str:
        return f"<Form {self.key} {self.id}>"


def _computed_order(fields: list[Field], schema_of) -> list[Field]:
    computed = [f for f in fields if f.computed]
    if not computed:
        return []
    keys = {f.key for f in computed}
    deps: dict[str, set[str]] = {}
    for f in computed:
        reads: set[str] = set()
        if f.type_name == "formula":
            reads = _reads(f.definition.get("formula"), schema_of())
        elif f.type_name == "lookup":
            reads = {lookup_source(f.definition)[1]}
        elif f.type_name == "rollup":
            reads = {rollup_source(f.definition)[1]}
        deps[f.key] = {r for r in reads if r in keys and isinstance(r, str)}
    by_key = {f.key: f for f in computed}
    return [by_key[k] for k in dependency_order([f.key for f in computed], deps)]


def _reads(source: Any, schema: dict) -> set[str]:
    if not isinstance(source, str):
        return set()
    from .expr import compile_expression
    try:
        return expression_reads(compile_expression(source, schema))
    except Exception:  # invalid definitions never get here; be lenient anyway
        return set()


class App:
    """An installed app: its forms, from a normalized (valid) definition."""

    def __init__(self, definition: dict):
        self.definition = definition
        self.key: str = definition["key"]
        self.id: str | None = definition.get("id")
        self.version: int | None = definition.get("version")
        self.label: dict = definition.get("label", {})
        self._forms_defs = forms_index(definition)
        self.forms: list[Form] = [Form(f, self) for f in definition["forms"]]
        self._by_key = {f.key: f for f in self.forms}
        self._by_id = {f.id: f for f in self.forms}

    @property
    def forms_by_key(self) -> dict[str, Form]:
        """Forms by key."""
        return self._by_key

    @property
    def forms_by_id(self) -> dict[str, Form]:
        """Forms by id."""
        return self._by_id

    @classmethod
    def from_definition(cls, defn: dict) -> "App":
        """The model of a normalized definition (see engine.definition.load_definition)."""
        return cls(defn)

    def form(self, key: str) -> Form:
        """A form by key; UnknownName (KeyError, 404) with a suggestion otherwise."""
        try:
            return self._by_key[key]
        except KeyError:
            raise _unknown("form", key, self._by_key, f" of app {self.key!r}") from None

    def form_by_id(self, form_id: str) -> Form:
        """A form by id; UnknownName otherwise."""
        try:
            return self._by_id[form_id]
        except KeyError:
            raise UnknownName(f"{form_id!r} is not a form id of app {self.key!r}") from None

    def section(self, name: str, default: Any = None) -> Any:
        """An optional section (roles, views, ...) as written in the definition."""
        return self.definition.get(name, default)

    def __repr__(self) -> str:
        return f"<App {self.key} v{self.version}>"


__all__ = ["App", "Form", "Field", "UnknownName", "form_expr_schema", "row_expr_schema",
           "field_expr_type", "forms_index", "dependency_order", "expression_reads",
           "lookup_source", "rollup_source", "source_field", "link_target", "field_list"]
