"""The task queue: rows are the truth, RQ (or the in-process runner) only carries ids.

A task is a row of ff_deliveries (kind "delivery") or ff_automation_runs (kind
"run") with a status, `next_attempt_at`, `enqueued_at` and a lease
(`locked_until`). The lifecycle:

  pending ──sweep──> handed to the runner (enqueued_at set)
          ──claim──> running (lease; attempts + 1) ──finish──> done/delivered/failed/skipped
                                                   ──retry──> pending (next_attempt_at later)

`sweep` hands every due task to the runner: RQ (`FORMFLOW_JOB_RUNNER=rq`) or,
on the embedded default, this process (`drain`). A task whose enqueue failed
(Redis down) keeps `enqueued_at` empty and is handed over on the next sweep; a
task whose worker died (SIGKILL) is run again when its lease runs out. `claim`
is one conditional UPDATE, so a task handed over twice still runs once at a
time: jobs are idempotent and delivery is at least once.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Callable

import sqlalchemy as sa

from . import clock, defaults
from . import tables as wt

log = logging.getLogger("formflow.queue")

# kind -> (table, RQ queue name)
TASK_TABLES = {"delivery": (wt.deliveries, defaults.QUEUE_WEBHOOKS),
               "run": (wt.automation_runs, defaults.QUEUE_DEFAULT)}
DUE_STATUS = "pending"
RUNNING = "running"


def _handlers() -> dict[str, Callable]:
    from . import automations, deliveries
    return {"delivery": deliveries.execute, "run": automations.execute}


def lease_seconds(ff) -> float:
    return float(getattr(ff, "workflows_lease_seconds", None) or defaults.TASK_LEASE_SECONDS)


# -- claiming ------------------------------------------------------------------------

def claim(ff, kind: str, task_id: str) -> dict | None:
    """Take a due task (or one whose lease ran out) for this process; None if not ours to run."""
    table = TASK_TABLES[kind][0]
    now = clock.now_iso(ff)
    until = clock.later(ff, lease_seconds(ff))
    with ff.db.write() as conn:
        result = conn.execute(table.update().where(
            table.c.id == task_id,
            sa.or_(sa.and_(table.c.status == DUE_STATUS,
                           sa.or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now)),
                   sa.and_(table.c.status == RUNNING, table.c.locked_until < now)))
            .values(status=RUNNING, locked_until=until, attempts=table.c.attempts + 1, enqueued_at=None))
        if result.rowcount != 1:
            return None
        return dict(conn.execute(sa.select(table).where(table.c.id == task_id)).mappings().one())


def due_condition(table, now: str, cutoff: str):
    return sa.and_(
        sa.or_(sa.and_(table.c.status == DUE_STATUS,
                       sa.or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now)),
               sa.and_(table.c.status == RUNNING, table.c.locked_until < now)),
        sa.or_(table.c.enqueued_at.is_(None), table.c.enqueued_at < cutoff))


def take_due(ff, kind: str, limit: int = defaults.ENQUEUE_BATCH) -> list[str]:
    """Mark due tasks as handed over (enqueued_at = now) and return their ids."""
    table = TASK_TABLES[kind][0]
    now_dt = clock.get(ff).now()
    now = clock.iso(now_dt)
    cutoff = clock.iso(now_dt - dt.timedelta(seconds=lease_seconds(ff)))
    with ff.db.write() as conn:
        query = (sa.select(table.c.id).where(due_condition(table, now, cutoff))
                 .order_by(table.c.next_attempt_at, table.c.id).limit(limit))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(conn.execute(query).scalars())
        if ids:
            conn.execute(table.update().where(table.c.id.in_(ids)).values(enqueued_at=now))
    return ids


def release(ff, kind: str, ids: list[str]) -> None:
    """Forget that tasks were handed over (their enqueue failed): the next sweep retries."""
    table = TASK_TABLES[kind][0]
    with ff.db.write() as conn:
        conn.execute(table.update().where(table.c.id.in_(ids)).values(enqueued_at=None))


def execute(kind: str, task_id: str, ff=None):
    """Run one task now, in this process (the RQ job function and the inline runner)."""
    ff = ff or instance()
    if kind == "job":
        from . import jobs
        return jobs.run_job(ff, task_id)
    return _handlers()[kind](ff, task_id)


# -- RQ --------------------------------------------------------------------------------

_redis_clients: dict[str, object] = {}
_redis_lock = threading.Lock()


def redis_for(url: str):
    import redis
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = _redis_clients[url] = redis.Redis.from_url(
                url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)
        return client


def rq_queue(ff, name: str):
    from rq import Queue
    return Queue(name, connection=redis_for(ff.config.redis_url))


def enqueue(ff, kind: str, ids: list[str]) -> None:
    """Hand tasks to RQ in one round trip; raises when Redis cannot be reached."""
    from rq import Queue
    queue = rq_queue(ff, TASK_TABLES[kind][1] if kind in TASK_TABLES else defaults.QUEUE_DEFAULT)
    datas = [Queue.prepare_data("workflows.queue.execute", args=(kind, task_id), result_ttl=0,
                                failure_ttl=24 * 3600, timeout=int(lease_seconds(ff)))
             for task_id in ids]
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(datas, pipeline=pipe)
        pipe.execute()


def enqueue_job(ff, job_id: str) -> None:
    """workflows.jobs.dispatch for the rq runner: a background job (import, export, ...)."""
    enqueue(ff, "job", [job_id])


# -- sweeping ------------------------------------------------------------------------

def sweep(ff) -> int:
    """Relay the outbox, then hand every due task to the runner; returns tasks handed over.

    With the rq runner the tasks go to Redis (failures are logged and retried on the
    next sweep); with the inline runner they run here, one after the other.
    """
    from . import outbox
    outbox.relay_all(ff)
    handed = 0
    for kind in TASK_TABLES:
        while True:
            ids = take_due(ff, kind)
            if not ids:
                break
            handed += len(ids)
            if ff.config.job_runner == "rq":
                try:
                    enqueue(ff, kind, ids)
                except Exception as exc:  # Redis down: keep the rows, try again later
                    log.warning("cannot enqueue %d %s task(s): %s", len(ids), kind, exc)
                    release(ff, kind, ids)
                    handed -= len(ids)
                    break
                if len(ids) < defaults.ENQUEUE_BATCH:
                    break
            else:
                for task_id in ids:
                    try:
                        execute(kind, task_id, ff)
                    except Exception:  # a bug in a handler must not stop the runner
                        log.exception("task %s %s failed", kind, task_id)
    return handed


def drain(ff, max_rounds: int = 100) -> int:
    """Inline runner: sweep until nothing is due now (tests, CLI, embedded loop); returns tasks run."""
    total = 0
    for _ in range(max_rounds):
        n = sweep(ff)
        total += n
        if n == 0:
            break
    return total


# -- the embedded runner ------------------------------------------------------------

class EmbeddedRunner:
    """A daemon thread that relays and runs tasks in this process (the embedded default).

    The web process of the embedded setup starts one (`start_embedded(ff)`); the
    tasks are the same rows `formflow worker` runs, so nothing is lost on restart.
    """

    def __init__(self, ff, poll: float = defaults.RELAY_POLL_SECONDS, schedule: bool = True):
        self.ff = ff
        self.poll = poll
        self.schedule = schedule
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="formflow-runner", daemon=True)

    def start(self) -> "EmbeddedRunner":
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        from . import scheduler
        last_schedule = 0.0
        while not self._stop.is_set():
            try:
                if self.schedule and time.monotonic() - last_schedule >= defaults.SCHEDULER_POLL_SECONDS:
                    last_schedule = time.monotonic()
                    scheduler.tick(self.ff)
                if self.ff.config.job_runner == "rq":
                    sweep(self.ff)
                else:
                    drain(self.ff)
            except Exception:
                log.exception("runner loop failed; retrying")
            self._stop.wait(self.poll)


_embedded: dict[int, EmbeddedRunner] = {}


def start_embedded(ff) -> EmbeddedRunner:
    """Start (once per instance) the in-process relay/runner thread."""
    runner = _embedded.get(id(ff))
    if runner is None:
        runner = _embedded[id(ff)] = EmbeddedRunner(ff).start()
    return runner


# -- the instance a worker runs jobs for ----------------------------------------------

_instance = None


def set_instance(ff) -> None:
    global _instance
    _instance = ff


def instance():
    """The Formflow instance of this worker process (from FORMFLOW_* variables by default)."""
    global _instance
    if _instance is None:
        from engine.formflow import Formflow
        _instance = Formflow()
    return _instance
