"""In-app notifications: rows per user, listed and marked read through the API."""
from __future__ import annotations

import json

import sqlalchemy as sa
from ulid import ULID

from engine.errors import NotFound
from . import clock
from . import tables as wt


def notify(ff, conn, user_ids, title: str, body: str | None = None, link: dict | None = None,
           source: str | None = None) -> list[str]:
    """Write one notification per distinct user (in the caller's transaction); returns their ids."""
    ids = []
    now = clock.now_iso(ff)
    for user_id in dict.fromkeys(u for u in user_ids if u):
        nid = "ntf_" + str(ULID()).lower()
        conn.execute(wt.notifications.insert().values(
            id=nid, user_id=str(user_id), title=str(title)[:2000], body=None if body is None else str(body)[:20000],
            link=json.dumps(link) if link else None, source=source, created_at=now))
        ids.append(nid)
    return ids


def _out(row) -> dict:
    return {"id": row["id"], "title": row["title"], "body": row["body"],
            "link": json.loads(row["link"]) if row["link"] else None, "source": row["source"],
            "created_at": row["created_at"], "read_at": row["read_at"]}


def list_for(ff, user_id: str, *, unread_only: bool = False, limit: int = 50) -> list[dict]:
    t = wt.notifications
    q = sa.select(t).where(t.c.user_id == user_id)
    if unread_only:
        q = q.where(t.c.read_at.is_(None))
    with ff.db.read() as conn:
        rows = conn.execute(q.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)).mappings().all()
    return [_out(r) for r in rows]


def mark_read(ff, user_id: str, ids: list[str] | None = None) -> int:
    """Mark some (or all) of a user's notifications read; returns how many changed."""
    t = wt.notifications
    with ff.db.write() as conn:
        q = t.update().where(t.c.user_id == user_id, t.c.read_at.is_(None))
        if ids is not None:
            q = q.where(t.c.id.in_(ids))
        n = conn.execute(q.values(read_at=clock.now_iso(ff))).rowcount
        if ids is not None and len(ids) == 1 and n == 0:
            exists = conn.execute(sa.select(t.c.id).where(t.c.id == ids[0], t.c.user_id == user_id)).first()
            if exists is None:
                raise NotFound(f"no notification {ids[0]!r}")
    return n
