"""Storage benchmark: formflow's record storage against raw SQL on the same database, same run.

Builds a form with N records (default 1,000,000) through the record lifecycle's
batch path and a hand-indexed raw table (typed columns, plain B-tree indexes)
through executemany, then reports medians and ratios for: bulk insert rate,
single insert, get by id, a filtered+sorted page (equality, range, text prefix),
adding a field, and bytes on disk per record.

    python benchmarks/bench_storage.py [--records N] [--url URL]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import Config  # noqa: E402
from engine.formflow import Formflow  # noqa: E402
from engine.queries import list_records  # noqa: E402

APP = {"key": "bench", "label": {"en": "Bench"}, "forms": [{"key": "order", "label": {"en": "Order"}, "fields": [
    {"key": "customer", "type": "text", "label": {"en": "Customer"}, "indexed": True},
    {"key": "status", "type": "select", "label": {"en": "Status"}, "indexed": True,
     "options": ["new", "paid", "shipped", "closed"]},
    {"key": "amount", "type": "money", "label": {"en": "Amount"}, "indexed": True},
    {"key": "qty", "type": "number", "label": {"en": "Qty"}},
    {"key": "note", "type": "textarea", "label": {"en": "Note"}}]}]}

STATUSES = ["new", "paid", "shipped", "closed"]
BATCH = 5_000


def rows(n: int, seed: int = 7):
    rnd = random.Random(seed)
    for i in range(n):
        yield {"customer": f"Customer {rnd.randrange(50_000):05d}", "status": STATUSES[rnd.randrange(4)],
               "amount": f"{rnd.randrange(1, 10_000_000) / 100:.2f}", "qty": rnd.randrange(1, 100),
               "note": "delivered to the back door" if i % 3 == 0 else None}


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def raw_setup(engine, dialect: str):
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS raw_order")
        num = "NUMERIC(12,2)" if dialect == "postgresql" else "REAL"
        conn.exec_driver_sql(f"CREATE TABLE raw_order (id VARCHAR(40) PRIMARY KEY, customer TEXT, status TEXT, "
                             f"amount {num}, qty INTEGER, note TEXT, created_at TEXT, version INTEGER, deleted_at TEXT)")
        for col in ("customer", "status", "amount"):
            conn.exec_driver_sql(f"CREATE INDEX raw_ix_{col} ON raw_order ({col}, id)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--url", default=None, help="database URL (default: a new SQLite file)")
    parser.add_argument("--repeat", type=int, default=31)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ffbench-"))
    url = args.url or f"sqlite:///{tmp / 'bench.db'}"
    ff = Formflow(Config(data_dir=tmp, env="test"), database_url=url)
    ff.init_db()
    ff.apps.install(APP)
    app, form = ff.form("bench", "order")
    ft = ff.form_table(form)
    dialect = ff.db.dialect
    raw_setup(ff.db.engine, dialect)
    n = args.records
    print(f"# formflow storage benchmark: {n:,} records on {dialect} ({url})")

    # -- bulk insert ------------------------------------------------------------------
    import ulid
    data = list(rows(n))
    t = time.perf_counter()
    for i in range(0, n, BATCH):
        ff.records.create_many("bench", "order", data[i:i + BATCH])
    ff_bulk = n / (time.perf_counter() - t)
    raw_rows = [{"id": str(ulid.ULID()).lower(), **r, "amount": float(r["amount"]),
                 "created_at": "2026-01-01T00:00:00Z", "version": 1, "deleted_at": None} for r in data]
    ins = sa.text("INSERT INTO raw_order (id, customer, status, amount, qty, note, created_at, version, deleted_at) "
                  "VALUES (:id, :customer, :status, :amount, :qty, :note, :created_at, :version, :deleted_at)")
    t = time.perf_counter()
    for i in range(0, n, BATCH):
        with ff.db.write() as conn:
            conn.execute(ins, raw_rows[i:i + BATCH])
    raw_bulk = n / (time.perf_counter() - t)
    report("bulk insert (records/s, higher is better)", ff_bulk, raw_bulk, higher=True)

    if dialect == "postgresql":
        with ff.db.engine.begin() as conn:
            conn.exec_driver_sql(f'ANALYZE "{ft.table.name}"')
            conn.exec_driver_sql("ANALYZE raw_order")
    else:
        with ff.db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    # -- single insert, get by id -----------------------------------------------------------
    sample = next(rows(1, seed=99))
    ff_single = timed(lambda: ff.records.create("bench", "order", dict(sample)), args.repeat)

    def raw_single():
        with ff.db.write() as conn:
            conn.execute(ins, {**sample, "id": str(ulid.ULID()).lower(), "amount": float(sample["amount"]),
                               "created_at": "x", "version": 1, "deleted_at": None})
    raw_single_t = timed(raw_single, args.repeat)
    report("single insert (ms)", ff_single * 1e3, raw_single_t * 1e3)

    with ff.db.read() as conn:
        ids = conn.execute(sa.select(ft.c.id).limit(1000)).scalars().all()
        raw_ids = conn.exec_driver_sql("SELECT id FROM raw_order LIMIT 1000").scalars().all()
    rnd = random.Random(3)
    ff_get = timed(lambda: ff.records.get("bench", "order", rnd.choice(ids)), args.repeat * 5)

    def raw_get():
        with ff.db.read() as conn:
            conn.exec_driver_sql("SELECT * FROM raw_order WHERE id = ?" if dialect == "sqlite" else
                                 "SELECT * FROM raw_order WHERE id = %s", (rnd.choice(raw_ids),)).first()
    raw_get_t = timed(raw_get, args.repeat * 5)
    report("get by id (ms)", ff_get * 1e3, raw_get_t * 1e3)

    # -- filtered, sorted pages ------------------------------------------------------------
    p = "?" if dialect == "sqlite" else "%s"
    queries = [
        ("equality  status = \"paid\" (in id order)",
         dict(filter='status = "paid"'),
         f"SELECT * FROM raw_order WHERE deleted_at IS NULL AND status = {p} ORDER BY id LIMIT 51",
         ("paid",)),
        ("equality  customer = \"Customer 01234\", sort -amount",
         dict(filter='customer = "Customer 01234"', sort="-amount"),
         f"SELECT * FROM raw_order WHERE deleted_at IS NULL AND customer = {p} ORDER BY amount DESC, id DESC LIMIT 51",
         ("Customer 01234",)),
        ("range     AND(amount >= 5000, amount < 5100), sort amount",
         dict(filter="AND(amount >= 5000, amount < 5100)", sort="amount"),
         f"SELECT * FROM raw_order WHERE deleted_at IS NULL AND amount >= {p} AND amount < {p} ORDER BY amount, id LIMIT 51",
         (5000, 5100)),
        ("prefix    LEFT(customer, 13) = \"customer 0123\", sort customer",
         dict(filter='LEFT(customer, 13) = "customer 0123"', sort="customer"),
         f"SELECT * FROM raw_order WHERE deleted_at IS NULL AND customer >= {p} AND customer < {p} "
         "ORDER BY customer, id LIMIT 51",
         ("Customer 0123", "Customer 0124")),
    ]
    for label, kw, raw_sql, params in queries:
        def ff_page():
            with ff.db.read() as conn:
                return list_records(conn, ff, form, limit=50, **kw)

        def raw_page():
            with ff.db.read() as conn:
                return conn.exec_driver_sql(raw_sql, params).all()
        got = ff_page()
        if not got.records:
            print(f"  ! {label}: no records matched")
        report(f"page: {label} (ms)", timed(ff_page, args.repeat) * 1e3, timed(raw_page, args.repeat) * 1e3)

    # -- add a field ---------------------------------------------------------------------------
    import json
    defn = json.loads(ff.apps.export("bench"))
    defn["forms"][0]["fields"].append({"key": "extra", "type": "text", "label": {"en": "Extra"}})
    t = time.perf_counter()
    ff.apps.install(defn)
    ff_add = time.perf_counter() - t
    t = time.perf_counter()
    with ff.db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE raw_order ADD COLUMN extra TEXT")
    raw_add = time.perf_counter() - t
    report("add a field (ms)", ff_add * 1e3, raw_add * 1e3)

    # -- bytes per record ------------------------------------------------------------------------
    if dialect == "sqlite":
        with ff.db.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            try:
                stats = dict(conn.exec_driver_sql(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").all())
            except sa.exc.OperationalError:
                stats = {}
        if stats:
            ff_bytes = sum(v for k, v in stats.items() if ft.table.name in k or k.startswith(f"ix_{form.id}")
                           or k.startswith(f"sqlite_autoindex_{ft.table.name}"))
            rev_bytes = sum(v for k, v in stats.items() if "revisions" in k or "events" in k)
            raw_bytes = sum(v for k, v in stats.items() if "raw_" in k)
            report("bytes on disk per record: table + indexes", ff_bytes / n, raw_bytes / n)
            print(f"  (+ history and outbox: {rev_bytes / n:.0f} bytes/record, which the raw table does not keep)")
        else:
            print("  bytes per record: SQLite built without dbstat; file size "
                  f"{os.path.getsize(tmp / 'bench.db') / n:.0f} bytes/record for both tables")
    else:
        with ff.db.engine.begin() as conn:
            ff_bytes = conn.exec_driver_sql(f"SELECT pg_total_relation_size('\"{ft.table.name}\"')").scalar()
            raw_bytes = conn.exec_driver_sql("SELECT pg_total_relation_size('raw_order')").scalar()
        report("bytes on disk per record: table + indexes", ff_bytes / n, raw_bytes / n)
    ff.close()
    return 0


def report(label: str, ff_value: float, raw_value: float, higher: bool = False) -> None:
    ratio = ff_value / raw_value if raw_value else float("nan")
    kind = "of raw" if higher else "× raw"
    print(f"{label:<70} formflow {ff_value:12.3f}   raw {raw_value:12.3f}   {ratio * 100:.0f}% {kind}"
          if higher else
          f"{label:<70} formflow {ff_value:12.3f}   raw {raw_value:12.3f}   {ratio:.2f} {kind}")


if __name__ == "__main__":
    sys.exit(main())
