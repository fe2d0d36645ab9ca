"""The `formflow` command line: one clear line per problem, non-zero exit, no tracebacks."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from engine.cli import main
from tests.conftest import REPAIR_APP

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(tmp_path, db_url):
    """Invoke the CLI against a fresh database (SQLite and PostgreSQL)."""
    env = {"FORMFLOW_DATA_DIR": str(tmp_path / "data"), "FORMFLOW_DATABASE_URL": db_url}

    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return invoke


@pytest.fixture
def repair_file(tmp_path):
    path = tmp_path / "repair.json"
    path.write_text(json.dumps(REPAIR_APP, ensure_ascii=False), encoding="utf-8")
    return path


def test_validate_a_good_file(run, repair_file):
    result = run("app", "validate", str(repair_file))
    assert result.exit_code == 0 and "valid app 'repair'" in result.output


def test_validate_reports_every_problem_on_its_own_line(run, tmp_path):
    bad = json.loads(json.dumps(REPAIR_APP))
    bad["forms"][0]["fields"][1]["type"] = "nubmer"
    bad["forms"][1]["fields"][0]["key"] = "1name"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = run("app", "validate", str(path))
    assert result.exit_code == 1
    assert 'forms[0].fields[1].type: "nubmer" is not a field type (did you mean "number"?)' in result.output
    assert "forms[1].fields[0].key" in result.output
    assert "Traceback" not in result.output


def test_validate_a_missing_file(run):
    result = run("app", "validate", "/nonexistent.json")
    assert result.exit_code == 1 and result.output.strip() == "Error: /nonexistent.json: no such file"


def test_validate_broken_json_is_located(run, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"key": "x",\n "forms": [}')
    result = run("app", "validate", str(path))
    assert result.exit_code == 1 and "line 2" in result.output and "Traceback" not in result.output


def test_install_export_and_diff(run, repair_file, tmp_path):
    result = run("app", "install", str(repair_file))
    assert result.exit_code == 0 and "Installed 'repair' version 1" in result.output
    exported = run("app", "export", "repair").output
    assert json.loads(exported)["version"] == 1
    changed = json.loads(exported)
    changed["forms"][0]["fields"].append({"key": "note", "type": "textarea", "label": {"en": "Note"}})
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(changed))
    diff = run("app", "diff", str(path))
    assert diff.exit_code == 0 and "add field ticket.note" in diff.output
    assert json.loads(run("app", "export", "repair").output)["version"] == 1


def test_install_dry_run_changes_nothing(run, repair_file):
    result = run("app", "install", "--dry-run", str(repair_file))
    assert result.exit_code == 0 and "add form 'ticket'" in result.output
    missing = run("app", "export", "repair")
    assert missing.exit_code == 1 and "no app 'repair'" in missing.output


def test_user_add_with_password_from_stdin(run):
    result = run("user", "add", "alice", "--admin", "--password-stdin", input="correct horse battery\n")
    assert result.exit_code == 0 and "Created user 'alice' (admin)" in result.output
    again = run("user", "add", "alice", "--password-stdin", input="another long password\n")
    assert again.exit_code == 1 and "already exists" in again.output


def test_user_add_refuses_a_common_password(run):
    result = run("user", "add", "bob", "--password-stdin", input="password\n")
    assert result.exit_code == 1 and "too common" in result.output


def test_db_upgrade_reports_the_revision(run):
    from engine.migrations_db import newest
    result = run("db", "upgrade")
    assert result.exit_code == 0 and f"revision {newest()}" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_prints_url_and_credentials_and_answers(tmp_path):
    port = _free_port()
    env = {**os.environ, "FORMFLOW_DATA_DIR": str(tmp_path / "data")}
    env.pop("FORMFLOW_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = proc.stdout.readline().split()[-1]
        credentials = proc.stdout.readline().split()
        assert url == f"http://127.0.0.1:{port}/"
        assert credentials[:4] == ["Sign", "in", "as", "admin"]
        password = credentials[-1]
        deadline = time.time() + 20
        while True:
            try:
                response = httpx.get(url + "api/v1/health")
                break
            except httpx.TransportError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        assert response.json() == {"status": "ok", "database": "sqlite"}
        with httpx.Client(base_url=url) as client:
            form = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            signed_in = client.post("/login", data={"username": "admin", "password": password,
                                                    "csrf_token": token})
            assert signed_in.status_code == 302 and signed_in.headers["location"].endswith("/apps")
    finally:
        proc.terminate()
        proc.wait(10)


def test_production_refuses_the_default_secret(tmp_path):
    env = {**os.environ, "FORMFLOW_DATA_DIR": str(tmp_path / "data"), "FORMFLOW_ENV": "production"}
    env.pop("FORMFLOW_SECRET_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "init"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("Error: FORMFLOW_SECRET_KEY is the development default")
