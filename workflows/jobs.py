"""Background jobs with progress (imports, exports, replays): a row in ff_jobs per job.

A job is submitted by kind + JSON params; its handler is looked up in
`job_handlers` (one registration per kind). The job row is the source of truth:
the runner (in-process threads on the embedded default, RQ workers at scale —
see workflows/queue.py) only carries the job id, so a restarted process can
resume queued jobs from the table and nothing is lost.
"""
from __future__ import annotations

import json
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import sqlalchemy as sa
from ulid import ULID

from engine import tables
from engine.errors import FormflowError, NotFound
from engine.records import now_iso
from engine.registry import Registry

job_handlers: Registry[Callable[["Formflow", "JobContext"], Any]] = Registry("job kind")  # noqa: F821

_executor: ThreadPoolExecutor | None = None


class JobContext:
    """What a job handler sees: its id, params and a progress reporter."""

    def __init__(self, ff, job_id: str, params: dict):
        self.ff = ff
        self.id = job_id
        self.params = params

    def progress(self, done: int, total: int | None = None, phase: str | None = None) -> None:
        """Record progress (cheap: one UPDATE in its own short transaction), and the phase when given."""
        values = {"progress": int(done)}
        if total is not None:
            values["total"] = int(total)
        if phase is not None:
            values["phase"] = phase[:32]
        with self.ff.db.write() as conn:
            conn.execute(tables.jobs.update().where(tables.jobs.c.id == self.id).values(**values))


def submit(ff, kind: str, params: dict, *, actor: str | None = None, run: bool = True) -> str:
    """Create a queued job and hand it to the runner; returns the job id."""
    if kind not in job_handlers:
        raise FormflowError(job_handlers.unknown_message(kind))
    job_id = "job_" + str(ULID()).lower()
    with ff.db.write() as conn:
        conn.execute(tables.jobs.insert().values(id=job_id, kind=kind, status="queued",
                                                 params=json.dumps(params, ensure_ascii=False),
                                                 created_by=actor, created_at=now_iso()))
    if run:
        dispatch(ff, job_id)
    return job_id


def dispatch(ff, job_id: str) -> None:
    """Run a job in the background: RQ when configured, else an in-process thread."""
    if ff.config.job_runner == "rq":
        from workflows.queue import enqueue_job  # provided by the queue module
        enqueue_job(ff, job_id)
        return
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="formflow-job")
    _executor.submit(run_job, ff, job_id)


def run_job(ff, job_id: str) -> dict:
    """Execute one job now (in this process); returns its final state."""
    with ff.db.write() as conn:
        row = conn.execute(sa.select(tables.jobs).where(tables.jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        if row["status"] in ("done", "failed"):
            return state(ff, job_id)
        conn.execute(tables.jobs.update().where(tables.jobs.c.id == job_id).values(
            status="running", started_at=now_iso(), attempts=row["attempts"] + 1))
    ctx = JobContext(ff, job_id, json.loads(row["params"]))
    try:
        result = job_handlers.get(row["kind"])(ff, ctx)
        values = {"status": "done", "result": json.dumps(result, ensure_ascii=False, default=str)}
    except FormflowError as err:
        values = {"status": "failed", "error": json.dumps({"message": err.message, "errors": err.errors},
                                                          ensure_ascii=False, default=str)}
    except Exception as exc:  # a bug in a handler: keep the job inspectable
        values = {"status": "failed", "error": json.dumps({"message": f"internal error: {exc}",
                                                           "trace": traceback.format_exc(limit=5)})}
    with ff.db.write() as conn:
        conn.execute(tables.jobs.update().where(tables.jobs.c.id == job_id)
                     .values(finished_at=now_iso(), **values))
    return state(ff, job_id)


def state(ff, job_id: str) -> dict:
    """A job as the API shows it."""
    with ff.db.read() as conn:
        row = conn.execute(sa.select(tables.jobs).where(tables.jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise NotFound(f"no job {job_id!r}")
    return {"id": row["id"], "kind": row["kind"], "status": row["status"], "progress": row["progress"],
            "total": row["total"], "phase": row["phase"], "created_by": row["created_by"], "created_at": row["created_at"],
            "started_at": row["started_at"], "finished_at": row["finished_at"],
            "result": json.loads(row["result"]) if row["result"] else None,
            "error": json.loads(row["error"]) if row["error"] else None}


def resume_pending(ff) -> int:
    """Dispatch jobs left queued or running by a stopped process; returns how many."""
    with ff.db.read() as conn:
        ids = conn.execute(sa.select(tables.jobs.c.id).where(tables.jobs.c.status.in_(("queued", "running")))
                           .order_by(tables.jobs.c.created_at)).scalars().all()
    for job_id in ids:
        dispatch(ff, job_id)
    return len(ids)


def wait(ff, job_id: str, timeout: float = 60.0) -> dict:
    """Block until a job finishes (tests and CLI); returns its state."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        current = state(ff, job_id)
        if current["status"] in ("done", "failed") or time.monotonic() > deadline:
            return current
        time.sleep(0.05)
