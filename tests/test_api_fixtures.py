"""Fixtures shared by the API tests (imported with `from tests.test_api_fixtures import *`)."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

ADMIN_PASSWORD = "correct horse battery"
TICKETS = "/api/v1/apps/repair/forms/ticket/records"


@pytest.fixture
def api(repair):
    """The repair app behind the Flask test client, an admin and their read-write API key."""
    from engine import api_keys, users
    from engine.web import create_app
    admin = users.add_user(repair, "admin", ADMIN_PASSWORD, admin=True)
    key = api_keys.create_key(repair, admin["id"], name="tests", write=True)["key"]
    app = create_app(repair, TESTING=True)
    return SimpleNamespace(ff=repair, app=app, client=app.test_client(), admin=admin, key=key,
                           auth={"Authorization": f"Bearer {key}"})


def bearer(key: str, **headers) -> dict:
    """Request headers with an API key."""
    return {"Authorization": f"Bearer {key}", **headers}


@pytest.fixture
def live(api):
    """The same app served by a real threaded WSGI server on loopback; yields its base URL."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, api.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
