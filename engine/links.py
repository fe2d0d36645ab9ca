"""Links between records: existence checks, the reverse-link table, loading linked records."""
from __future__ import annotations

import sqlalchemy as sa

from . import storage, tables


class Links:
    """Link bookkeeping for one formflow instance."""

    def __init__(self, instance):
        self.ff = instance

    def check(self, conn, form, values: dict, given: dict) -> list[dict]:
        """Errors for link values (that were written now) naming records that do not exist."""
        errors = []
        for field in form.link_fields:
            if field.key not in given:
                continue
            ids = values.get(field.key)
            if ids is None:
                continue
            wanted = ids if isinstance(ids, list) else [ids]
            target = self.ff.link_target(form, field)
            found = self._live_ids(conn, target, wanted)
            missing = [i for i in wanted if i not in found]
            if missing:
                errors.append({"location": field.key, "code": "link",
                               "message": f"no record {missing[0]!r} in {target.key}"
                               + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")})
        return errors

    def sync(self, conn, form, record_id: str, doc: dict, new: bool = False) -> None:
        """Rewrite the reverse-link rows of one record from its stored document."""
        if not new:
            conn.execute(tables.links.delete().where(tables.links.c.form_id == form.id,
                                                     tables.links.c.record_id == record_id))
        rows = []
        for field in form.link_fields:
            ids = doc.get(field.id)
            if ids is None:
                continue
            target = self.ff.link_target(form, field)
            for target_id in dict.fromkeys(ids if isinstance(ids, list) else [ids]):
                rows.append({"form_id": form.id, "field_id": field.id, "record_id": record_id,
                             "target_id": target_id, "target_form_id": target.id})
        if rows:
            conn.execute(tables.links.insert(), rows)

    def dependents(self, conn, form, record_id: str) -> list[tuple[object, str]]:
        """(form, record id) of records whose lookups/rollups read `record_id` through a link."""
        readers = self.ff.link_readers(form)
        if not readers:
            return []
        field_ids = list(readers)
        rows = conn.execute(sa.select(tables.links.c.field_id, tables.links.c.record_id).where(
            tables.links.c.target_form_id == form.id, tables.links.c.target_id == record_id,
            tables.links.c.field_id.in_(field_ids))).all()
        return [(readers[field_id], rid) for field_id, rid in rows]

    def load(self, conn, target_form, ids: list[str]) -> dict[str, dict]:
        """Live linked records by id, as expression records (values by key plus `_id`)."""
        from .records import from_document
        if not ids:
            return {}
        ft = self.ff.form_table(target_form)
        rows = conn.execute(sa.select(ft.c.id, ft.c.data).where(ft.c.id.in_(list(set(ids))),
                                                               ft.c.deleted_at.is_(None))).all()
        out = {}
        for rid, data in rows:
            rec = from_document(target_form, storage.loads(data))
            rec["_id"] = rid
            out[rid] = rec
        return out

    def _live_ids(self, conn, target_form, ids: list[str]) -> set[str]:
        ft = self.ff.form_table(target_form)
        clean = [i for i in ids if isinstance(i, str)]
        if not clean:
            return set()
        return set(conn.execute(sa.select(ft.c.id).where(ft.c.id.in_(clean), ft.c.deleted_at.is_(None))).scalars())
