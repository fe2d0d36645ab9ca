"""Excel import and export throughput on SQLite (engine level, no HTTP).

    python -m benchmarks.bench_import [ROWS]        # default 50,000 rows, 3% bad

Generates an .xlsx with openpyxl, imports it in good_rows and all_or_nothing mode
(the latter on a file without bad rows) into fresh databases, exports the result,
and prints rows per second for each step.
"""
from __future__ import annotations

import copy
import io
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

APP = {"key": "bench", "label": {"en": "Bench"}, "forms": [{"key": "contact", "label": {"zh-CN": "联系人"}, "fields": [
    {"key": "code", "type": "text", "label": {"zh-CN": "编号"}, "required": True, "unique": True},
    {"key": "name", "type": "text", "label": {"zh-CN": "姓名"}, "required": True},
    {"key": "phone", "type": "phone", "label": {"zh-CN": "手机号"}},
    {"key": "amount", "type": "money", "label": {"zh-CN": "金额"}, "min": 0},
    {"key": "joined", "type": "date", "label": {"zh-CN": "加入日期"}}]}]}


def make_file(n: int, bad_every: int | None) -> bytes:
    import datetime as dt
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("联系人")
    ws.append(["编号", "姓名", "手机号", "金额", "加入日期"])
    for i in range(n):
        bad = bad_every and i % bad_every == 7
        ws.append([f"C{i:07d}", f"客户{i}", "12345" if bad else "13812345678", i % 1000,
                   dt.date(2026, 1, 1 + i % 28)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def instance(folder: Path, name: str):
    from engine.config import Config
    from engine.formflow import Formflow
    ff = Formflow(Config(data_dir=folder / name, env="test"), database_url=f"sqlite:///{folder / name}.db")
    ff.init_db()
    ff.apps.install(copy.deepcopy(APP))
    return ff


def main(n: int = 50_000) -> None:
    from engine import spreadsheets as ss
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        mixed, clean = make_file(n, 33), make_file(n, None)
        print(f"generate 2 x {n:,} rows: {time.perf_counter() - t:.1f} s ({len(mixed) / 2**20:.1f} MB each)")
        for mode, data in (("good_rows", mixed), ("all_or_nothing", clean)):
            ff = instance(folder, mode)
            t = time.perf_counter()
            report = ss.import_file(ff, "bench", "contact", data, filename="x.xlsx", mode=mode)
            s = time.perf_counter() - t
            print(f"import {mode:15s} {report['rows']:,} rows, {report['created']:,} created, "
                  f"{report['failed']:,} bad: {s:.1f} s ({report['rows'] / s:,.0f} rows/s)")
            for fmt in ("xlsx", "csv"):
                t = time.perf_counter()
                rows = ss.export_records(ff, "bench", "contact", io.BytesIO(), format=fmt)
                s = time.perf_counter() - t
                print(f"export {fmt:4s} {rows:,} rows: {s:.1f} s ({rows / s:,.0f} rows/s)")
            ff.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
