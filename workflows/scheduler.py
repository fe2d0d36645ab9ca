"""Schedule (cron, in a time zone) and date-field triggers: queue runs for the moments that passed.

`tick(ff)` is called every defaults.SCHEDULER_POLL_SECONDS by the worker's relay
loop (and the embedded runner). For each automation it remembers up to when it
has looked (ff_schedule_state); the first tick only starts the clock (no
backfill). Each firing is one run whose trigger_key (cron time, or record id +
date value) is unique, so several workers ticking at once queue it once.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from engine import storage
from engine.records import from_document, to_record
from . import clock, defaults
from . import tables as wt
from .automations import _insert_run, automations_of

MAX_FIRINGS_PER_TICK = 1_000
_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


_last_housekeeping: dict[int, float] = {}


def housekeeping(ff, force: bool = False) -> None:
    """Periodic clean-up that belongs to no request: expired Idempotency-Keys (24 h replay window)."""
    import time

    from engine import idempotency
    last = _last_housekeeping.get(id(ff))
    if not force and last is not None and time.monotonic() - last < defaults.HOUSEKEEPING_SECONDS:
        return
    _last_housekeeping[id(ff)] = time.monotonic()
    idempotency.purge_expired(ff)


def tick(ff) -> int:
    """Queue due schedule/date runs (and run housekeeping now and then); returns how many were queued."""
    housekeeping(ff)
    now = clock.get(ff).now()
    queued = 0
    for app_key, auto in automations_of(ff):
        ttype = auto["trigger"]["type"]
        if ttype not in ("schedule", "date"):
            continue
        with ff.db.write() as conn:
            st = wt.schedule_state
            since_text = conn.execute(sa.select(st.c.checked_until).where(
                st.c.app_key == app_key, st.c.automation == auto["key"])).scalar()
            if since_text is None:
                conn.execute(st.insert().values(app_key=app_key, automation=auto["key"],
                                                checked_until=clock.iso(now)))
                continue
            since = clock.parse(since_text)
            if ttype == "schedule":
                queued += _cron(ff, conn, app_key, auto, since, now)
            else:
                queued += _dates(ff, conn, app_key, auto, since, now)
            conn.execute(st.update().where(st.c.app_key == app_key, st.c.automation == auto["key"])
                         .values(checked_until=clock.iso(now)))
    return queued


def _tz(ff, trig):
    return zoneinfo.ZoneInfo(trig.get("timezone") or ff.config.timezone)


def _queue(ff, conn, app_key, auto, trigger, key) -> int:
    try:
        with conn.begin_nested():
            _insert_run(conn, ff, app_key, auto, trigger, trigger_key=key)
        return 1
    except sa_exc.IntegrityError:   # another worker queued it
        return 0


def _cron(ff, conn, app_key, auto, since, now) -> int:
    from croniter import croniter
    trig = auto["trigger"]
    tz = _tz(ff, trig)
    it = croniter(trig["cron"], since.astimezone(tz))
    n = 0
    for _ in range(MAX_FIRINGS_PER_TICK):
        when = it.get_next(dt.datetime)
        if when > now:
            break
        at = clock.iso(when)
        n += _queue(ff, conn, app_key, auto, {"type": "schedule", "app": app_key, "at": at,
                                               "payload": {"scheduled_at": at}}, f"cron:{at}")
    return n


def _dates(ff, conn, app_key, auto, since, now) -> int:
    trig = auto["trigger"]
    app, form = ff.form(app_key, trig["form"], conn)
    offset = dt.timedelta(seconds=int(trig.get("offset") or 0) * _UNITS[trig.get("unit") or "minutes"])
    tz = _tz(ff, trig)
    ft = ff.form_table(form)
    field = form.fields_by_key[trig["field"]]
    n = 0
    where = [ft.c.deleted_at.is_(None), *_date_window(ff, ft, field, since - offset, now - offset, tz)]
    for row in conn.execute(sa.select(ft.table).where(*where)).mappings():
        values = from_document(form, storage.loads(row["data"]))
        value = values.get(field.key)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=tz)
        elif isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time(0), tzinfo=tz)
        else:
            continue
        fire = moment + offset
        if since < fire <= now:
            record = to_record(form, row)
            n += _queue(ff, conn, app_key, auto,
                        {"type": "date", "app": app_key, "form": form.key, "id": row["id"],
                         "version": record["_version"], "actor": None, "at": clock.iso(fire), "changes": {},
                         "date": {"field": field.key, "value": str(value), "fires_at": clock.iso(fire)}},
                        f"date:{row['id']}:{value}")
    return n


def _date_window(ff, ft, field, lo: dt.datetime, hi: dt.datetime, tz) -> list:
    """SQL conditions keeping only records whose stored date could fire in (lo, hi] — a range
    scan on the field's index when it has one — widened by a day on each side, so the exact
    check above stays the judge (stored datetimes are naive; zones and offsets shift them)."""
    sql_type = field.type.sql_type
    if sql_type not in ("date", "datetime"):
        return []  # e.g. a formula the database cannot read: every live record is checked
    lo = lo.astimezone(tz).replace(tzinfo=None) - dt.timedelta(days=1)
    hi = hi.astimezone(tz).replace(tzinfo=None) + dt.timedelta(days=1)
    low, high = (lo.date(), hi.date()) if sql_type == "date" else (lo.replace(microsecond=0), hi)
    # Both databases keep dates as ISO 8601 text of one shape, which sorts like the moments under
    # any collation; the expression is the field index's own, so an indexed field is range-scanned.
    value = ft.value(field.id, sql_type)
    return [value >= low.isoformat(), value <= high.isoformat()]
