"""Installing app definitions as numbered versions, and migrating stored data between them.

Applying a definition: validate → match ids of the installed version (a file
written by hand without ids updates, rather than replaces, what is installed) →
plan → apply in one transaction. Adding, renaming and deleting a field change
the definition only (records are JSON documents keyed by field id); a deleted
field's values stay in the documents until an admin purges them. A type change
converts values in place; a value that does not convert is moved to the
record's `_legacy` object, never dropped.
"""
from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import sqlalchemy as sa

from . import storage, tables
from .errors import DefinitionError, MigrationError, NotFound

SAMPLES = 5
BATCH = 1_000


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


class Apps:
    """App installation and definition migrations of one formflow instance."""

    def __init__(self, instance):
        self.ff = instance

    # -- install / migrate ------------------------------------------------------

    def install(self, source: Any, *, actor: str | None = None, dry_run: bool = False,
                expected_version: int | None = None, based_on: int | None = None) -> dict:
        """Install or upgrade an app; returns {"app", "version", "from_version", "plan", "created"}.

        With dry_run the whole migration runs (conversions included, to produce
        exact reports) and is rolled back. `expected_version` (an If-Match) fails with 412
        when the app moved on; `based_on` (the version an edited copy was exported at)
        fails with 409, so two builders saving copies of one version cannot overwrite
        each other's changes silently. Renamed forms and fields (same id, new key) are
        followed into this definition and, as one "follow_rename" plan step each, into
        other installed apps that refer to them (engine/references.py).
        """
        raw = _parse(source)
        result: dict = {}
        try:
            with self.ff.db.write() as conn:
                result, wrote = self._install(conn, raw, actor=actor, dry_run=dry_run,
                                              expected_version=expected_version, based_on=based_on)
                if dry_run or not wrote:
                    raise _DryRun()  # a dry run, or nothing to do: roll the transaction back
        except _DryRun:
            pass
        return result

    def _install(self, conn, raw: Any, *, actor: str | None, dry_run: bool, expected_version: int | None = None,
                 based_on: int | None = None, follow: bool = True) -> tuple[dict, bool]:
        """Install `raw` within `conn`; (result, whether anything was written).

        Renames (same id, new key) are followed: leftover old keys in `raw` itself
        before validation, then, with `follow`, into every other installed app that
        refers to the renamed forms/fields, each installed as its own new version in
        this transaction (so a follow that fails rolls the whole install back).
        """
        from . import references
        from .definition import dump_definition, load_definition
        row = None
        if isinstance(raw, dict) and isinstance(raw.get("key"), str):
            row = conn.execute(sa.select(tables.apps).where(tables.apps.c.key == raw["key"])).mappings().first()
        old = orjson.loads(row["definition"]) if row else None
        if old is not None:
            _adopt_ids(raw, old)
            own = references.find_renames(old, raw)
            if own:  # formulas etc. still saying an old key mean the renamed thing
                references.follow_own_renames(raw, own, self._definitions(conn, but=raw["key"]))
        defn = load_definition(raw, installed=lambda a, f: self._form_exists(conn, raw, a, f))
        if row is not None and expected_version is not None and row["version"] != expected_version:
            from .errors import StaleVersion
            raise StaleVersion(f"app {row['key']!r} is at version {row['version']}, not "
                               f"{expected_version}: someone else changed it; reload and try again")
        if row is not None and based_on is not None and row["version"] != based_on:
            from .errors import Conflict
            raise Conflict(f"app {row['key']!r} was changed by someone else: your copy is based on "
                           f"version {based_on}, the app is now at version {row['version']}; reload "
                           f"it and apply your changes again")
        defn.pop("version", None)
        version = (row["version"] + 1) if row else 1
        plan = self._apply(conn, row, old, defn, dry_run)
        result = {"app": defn["key"], "version": version if (plan or not row) else row["version"],
                  "from_version": row["version"] if row else None, "plan": plan, "created": row is None,
                  "dry_run": dry_run}
        if not plan and row is not None:
            return result, False
        at = _now()
        text = dump_definition(defn)
        if row is None:
            app_id = "app_" + _rand()
            conn.execute(tables.apps.insert().values(id=app_id, key=defn["key"], version=version,
                                                     definition=text, created_at=at, updated_at=at))
            self._create_forms(conn, app_id, defn["forms"], set())
        else:
            app_id = row["id"]
            conn.execute(tables.apps.update().where(tables.apps.c.id == app_id).values(
                version=version, definition=text, updated_at=at,
                removed=json.dumps(self._removed_after(row, old, defn), sort_keys=True)))
            self._create_forms(conn, app_id, defn["forms"], {f["id"] for f in old["forms"]})
            if follow:  # after the update above, so the followers' links check against the new keys
                plan.extend(self._follow_renames(conn, old, defn, actor=actor, dry_run=dry_run))
        conn.execute(tables.app_versions.insert().values(
            app_id=app_id, version=version, definition=text, created_at=at, created_by=actor,
            plan=json.dumps(plan, ensure_ascii=False, default=str)))
        self._sync_all_indexes(conn, app_id, defn)
        return result, True

    def follow_draft_renames(self, draft: dict) -> dict:
        """A draft of an installed app with its leftover old keys read as the renamed things, as
        install will read them (the designer previews a draft whose formulas still say `qty`
        after `qty` became `quantity`); nothing is written. Other drafts come back unchanged."""
        from . import references
        if not isinstance(draft.get("key"), str):
            return draft
        with self.ff.db.read() as conn:
            text = conn.execute(sa.select(tables.apps.c.definition)
                                .where(tables.apps.c.key == draft["key"])).scalar()
            if text is None:
                return draft
            old = orjson.loads(text)
            draft = copy.deepcopy(draft)
            _adopt_ids(draft, old)
            own = references.find_renames(old, draft)
            if own:
                references.follow_own_renames(draft, own, self._definitions(conn, but=draft["key"]))
        return draft

    def _definitions(self, conn, *, but: str | None = None) -> dict[str, dict]:
        """The installed definitions by app key (without app `but`)."""
        rows = conn.execute(sa.select(tables.apps.c.key, tables.apps.c.definition)).all()
        return {key: orjson.loads(text) for key, text in rows if key != but}

    def _follow_renames(self, conn, old: dict, new: dict, *, actor: str | None, dry_run: bool) -> list[dict]:
        """Install a new version of every other app referring to what `old` -> `new` renamed; their plan steps."""
        from . import references
        renames = references.find_renames(old, new)
        if not renames:
            return []
        # references of the other apps were written against the installed (old) keys
        installed = {**self._definitions(conn, but=new["key"]), new["key"]: old}
        steps = []
        for key in sorted(installed):
            if key == new["key"]:
                continue
            followed = orjson.loads(orjson.dumps(installed[key]))
            items = references.follow_renames(followed, renames, installed)
            if not items:
                continue
            try:
                sub, wrote = self._install(conn, followed, actor=actor, dry_run=dry_run, follow=False)
            except DefinitionError as exc:
                raise DefinitionError(
                    f"app {key!r} refers to what this version renames, and following the renames "
                    f"would make its definition invalid: {exc.message}",
                    [{"location": f"{key}: {e.get('location', '')}", "message": e.get("message", "")}
                     for e in exc.errors]) from None
            if wrote:
                steps.append({"op": "follow_rename", "app": key, "version": sub["version"],
                              "summary": references.summary(key, items)})
        return steps

    def export(self, key: str) -> str:
        """The installed definition of an app as canonical JSON (with ids and version)."""
        from .definition import dump_definition
        with self.ff.db.read() as conn:
            row = conn.execute(sa.select(tables.apps).where(tables.apps.c.key == key)).mappings().first()
        if row is None:
            raise NotFound(f"no app {key!r} is installed")
        defn = orjson.loads(row["definition"])
        defn["version"] = row["version"]
        return dump_definition(defn)

    def uninstall(self, key: str, *, force: bool = False) -> dict:
        """Remove an app with its record tables, history and versions.

        Refused while another app links to one of its forms (that app would break), and
        while it still holds records unless `force` (export them first: this is final).
        Returns {"app", "forms", "records"} of what was removed.
        """
        with self.ff.db.write() as conn:
            row = conn.execute(sa.select(tables.apps).where(tables.apps.c.key == key)).mappings().first()
            if row is None:
                raise NotFound(f"no app {key!r} is installed")
            defn = orjson.loads(row["definition"])
            form_ids = [f["id"] for f in defn["forms"]]
            others = conn.execute(sa.select(tables.apps.c.key, tables.apps.c.definition)
                                  .where(tables.apps.c.key != key)).all()
            for other_key, other_def in others:
                for form in orjson.loads(other_def)["forms"]:
                    for field in form["fields"]:
                        target = field.get("target")
                        if field["type"] == "link" and isinstance(target, str) and target.startswith(key + "."):
                            from .errors import Conflict
                            raise Conflict(f"app {other_key!r} links to {target} ({form['key']}.{field['key']}); "
                                           "remove that link first")
            all_forms = conn.execute(sa.select(tables.forms.c.id).where(tables.forms.c.app_id == row["id"])).scalars().all()
            counts = 0
            for form_id in all_forms:
                ft = storage.FormTable(form_id, self.ff.db.dialect)
                if ft.table.name in sa.inspect(conn).get_table_names():
                    counts += conn.execute(sa.select(sa.func.count()).select_from(ft.table)).scalar()
            if counts and not force:
                from .errors import Conflict
                raise Conflict(f"app {key!r} still holds {counts} record(s); export them, then uninstall "
                               "with force (DELETE /api/v1/apps/{key}?force=1 or formflow app uninstall --force)")
            for form_id in all_forms:
                storage.FormTable(form_id, self.ff.db.dialect).drop(conn)
                for table in (tables.revisions, tables.links):
                    conn.execute(table.delete().where(table.c.form_id == form_id))
            field_ids = [f["id"] for form in defn["forms"] for f in form["fields"]]
            if field_ids:
                conn.execute(tables.serials.delete().where(tables.serials.c.field_id.in_(field_ids)))
            conn.execute(tables.forms.delete().where(tables.forms.c.app_id == row["id"]))
            conn.execute(tables.app_versions.delete().where(tables.app_versions.c.app_id == row["id"]))
            conn.execute(tables.apps.delete().where(tables.apps.c.id == row["id"]))
        return {"app": key, "forms": len(form_ids), "records": counts}

    def versions(self, key: str) -> list[dict]:
        """The applied versions of an app, oldest first, with their plans."""
        with self.ff.db.read() as conn:
            app_id = conn.execute(sa.select(tables.apps.c.id).where(tables.apps.c.key == key)).scalar()
            if app_id is None:
                raise NotFound(f"no app {key!r} is installed")
            rows = conn.execute(sa.select(tables.app_versions).where(tables.app_versions.c.app_id == app_id)
                                .order_by(tables.app_versions.c.version)).mappings().all()
        return [{"version": r["version"], "created_at": r["created_at"], "created_by": r["created_by"],
                 "plan": json.loads(r["plan"])} for r in rows]

    def removed_fields(self, key: str) -> dict:
        """Deleted fields that can still be restored: {field_id: {"form", "definition", "removed_at"}}."""
        with self.ff.db.read() as conn:
            row = conn.execute(sa.select(tables.apps.c.removed).where(tables.apps.c.key == key)).first()
        if row is None:
            raise NotFound(f"no app {key!r} is installed")
        return json.loads(row[0])

    def restore_field(self, key: str, field_id: str, *, actor: str | None = None) -> dict:
        """Put a deleted field (and its kept values) back into the definition as a new version."""
        removed = self.removed_fields(key)
        entry = removed.get(field_id)
        if entry is None:
            raise NotFound(f"app {key!r} has no deleted field {field_id!r}; deleted fields: "
                           + (", ".join(sorted(removed)) or "none"))
        defn = orjson.loads(self.export(key))
        form = next((f for f in defn["forms"] if f["id"] == entry["form"]), None)
        if form is None:
            raise MigrationError(f"the form of field {field_id} was deleted; restore the form first")
        field = dict(entry["definition"])
        if any(f["key"] == field["key"] for f in form["fields"]):
            field["key"] = field["key"] + "_restored"
        form["fields"].append(field)
        result = self.install(defn, actor=actor)
        return {"field": field["key"], "version": result["version"]}

    def purge_field(self, key: str, field_id: str) -> int:
        """Erase a deleted field's values from every record; returns how many records changed."""
        removed = self.removed_fields(key)
        entry = removed.get(field_id)
        if entry is None:
            raise NotFound(f"app {key!r} has no deleted field {field_id!r}")
        ft = storage.FormTable(entry["form"], self.ff.db.dialect)
        changed = 0
        with self.ff.db.write() as conn:
            for rid, data, folded in self._scan(conn, ft):
                doc = storage.loads(data)
                if field_id in doc:
                    doc.pop(field_id)
                    fdoc = storage.loads(folded)
                    fdoc.pop(field_id, None)
                    conn.execute(ft.table.update().where(ft.c.id == rid).values(data=ft.encode(doc),
                                                                                folded=ft.encode(fdoc)))
                    changed += 1
            del removed[field_id]
            conn.execute(tables.apps.update().where(tables.apps.c.key == key)
                         .values(removed=json.dumps(removed, sort_keys=True)))
        return changed

    # -- planning and applying ----------------------------------------------------

    def _apply(self, conn, row, old: dict | None, new: dict, dry_run: bool) -> list[dict]:
        plan: list[dict] = []
        old_forms = {f["id"]: f for f in (old or {}).get("forms", [])}
        new_forms = {f["id"]: f for f in new["forms"]}
        for fid, form in new_forms.items():
            if fid not in old_forms:
                plan.append({"op": "add_form", "form": form["key"], "summary": f"add form {form['key']!r}"})
        for fid, form in old_forms.items():
            if fid not in new_forms:
                plan.append({"op": "remove_form", "form": form["key"],
                             "summary": f"remove form {form['key']!r} (its records are kept and come back "
                                        "if the form is added again with the same id)"})
        for fid, form in new_forms.items():
            before = old_forms.get(fid)
            if before is None:
                continue
            if before["key"] != form["key"]:
                plan.append({"op": "rename_form", "form": form["key"], "from": before["key"],
                             "summary": f"rename form {before['key']!r} to {form['key']!r}"})
            for prop in sorted((set(before) | set(form)) - {"id", "key", "fields"}):
                if before.get(prop) != form.get(prop):  # label, rules, title field, layout: no data touched
                    plan.append({"op": "change_form", "form": form["key"], "property": prop,
                                 "summary": f"change {prop} of form {form['key']!r}; stored records unchanged"})
            plan.extend(self._field_plan(conn, before, form))
        if old is not None:
            for k in sorted(set(old) | set(new)):
                if k not in ("forms", "version") and old.get(k) != new.get(k):
                    plan.append({"op": "change_app", "property": k, "summary": f"change app {k}"})
        return plan

    def _field_plan(self, conn, before: dict, after: dict) -> list[dict]:
        from .field_types import field_type
        steps = []
        old_fields = {f["id"]: f for f in before["fields"]}
        new_fields = {f["id"]: f for f in after["fields"]}
        fkey = after["key"]
        for fid, f in new_fields.items():
            o = old_fields.get(fid)
            if o is None:
                steps.append({"op": "add_field", "form": fkey, "field": f["key"], "id": fid,
                              "summary": f"add field {fkey}.{f['key']} ({f['type']}); no table rewrite"})
                continue
            if o["key"] != f["key"]:
                steps.append({"op": "rename_field", "form": fkey, "field": f["key"], "from": o["key"], "id": fid,
                              "summary": f"rename field {fkey}.{o['key']} to {f['key']}; no table rewrite"})
            if o["type"] != f["type"]:
                report = self._convert(conn, after["id"], field_type(o), field_type(f), fid)
                steps.append({"op": "change_type", "form": fkey, "field": f["key"], "id": fid,
                              "from": o["type"], "to": f["type"], "report": report,
                              "summary": f"change {fkey}.{f['key']} from {o['type']} to {f['type']}: "
                                         f"{report['converted']} value(s) convert, {report['failed']} kept in _legacy"})
            elif f["type"] == "subform" and _child_types(o) != _child_types(f):
                old_children = {c["id"]: c for c in o.get("fields", [])}
                for child in f.get("fields", []):
                    was = old_children.get(child["id"])
                    if was is None or was["type"] == child["type"]:
                        continue
                    report = self._convert_rows(conn, after["id"], fid, field_type(was), field_type(child),
                                                child["id"])
                    name = f"{f['key']}.{child['key']}"
                    steps.append({"op": "change_type", "form": fkey, "field": name, "id": child["id"],
                                  "from": was["type"], "to": child["type"], "report": report,
                                  "summary": f"change {fkey}.{name} from {was['type']} to {child['type']}: "
                                             f"{report['converted']} value(s) in subform rows convert, "
                                             f"{report['failed']} kept in _legacy"})
                # columns added, removed or relabelled are a change of the subform too (an added
                # column alone used to leave the plan empty, so the install did nothing)
                props = sorted(k for k in set(o) | set(f) if k not in ("key",) and o.get(k) != f.get(k))
                if props:
                    steps.append({"op": "change_field", "form": fkey, "field": f["key"], "id": fid,
                                  "properties": props, "summary": f"change {fkey}.{f['key']}: {', '.join(props)}"})
            else:
                props = sorted(k for k in set(o) | set(f) if k not in ("key",) and o.get(k) != f.get(k))
                if props:
                    steps.append({"op": "change_field", "form": fkey, "field": f["key"], "id": fid,
                                  "properties": props,
                                  "summary": f"change {fkey}.{f['key']}: {', '.join(props)}"})
        for fid, o in old_fields.items():
            if fid not in new_fields:
                steps.append({"op": "remove_field", "form": fkey, "field": o["key"], "id": fid,
                              "summary": f"remove field {fkey}.{o['key']}; its values are kept until purged "
                                         f"(formflow app restore-field / purge-field, id {fid})"})
        return steps

    def _convert_rows(self, conn, form_id: str, subform_id: str, old_type, new_type, child_id: str) -> dict:
        """Convert one subform column's stored values in every row to a new type; a value that
        does not convert leaves its row and is kept in the record's `_legacy` under the column's
        id: {"type": old type, "rows": {row id: stored value}}."""
        from .errors import FieldValueError
        ft = storage.FormTable(form_id, self.ff.db.dialect)
        converted = failed = 0
        samples = []
        for rid, data, _folded in self._scan(conn, ft):
            doc = storage.loads(data)
            rows = doc.get(subform_id)
            if not isinstance(rows, list) or not any(isinstance(r, dict) and child_id in r for r in rows):
                continue
            for row in rows:
                if not isinstance(row, dict) or child_id not in row:
                    continue
                stored = row.pop(child_id)
                try:
                    new_stored = _convert_value(old_type, new_type, stored)
                    converted += 1
                except (FieldValueError, ValueError, TypeError) as err:
                    failed += 1
                    if len(samples) < SAMPLES:
                        samples.append({"record": rid, "row": row.get("_id"), "value": stored,
                                        "error": getattr(err, "message", str(err))})
                    kept = doc.setdefault("_legacy", {}).setdefault(child_id, {"type": old_type.field["type"],
                                                                                "rows": {}})
                    kept["rows"][str(row.get("_id"))] = stored
                    new_stored = None
                if new_stored is not None:
                    row[child_id] = new_stored
            conn.execute(ft.table.update().where(ft.c.id == rid).values(data=ft.encode(doc)))
        return {"converted": converted, "failed": failed, "samples": samples}

    def _convert(self, conn, form_id: str, old_type, new_type, field_id: str) -> dict:
        """Convert one field's stored values to a new type; failures go to `_legacy`."""
        from .errors import FieldValueError
        ft = storage.FormTable(form_id, self.ff.db.dialect)
        converted = failed = 0
        samples = []
        text_folded = new_type.sql_type == "text"
        for rid, data, folded in self._scan(conn, ft):
            doc = storage.loads(data)
            if field_id not in doc:
                continue
            stored = doc[field_id]
            try:
                new_stored = _convert_value(old_type, new_type, stored)
                converted += 1
            except (FieldValueError, ValueError, TypeError) as err:
                failed += 1
                if len(samples) < SAMPLES:
                    samples.append({"record": rid, "value": stored, "error": getattr(err, "message", str(err))})
                legacy = doc.setdefault("_legacy", {})
                legacy[field_id] = {"value": stored, "type": old_type.field["type"]}
                new_stored = None
            if new_stored is None:
                doc.pop(field_id, None)
            else:
                doc[field_id] = new_stored
            fdoc = storage.loads(folded)
            if text_folded and isinstance(new_stored, str):
                fdoc[field_id] = new_stored.casefold()
            else:
                fdoc.pop(field_id, None)
            conn.execute(ft.table.update().where(ft.c.id == rid).values(data=ft.encode(doc), folded=ft.encode(fdoc)))
        return {"converted": converted, "failed": failed, "samples": samples}

    def _scan(self, conn, ft):
        """Every row (live and trashed) in id order, fetched in batches."""
        last = ""
        while True:
            rows = conn.execute(sa.select(ft.c.id, ft.c.data, ft.c.folded).where(ft.c.id > last)
                                .order_by(ft.c.id).limit(BATCH)).all()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def _create_forms(self, conn, app_id: str, forms: list[dict], existing: set[str]) -> None:
        for form in forms:
            known = conn.execute(sa.select(tables.forms.c.id).where(tables.forms.c.id == form["id"])).first()
            if known is None:
                conn.execute(tables.forms.insert().values(id=form["id"], app_id=app_id, key=form["key"],
                                                          table_name=storage.table_name(form["id"])))
            else:
                conn.execute(tables.forms.update().where(tables.forms.c.id == form["id"])
                             .values(key=form["key"], removed_at=None))
            storage.FormTable(form["id"], self.ff.db.dialect).create(conn)
        ids = {f["id"] for f in forms}
        for fid in existing - ids:
            conn.execute(tables.forms.update().where(tables.forms.c.id == fid).values(removed_at=_now()))

    def _sync_all_indexes(self, conn, app_id: str, defn: dict) -> None:
        from .model import App
        app = App.from_definition(defn)
        for form in app.forms:
            storage.sync_indexes(conn, form, self.ff.db.dialect)

    def _removed_after(self, row, old: dict, new: dict) -> dict:
        removed = json.loads(row["removed"] or "{}")
        new_forms = {f["id"]: f for f in new["forms"]}
        now = _now()
        for form in old["forms"]:
            kept = {f["id"] for f in new_forms.get(form["id"], {"fields": []})["fields"]}
            for field in form["fields"]:
                if field["id"] not in kept and form["id"] in new_forms:
                    removed[field["id"]] = {"form": form["id"], "definition": field, "removed_at": now}
        for form in new["forms"]:
            for field in form["fields"]:
                removed.pop(field["id"], None)
        return removed

    def _form_exists(self, conn, raw, app_key: str, form_key: str) -> bool:
        row = conn.execute(sa.select(tables.apps.c.definition).where(tables.apps.c.key == app_key)).first()
        if row is None:
            return False
        return any(f.get("key") == form_key for f in orjson.loads(row[0]).get("forms", []))


def _parse(source: Any) -> Any:
    if isinstance(source, (bytes, str)):
        try:
            return json.loads(source)
        except json.JSONDecodeError as err:
            raise DefinitionError("the definition is not valid JSON",
                                  [{"location": f"line {err.lineno}, column {err.colno}",
                                    "message": f"invalid JSON: {err.msg}"}]) from None
    return source


def _adopt_ids(raw: Any, old: dict) -> None:
    """Give forms/fields without an id the id of the installed form/field with the same key."""
    if not isinstance(raw, dict) or not isinstance(raw.get("forms"), list):
        return
    old_forms = {f["key"]: f for f in old.get("forms", [])}
    for form in raw["forms"]:
        if not isinstance(form, dict):
            continue
        before = old_forms.get(form.get("key")) if "id" not in form else \
            next((f for f in old.get("forms", []) if f["id"] == form.get("id")), None)
        if before is None:
            continue
        form.setdefault("id", before["id"])
        _adopt_field_ids(form.get("fields"), before.get("fields", []))


def _adopt_field_ids(fields: Any, old_fields: list[dict]) -> None:
    if not isinstance(fields, list):
        return
    by_key = {f["key"]: f for f in old_fields}
    by_id = {f["id"]: f for f in old_fields}
    taken = {f.get("id") for f in fields if isinstance(f, dict)}
    for field in fields:
        if not isinstance(field, dict):
            continue
        before = by_id.get(field.get("id")) if "id" in field else by_key.get(field.get("key"))
        if before is None:
            continue
        if "id" not in field and before["id"] not in taken:
            field["id"] = before["id"]
        if isinstance(field.get("fields"), list):
            _adopt_field_ids(field["fields"], before.get("fields", []))


def _convert_value(old_type, new_type, stored):
    """A stored value of `old_type` as `new_type` stores it (None for blank); raises when it does not convert.

    Through the value's JSON form, as a client would send it; a non-text value the new type
    refuses gets a second chance as spreadsheet text (TRUE, 12.5, …).
    """
    from .errors import FieldValueError
    value = old_type.from_storage(stored)
    as_json = old_type.to_json(value)
    try:
        new_value = new_type.coerce(as_json)
    except FieldValueError:
        if isinstance(as_json, str):
            raise
        new_value = new_type.parse_cell(_cell_text(as_json))
    if new_value is not None:
        new_type.check(new_value)
    return None if new_value is None else new_type.to_storage(new_value)


def _child_types(field: dict) -> dict:
    return {c["id"]: c["type"] for c in field.get("fields", [])}


def _cell_text(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def _now() -> str:
    from .records import now_iso
    return now_iso()


def _rand() -> str:
    import secrets
    return secrets.token_hex(8)
