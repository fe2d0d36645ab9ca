"""The record lifecycle: every write (API, import, UI, automations) goes through here.

create → update → delete (to the trash) → restore → purge. Each call validates the
whole record against its form, computes formulas, lookups, rollups and serial
numbers, writes the document, a revision and one event in ONE transaction, and
returns the record as the caller will see it.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from . import events, storage, tables
from .errors import Conflict, FieldValueError, NotFound, RecordValidationError, StaleVersion

SYSTEM_FIELDS = ("_id", "_version", "_owner", "_created_at", "_created_by", "_updated_at",
                 "_updated_by", "_deleted_at")
# how deep a change may ripple through lookups/rollups of linking records
MAX_RECOMPUTE_DEPTH = 8


def now_iso() -> str:
    """The current UTC time as stored in system columns."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id() -> str:
    """A new record id: a lowercase ULID, so ids sort by creation time (index locality).

    Hand-written rather than python-ulid's ULID(): this sits on the bulk-insert hot
    path and is ~5x faster without the object layer; the format is the same.
    """
    n = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[n & 31])
        n >>= 5
    return "".join(reversed(chars))


class RecordContext:
    """What a write knows about its caller and clock."""

    def __init__(self, actor: str | None = None, now: dt.datetime | None = None,
                 user: dict | None = None, bypass_rules: bool = False):
        self.actor = actor
        self.now = now
        self.user = user or ({"id": actor} if actor else None)
        self.bypass_rules = bypass_rules

    def expr_context(self) -> dict:
        """The `$` built-ins for expressions evaluated during this write."""
        ctx = {}
        if self.now is not None:
            ctx["now"] = self.now
        if self.user is not None:
            ctx["user"] = self.user
        return ctx


class Records:
    """The record service of one formflow instance (see the module docstring)."""

    def __init__(self, instance):
        self.ff = instance
        self.db = instance.db

    # -- reads ---------------------------------------------------------------

    def get(self, app_key: str, form_key: str, record_id: str, *, include_deleted: bool = False,
            conn: sa.Connection | None = None) -> dict:
        """One record as a dict of field keys plus `_` system fields; NotFound if absent."""
        if conn is None:
            with self.db.read() as conn:
                return self.get(app_key, form_key, record_id, include_deleted=include_deleted, conn=conn)
        app, form = self.ff.form(app_key, form_key, conn=conn)
        row = self._row(conn, form, record_id)
        if row is None or (row["deleted_at"] is not None and not include_deleted):
            raise NotFound(f"record {record_id!r} not found in {app.key}.{form.key}")
        return to_record(form, row)

    def history(self, app_key: str, form_key: str, record_id: str) -> list[dict]:
        """Every revision of a record, oldest first: who, when, action, and {key: [old, new]}."""
        app, form = self.ff.form(app_key, form_key)
        with self.db.read() as conn:
            if self._row(conn, form, record_id) is None:
                raise NotFound(f"record {record_id!r} not found in {app.key}.{form.key}")
            rows = conn.execute(sa.select(tables.revisions).where(
                tables.revisions.c.form_id == form.id, tables.revisions.c.record_id == record_id)
                .order_by(tables.revisions.c.id)).mappings().all()
        by_id = {f.id: f for f in form.fields}
        out = []
        for r in rows:
            changes = {}
            raw = storage.loads(r["changes"]) if r["changes"] else \
                {fid: [None, v] for fid, v in storage.loads(r["snapshot"]).items() if fid != "_legacy"}
            for fid, (old, new) in raw.items():
                f = by_id.get(fid)
                key = f.key if f else fid
                changes[key] = [_json_of(f, old), _json_of(f, new)]
            out.append({"version": r["version"], "action": r["action"], "actor": r["actor"],
                        "at": r["at"], "revision_id": r["id"], "changes": changes})
        return out

    # -- writes --------------------------------------------------------------

    def create(self, app_key: str, form_key: str, values: dict, *, ctx: RecordContext | None = None,
               conn: sa.Connection | None = None) -> dict:
        """Validate and insert one record; returns it. Raises RecordValidationError."""
        return self.create_many(app_key, form_key, [values], ctx=ctx, conn=conn)[0]

    def create_many(self, app_key: str, form_key: str, rows: Iterable[dict], *,
                    ctx: RecordContext | None = None, conn: sa.Connection | None = None) -> list[dict]:
        """Insert many records all-or-nothing; errors are located as `rows[i].key`."""
        ctx = ctx or RecordContext()
        if conn is None:
            with self.db.write() as conn:
                return self.create_many(app_key, form_key, rows, ctx=ctx, conn=conn)
        app, form = self.ff.form(app_key, form_key, conn=conn)
        rows = list(rows)
        if not rows:
            return []
        prepared, errors = [], []
        at = now_iso()
        for i, values in enumerate(rows):
            try:
                prepared.append(self._prepare(conn, app, form, None, values, ctx, create=True))
            except RecordValidationError as err:
                if len(rows) == 1:
                    raise
                errors.extend({**e, "location": f"rows[{i}].{e['location']}" if e.get("location")
                               else f"rows[{i}]", "row": i} for e in err.errors)
        if errors:
            raise RecordValidationError(f"{len({e['row'] for e in errors})} of {len(rows)} records "
                                        "are invalid; nothing was written", errors)
        ft = self.ff.form_table(form)
        records, inserts = [], []
        for values in prepared:
            rid = new_id()
            self._assign_serials(conn, form, values)
            doc = to_document(form, values, {})
            row = {"id": rid, "owner": ctx.actor, "created_at": at, "created_by": ctx.actor,
                   "updated_at": at, "updated_by": ctx.actor, "version": 1, "deleted_at": None}
            inserts.append({**row, "data": ft.encode(doc), "folded": ft.encode(storage.fold_document(form, doc))})
            records.append((row, doc, values))
        try:
            storage.insert_rows(conn, ft, inserts)
        except sa_exc.IntegrityError as err:
            raise self._unique_conflict(form, err) from None
        self._after_writes(conn, app, form, [(row["id"], 1, values, doc) for row, doc, values in records],
                           "create", ctx, at)
        return [_record_from_values(row, values, doc) for row, doc, values in records]

    def update(self, app_key: str, form_key: str, record_id: str, changes: dict, *,
               ctx: RecordContext | None = None, expected_version: int | None = None,
               conn: sa.Connection | None = None) -> dict:
        """Apply a partial change; StaleVersion when expected_version is not current."""
        ctx = ctx or RecordContext()
        if conn is None:
            with self.db.write() as conn:
                return self.update(app_key, form_key, record_id, changes, ctx=ctx,
                                   expected_version=expected_version, conn=conn)
        app, form = self.ff.form(app_key, form_key, conn=conn)
        row = self._live_row(conn, app, form, record_id, expected_version)
        current = from_document(form, storage.loads(row["data"]))
        values = self._prepare(conn, app, form, current, changes, ctx, create=False)
        return self._save(conn, app, form, row, values, "update", ctx)

    def delete(self, app_key: str, form_key: str, record_id: str, *, ctx: RecordContext | None = None,
               expected_version: int | None = None, conn: sa.Connection | None = None) -> dict:
        """Move a record to the trash (restorable)."""
        return self._set_deleted(app_key, form_key, record_id, True, ctx, expected_version, conn)

    def restore(self, app_key: str, form_key: str, record_id: str, *, ctx: RecordContext | None = None,
                conn: sa.Connection | None = None) -> dict:
        """Bring a record back from the trash (re-validated for unique values)."""
        return self._set_deleted(app_key, form_key, record_id, False, ctx, None, conn)

    def purge(self, app_key: str, form_key: str, record_id: str, *, ctx: RecordContext | None = None,
              conn: sa.Connection | None = None) -> None:
        """Delete a trashed record for good (its revisions go with it)."""
        ctx = ctx or RecordContext()
        if conn is None:
            with self.db.write() as conn:
                return self.purge(app_key, form_key, record_id, ctx=ctx, conn=conn)
        app, form = self.ff.form(app_key, form_key, conn=conn)
        row = self._row(conn, form, record_id, for_update=True)
        if row is None:
            raise NotFound(f"record {record_id!r} not found in {app.key}.{form.key}")
        if row["deleted_at"] is None:
            raise Conflict("only records in the trash can be purged: delete it first")
        ft = self.ff.form_table(form)
        conn.execute(ft.table.delete().where(ft.c.id == record_id))
        conn.execute(tables.revisions.delete().where(tables.revisions.c.form_id == form.id,
                                                     tables.revisions.c.record_id == record_id))
        conn.execute(tables.links.delete().where(tables.links.c.form_id == form.id,
                                                 tables.links.c.record_id == record_id))
        events.emit(conn, events.Event("record.purged", app.id, form.id, record_id, ctx.actor, now_iso(),
                                       {"app": app.key, "form": form.key, "id": record_id}))

    def revert(self, app_key: str, form_key: str, record_id: str, version: int, *,
               ctx: RecordContext | None = None) -> dict:
        """Restore the field values a record had at an earlier version (as a new version)."""
        ctx = ctx or RecordContext()
        with self.db.write() as conn:
            app, form = self.ff.form(app_key, form_key, conn=conn)
            snap = conn.execute(sa.select(tables.revisions.c.snapshot).where(
                tables.revisions.c.form_id == form.id, tables.revisions.c.record_id == record_id,
                tables.revisions.c.version == version)).scalar()
            if snap is None:
                raise NotFound(f"record {record_id!r} has no version {version}")
            row = self._live_row(conn, app, form, record_id, None)
            old = from_document(form, storage.loads(snap))
            writable = {f.key: old.get(f.key) for f in form.fields if not f.type.computed}
            current = from_document(form, storage.loads(row["data"]))
            values = self._prepare(conn, app, form, current, writable, ctx, create=False)
            return self._save(conn, app, form, row, values, "revert", ctx)

    # -- the pipeline --------------------------------------------------------

    def _prepare(self, conn, app, form, current: dict | None, given: dict, ctx: RecordContext,
                 create: bool) -> dict:
        """Coerce, default, compute, check visibility/required/constraints/rules; all errors at once."""
        if not isinstance(given, dict):
            raise RecordValidationError("a record must be a JSON object of field keys",
                                        [{"location": "", "message": "expected an object", "code": "type"}])
        errors: list[dict] = []
        values = dict(current) if current is not None else {f.key: None for f in form.fields}
        for key, raw in given.items():
            field = form.fields_by_key.get(key) if isinstance(key, str) else None
            if field is None:
                if isinstance(key, str) and key.startswith("_"):
                    if key in SYSTEM_FIELDS:
                        errors.append(_err(key, f"{key} is a system field and cannot be written", "readonly"))
                    else:
                        errors.append(_err(key, f"unknown system field {key!r}", "unknown"))
                else:
                    hint = form.suggest_field(str(key))
                    errors.append(_err(str(key), f"unknown field {key!r}" + (f" (did you mean {hint!r}?)" if hint else ""), "unknown"))
                continue
            if field.type.computed:
                errors.append(_err(key, f"{key} is computed and cannot be written", "readonly"))
                continue
            try:
                values[key] = field.type.coerce(raw)
            except FieldValueError as fe:
                errors.append(_err(_located(key, fe), _detail(fe), fe.code))
        self.check_values(conn, form, values, given, ctx, errors, defaults=create, check_all=create,
                          rules=not ctx.bypass_rules)
        if errors:
            raise RecordValidationError(_summary(errors), errors)
        return values

    def check_values(self, conn, form, values: dict, given: dict, ctx: RecordContext, errors: list, *,
                     defaults: bool, check_all: bool, rules: bool = True) -> dict:
        """A save's steps after coercion — defaults, computed fields, visibility, required and
        constraint checks, links, rules — appending to `errors`; returns the visibility.

        The data-entry preview runs exactly these on a draft (engine.api_ui.evaluate_record).
        `check_all` checks every value's constraints, not only the given ones.
        """
        if defaults:
            self._apply_defaults(form, values, given, ctx, errors)
        self.ff.compute(conn, form, values, ctx)
        visible = self.ff.visibility(form, values, ctx)
        for field in form.fields:
            if field.type.computed or not visible.get(field.key, True):
                continue
            value = values.get(field.key)
            if field.required and _empty(value):
                if not any(e["location"].split(".")[0].split("[")[0] == field.key for e in errors):
                    errors.append(_err(field.key, f"{field.key} is required", "required"))
                continue
            if value is not None and (check_all or field.key in given):
                try:
                    field.type.check(value)
                except FieldValueError as fe:
                    errors.append(_err(_located(field.key, fe), _detail(fe), fe.code))
        if not errors:
            errors.extend(self.ff.check_links(conn, form, values, given))
        if not errors and rules:
            errors.extend(self.ff.check_rules(form, values, ctx, conn=conn))
        return visible

    def _apply_defaults(self, form, values: dict, given: dict, ctx: RecordContext, errors: list) -> None:
        for field in form.fields:
            if field.key in given or field.type.computed:
                continue
            d = field.definition
            if "default" in d and d["default"] is not None:
                try:
                    values[field.key] = field.type.coerce(d["default"])
                except FieldValueError as fe:
                    errors.append(_err(field.key, f"default value: {fe.message}", fe.code))
            elif d.get("default_formula"):
                value = self.ff.evaluate(form, d["default_formula"], values, ctx)
                if value is not None:
                    try:
                        values[field.key] = field.type.coerce(_exprvalue_to_json(value))
                    except FieldValueError as fe:
                        errors.append(_err(field.key, f"default formula gave an invalid value: {fe.message}", fe.code))

    def _assign_serials(self, conn, form, values: dict) -> None:
        for field in form.fields:
            if field.type_name != "serial" or values.get(field.key) is not None:
                continue
            values[field.key] = self.ff.next_serial(conn, field)

    def _save(self, conn, app, form, row, values: dict, action: str, ctx: RecordContext) -> dict:
        ft = self.ff.form_table(form)
        old_doc = storage.loads(row["data"])
        doc = to_document(form, values, old_doc)
        changes = _diff(old_doc, doc)
        if not changes:
            return to_record(form, row)
        at = now_iso()
        version = row["version"] + 1
        try:
            result = conn.execute(ft.table.update().where(ft.c.id == row["id"], ft.c.version == row["version"])
                                  .values(data=ft.encode(doc), folded=ft.encode(storage.fold_document(form, doc)),
                                          version=version, updated_at=at, updated_by=ctx.actor))
        except sa_exc.IntegrityError as err:
            raise self._unique_conflict(form, err) from None
        if result.rowcount != 1:
            raise StaleVersion(f"record {row['id']} was changed meanwhile; reload it and try again")
        self._after_write(conn, app, form, row["id"], version, action, changes, doc, ctx, at, values)
        new_row = {**row, "data": doc, "version": version, "updated_at": at, "updated_by": ctx.actor}
        return to_record(form, new_row)

    def _after_write(self, conn, app, form, record_id, version, action, changes, doc, ctx, at, values,
                     depth: int = 0) -> None:
        self._after_writes(conn, app, form, [(record_id, version, changes, doc)], action, ctx, at, depth)

    def _after_writes(self, conn, app, form, items: list[tuple], action: str, ctx: RecordContext, at: str,
                      depth: int = 0) -> None:
        """Revisions, reverse links, events and dependent recomputation of written records, batched.

        items: (record_id, version, changes, doc); for a create, `changes` is the
        record's values instead (its revision keeps only the snapshot, since the
        changes would repeat it, which halves history's size).
        """
        rev_rows = [{"form_id": form.id, "record_id": rid, "version": version, "action": action,
                     "actor": ctx.actor, "at": at, "changes": "" if action == "create" else storage.dumps(changes),
                     "snapshot": storage.dumps(doc)} for rid, version, changes, doc in items]
        if len(rev_rows) == 1:
            rev_ids = [conn.execute(tables.revisions.insert(), rev_rows[0]).inserted_primary_key[0]]
        else:
            # plain executemany: RETURNING would make the driver run one statement per row;
            # a revision is found by (form, record, version) anyway
            conn.execute(tables.revisions.insert(), rev_rows)
            rev_ids = [None] * len(rev_rows)
        link_ids = {f.id for f in form.link_fields}
        by_id = form.fields_by_id
        event_type = {"create": "record.created", "revert": "record.updated",
                      "recompute": "record.updated"}.get(action, f"record.{action}d")
        batch = []
        for (rid, version, changes, doc), rev_id in zip(items, rev_ids):
            if action == "create":
                if link_ids & set(doc):
                    self.ff.sync_links(conn, form, rid, doc, new=True)
            elif link_ids & set(changes):
                self.ff.sync_links(conn, form, rid, doc)
            if action == "create":
                json_changes = {f.key: [None, f.type.to_json(changes[f.key])] for f in form.fields
                                if changes.get(f.key) is not None}
            else:
                json_changes = {by_id[f].key: [_json_of(by_id[f], o), _json_of(by_id[f], n)]
                                for f, (o, n) in changes.items() if f in by_id}
            payload = {"app": app.key, "form": form.key, "id": rid, "version": version, "changes": json_changes}
            batch.append(events.Event(event_type, app.id, form.id, rid, ctx.actor, at, payload, revision_id=rev_id))
        events.emit_many(conn, batch)
        # a new record has no incoming links yet, so nothing can depend on it
        if action != "create" and depth < MAX_RECOMPUTE_DEPTH:
            for rid, *_ in items:
                self._recompute_dependents(conn, form, rid, ctx, depth)

    def _recompute_dependents(self, conn, form, record_id: str, ctx: RecordContext, depth: int) -> None:
        """Refresh lookups/rollups of records that link to the record just written."""
        for dep_form, dep_id in self.ff.dependents(conn, form, record_id):
            dep_app = self.ff.app_of_form(dep_form)
            row = self._row(conn, dep_form, dep_id, for_update=True)
            if row is None or row["deleted_at"] is not None:
                continue
            values = from_document(dep_form, storage.loads(row["data"]))
            self.ff.compute(conn, dep_form, values, ctx)
            ft = self.ff.form_table(dep_form)
            old_doc = storage.loads(row["data"])
            doc = to_document(dep_form, values, old_doc)
            changes = _diff(old_doc, doc)
            if not changes:
                continue
            at = now_iso()
            version = row["version"] + 1
            conn.execute(ft.table.update().where(ft.c.id == dep_id).values(
                data=ft.encode(doc), folded=ft.encode(storage.fold_document(dep_form, doc)),
                version=version, updated_at=at))
            self._after_write(conn, dep_app, dep_form, dep_id, version, "recompute", changes, doc,
                              ctx, at, values, depth + 1)

    def _set_deleted(self, app_key, form_key, record_id, deleted: bool, ctx, expected_version, conn):
        ctx = ctx or RecordContext()
        if conn is None:
            with self.db.write() as conn:
                return self._set_deleted(app_key, form_key, record_id, deleted, ctx, expected_version, conn)
        app, form = self.ff.form(app_key, form_key, conn=conn)
        row = self._row(conn, form, record_id, for_update=True)
        if row is None or (deleted and row["deleted_at"] is not None) or (not deleted and row["deleted_at"] is None):
            state = "live" if deleted else "in the trash"
            raise NotFound(f"no {state} record {record_id!r} in {app.key}.{form.key}")
        if expected_version is not None and row["version"] != expected_version:
            raise StaleVersion(f"record {record_id} is at version {row['version']}, not {expected_version}")
        ft = self.ff.form_table(form)
        at = now_iso()
        version = row["version"] + 1
        try:
            conn.execute(ft.table.update().where(ft.c.id == record_id).values(
                deleted_at=at if deleted else None, version=version, updated_at=at, updated_by=ctx.actor))
        except sa_exc.IntegrityError as err:
            raise self._unique_conflict(form, err, restoring=True) from None
        doc = storage.loads(row["data"])
        action = "delete" if deleted else "restore"
        self._after_write(conn, app, form, record_id, version, action, {}, doc, ctx, at,
                          from_document(form, doc))
        return to_record(form, {**row, "data": doc, "version": version, "updated_at": at,
                                "updated_by": ctx.actor, "deleted_at": at if deleted else None})

    # -- helpers -------------------------------------------------------------

    def _row(self, conn, form, record_id: str, for_update: bool = False):
        if not isinstance(record_id, str) or len(record_id) > 40:
            return None
        ft = self.ff.form_table(form)
        sql = ft.by_id_sql(for_update and self.db.dialect == "postgresql")
        row = conn.exec_driver_sql(sql, (record_id,) if self.db.dialect == "sqlite" else {"id": record_id}).first()
        return None if row is None else dict(zip(storage.ROW_COLUMNS, row))

    def _live_row(self, conn, app, form, record_id, expected_version):
        row = self._row(conn, form, record_id, for_update=True)
        if row is None or row["deleted_at"] is not None:
            raise NotFound(f"record {record_id!r} not found in {app.key}.{form.key}")
        if expected_version is not None and row["version"] != expected_version:
            raise StaleVersion(f"record {record_id} is at version {row['version']}, not {expected_version}; "
                               "reload it and apply your change again")
        return row

    def _unique_conflict(self, form, err, restoring: bool = False) -> Conflict:
        text = str(err.orig)
        for field in form.fields:
            if field.id in text or storage.index_name(form.id, field.id, True) in text:
                msg = (f"{field.key}: another live record already has this value"
                       + ("; change it before restoring" if restoring else ""))
                return Conflict(msg, [{"location": field.key, "message": "value must be unique", "code": "unique"}])
        return Conflict("a unique value is already taken")


# -- documents ↔ values -------------------------------------------------------

def _diff(old_doc: dict, doc: dict) -> dict:
    """{field id: [old, new]} of the stored values that differ between two documents."""
    return {fid: [old_doc.get(fid), doc.get(fid)] for fid in set(doc) | set(old_doc)
            if old_doc.get(fid) != doc.get(fid)}


def to_document(form, values: dict, base: dict) -> dict:
    """Python values → stored document keyed by field id (unknown ids in `base` are kept)."""
    doc = dict(base)
    for field in form.fields:
        value = values.get(field.key)
        if value is None:
            doc.pop(field.id, None)
        else:
            doc[field.id] = field.type.to_storage(value)
    return doc


def from_document(form, doc: dict) -> dict:
    """Stored document → Python values keyed by field key (None where empty)."""
    out = {}
    get = doc.get
    for key, field_id, convert in _readers(form):
        stored = get(field_id)
        out[key] = None if stored is None else (stored if convert is None else convert(stored))
    return out


def _readers(form) -> list[tuple]:
    """(key, id, from_storage or None when stored values are already Python values), per form."""
    readers = form.__dict__.get("_readers")
    if readers is None:
        readers = []
        for field in form.fields:
            convert = field.type.from_storage
            # text-like types store str as is: skip the call on the hot read path
            if type(field.type).from_storage is _IDENTITY_FROM_STORAGE and field.type.sql_type == "text":
                convert = None
            readers.append((field.key, field.id, convert))
        form.__dict__["_readers"] = readers
    return readers


def _record_from_values(row: dict, values: dict, doc: dict) -> dict:
    """The record just inserted, from the values already in memory (no re-decoding)."""
    record = {"_id": row["id"], "_version": row["version"], "_owner": row["owner"],
              "_created_at": row["created_at"], "_created_by": row["created_by"],
              "_updated_at": row["updated_at"], "_updated_by": row["updated_by"],
              "_deleted_at": row["deleted_at"]}
    record.update(values)
    if doc.get("_legacy"):
        record["_legacy"] = doc["_legacy"]
    return record


def _identity_marker():
    from .field_types import FieldType
    return FieldType.from_storage


_IDENTITY_FROM_STORAGE = _identity_marker()


def to_record(form, row) -> dict:
    """A stored row → the record as the engine returns it (Python values)."""
    doc = storage.loads(row["data"])
    record = {"_id": row["id"], "_version": row["version"], "_owner": row["owner"],
              "_created_at": row["created_at"], "_created_by": row["created_by"],
              "_updated_at": row["updated_at"], "_updated_by": row["updated_by"],
              "_deleted_at": row["deleted_at"]}
    record.update(from_document(form, doc))
    if doc.get("_legacy"):
        record["_legacy"] = doc["_legacy"]
    return record


def record_json(form, record: dict) -> dict:
    """A record with its values converted to API JSON (decimals as strings, ISO dates)."""
    out = {}
    for key, value in record.items():
        field = form.fields_by_key.get(key)
        out[key] = field.type.to_json(value) if field is not None and value is not None else value
    return out


def _json_of(field, stored):
    if field is None or stored is None:
        return stored
    try:
        return field.type.to_json(field.type.from_storage(stored))
    except Exception:  # a value of an older type (kept in history as stored)
        return stored


def _exprvalue_to_json(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value


def _empty(value) -> bool:
    return value is None or value == "" or value == []


def _err(location: str, message: str, code: str) -> dict:
    return {"location": location, "message": message, "code": code}


def _located(key: str, fe: FieldValueError) -> str:
    path = getattr(fe, "path", None)
    if not path:
        return key
    loc = key
    for part in path:
        loc += f"[{part}]" if isinstance(part, int) else f".{part}"
    return loc


def _detail(fe: FieldValueError) -> str:
    """The message without the "row 3: price:" prefix when the location already says it."""
    return getattr(fe, "detail", fe.message) if getattr(fe, "path", None) else fe.message


def _summary(errors: list[dict]) -> str:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    where = f"{first['location']}: " if first.get("location") else ""
    return f"{where}{first['message']}{more}"
