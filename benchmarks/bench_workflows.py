"""Workflows benchmark: automation throughput and webhook latency with two RQ workers,
against bare RQ no-op jobs on the same workers, Redis and machine, in the same run.

1. bare RQ: N no-op jobs enqueued in one pipeline → jobs/s and enqueue→run latency p50/p99;
2. automations: N records written (batches of 100) → each triggers one automation whose
   action creates a record in another app; executed actions/s from the first write to
   the last run finished (relay + queue + run + record lifecycle);
3. webhooks: M records written one by one → latency from the record's commit to the
   receiver getting the signed POST, p50/p99 (relay poll interval included).

    python benchmarks/bench_workflows.py [--records 1000] [--hooks 300] [--url DB_URL]

Needs Redis (FORMFLOW_BENCH_REDIS_URL, default redis://127.0.0.1:6379/15 — FLUSHED).
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402

REDIS_URL = os.environ.get("FORMFLOW_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
LATENCY_KEY = "ffbench:noop"


def noop(enqueued_at: float) -> None:
    """The bare RQ job: record when it ran."""
    redis.Redis.from_url(REDIS_URL).rpush(LATENCY_KEY, f"{enqueued_at}:{time.time()}")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def start_workers(db_url, tmp, n=2):
    env = {**os.environ, "FORMFLOW_DATABASE_URL": db_url, "FORMFLOW_REDIS_URL": REDIS_URL,
           "FORMFLOW_JOB_RUNNER": "rq", "FORMFLOW_ENV": "test", "FORMFLOW_DATA_DIR": str(tmp),
           "FORMFLOW_OUTBOUND_ALLOW": "127.0.0.1/32", "PYTHONPATH": str(ROOT)}
    procs = []
    for i in range(n):
        log = open(Path(tmp) / f"worker{i}.log", "wb")
        procs.append(subprocess.Popen([sys.executable, "-c", "from engine.cli import main; main()", "worker"],
                                      cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def wait_until(check, timeout=600, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    raise TimeoutError("the benchmark did not finish in time")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--hooks", type=int, default=300)
    parser.add_argument("--url", default=None, help="database URL (default: a new SQLite file)")
    args = parser.parse_args()

    from rq import Queue

    from engine.config import Config
    from engine.formflow import Formflow
    from examples.webhook_receiver import Receiver
    from tests.conftest import REPAIR_APP
    from tests.test_automations import ERP_APP
    from workflows import automations, queue, webhooks
    from workflows import tables as wt
    from workflows.transport import AllowList, SafeTransport

    tmp = tempfile.mkdtemp(prefix="ffbench-")
    db_url = args.url or f"sqlite:///{tmp}/bench.db"
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    ff = Formflow(Config(data_dir=Path(tmp), env="test", job_runner="rq", redis_url=REDIS_URL), database_url=db_url)
    ff.init_db()
    ff.workflows_transport = SafeTransport(allow=AllowList(["127.0.0.1/32"]))
    ff.apps.install(copy.deepcopy(ERP_APP))
    defn = copy.deepcopy(REPAIR_APP)
    defn["automations"] = [{"key": "to_erp", "trigger": {"type": "record.created", "form": "ticket"},
                            "condition": "qty >= 0",
                            "actions": [{"type": "create_record", "app": "erp", "form": "log",
                                         "values": {"note": '"ticket " & title'}}]}]
    ff.apps.install(defn)
    arrivals: dict[str, float] = {}
    receiver = Receiver(handle=lambda msg_id, payload: arrivals.__setitem__(payload["data"]["id"], time.time()))
    receiver.start()
    workers = start_workers(db_url, tmp)
    print(f"database: {ff.db.dialect}; workers: 2 RQ SimpleWorkers (+ relay threads); CPU cores: {os.cpu_count()}")
    try:
        time.sleep(3)  # workers up
        # 1. bare RQ no-op jobs
        n = args.records
        q = Queue("formflow", connection=r)
        t0 = time.time()
        datas = [Queue.prepare_data("benchmarks.bench_workflows.noop", args=(time.time(),), result_ttl=0)
                 for _ in range(n)]
        with r.pipeline() as pipe:
            q.enqueue_many(datas, pipeline=pipe)
            pipe.execute()
        wait_until(lambda: r.llen(LATENCY_KEY) >= n)
        elapsed = time.time() - t0
        lat = [float(b) - float(a) for a, b in (x.decode().split(":") for x in r.lrange(LATENCY_KEY, 0, -1))]
        print(f"bare RQ no-op jobs:       {n / elapsed:8.0f} jobs/s        "
              f"enqueue→run p50 {pct(lat, 50) * 1000:7.1f} ms  p99 {pct(lat, 99) * 1000:7.1f} ms")

        # 2. automations
        t0 = time.time()
        for start in range(0, n, 100):
            ff.records.create_many("repair", "ticket", [{"title": str(i), "qty": 1}
                                                        for i in range(start, min(n, start + 100))])

        def runs_done():
            with ff.db.read() as conn:
                return conn.execute(sa.select(sa.func.count()).select_from(wt.automation_runs)
                                    .where(wt.automation_runs.c.status == "done")).scalar() >= n
        wait_until(runs_done, step=0.2)
        elapsed = time.time() - t0
        with ff.db.read() as conn:
            durations = list(conn.execute(sa.select(wt.automation_runs.c.duration_ms)).scalars())
        print(f"automations (write→action): {n / elapsed:6.0f} actions/s     "
              f"run p50 {pct(durations, 50):7.1f} ms  p99 {pct(durations, 99):7.1f} ms  ({n} runs in {elapsed:.1f} s)")

        # 3. webhook delivery latency
        webhooks.create(ff, url=receiver.url, app="repair", form="ticket", event_types=["record.updated"])
        ids = [rec["_id"] for rec in ff.records.create_many("repair", "ticket",
                                                            [{"title": f"h{i}"} for i in range(args.hooks)])]
        written = {}
        for rid in ids:
            ff.records.update("repair", "ticket", rid, {"qty": 5})
            written[rid] = time.time()
            time.sleep(0.01)
        wait_until(lambda: len(arrivals) >= len(ids), step=0.2)
        lat = [arrivals[i] - written[i] for i in ids]
        print(f"webhook delivery:         {len(ids):5d} messages      "
              f"commit→receiver p50 {pct(lat, 50) * 1000:7.1f} ms  p99 {pct(lat, 99) * 1000:7.1f} ms "
              f"(relay poll {0.5 * 1000:.0f} ms)")
    finally:
        for w in workers:
            w.kill()
            w.wait()
        receiver.stop()
        r.flushdb()
        ff.close()


if __name__ == "__main__":
    main()
