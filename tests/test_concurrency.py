"""Several processes writing to one SQLite file queue for the lock instead of failing."""
from __future__ import annotations

import copy
import multiprocessing as mp

import sqlalchemy as sa

from tests.conftest import REPAIR_APP

PROCESSES = 4
WRITES = 40


def _writer(url: str, data_dir: str, n: int, errors) -> None:
    from engine.config import Config
    from engine.formflow import Formflow
    ff = Formflow(Config(data_dir=data_dir, env="test"), database_url=url)
    try:
        for i in range(WRITES):
            rec = ff.records.create("repair", "ticket", {"title": f"p{n}-{i}", "qty": i})
            ff.records.update("repair", "ticket", rec["_id"], {"qty": i + 1})
    except Exception as exc:  # reported to the parent
        errors.put(repr(exc))
    finally:
        ff.close()


def test_concurrent_processes_never_see_database_is_locked(make_ff, sqlite_url, tmp_path):
    ff = make_ff(sqlite_url)
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    ctx = mp.get_context("spawn")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(sqlite_url, str(tmp_path / "data"), n, errors))
             for n in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert all(p.exitcode == 0 for p in procs)
    _, form = ff.form("repair", "ticket")
    with ff.db.read() as conn:
        ft = ff.form_table(form)
        assert conn.execute(sa.select(sa.func.count()).select_from(ft.table)).scalar() == PROCESSES * WRITES
        assert set(conn.execute(sa.select(ft.c.version)).scalars()) == {2}
