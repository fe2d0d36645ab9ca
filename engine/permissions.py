"""THE permission service: what a user may do on an app and a form, enforced once.

Every read and write path asks here (docs/permissions.md explains the model):

    fa = permissions.form_access(ff, user, "shop", "order")   # user: a user row/dict or id
    fa.require("read")                          # Forbidden (403) unless the action is granted
    fa.check_query(filter=..., sort=...)        # QueryError on hidden or masked fields
    page = fa.list_records(conn, filter=, sort=, limit=, cursor=, trash=)  # rows + fields applied
    n = fa.count_records(conn, filter=, trash=)
    where = fa.where("read")                    # SQL for queries.list_records(extra_where=...)
    fa.allows(record, "update")                 # the same rule in Python, for one record
    fa.check_record(record, "read")             # NotFound unless the record is reachable
    fa.check_write(values, "create" | "update", record=None)  # RecordValidationError on
                                                # hidden / read-only / system fields
    fa.project(record)                          # API JSON: hidden fields gone, sensitive masked
    fa.project_json(json_record_or_changes)     # same on JSON already built (webhooks, exports)
    fa.project_history(entries)                 # Records.history() entries, projected
    fa.explain(record=None, field=None)         # "why can this user see this?"
    permissions.app_access(ff, user, "shop").can("edit_definition")
    permissions.view_as(ff, user_id, app, form) # what that user would get ("view as")

Combining sets: a user matching several permission sets of a form gets the union
(the actions of all; the rows any of the sets granting the action reaches; for each
field the most permissive right). Admins (users.is_admin) may do everything and see
everything unmasked; inactive users nothing. An app without a `permissions` section
is open to every signed-in user (every record action, every field editable) but
still masks sensitive fields for non-admins; once the section exists, a form no set
names is closed to non-admins.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Iterable

import sqlalchemy as sa

from . import permission_model as pm
from . import tables
from .errors import FormflowError, NotFound, RecordValidationError

_RANK = {"hidden": 0, "readonly": 1, "editable": 2}
#: system fields row rules may read, and their columns
_SYSTEM_COLUMNS = {"_id": "id", "_owner": "owner", "_created_by": "created_by", "_updated_by": "updated_by"}
_OPEN_SET = {"key": "_open", "who": {"everyone": True}, "actions": list(pm.RECORD_ACTIONS),
             "new_fields": "editable"}


class Forbidden(FormflowError):
    """The caller may not do this (HTTP 403)."""

    status = 403
    title = "Forbidden"


# ---------------------------------------------------------------------- subjects

@dataclass(frozen=True)
class Subject:
    """Who is asking: the user and their directory facts (see engine.directory.profile)."""

    id: str
    username: str | None = None
    email: str | None = None
    is_admin: bool = False
    is_active: bool = True
    roles: frozenset = frozenset()
    departments: tuple = ()
    primary_department: str | None = None
    within: frozenset = frozenset()
    subdepartments: tuple = ()
    managed_departments: tuple = ()

    def expr_user(self) -> dict:
        """`$user` in row rules (blank values are "" so SQL and Python agree)."""
        return {"id": self.id, "username": self.username or "", "email": self.email or "",
                "roles": sorted(self.roles), "departments": list(self.departments),
                "primary_department": self.primary_department or "",
                "subdepartments": list(self.subdepartments),
                "managed_departments": list(self.managed_departments)}


def subject(ff, user: Any, conn: sa.Connection | None = None) -> Subject:
    """The Subject of a user row/dict (anything with "id") or a user id; NotFound when unknown."""
    if conn is None:
        with ff.db.read() as conn:
            return subject(ff, user, conn)
    if isinstance(user, Subject):
        return user
    user_id = user.get("id") if isinstance(user, dict) else getattr(user, "id", user)
    row = conn.execute(sa.select(tables.users).where(tables.users.c.id == str(user_id))).mappings().first()
    if row is None:
        raise NotFound(f"no user {user_id!r}")
    from . import directory
    facts = directory.cached_profile(ff, conn, row["id"])
    return Subject(id=row["id"], username=row["username"], email=row["email"], is_admin=bool(row["is_admin"]),
                   is_active=bool(row["is_active"]), roles=frozenset(facts["roles"]),
                   departments=tuple(facts["departments"]), primary_department=facts["primary_department"],
                   within=frozenset(facts["within"]), subdepartments=tuple(facts["subdepartments"]),
                   managed_departments=tuple(facts["managed_departments"]))


# ------------------------------------------------------------------------ grants

@dataclass
class Grant:
    """A permission set that applies to the subject, and why."""

    set: dict
    via: list[str]
    owner_only: bool          # matched only through "owner": reaches the user's own records

    @property
    def key(self) -> str:
        return self.set["key"]

    @property
    def actions(self) -> set[str]:
        return set(self.set.get("actions") or ())


def _match(pset: dict, subj: Subject) -> Grant | None:
    who = pset.get("who") or {}
    via = []
    if who.get("everyone"):
        via.append("everyone")
    via += [f"role {r}" for r in who.get("roles") or () if r in subj.roles]
    via += [f"department {d}" for d in who.get("departments") or () if d in subj.within]
    if subj.id in (who.get("users") or ()):
        via.append(f"user {subj.id}")
    if via:
        return Grant(pset, via, False)
    if who.get("owner"):
        return Grant(pset, ["owner of the record"], True)
    return None


def _sets_of(app) -> list[dict] | None:
    sets = app.section("permissions")
    return None if sets is None else [s for s in sets if isinstance(s, dict)]


# ---------------------------------------------------------------------- app level

@dataclass
class AppAccess:
    """App-level rights of a subject: edit_definition, manage_permissions, manage_automations."""

    subject: Subject
    app: Any
    rights: frozenset
    granted_by: dict = dc_field(default_factory=dict)

    def can(self, right: str) -> bool:
        return right in self.rights

    def require(self, right: str) -> None:
        if right not in self.rights:
            raise Forbidden(f"you may not {right.replace('_', ' ')} of app {self.app.key!r}")


def app_access(ff, user: Any, app_key: str, conn: sa.Connection | None = None) -> AppAccess:
    """The app-level rights of `user` on `app_key`."""
    subj = subject(ff, user, conn)
    app = ff.app(app_key, conn)
    if not subj.is_active:
        return AppAccess(subj, app, frozenset())
    if subj.is_admin:
        return AppAccess(subj, app, frozenset(pm.APP_ACTIONS), {r: ["admin"] for r in pm.APP_ACTIONS})
    granted: dict[str, list[str]] = {}
    for pset in _sets_of(app) or ():
        g = _match(pset, subj) if pset.get("form") is None else None
        if g is not None and not g.owner_only:
            for right in pset.get("actions") or ():
                granted.setdefault(right, []).append(pset["key"])
    return AppAccess(subj, app, frozenset(granted), granted)


# --------------------------------------------------------------------- form level

class FormAccess:
    """What one subject may do on one form: actions, rows, fields, masking."""

    def __init__(self, ff, subj: Subject, app, form):
        self.ff, self.subject, self.app, self.form = ff, subj, app, form
        self.admin = subj.is_admin and subj.is_active
        sets = _sets_of(app)
        if sets is None:
            sets = [_OPEN_SET]
        self.grants: list[Grant] = []
        if subj.is_active and not self.admin:
            for pset in sets:
                if pset is _OPEN_SET or pset.get("form") == form.key:
                    g = _match(pset, subj)
                    if g is not None:
                        self.grants.append(g)
        if self.admin:
            self.actions = frozenset(pm.RECORD_ACTIONS)
        else:
            self.actions = frozenset(a for g in self.grants for a in g.actions)
        self.rights: dict[str, str] = {}
        self._right_by: dict[str, list[tuple[str, str, bool]]] = {}
        for f in form.fields:
            if self.admin:
                right, by = "editable", [("admin", "editable", True)]
            else:
                by = []
                right = "hidden"
                for g in self.grants:
                    named = (g.set.get("fields") or {}).get(f.key)
                    r = named or g.set.get("new_fields") or pm.DEFAULT_NEW_FIELDS
                    by.append((g.key, r, named is not None))
                    if _RANK[r] > _RANK[right]:
                        right = r
            if right == "editable" and f.computed:
                right = "readonly"
            self.rights[f.key] = right
            self._right_by[f.key] = by
        self.unmasked: frozenset = frozenset(
            f.key for f in form.fields if self.admin or any(self._unmasks(g, f.key) for g in self.grants))

    @staticmethod
    def _unmasks(g: Grant, key: str) -> bool:
        u = g.set.get("unmask")
        return u is True or (isinstance(u, list) and key in u)

    # -- questions -----------------------------------------------------------------

    def can(self, action: str) -> bool:
        """Whether the action is granted on some rows of the form."""
        return action in self.actions

    def require(self, action: str) -> None:
        """Forbidden (403) unless `action` is granted."""
        if action not in self.actions:
            raise Forbidden(f"you may not {action} records of {self.app.key}.{self.form.key}")

    def right(self, key: str) -> str:
        """hidden / readonly / editable for a field key (system fields: readonly)."""
        if key.startswith("_"):
            return "readonly"
        return self.rights.get(key, "hidden")

    @property
    def visible_fields(self) -> list:
        """The form's fields this subject sees (masked or not), in form order."""
        return [f for f in self.form.fields if self.rights[f.key] != "hidden"]

    def is_masked(self, key: str) -> bool:
        """True when the field is sensitive and this subject lacks the unmask right."""
        f = self.form.fields_by_key.get(key)
        return f is not None and f.type.is_sensitive and key not in self.unmasked

    def unmasked_sensitive_fields(self) -> list[str]:
        """Visible sensitive fields this subject sees in clear (views worth an audit entry)."""
        return [f.key for f in self.visible_fields if f.type.is_sensitive and f.key in self.unmasked]

    # -- rows ----------------------------------------------------------------------

    def _grants_for(self, action: str) -> list[Grant]:
        return [g for g in self.grants if action in g.actions]

    def where(self, action: str = "read"):
        """SQL condition of the rows `action` reaches: None = every row; false() = none.

        Pass it as `extra_where` to queries.list_records / count_records (and exports).
        """
        if self.admin:
            return None
        grants = self._grants_for(action)
        if not grants:
            return sa.false()
        ft = self.ff.form_table(self.form)
        parts = []
        for g in grants:
            cond = self._grant_sql(g, ft)
            if cond is None:
                return None
            parts.append(cond)
        return sa.or_(*parts)

    def where_key(self, action: str = "read") -> str | None:
        """A stable description of `where(action)` (queries.list_records' `extra_key`).

        Equal keys mean equal SQL *and* equal bound values: the app version, the
        granting sets and every `$user` value folded into the rules are part of it.
        """
        if self.admin:
            return None
        import json
        grants = [(g.key, g.owner_only) for g in self._grants_for(action)]
        return json.dumps(["perm", self.app.key, self.app.version, self.form.key, action, grants,
                           self.subject.id, self.subject.expr_user()], sort_keys=True, default=str)

    def _grant_sql(self, g: Grant, ft):
        from .expr import sql as expr_sql
        conds = []
        rule = g.set.get("rows")
        if rule:
            form = self.form

            def resolve(key: str, folded: bool):
                if key in _SYSTEM_COLUMNS:
                    col = ft.c[_SYSTEM_COLUMNS[key]]
                    return sa.func.lower(col) if folded else col
                f = form.fields_by_key[key]
                return ft.value(f.id, f.type.sql_type, folded)
            from .queries import field_shapes, sql_shapes
            schema = pm.rule_schema(form)
            text_keys, lists = sql_shapes(field_shapes(form), schema, ft.c.data)
            conds.append(expr_sql.to_sql(rule, schema, resolve, self.ff.db.dialect,
                                         constants={"user": self.subject.expr_user()},
                                         text_keys=text_keys, lists=lists))
        if g.owner_only:
            conds.append(ft.c.owner == self.subject.id)
        return sa.and_(*conds) if conds else None

    def _grant_allows(self, g: Grant, record: dict) -> bool:
        if g.owner_only and record.get("_owner") != self.subject.id:
            return False
        rule = g.set.get("rows")
        if not rule:
            return True
        from . import expr
        compiled = expr.compile_expression(rule, pm.rule_schema(self.form))
        return compiled.evaluate_raw(record, {"user": self.subject.expr_user()}) is True

    def allows(self, record: dict, action: str = "read") -> bool:
        """The row rule of `action` on one record (Python; agrees with `where`)."""
        if self.admin:
            return True
        return any(self._grant_allows(g, record) for g in self._grants_for(action))

    def check_record(self, record: dict, action: str = "read") -> None:
        """Forbidden without the action; NotFound (not revealing it exists) outside the rows."""
        self.require(action)
        if not self.allows(record, action):
            raise NotFound(f"record {record.get('_id')!r} not found in {self.app.key}.{self.form.key}")

    def check_result(self, record: dict, action: str = "update") -> None:
        """Forbidden unless a record as it *would be written* (the new values of a create or
        update, computed by the lifecycle) is still inside the rows of `action`.

        Call it in the write's transaction, after the write, and let the error roll it back.
        """
        self.require(action)
        if not self.allows(record, action):
            verb = "create" if action == "create" else f"{action} records into"
            raise Forbidden(f"the row rules of {self.app.key}.{self.form.key} do not let you {verb} "
                            "a record with these values")

    # -- writes --------------------------------------------------------------------

    def check_write(self, values: dict, action: str = "update", record: dict | None = None) -> None:
        """Refuse a create/update payload touching hidden, read-only or system fields.

        Hidden fields are reported exactly like unknown ones (their existence is not
        revealed). With `record` (an update) the record must be in the rows of `action`.
        RecordValidationError (422) lists every refused key; Forbidden/NotFound as above.
        The new values' row rule is `check_result`.
        """
        if record is not None:
            self.check_record(record, action)
        else:
            self.require(action)
        if not isinstance(values, dict):
            return
        self.check_fields(values)

    def check_fields(self, keys: Iterable) -> None:
        """RecordValidationError (422) when `keys` name hidden, read-only or system fields."""
        errors = []
        for key in keys:
            if not isinstance(key, str):
                continue
            if key.startswith("_"):
                errors.append({"location": key, "message": f"{key} is a system field and cannot be written",
                               "code": "readonly"})
                continue
            if key not in self.form.fields_by_key:
                continue  # the record lifecycle reports unknown fields
            right = self.rights[key]
            if right == "hidden":
                errors.append({"location": key, "message": f"unknown field {key!r}", "code": "unknown"})
            elif right == "readonly":
                errors.append({"location": key, "message": f"{key} is read-only for you", "code": "readonly"})
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise RecordValidationError(f"{errors[0]['location']}: {errors[0]['message']}{more}", errors)

    # -- queries -------------------------------------------------------------------

    def _query_schema(self) -> dict:
        full = self.form.expr_schema()
        return {k: sig for k, sig in full.items() if self.rights.get(k) != "hidden" and not self.is_masked(k)}

    def check_query(self, filter: str | None = None, sort: Any = None) -> None:
        """QueryError when a filter or sort uses a field this subject cannot see (or sees masked)."""
        from . import expr
        from .queries import SORTABLE_SYSTEM, QueryError
        if filter is not None and str(filter).strip():
            try:
                expr.compile_expression(filter, self._query_schema())
            except expr.ExprError as err:
                diags = getattr(err, "diagnostics", None) or []
                errors = [{"location": "filter", "message": f"{d.line}:{d.column}: {d.message}", "code": d.code}
                          for d in diags] or [{"location": "filter", "message": str(err), "code": err.code}]
                raise QueryError(f"filter: {errors[0]['message']}", errors) from None
        if sort:
            parts = sort.split(",") if isinstance(sort, str) else list(sort)
            for part in parts:
                name = str(part).strip().lstrip("+-").strip()
                if name in SORTABLE_SYSTEM or name not in self.form.fields_by_key:
                    continue  # parse_sort reports unknown names
                if self.rights[name] == "hidden":
                    raise QueryError(f"sort: unknown field {name!r}",
                                     [{"location": "sort", "message": f"unknown field {name!r}", "code": "unknown"}])
                if self.is_masked(name):
                    raise QueryError(f"sort: {name} is masked for you and cannot be sorted on",
                                     [{"location": "sort", "message": f"{name} is masked", "code": "forbidden"}])

    def list_records(self, conn, *, filter: str | None = None, sort: Any = None, limit: int | None = None,
                     cursor: str | None = None, trash: bool = False):
        """A queries.Page of projected (JSON) records this subject may read."""
        from . import queries
        action = "restore" if trash else "read"
        self.require(action)
        self.check_query(filter, sort)
        page = queries.list_records(conn, self.ff, self.form, filter=filter, sort=sort, limit=limit,
                                    cursor=cursor, trash=trash, extra_where=self.where(action),
                                    extra_key=self.where_key(action))
        page.records = [self.project(r) for r in page.records]
        return page

    def count_records(self, conn, *, filter: str | None = None, trash: bool = False) -> int:
        """How many records this subject may read match `filter`."""
        from . import queries
        action = "restore" if trash else "read"
        self.require(action)
        self.check_query(filter)
        return queries.count_records(conn, self.ff, self.form, filter=filter, trash=trash,
                                     extra_where=self.where(action))

    def get(self, record_id: str, *, include_deleted: bool = False, conn=None) -> dict:
        """One projected record; NotFound when it does not exist or is outside the subject's rows."""
        record = self.ff.records.get(self.app.key, self.form.key, record_id, include_deleted=include_deleted,
                                     conn=conn)
        self.check_record(record, "read")
        return self.project(record)

    def history(self, record_id: str) -> list[dict]:
        """Records.history of a readable record, with hidden fields gone and sensitive ones masked."""
        record = self.ff.records.get(self.app.key, self.form.key, record_id, include_deleted=True)
        self.check_record(record, "read")
        return self.project_history(self.ff.records.history(self.app.key, self.form.key, record_id))

    # -- projection ----------------------------------------------------------------

    def project(self, record: dict) -> dict:
        """A record (Python values, as Records returns it) → API JSON this subject may see."""
        from .records import record_json
        out = {}
        plain = record_json(self.form, record)
        for key, value in plain.items():
            f = self.form.fields_by_key.get(key)
            if f is None:
                if key.startswith("_") and key != "_legacy":
                    out[key] = value
                continue
            if self.rights[key] == "hidden":
                continue
            if self.is_masked(key) and record.get(key) is not None:
                out[key] = f.type.mask(record[key])
            else:
                out[key] = value
        return out

    def _mask_json_value(self, f, value):
        from .field_types import _mask_json
        if value is None:
            return None
        try:
            return f.type.mask(f.type.coerce(value))
        except Exception:
            return _mask_json(value)

    def project_json(self, data: dict) -> dict:
        """A JSON record keyed by field keys (record_json output, an export row, a webhook
        record) without hidden fields and with sensitive ones masked."""
        out = {}
        for key, value in data.items():
            f = self.form.fields_by_key.get(key)
            if f is None:
                if key.startswith("_") and key != "_legacy":
                    out[key] = value
                continue
            if self.rights[key] == "hidden":
                continue
            out[key] = self._mask_json_value(f, value) if self.is_masked(key) else value
        return out

    def project_changes(self, changes: dict) -> dict:
        """{key: [old, new]} JSON changes (history, event payloads) projected pair by pair."""
        out = {}
        for key, pair in changes.items():
            f = self.form.fields_by_key.get(key)
            if f is None or self.rights[key] == "hidden":
                continue
            if self.is_masked(key):
                pair = [self._mask_json_value(f, v) for v in pair]
            out[key] = pair
        return out

    def project_history(self, entries: Iterable[dict]) -> list[dict]:
        """Records.history() entries with each entry's changes projected."""
        return [{**e, "changes": self.project_changes(e.get("changes") or {})} for e in entries]

    # -- explanations ----------------------------------------------------------------

    def explain(self, record: dict | None = None, field: str | None = None) -> dict:
        """Why this subject may (not) do what: the granting sets, rules and rights.

        {"user", "app", "form", "admin", "actions": {action: [set keys]},
         "sets": [{"set", "via", "owner_only", "rows", "actions"}],
         "record": {"id", "visible", "granted_by": [{"set", "via", "rule"}], "reason"},
         "field": {"key", "right", "masked", "granted_by": [{"set", "right", "explicit"}],
                   "unmasked_by": [...], "reason"}}
        """
        out: dict = {"user": self.subject.id, "app": self.app.key, "form": self.form.key, "admin": self.admin,
                     "actions": {a: (["admin"] if self.admin else [g.key for g in self._grants_for(a)])
                                 for a in pm.RECORD_ACTIONS if a in self.actions},
                     "sets": [{"set": g.key, "via": g.via, "owner_only": g.owner_only, "rows": g.set.get("rows"),
                               "actions": sorted(g.actions)} for g in self.grants]}
        if record is not None:
            granted = [] if not self.admin else [{"set": "admin", "via": ["administrator"], "rule": None}]
            if not self.admin:
                for g in self._grants_for("read"):
                    if self._grant_allows(g, record):
                        rule = g.set.get("rows")
                        if g.owner_only:
                            rule = f"({rule}) AND _owner = $user.id" if rule else "_owner = $user.id"
                        granted.append({"set": g.key, "via": g.via, "rule": rule})
            if granted:
                first = granted[0]
                reason = ("an administrator sees every record" if self.admin else
                          f"permission set {first['set']!r} (applies through {', '.join(first['via'])}) grants read"
                          + (f" where {first['rule']}" if first["rule"] else " on every record"))
            elif "read" not in self.actions:
                reason = "no permission set grants read on this form to this user"
            else:
                reason = "the row rules of the sets granting read do not match this record: " + "; ".join(
                    f"{g.key}: {g.set.get('rows') or '_owner = $user.id'}" for g in self._grants_for("read"))
            out["record"] = {"id": record.get("_id"), "visible": bool(granted), "granted_by": granted,
                             "reason": reason}
        if field is not None:
            f = self.form.fields_by_key.get(field)
            if f is None:
                raise NotFound(f"form {self.form.key!r} has no field {field!r}")
            right = self.rights[field]
            by = [{"set": k, "right": r, "explicit": e} for k, r, e in self._right_by[field]]
            best = [b for b in by if b["right"] == right or (right == "readonly" and b["right"] == "editable")]
            masked = right != "hidden" and self.is_masked(field)
            unmasked_by = (["admin"] if self.admin else
                           [g.key for g in self.grants if self._unmasks(g, field)]) if f.type.is_sensitive else []
            if self.admin:
                reason = "an administrator sees and edits every field"
            elif not by:
                reason = "no permission set of this form applies to this user, so every field is hidden"
            elif right == "hidden":
                reason = "every applicable set hides it: " + ", ".join(
                    f"{b['set']} ({'named' if b['explicit'] else 'new_fields'})" for b in by)
            else:
                b = best[0]
                reason = (f"permission set {b['set']!r} makes it {b['right']}"
                          + (" (named in its fields)" if b["explicit"] else " (its new_fields default)"))
                if right == "readonly" and f.computed:
                    reason += "; computed fields are never written"
            if masked:
                reason += "; it is sensitive and no applicable set unmasks it, so it is shown masked"
            elif right != "hidden" and f.type.is_sensitive:
                reason += f"; shown unmasked through {', '.join(unmasked_by)}"
            out["field"] = {"key": field, "right": right, "masked": masked, "sensitive": f.type.is_sensitive,
                            "granted_by": best if right != "hidden" else [], "considered": by,
                            "unmasked_by": unmasked_by, "reason": reason}
        return out


def form_access(ff, user: Any, app_key: str, form_key: str, conn: sa.Connection | None = None) -> FormAccess:
    """The FormAccess of `user` (row/dict, id or Subject) on app_key.form_key; NotFound for unknown ones."""
    subj = subject(ff, user, conn)
    app, form = ff.form(app_key, form_key, conn)
    return FormAccess(ff, subj, app, form)


def view_as(ff, user_id: str, app_key: str, form_key: str) -> FormAccess:
    """"View as": exactly the FormAccess `user_id` gets (admins use it to check what others see)."""
    return form_access(ff, user_id, app_key, form_key)


def who_can_see(ff, app_key: str, form_key: str, field_key: str) -> list[dict]:
    """Every active user who can read the field: [{user_id, username, right, masked, via}]."""
    with ff.db.read() as conn:
        rows = conn.execute(sa.select(tables.users.c.id).where(tables.users.c.is_active.is_(True))
                            .order_by(tables.users.c.username)).scalars().all()
        out = []
        for uid in rows:
            fa = form_access(ff, uid, app_key, form_key, conn)
            if not fa.can("read") or fa.right(field_key) == "hidden":
                continue
            out.append({"user_id": uid, "username": fa.subject.username, "right": fa.right(field_key),
                        "masked": fa.is_masked(field_key),
                        "via": ["admin"] if fa.admin else [g.key for g in fa.grants if "read" in g.actions]})
    return out
