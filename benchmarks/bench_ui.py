"""Browser benchmark: time from opening the table view of a large form to its rows being shown.

    python benchmarks/bench_ui.py --records 100000 [--loads 7] [--indexed-group]

Builds a SQLite formflow with the repair app and N tickets (create_many, batches of 5,000),
serves it on loopback, signs in with Playwright (Debian's /usr/bin/chromium) and loads the
table view several times per scenario; prints the median and each load's milliseconds
(navigation start → the first table row is in the DOM). Scenarios: the default view, a filter
on an indexed field sorted by it, the 20th page (following the "next page" cursors), and the
view grouped by status — rows shown, and the group counts shown (one GROUP BY over every
matching record, fetched by the page after its rows).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--indexed-group", action="store_true",
                        help="mark the grouped field (status) indexed: counts come from its index")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from engine import users
    from engine.config import Config
    from engine.formflow import Formflow
    from engine.web import create_app
    from tests.conftest import REPAIR_APP
    from tests.ui_conftest import ADMIN, ADMIN_PW, browser_sign_in, launch_chromium, serve

    folder = Path(tempfile.mkdtemp(prefix="ff-bench-ui-"))
    ff = Formflow(Config(data_dir=folder / "data", env="test"), database_url=f"sqlite:///{folder / 'ff.db'}")
    ff.init_db()
    definition = copy.deepcopy(REPAIR_APP)
    if args.indexed_group:
        next(f for f in definition["forms"][0]["fields"] if f["key"] == "status")["indexed"] = True
    ff.apps.install(definition)
    users.add_user(ff, ADMIN, ADMIN_PW, admin=True)
    started = time.perf_counter()
    statuses = ["open", "closed"]
    for start in range(0, args.records, 5_000):
        ff.records.create_many("repair", "ticket", [
            {"title": f"ticket {i}", "qty": i % 50, "status": statuses[i % 2],
             "parts": [{"part": "seal", "price": "2.5"}]} for i in range(start, min(start + 5_000, args.records))])
    print(f"built {args.records:,} records in {time.perf_counter() - started:.1f} s")

    url, stop = serve(create_app(ff))
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_sign_in(page, url)
            table = url + "/apps/repair/forms/ticket"
            page.goto(table)
            for _ in range(19):  # the 20th page's address, reached as a user would: "next page" × 19
                page.click("#next-page")
                page.wait_for_selector("#records tbody tr td[data-label]")
            rows = "#records tbody tr td[data-label]"
            scenarios = {"default view": (table, rows),
                         "filter qty = 7, sorted by qty desc": (table + "?filter=qty%20%3D%207&sort=-qty", rows),
                         "20th page": (page.url, rows), "grouped by status": (table + "?group=status", rows),
                         "grouped by status, until the counts are shown": (table + "?group=status",
                                                                           "#group-counts .count")}
            for name, (address, shown) in scenarios.items():
                timings = []
                for _ in range(args.loads):
                    t0 = time.perf_counter()
                    page.goto(address, wait_until="commit")
                    page.wait_for_selector(shown)
                    timings.append((time.perf_counter() - t0) * 1000)
                print(f"table view of {args.records:,} records, {name}: median {statistics.median(timings):.0f} ms "
                      f"over {len(timings)} loads ({', '.join(f'{t:.0f}' for t in timings)})")
            browser.close()
    finally:
        stop()
        ff.close()


if __name__ == "__main__":
    main()
