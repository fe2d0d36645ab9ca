"""REST API throughput: formflow under gunicorn vs a minimal Flask+SQLite endpoint, same run.

Both servers run with gunicorn (2 workers) on loopback over a SQLite file. Workloads:
single creates (1 client, then 8 concurrent clients), list with a filter and a sort,
and get by id. formflow enforces everything it normally does (API key auth, validation,
ETags, revisions, events); the baseline does only the SQL.

    .venv/bin/python benchmarks/bench_api.py [--quick]

Prints requests/second (median of the rounds) and the ratio formflow/baseline.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP = {"key": "bench", "label": {"en": "Bench"}, "forms": [{"key": "item", "label": {"en": "Item"}, "fields": [
    {"key": "title", "type": "text", "label": {"en": "Title"}, "required": True},
    {"key": "qty", "type": "number", "label": {"en": "Quantity"}, "indexed": True},
    {"key": "note", "type": "textarea", "label": {"en": "Note"}}]}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(target: str, env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                             "--log-level", "warning", target], cwd=ROOT, env={**os.environ, **env})
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{target} did not start")


def prepare_formflow(data_dir: Path) -> str:
    """Create the database, the bench app, an admin and a write key; returns the key."""
    from engine import api_keys, users
    from engine.config import Config
    from engine.formflow import Formflow
    ff = Formflow(Config(data_dir=data_dir, env="test"))
    ff.init_db()
    ff.apps.install(APP)
    admin = users.add_user(ff, "bench", "benchmark password 1", admin=True)
    key = api_keys.create_key(ff, admin["id"], write=True)["key"]
    ff.close()
    return key


def run(clients: int, total: int, make_request) -> float:
    """Requests per second of `total` requests spread over `clients` threads."""
    per = total // clients
    errors = []

    def worker(i):
        with httpx.Client(timeout=60) as client:
            for n in range(per):
                r = make_request(client, i * per + n)
                if r.status_code >= 400:
                    errors.append(r.status_code)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, e.g. status {errors[0]}")
    return per * clients / elapsed


def workloads(base: str, headers: dict, records_path: str, list_query: dict, ids: list):
    def create(client, i):
        return client.post(base + records_path, json={"title": f"item {i}", "qty": random.randint(0, 100),
                                                      "note": "benchmark"}, headers=headers)

    def list_(client, i):
        return client.get(base + records_path, params=list_query, headers=headers)

    def get(client, i):
        return client.get(f"{base}{records_path}/{ids[i % len(ids)]}", headers=headers)
    return {"create (1 client)": (1, create), "create (8 clients)": (8, create),
            "list filter+sort (8 clients)": (8, list_), "get by id (8 clients)": (8, get)}


def seed(base, headers, records_path, n) -> list[str]:
    ids = []
    with httpx.Client(timeout=60) as client:
        for i in range(n):
            r = client.post(base + records_path, json={"title": f"seed {i}", "qty": i % 101, "note": "seed"},
                            headers=headers)
            r.raise_for_status()
            ids.append(r.json()["_id"])
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    args = parser.parse_args()
    total, rounds, seeded = (160, 3, 200) if args.quick else (800, 5, 1000)
    tmp = Path(tempfile.mkdtemp(prefix="ff-bench-"))
    procs = []
    try:
        key = prepare_formflow(tmp / "ff")
        ff_port, base_port = free_port(), free_port()
        procs.append(start("engine.web:create_app()", {"FORMFLOW_DATA_DIR": str(tmp / "ff"),
                                                       "FORMFLOW_ENV": "test"}, ff_port))
        procs.append(start("benchmarks.baseline_app:app", {"BASELINE_DB": str(tmp / "baseline.db")}, base_port))
        ff_base, bl_base = f"http://127.0.0.1:{ff_port}", f"http://127.0.0.1:{base_port}"
        ff_headers = {"Authorization": f"Bearer {key}"}
        ff_path = "/api/v1/apps/bench/forms/item/records"
        ff_ids = seed(ff_base, ff_headers, ff_path, seeded)
        bl_ids = seed(bl_base, {}, "/records", seeded)
        ff_work = workloads(ff_base, ff_headers, ff_path, {"filter": "qty >= 50", "sort": "-qty", "limit": 50}, ff_ids)
        bl_work = workloads(bl_base, {}, "/records", {"min_qty": 50, "limit": 50}, bl_ids)
        print(f"{'workload':32} {'formflow req/s':>15} {'baseline req/s':>15} {'ratio':>7}")
        for name in ff_work:
            clients, fn = ff_work[name]
            ff_runs, bl_runs = [], []
            for _ in range(rounds):  # interleaved, so both see the same machine load
                ff_runs.append(run(clients, total, fn))
                bl_runs.append(run(clients, total, bl_work[name][1]))
            f, b = statistics.median(ff_runs), statistics.median(bl_runs)
            print(f"{name:32} {f:15.0f} {b:15.0f} {f / b:7.0%}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
