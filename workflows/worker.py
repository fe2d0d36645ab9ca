"""`formflow worker`: RQ worker (with its scheduler) + the outbox relay + the cron/date scheduler.

One process runs:
- a relay thread: moves committed outbox events into tasks and hands due tasks
  (new ones, retries whose time has come, tasks whose worker died) to Redis;
- the cron / date-field trigger scheduler (in the same thread);
- an RQ SimpleWorker on the named queues. RQ's own scheduler process is not
  started: retries and cron/date triggers are rows with a due time, handed to RQ
  by the relay when due, so they survive a Redis flush (jobs run in this process, so a SIGKILL
  of the worker stops its delivery mid-flight; the task's lease then runs out and
  the relay hands it over again — with the same webhook-id).

With FORMFLOW_JOB_RUNNER=inline (the embedded default) it runs the same loop
without Redis. Several workers may run at once: claims are conditional UPDATEs.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from . import defaults, queue, scheduler

log = logging.getLogger("formflow.worker")


def relay_loop(ff, stop: threading.Event, poll: float = defaults.RELAY_POLL_SECONDS) -> None:
    last_schedule = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() - last_schedule >= defaults.SCHEDULER_POLL_SECONDS:
                last_schedule = time.monotonic()
                scheduler.tick(ff)
            if ff.config.job_runner == "rq":
                queue.sweep(ff)
            else:
                queue.drain(ff)
        except Exception:
            log.exception("relay loop failed; retrying")
        stop.wait(poll)


def run(ff, *, queues: list[str] | None = None, burst: bool = False,
        poll: float = defaults.RELAY_POLL_SECONDS) -> None:
    """Run a worker until stopped (or, with burst, until the queues are empty)."""
    lease = os.environ.get("FORMFLOW_TASK_LEASE_SECONDS")
    if lease:
        ff.workflows_lease_seconds = float(lease)
    queue.set_instance(ff)
    stop = threading.Event()
    if ff.config.job_runner != "rq":
        if burst:
            scheduler.tick(ff)
            queue.drain(ff)
            return
        try:
            relay_loop(ff, stop, poll)
        except KeyboardInterrupt:
            pass
        return
    from rq import Queue, SimpleWorker
    relay = threading.Thread(target=relay_loop, args=(ff, stop, poll), name="formflow-relay", daemon=True)
    if burst:
        scheduler.tick(ff)
        queue.sweep(ff)
    else:
        relay.start()
    connection = queue.redis_for(ff.config.redis_url)
    names = list(queues or defaults.QUEUE_NAMES)
    worker = SimpleWorker([Queue(n, connection=connection) for n in names], connection=connection)
    try:
        worker.work(with_scheduler=False, burst=burst, logging_level="WARNING")
    finally:
        stop.set()
