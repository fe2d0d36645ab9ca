"""The queue with a real Redis and real RQ workers, and the in-process runner.

Redis db 15 (the `redis_url` fixture) is flushed before each test here.
"""
from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from rq import Queue, SimpleWorker

from engine.records import RecordContext
from examples.webhook_receiver import Receiver
from tests.conftest import REPAIR_APP
from workflows import deliveries, jobs, queue, webhooks
from workflows import tables as wt
from workflows.transport import AllowList, SafeTransport

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def rq_ff(repair, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    repair.config.job_runner = "rq"
    repair.config.redis_url = redis_url
    repair.workflows_transport = SafeTransport(allow=AllowList(["127.0.0.1/32"]))
    queue.set_instance(repair)
    yield repair
    queue.set_instance(None)
    redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture
def rcv():
    r = Receiver().start()
    yield r
    r.stop()


def burst(ff):
    """A real RQ worker (in this process) running every queued job, then returning."""
    conn = queue.redis_for(ff.config.redis_url)
    SimpleWorker([Queue(n, connection=conn) for n in ("formflow", "formflow-webhooks")],
                 connection=conn).work(burst=True, logging_level="WARNING")


def _statuses(ff):
    with ff.db.read() as conn:
        return [r for r, in conn.execute(sa.select(wt.deliveries.c.status))]


def test_an_event_committed_while_redis_is_down_is_delivered_when_it_is_back(rq_ff, rcv, redis_url):
    webhooks.create(rq_ff, url=rcv.url)
    rq_ff.config.redis_url = "redis://127.0.0.1:6390/15"          # nothing listens there: Redis is "down"
    rec = rq_ff.records.create("repair", "ticket", {"title": "while down"})
    assert queue.sweep(rq_ff) == 0                                 # relayed, but not enqueued
    assert _statuses(rq_ff) == ["pending"]
    rq_ff.config.redis_url = redis_url                             # Redis is back
    assert queue.sweep(rq_ff) == 1
    burst(rq_ff)
    assert _statuses(rq_ff) == ["delivered"]
    assert len(rcv.seen) == 1 and next(iter(rcv.seen.values()))["data"]["id"] == rec["_id"]


def test_a_task_handed_over_twice_runs_once(rq_ff, rcv):
    webhooks.create(rq_ff, url=rcv.url)
    rq_ff.records.create("repair", "ticket", {"title": "x"})
    assert queue.sweep(rq_ff) == 1
    (delivery_id,) = [r for r, in rq_ff.db.engine.connect().execute(sa.select(wt.deliveries.c.id))]
    queue.enqueue(rq_ff, "delivery", [delivery_id])                 # a duplicate in Redis
    burst(rq_ff)
    assert len(rcv.requests) == 1


def test_background_jobs_run_on_rq(rq_ff):
    def count(ff, job):
        return {"n": job.params["n"]}
    jobs.job_handlers.add("test.rq_count", count)
    try:
        job_id = jobs.submit(rq_ff, "test.rq_count", {"n": 7})
        burst(rq_ff)
        assert jobs.state(rq_ff, job_id)["result"] == {"n": 7}
    finally:
        jobs.job_handlers._items.pop("test.rq_count")


def test_rollback_enqueues_nothing(rq_ff, rcv, redis_url):
    webhooks.create(rq_ff, url=rcv.url)
    with pytest.raises(RuntimeError):
        with rq_ff.db.write() as conn:
            rq_ff.records.create("repair", "ticket", {"title": "never"}, conn=conn)
            raise RuntimeError("abort")
    assert queue.sweep(rq_ff) == 0
    assert Queue("formflow-webhooks", connection=redis.Redis.from_url(redis_url)).count == 0


def test_the_embedded_runner_delivers_in_process(repair, rcv):
    repair.workflows_transport = SafeTransport(allow=AllowList(["127.0.0.1/32"]))
    webhooks.create(repair, url=rcv.url)
    runner = queue.EmbeddedRunner(repair, poll=0.05, schedule=False).start()
    try:
        repair.records.create("repair", "ticket", {"title": "x"})
        deadline = time.monotonic() + 30
        while not rcv.seen and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop()
    assert len(rcv.seen) == 1


def test_nothing_is_lost_across_a_restart_of_the_embedded_runner(make_ff, sqlite_url, rcv):
    first = make_ff(sqlite_url)
    first.apps.install(copy.deepcopy(REPAIR_APP))
    first.workflows_transport = SafeTransport(allow=AllowList(["127.0.0.1/32"]))
    webhooks.create(first, url=rcv.url)
    first.records.create("repair", "ticket", {"title": "before the restart"})
    first.close()                                                   # stopped before relaying
    second = make_ff(sqlite_url)
    second.workflows_transport = SafeTransport(allow=AllowList(["127.0.0.1/32"]))
    queue.drain(second)
    assert len(rcv.seen) == 1


def _worker(db_url, redis_url, tmp_path, name):
    env = {**os.environ, "FORMFLOW_DATABASE_URL": db_url, "FORMFLOW_REDIS_URL": redis_url,
           "FORMFLOW_JOB_RUNNER": "rq", "FORMFLOW_ENV": "test", "FORMFLOW_DATA_DIR": str(tmp_path / "data"),
           "FORMFLOW_TASK_LEASE_SECONDS": "3", "FORMFLOW_OUTBOUND_ALLOW": "127.0.0.1/32",
           "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / f"{name}.log", "wb")
    return subprocess.Popen([sys.executable, "-c", "from engine.cli import main; main()", "worker"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_worker_killed_mid_delivery_leads_to_redelivery_with_the_same_id(make_ff, sqlite_url, redis_url,
                                                                           tmp_path):
    redis.Redis.from_url(redis_url).flushdb()
    ff = make_ff(sqlite_url)
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    ff.workflows_transport = SafeTransport(allow=AllowList(["127.0.0.1/32"]))
    arrived, release = threading.Event(), threading.Event()

    def respond(msg_id, payload, number):
        if number == 1:                    # hold the first request until its worker is dead
            arrived.set()
            release.wait(60)
        return None
    rcv = Receiver(respond=respond).start()
    webhooks.create(ff, url=rcv.url)
    workers = [_worker(sqlite_url, redis_url, tmp_path, "w1")]
    try:
        ff.records.create("repair", "ticket", {"title": "in flight"}, ctx=RecordContext(actor="u1"))
        assert arrived.wait(60), (tmp_path / "w1.log").read_text()
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(30)
        release.set()
        workers.append(_worker(sqlite_url, redis_url, tmp_path, "w2"))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _statuses(ff) != ["delivered"]:
            time.sleep(0.2)
        assert _statuses(ff) == ["delivered"], (tmp_path / "w2.log").read_text()
        (delivery_id,) = [d["id"] for d in deliveries.list_for(ff, webhooks.list_all(ff)[0]["id"])]
        assert len(rcv.requests) >= 2
        assert {m for m, _ in rcv.requests} == {delivery_id}
    finally:
        release.set()
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(20)
        rcv.stop()
        redis.Redis.from_url(redis_url).flushdb()
