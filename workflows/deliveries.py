"""Webhook delivery: one attempt per claim, the retry schedule, the delivery log, replay.

An attempt POSTs the delivery's fixed body with the Standard Webhooks headers
(`webhook-id` = the delivery id, the same on every retry and replay) through the
SSRF-guarded transport, with a 15 s timeout. Only 2xx is success; a redirect is
a failure (never followed). Retries follow defaults.WEBHOOK_RETRY_SCHEDULE (5 s,
5 min, 30 min, 2 h, 5 h, 10 h, 10 h) with ± jitter; a `Retry-After` later than
the schedule is honoured. 410 Gone disables the endpoint at once; an endpoint
failing for 5 days is disabled and its owner notified.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import time

import httpx
import sqlalchemy as sa

from engine.errors import NotFound
from . import clock, defaults, notifications, queue, signing, transport, webhooks
from . import tables as wt

log = logging.getLogger("formflow.webhooks")
USER_AGENT = "formflow-webhooks/1"


def retry_delay(attempt: int, retry_after: float | None = None, rand=random.random) -> float | None:
    """Seconds until the retry after failed attempt number `attempt` (1-based); None: give up."""
    schedule = defaults.WEBHOOK_RETRY_SCHEDULE
    if attempt > len(schedule):
        return None
    base = schedule[attempt - 1]
    jitter = defaults.WEBHOOK_RETRY_JITTER
    delay = base * (1 + jitter * (2 * rand() - 1)) if jitter else float(base)
    if retry_after is not None and retry_after > delay:
        delay = min(float(retry_after), float(defaults.WEBHOOK_MAX_RETRY_AFTER_SECONDS))
    return delay


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def execute(ff, delivery_id: str) -> dict | None:
    """Make one attempt of a delivery if it is due (the task handler); returns its outcome."""
    row = queue.claim(ff, "delivery", delivery_id)
    if row is None:
        return None
    with ff.db.read() as conn:
        hook = conn.execute(sa.select(wt.webhooks).where(wt.webhooks.c.id == row["webhook_id"])).mappings().first()
    if hook is None or not hook["enabled"]:
        reason = "the webhook was deleted" if hook is None else f"the webhook is disabled: {hook['disabled_reason']}"
        _finish(ff, row, "failed", None, reason)
        return {"status": "failed", "error": reason}
    now = clock.get(ff).now()
    timestamp = int(now.timestamp())
    body = row["body"].encode("utf-8")
    headers = signing.headers(webhooks.signing_secrets(ff, hook), row["id"], timestamp, body)
    headers.update({"content-type": "application/json", "user-agent": USER_AGENT})
    status, excerpt, error, retry_after = None, None, None, None
    started = time.perf_counter()
    try:
        response = transport.client(ff).post(hook["url"], content=body, headers=headers,
                                             timeout=defaults.WEBHOOK_TIMEOUT_SECONDS)
        status = response.status_code
        excerpt = response.text[:defaults.WEBHOOK_RESPONSE_EXCERPT]
        if 300 <= status < 400:
            error = f"redirect to {response.headers.get('location', '?')} (redirects are not followed)"
        elif not 200 <= status < 300:
            error = f"HTTP {status}"
            retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    except transport.OutboundRefused as exc:
        error = f"refused: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency = int((time.perf_counter() - started) * 1000)
    return _record(ff, row, hook, now, status, latency, excerpt, error, retry_after)


def _record(ff, row, hook, now, status, latency, excerpt, error, retry_after) -> dict:
    now_text = clock.iso(now)
    attempt = row["attempts"]
    with ff.db.write() as conn:
        number = (conn.execute(sa.select(sa.func.count()).select_from(wt.delivery_attempts)
                               .where(wt.delivery_attempts.c.delivery_id == row["id"])).scalar() or 0) + 1
        conn.execute(wt.delivery_attempts.insert().values(
            delivery_id=row["id"], attempt=number, at=now_text, status_code=status, latency_ms=latency,
            response_excerpt=excerpt, error=error))
        hooks_t = wt.webhooks
        if error is None:
            conn.execute(wt.deliveries.update().where(wt.deliveries.c.id == row["id"]).values(
                status="delivered", last_status=status, last_error=None, finished_at=now_text,
                locked_until=None, next_attempt_at=None))
            if hook["failing_since"]:
                conn.execute(hooks_t.update().where(hooks_t.c.id == hook["id"]).values(failing_since=None))
            return {"status": "delivered", "status_code": status, "attempt": number}
        disable = None
        if status == 410:
            disable = "the endpoint answered 410 Gone"
        else:
            since = hook["failing_since"] or now_text
            if since != hook["failing_since"]:
                conn.execute(hooks_t.update().where(hooks_t.c.id == hook["id"]).values(failing_since=since))
            if (now - clock.parse(since)).total_seconds() >= defaults.WEBHOOK_DISABLE_AFTER_SECONDS:
                disable = f"the endpoint has been failing since {since}"
        delay = None if disable else retry_delay(attempt, retry_after)
        if delay is None:
            conn.execute(wt.deliveries.update().where(wt.deliveries.c.id == row["id"]).values(
                status="failed", last_status=status, last_error=error, finished_at=now_text,
                locked_until=None, next_attempt_at=None))
        else:
            conn.execute(wt.deliveries.update().where(wt.deliveries.c.id == row["id"]).values(
                status="pending", last_status=status, last_error=error, locked_until=None,
                next_attempt_at=clock.iso(now + dt.timedelta(seconds=delay))))
        if disable:
            _disable(ff, conn, hook, disable)
        return {"status": "failed" if delay is None else "retrying", "status_code": status, "error": error,
                "attempt": number, "retry_in": delay}


def _disable(ff, conn, hook, reason: str) -> None:
    conn.execute(wt.webhooks.update().where(wt.webhooks.c.id == hook["id"]).values(
        enabled=False, disabled_reason=reason, updated_at=clock.now_iso(ff)))
    conn.execute(wt.deliveries.update().where(wt.deliveries.c.webhook_id == hook["id"],
                                              wt.deliveries.c.status == "pending")
                 .values(status="failed", last_error=f"endpoint disabled: {reason}"))
    if hook["owner"]:
        notifications.notify(ff, conn, [hook["owner"]], f"Webhook disabled: {hook['url']}", reason,
                             {"webhook": hook["id"]}, source="webhooks")


def _finish(ff, row, status: str, code, error) -> None:
    with ff.db.write() as conn:
        conn.execute(wt.deliveries.update().where(wt.deliveries.c.id == row["id"]).values(
            status=status, last_status=code, last_error=error, finished_at=clock.now_iso(ff), locked_until=None))


# -- the delivery log and replay --------------------------------------------------------

def _out(row, attempts=None) -> dict:
    item = {"id": row["id"], "webhook": row["webhook_id"], "event_id": row["event_id"],
            "event_type": row["event_type"], "status": row["status"], "attempts": row["attempts"],
            "next_attempt_at": row["next_attempt_at"], "last_status": row["last_status"],
            "last_error": row["last_error"], "created_at": row["created_at"], "finished_at": row["finished_at"]}
    if attempts is not None:
        item["attempt_log"] = attempts
        item["body"] = row["body"]
    return item


def list_for(ff, hook_id: str, *, status: str | None = None, limit: int = 50) -> list[dict]:
    t = wt.deliveries
    q = sa.select(t).where(t.c.webhook_id == hook_id)
    if status:
        q = q.where(t.c.status == status)
    with ff.db.read() as conn:
        rows = conn.execute(q.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)).mappings().all()
    return [_out(r) for r in rows]


def get(ff, delivery_id: str) -> dict:
    with ff.db.read() as conn:
        row = conn.execute(sa.select(wt.deliveries).where(wt.deliveries.c.id == delivery_id)).mappings().first()
        if row is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        attempts = [{"attempt": a["attempt"], "at": a["at"], "status_code": a["status_code"],
                     "latency_ms": a["latency_ms"], "response_excerpt": a["response_excerpt"], "error": a["error"]}
                    for a in conn.execute(sa.select(wt.delivery_attempts).where(
                        wt.delivery_attempts.c.delivery_id == delivery_id)
                        .order_by(wt.delivery_attempts.c.id)).mappings()]
    return _out(row, attempts)


def resend(ff, delivery_id: str) -> dict:
    """Send a delivery again (same webhook-id, same body), with a fresh retry schedule."""
    get(ff, delivery_id)
    with ff.db.write() as conn:
        conn.execute(wt.deliveries.update().where(wt.deliveries.c.id == delivery_id,
                                                  wt.deliveries.c.status != "running").values(
            status="pending", attempts=0, next_attempt_at=clock.now_iso(ff), enqueued_at=None,
            finished_at=None, locked_until=None))
    return get(ff, delivery_id)


def replay_failed(ff, hook_id: str, since: str) -> int:
    """Resend every failed delivery of a webhook created at or after `since`; returns how many."""
    t = wt.deliveries
    with ff.db.write() as conn:
        return conn.execute(t.update().where(t.c.webhook_id == hook_id, t.c.status == "failed",
                                             t.c.created_at >= since).values(
            status="pending", attempts=0, next_attempt_at=clock.now_iso(ff), enqueued_at=None,
            finished_at=None, locked_until=None)).rowcount
