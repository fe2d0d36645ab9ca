"""Accounts: sign-in sessions with CSRF, throttling, password changes, users, API keys, access rules."""
from __future__ import annotations

import json

from click.testing import CliRunner

from tests.test_api_fixtures import ADMIN_PASSWORD, TICKETS, api, bearer  # noqa: F401


def login(client, username="admin", password=ADMIN_PASSWORD):
    return client.post("/api/v1/login", json={"username": username, "password": password})


def new_key(api, **body):
    r = api.client.post("/api/v1/keys", json=body, headers=api.auth)
    assert r.status_code == 201, r.json
    return r.json


def test_without_credentials_the_api_answers_401_with_www_authenticate(api):
    r = api.client.get(TICKETS)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.mimetype == "application/problem+json"


def test_an_unknown_or_malformed_key_is_401(api):
    assert api.client.get(TICKETS, headers=bearer("ffk_nope")).status_code == 401
    assert api.client.get(TICKETS, headers={"Authorization": "Basic abc"}).status_code == 401


def test_login_opens_a_session_and_me_shows_the_user_and_csrf_token(api):
    r = login(api.client)
    assert r.status_code == 200 and r.json["user"]["username"] == "admin" and r.json["csrf_token"]
    assert "password_hash" not in r.json["user"]
    me = api.client.get("/api/v1/me")
    assert me.status_code == 200 and me.json["auth"] == "session"


def test_wrong_password_and_unknown_user_get_the_same_answer(api):
    a, b = login(api.client, password="wrong password"), login(api.client, username="ghost")
    assert a.status_code == b.status_code == 401 and a.json == b.json


def test_session_writes_need_the_csrf_token(api):
    token = login(api.client).json["csrf_token"]
    assert api.client.post(TICKETS, json={"title": "x"}).status_code == 403
    assert api.client.post(TICKETS, json={"title": "x"}, headers={"X-CSRFToken": token}).status_code == 201


def test_bearer_requests_need_no_csrf_token(api):
    assert api.client.post(TICKETS, json={"title": "x"}, headers=api.auth).status_code == 201


def test_logout_ends_the_session_and_needs_the_csrf_token(api):
    token = login(api.client).json["csrf_token"]
    assert api.client.post("/api/v1/logout").status_code == 403
    assert api.client.post("/api/v1/logout", headers={"X-CSRFToken": token}).status_code == 204
    assert api.client.get("/api/v1/me").status_code == 401


def test_repeated_failures_block_the_user_with_429_and_retry_after(api):
    api.app.config["FORMFLOW_LOGIN_THROTTLE"] = {"user_failures": 3}
    for _ in range(3):
        assert login(api.client, password="wrong password").status_code == 401
    r = login(api.client)  # even the right password
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.mimetype == "application/problem+json"


def test_unknown_users_are_throttled_the_same_way(api):
    api.app.config["FORMFLOW_LOGIN_THROTTLE"] = {"user_failures": 3}
    for _ in range(3):
        login(api.client, username="ghost")
    assert login(api.client, username="ghost").status_code == 429


def test_failures_from_one_address_block_that_address(api):
    api.app.config["FORMFLOW_LOGIN_THROTTLE"] = {"ip_failures": 4}
    for i in range(4):
        login(api.client, username=f"user{i}")
    assert login(api.client).status_code == 429


def test_throttling_counters_are_shared_through_the_database(api):
    from engine.web import create_app
    api.app.config["FORMFLOW_LOGIN_THROTTLE"] = {"user_failures": 2}
    other = create_app(api.ff, TESTING=True, FORMFLOW_LOGIN_THROTTLE={"user_failures": 2}).test_client()
    login(api.client, password="wrong password")
    login(other, password="wrong password")
    assert login(api.client).status_code == 429


def test_changing_the_password_ends_other_sessions_but_keeps_this_one(api):
    from engine.web import create_app
    other = create_app(api.ff, TESTING=True).test_client()
    login(other)
    token = login(api.client).json["csrf_token"]
    r = api.client.post("/api/v1/me/password", json={"current_password": ADMIN_PASSWORD,
                                                      "new_password": "a much better secret"},
                        headers={"X-CSRFToken": token})
    assert r.status_code == 204
    assert api.client.get("/api/v1/me").status_code == 200
    assert other.get("/api/v1/me").status_code == 401


def test_common_passwords_are_refused(api):
    r = api.client.post("/api/v1/users", json={"username": "bob", "password": "password123"}, headers=api.auth)
    assert r.status_code == 422


def test_admins_create_and_list_users(api):
    r = api.client.post("/api/v1/users", json={"username": "bob", "password": "bob's long secret"}, headers=api.auth)
    assert r.status_code == 201 and r.json["is_admin"] is False
    names = [u["username"] for u in api.client.get("/api/v1/users", headers=api.auth).json["users"]]
    assert names == ["admin", "bob"]


def test_a_disabled_user_can_no_longer_sign_in(api):
    bob = api.client.post("/api/v1/users", json={"username": "bob", "password": "bob's long secret"},
                          headers=api.auth).json
    assert api.client.patch(f"/api/v1/users/{bob['id']}", json={"is_active": False}, headers=api.auth).status_code == 200
    assert login(api.client, "bob", "bob's long secret").status_code == 401


def test_non_admins_write_records_but_not_definitions_or_users(api):
    from engine import api_keys, users
    bob = users.add_user(api.ff, "bob", "bob's long secret")
    key = api_keys.create_key(api.ff, bob["id"], write=True)["key"]
    assert api.client.post(TICKETS, json={"title": "x"}, headers=bearer(key)).status_code == 201
    assert api.client.get("/api/v1/users", headers=bearer(key)).status_code == 403
    assert api.client.put("/api/v1/apps/repair", json={"key": "repair", "forms": []}, headers=bearer(key)).status_code == 403


def test_api_keys_are_shown_once_and_stored_hashed(api):
    created = new_key(api, name="erp sync")
    assert created["key"].startswith("ffk_") and len(created["key"]) > 40
    listed = api.client.get("/api/v1/keys", headers=api.auth).json["keys"]
    assert all("key" not in k for k in listed)
    import sqlalchemy as sa
    from engine import tables
    with api.ff.db.read() as conn:
        stored = conn.execute(sa.select(tables.api_keys.c.key_hash)).scalars().all()
    assert created["key"] not in stored


def test_a_read_only_key_cannot_write(api):
    key = new_key(api, write=False)["key"]
    assert api.client.get(TICKETS, headers=bearer(key)).status_code == 200
    assert api.client.post(TICKETS, json={"title": "x"}, headers=bearer(key)).status_code == 403


def test_a_key_scoped_to_other_apps_cannot_see_this_one(api):
    import copy
    from tests.conftest import REPAIR_APP
    other = copy.deepcopy(REPAIR_APP)
    other["key"] = "other"
    api.ff.apps.install(other)
    key = new_key(api, apps=["other"], write=True)["key"]
    assert api.client.get(TICKETS, headers=bearer(key)).status_code == 403
    assert api.client.get("/api/v1/apps/other/forms/ticket/records", headers=bearer(key)).status_code == 200
    assert [a["key"] for a in api.client.get("/api/v1/apps", headers=bearer(key)).json["apps"]] == ["other"]


def test_a_key_for_an_unknown_app_is_refused(api):
    r = api.client.post("/api/v1/keys", json={"apps": ["nope"]}, headers=api.auth)
    assert r.status_code == 400 and r.json["errors"][0]["location"] == "apps"


def test_a_revoked_key_stops_working(api):
    created = new_key(api, write=True)
    assert api.client.delete(f"/api/v1/keys/{created['id']}", headers=api.auth).status_code == 204
    assert api.client.get(TICKETS, headers=bearer(created["key"])).status_code == 401


def test_last_used_time_is_recorded(api):
    created = new_key(api)
    api.client.get(TICKETS, headers=bearer(created["key"]))
    listed = {k["id"]: k for k in api.client.get("/api/v1/keys", headers=api.auth).json["keys"]}
    assert listed[created["id"]]["last_used_at"] is not None


def test_cli_key_create_prints_only_the_key(api, monkeypatch, db_url, tmp_path):
    from engine.cli import main
    env = {"FORMFLOW_DATA_DIR": str(tmp_path / "data"), "FORMFLOW_DATABASE_URL": db_url}
    result = CliRunner().invoke(main, ["key", "create", "admin", "--app", "repair", "--write"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0
    key = result.stdout.strip()
    assert key.startswith("ffk_") and "\n" not in key
    me = api.client.get("/api/v1/me", headers=bearer(key)).json
    assert me["key"]["apps"] == ["repair"] and me["key"]["write"] is True


def test_cli_key_revoke_and_user_passwd(api, db_url, tmp_path):
    from engine.cli import main
    env = {"FORMFLOW_DATA_DIR": str(tmp_path / "data"), "FORMFLOW_DATABASE_URL": db_url}
    run = lambda *a, input=None: CliRunner().invoke(main, list(a), env=env, input=input, catch_exceptions=False)  # noqa: E731
    key = run("key", "create", "admin").stdout.strip()
    key_id = json.loads(run("key", "list", "admin", "--json").stdout)[0]["id"]
    assert run("key", "revoke", key_id).exit_code == 0
    assert api.client.get(TICKETS, headers=bearer(key)).status_code == 401
    assert run("user", "passwd", "admin", "--password-stdin", input="a brand new secret\n").exit_code == 0
    assert login(api.client, password="a brand new secret").status_code == 200


def test_the_sign_in_page_carries_a_csrf_token_and_refuses_posts_without_it(api):
    import re
    page = api.client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert api.client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 400
    r = api.client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/apps")
