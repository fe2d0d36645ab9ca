"""The directory: department tree, memberships, roles — functions, CLI and endpoints."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from engine import directory, users
from engine.errors import Conflict, FormflowError, NotFound
from tests.test_permissions import PASSWORD, client_for, login


@pytest.fixture
def people(ff):
    return {n: users.add_user(ff, n, None)["id"] for n in ("ann", "ben", "cat")}


def test_department_tree_moves_and_cycles(ff, people):
    directory.add_department(ff, "Company", id="co")
    directory.add_department(ff, "Sales", id="sales", parent="co", manager=people["ann"])
    directory.add_department(ff, "East", id="east", parent="sales")
    tree = directory.department_tree(ff)
    assert [t["id"] for t in tree] == ["co"] and tree[0]["children"][0]["children"][0]["id"] == "east"
    with pytest.raises(Conflict, match="below itself"):
        directory.update_department(ff, "co", parent="east")
    with pytest.raises(Conflict, match="sub-departments"):
        directory.remove_department(ff, "sales")
    directory.update_department(ff, "east", parent=None, name="East region")
    assert {d["id"]: d["parent_id"] for d in directory.list_departments(ff)} == {
        "co": None, "sales": "co", "east": None}
    with pytest.raises(Conflict):
        directory.add_department(ff, "Again", id="co")
    with pytest.raises(NotFound):
        directory.add_department(ff, "Orphan", parent="nope")
    with pytest.raises(FormflowError):
        directory.add_department(ff, "Bad id", id="no spaces")


def test_memberships_primary_and_profile(ff, people):
    directory.add_department(ff, "Sales", id="sales", manager=people["ann"])
    directory.add_department(ff, "East", id="east", parent="sales")
    directory.add_department(ff, "Ops", id="ops")
    directory.add_member(ff, "east", people["ben"])
    directory.add_member(ff, "ops", people["ben"])
    assert [d["id"] for d in directory.user_departments(ff, people["ben"])] == ["east", "ops"]  # first is primary
    directory.add_member(ff, "ops", people["ben"], primary=True)
    assert directory.user_departments(ff, people["ben"])[0] == {"id": "ops", "name": "Ops", "is_primary": True}
    directory.remove_member(ff, "ops", people["ben"])
    with ff.db.read() as conn:
        ben = directory.profile(conn, people["ben"])
        ann = directory.profile(conn, people["ann"])
    assert ben["primary_department"] == "east" and ben["within"] == ["east", "sales"]
    assert ann["managed_departments"] == ["east", "sales"] and ann["departments"] == []
    with pytest.raises(NotFound):
        directory.remove_member(ff, "ops", people["ben"])
    with pytest.raises(NotFound):
        directory.add_member(ff, "east", "ghost")
    directory.remove_department(ff, "ops")
    assert directory.get_department(ff, "east")["members"] == [{"user_id": people["ben"], "is_primary": True}]


def test_roles_and_grants(ff, people):
    directory.add_role(ff, "sales", "Sales")
    directory.grant_role(ff, "sales", people["ann"])
    directory.grant_role(ff, "sales", people["ann"])        # idempotent
    directory.grant_role(ff, "sales", people["cat"])
    assert directory.list_roles(ff)[0]["members"] == sorted([people["ann"], people["cat"]])
    directory.revoke_role(ff, "sales", people["cat"])
    with pytest.raises(NotFound):
        directory.revoke_role(ff, "sales", people["cat"])
    with pytest.raises(FormflowError):
        directory.add_role(ff, "9bad")
    with pytest.raises(Conflict):
        directory.add_role(ff, "sales")
    directory.remove_role(ff, "sales")
    with ff.db.read() as conn:
        assert directory.profile(conn, people["ann"])["roles"] == []


def test_cli_dept_role_and_access_review(tmp_path, db_url):
    from engine.cli import main
    env = {"FORMFLOW_DATA_DIR": str(tmp_path / "data"), "FORMFLOW_DATABASE_URL": db_url}

    def run(*args):
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output
    run("user", "add", "dora", "--password-stdin") if False else None
    from engine.config import Config
    from engine.formflow import Formflow
    ff = Formflow(Config(data_dir=tmp_path / "data", env="test"), database_url=db_url)
    ff.init_db()
    users.add_user(ff, "dora", None)
    ff.close()
    assert "Created department sales" in run("dept", "add", "Sales", "--id", "sales", "--manager", "dora")
    run("dept", "add", "East", "--id", "east", "--parent", "sales")
    assert "(primary)" in run("dept", "member", "east", "dora", "--primary")
    listing = run("dept", "list")
    assert "sales\tSales\t0 member(s), manager" in listing and "  east\tEast\t1 member(s)" in listing
    run("role", "add", "finance", "--name", "Finance")
    run("role", "grant", "finance", "dora")
    assert "finance\tFinance\t" in run("role", "list")
    run("role", "revoke", "finance", "dora")
    run("dept", "member", "east", "dora", "--remove")
    out = run("access-review", "--days", "0")
    assert "inactive for 0 days or more: 1" in out and "dora" in out
    rep = json.loads(run("access-review", "--json"))
    assert rep["days"] == 90 and rep["inactive"] == []
    bad = CliRunner().invoke(main, ["role", "grant", "nope", "dora"], env=env)
    assert bad.exit_code == 1 and "no role 'nope'" in bad.output


def test_directory_endpoints(ff, people):
    users.add_user(ff, "boss", PASSWORD, admin=True)
    client = client_for(ff)
    h = login(client, "boss")
    r = client.post("/api/v1/departments", json={"name": "Sales", "id": "sales", "manager": "ann"}, headers=h)
    assert r.status_code == 201 and r.json["manager_id"] == people["ann"]
    assert client.post("/api/v1/departments", json={"name": "East", "id": "east", "parent": "sales"},
                       headers=h).status_code == 201
    r = client.put("/api/v1/departments/east/members/ben", json={"primary": True}, headers=h)
    assert r.status_code == 200 and r.json["members"] == [{"user_id": people["ben"], "is_primary": True}]
    tree = client.get("/api/v1/departments?tree=1").json["departments"]
    assert tree[0]["children"][0]["id"] == "east"
    assert client.patch("/api/v1/departments/east", json={"name": "East region"}, headers=h).json["name"] == \
        "East region"
    assert client.post("/api/v1/roles", json={"key": "sales"}, headers=h).status_code == 201
    assert client.put("/api/v1/roles/sales/members/ben", headers=h).status_code == 204
    assert client.get("/api/v1/roles").json["roles"][0]["members"] == [people["ben"]]
    me = client.get("/api/v1/users/ben/directory").json
    assert me["roles"] == ["sales"] and me["within"] == ["east", "sales"]
    assert client.delete("/api/v1/roles/sales/members/ben", headers=h).status_code == 204
    assert client.delete("/api/v1/departments/east/members/ben", headers=h).status_code == 204
    assert client.delete("/api/v1/departments/sales", headers=h).status_code == 409
    assert client.delete("/api/v1/departments/east", headers=h).status_code == 204
    assert client.delete("/api/v1/roles/sales", headers=h).status_code == 204
    assert client.put("/api/v1/roles/ghost/members/ben", headers=h).status_code == 404
    assert client.post("/api/v1/roles", json={"key": "x"}).status_code == 403   # no CSRF token (API pipeline)


def test_a_profile_is_computed_once_while_the_directory_is_unchanged(ff, people, monkeypatch):
    from engine import permissions
    calls = []
    real = directory.profile
    monkeypatch.setattr(directory, "profile", lambda conn, uid: calls.append(uid) or real(conn, uid))
    first = permissions.subject(ff, people["ann"])
    again = permissions.subject(ff, people["ann"])
    assert calls == [people["ann"]] and first == again


def test_a_directory_change_in_another_process_is_seen_at_once(ff, people, make_ff):
    """Two formflow instances over one database stand for two processes with their own caches."""
    from engine import permissions
    other = make_ff(ff.db.engine.url.render_as_string(hide_password=False))
    assert "auditor" not in permissions.subject(ff, people["ann"]).roles          # cached here
    directory.add_role(other, "auditor")
    directory.grant_role(other, "auditor", people["ann"])
    assert "auditor" in permissions.subject(ff, people["ann"]).roles
    sales = directory.add_department(other, "Sales")["id"]
    directory.add_member(other, sales, people["ann"])
    assert sales in permissions.subject(ff, people["ann"]).departments
    directory.revoke_role(other, "auditor", people["ann"])
    assert "auditor" not in permissions.subject(ff, people["ann"]).roles
