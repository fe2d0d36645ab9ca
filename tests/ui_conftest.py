"""Fixtures of the UI tests (imported with `from tests.ui_conftest import *`).

`site`: the repair app behind the Flask test client with an admin and a plain user.
`live_site`: the same app on SQLite served by a real server thread; `browser`: Debian's
Chromium driven by Playwright (never downloaded: a missing /usr/bin/chromium FAILS the run).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

#: Where browser tests save their screenshots: a git-ignored artifacts folder by default;
#: `make screenshots` points it at docs/screenshots to refresh the pictures docs/ui.md shows.
SCREENSHOTS = Path(os.environ.get("FORMFLOW_SCREENSHOTS")
                   or Path(__file__).resolve().parent / "artifacts" / "screenshots")
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
import re
import threading
from types import SimpleNamespace

import pytest

from tests.conftest import REPAIR_APP

ADMIN, ADMIN_PW = "admin", "correct horse battery"
CLERK, CLERK_PW = "clerk", "a clerk's long passphrase"
CHROMIUM = os.environ.get("FORMFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client, username: str, password: str):
    """Sign in through the login page (with its CSRF token); returns the response."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def client_of(site, username: str = ADMIN, password: str = ADMIN_PW):
    """A Flask test client of `site` signed in as `username` (fails when the sign-in does)."""
    client = site.app.test_client()
    assert sign_in(client, username, password).status_code == 302, f"{username} could not sign in"
    return client


def _site(ff):
    from engine import users
    from engine.web import create_app
    admin = users.add_user(ff, ADMIN, ADMIN_PW, admin=True)
    clerk = users.add_user(ff, CLERK, CLERK_PW, admin=False)
    app = create_app(ff, TESTING=True)
    return SimpleNamespace(ff=ff, app=app, admin=admin, clerk=clerk)


@pytest.fixture
def site(repair):
    """The repair app, an admin and a clerk, behind the Flask test client (SQLite and PostgreSQL)."""
    return _site(repair)


@pytest.fixture
def admin_client(site):
    """The admin, signed in."""
    return client_of(site)


@pytest.fixture
def clerk_client(site):
    """The clerk, signed in."""
    return client_of(site, CLERK, CLERK_PW)


@pytest.fixture
def sqlite_site(make_ff, sqlite_url):
    """An empty formflow on SQLite with an admin and a clerk (browser tests install apps themselves)."""
    return _site(make_ff(sqlite_url))


@pytest.fixture
def sqlite_repair_site(make_ff, sqlite_url):
    """The repair app on SQLite with an admin and a clerk."""
    ff = make_ff(sqlite_url)
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    return _site(ff)


def serve(app):
    """Serve a WSGI app on a loopback port in a thread; returns (base URL, stop function)."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        thread.join()
    return f"http://127.0.0.1:{server.server_port}", stop


@pytest.fixture
def live_site(sqlite_site):
    url, stop = serve(sqlite_site.app)
    sqlite_site.url = url
    yield sqlite_site
    stop()


@pytest.fixture
def live_repair(sqlite_repair_site):
    url, stop = serve(sqlite_repair_site.app)
    sqlite_repair_site.url = url
    yield sqlite_repair_site
    stop()


def launch_chromium(playwright):
    """Debian's Chromium under Playwright; a clear failure when it is not installed."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is required for the browser tests and is missing at {CHROMIUM}: "
                    "run `make install` (it runs apt-get install chromium) or set FORMFLOW_CHROMIUM")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (desktop size); every dialog is recorded in page.dialogs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def browser_sign_in(page, base: str, username: str = ADMIN, password: str = ADMIN_PW):
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form.login button[type=submit]")
    page.wait_for_url(base + "/apps")


def drag(page, source, target):
    """Drag `source` onto `target` with the mouse, as SortableJS's pointer fallback needs, and wait
    until the designer has read the new order back (its data-drops counter moves)."""
    from playwright.sync_api import expect
    source.wait_for(state="visible")
    target.wait_for(state="visible")
    drops = int(page.locator("#designer").get_attribute("data-drops") or 0)
    a, b = source.bounding_box(), target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(a["x"] + a["width"] / 2 + 5, a["y"] + a["height"] / 2 + 5, steps=3)
    page.mouse.move(b["x"] + 10, b["y"] + b["height"] * 0.75, steps=12)
    for _ in range(2):  # the lists move under the pointer while dragging: aim again
        b = target.bounding_box()
        page.mouse.move(b["x"] + 12, b["y"] + b["height"] * 0.7, steps=4)
    page.mouse.up()
    expect(page.locator("#designer")).to_have_attribute("data-drops", str(drops + 1))
