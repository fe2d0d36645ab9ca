"""Idempotency-Key on POST requests (Stripe's semantics), shared by every server process.

The first request with a key claims it by INSERTing a row (caller, key) in its own
transaction BEFORE doing any work; the primary key makes that claim atomic across
threads and processes. The row then holds the request's fingerprint (method,
path and a hash of query and body) and, once done, the response. Later requests
with the same key from the same caller:

- same fingerprint, finished   → the stored response is replayed (for 24 hours);
- same fingerprint, in flight  → 409 Conflict (retry later);
- another fingerprint          → 422 (a key belongs to one request).

Server errors (5xx) release the key, so the client may retry with it. A claim left
behind by a crashed process is taken over after `ABANDONED` seconds.
"""
from __future__ import annotations

import datetime as dt
import hashlib

import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from . import tables
from .errors import Conflict, FormflowError

TTL = dt.timedelta(hours=24)
ABANDONED = dt.timedelta(minutes=5)
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Content-Type", "ETag", "Location")


class KeyReused(FormflowError):
    """The key was used for a different request."""

    status = 422
    title = "Idempotency key reused"


class InFlight(Conflict):
    """The first request with this key is still running."""

    title = "Request in progress"


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> tuple[str, str]:
    """(request name, body hash) of a request."""
    digest = hashlib.sha256(query + b"\0" + body).hexdigest()
    return f"{method} {path}"[:1000], digest


def begin(ff, caller: str, key: str, request_name: str, body_hash: str) -> dict | None:
    """Claim `key` for this request: None when claimed (do the work), or the stored response to replay.

    Raises KeyReused (422) or InFlight (409).
    """
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise FormflowError(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters",
                            [{"location": "Idempotency-Key", "message": "invalid header", "code": "invalid"}])
    t = tables.idempotency_keys
    now = dt.datetime.now(dt.timezone.utc)
    for _attempt in range(3):
        with ff.db.write() as conn:
            row = conn.execute(sa.select(t).where(t.c.caller == caller, t.c.key == key)).mappings().first()
            if row is not None:
                expired = row["created_at"] < _iso(now - TTL)
                abandoned = row["status"] is None and row["created_at"] < _iso(now - ABANDONED)
                if expired or abandoned:
                    conn.execute(t.delete().where(t.c.caller == caller, t.c.key == key))
                    row = None
        if row is not None:
            if row["request"] != request_name or row["body_hash"] != body_hash:
                raise KeyReused("this Idempotency-Key was already used with a different request; "
                                "use a new key for a new request")
            if row["status"] is None:
                raise InFlight("a request with this Idempotency-Key is still in progress; retry later")
            stored = orjson.loads(row["response"])
            return {"status": row["status"], "headers": stored["headers"], "body": stored["body"]}
        try:
            with ff.db.write() as conn:
                conn.execute(t.insert().values(caller=caller, key=key, request=request_name,
                                               body_hash=body_hash, status=None, response=None,
                                               created_at=_iso(now)))
            return None
        except sa_exc.IntegrityError:
            continue  # another request claimed it meanwhile: read what it stored
    raise InFlight("a request with this Idempotency-Key is still in progress; retry later")


def finish(ff, caller: str, key: str, status: int, headers: dict, body: str) -> None:
    """Store the response of a claimed key (or release the claim after a server error)."""
    t = tables.idempotency_keys
    with ff.db.write() as conn:
        where = (t.c.caller == caller, t.c.key == key)
        if status >= 500:
            conn.execute(t.delete().where(*where))
        else:
            conn.execute(t.update().where(*where).values(
                status=status, response=orjson.dumps({"headers": headers, "body": body}).decode()))


def release(ff, caller: str, key: str) -> None:
    """Drop an unfinished claim (the request failed before producing a response)."""
    t = tables.idempotency_keys
    with ff.db.write() as conn:
        conn.execute(t.delete().where(t.c.caller == caller, t.c.key == key, t.c.status.is_(None)))


def purge_expired(ff) -> int:
    """Delete keys older than the replay window; returns how many."""
    t = tables.idempotency_keys
    cutoff = _iso(dt.datetime.now(dt.timezone.utc) - TTL)
    with ff.db.write() as conn:
        return conn.execute(t.delete().where(t.c.created_at < cutoff)).rowcount
