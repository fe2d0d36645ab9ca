"""The workflows clock: real by default, a FakeClock in tests (retry schedules, cron, date triggers)."""
from __future__ import annotations

import datetime as dt
import threading

UTC = dt.timezone.utc


class Clock:
    """Wall-clock time in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FakeClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime | None = None):
        self._now = start or dt.datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, **delta) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(seconds=seconds, **delta)
            return self._now

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._now = when


SYSTEM = Clock()


def get(ff) -> Clock:
    """The clock of a formflow instance."""
    return getattr(ff, "workflows_clock", None) or SYSTEM


def use(ff, clock: Clock) -> None:
    """Give an instance its own clock (tests)."""
    ff.workflows_clock = clock


def iso(when: dt.datetime) -> str:
    """The stored timestamp format (as engine.records.now_iso)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso(ff) -> str:
    return iso(get(ff).now())


def parse(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def later(ff, seconds: float) -> str:
    return iso(get(ff).now() + dt.timedelta(seconds=seconds))
