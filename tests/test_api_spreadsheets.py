"""The spreadsheet endpoints over HTTP (Flask test client), on SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import io
import json
import time
from types import SimpleNamespace
from urllib.parse import unquote

import openpyxl
import pytest

from tests.test_spreadsheets import CRM_APP, HEADERS, count, read_csv, xlsx_bytes, zip_bomb

PASSWORD = "correct horse battery"
BASE = "/api/v1/apps/crm/forms/contact"


@pytest.fixture
def web(ff):
    """The CRM app behind the test client; an admin with a read-write and a read-only key."""
    from engine import api_keys, users
    from engine.api_spreadsheets import spreadsheets
    from engine.web import create_app
    ff.apps.install(copy.deepcopy(CRM_APP))
    admin = users.add_user(ff, "admin", PASSWORD, admin=True)
    key = api_keys.create_key(ff, admin["id"], name="rw", write=True)["key"]
    ro = api_keys.create_key(ff, admin["id"], name="ro", write=False)["key"]
    app = create_app(ff, TESTING=True)
    if "spreadsheets" not in app.blueprints:  # until the lead registers it in create_app
        app.register_blueprint(spreadsheets, url_prefix="/api/v1")
    return SimpleNamespace(ff=ff, app=app, client=app.test_client(), admin=admin,
                           auth={"Authorization": f"Bearer {key}"}, ro={"Authorization": f"Bearer {ro}"})


def seed(web, n=5):
    for i in range(n):
        web.ff.records.create("crm", "contact", {"code": f"C{i}", "name": f"客户{i}", "amount": str(i),
                                                 "note": "=1+1" if i == 0 else None})


def upload(web, data: bytes, filename="客户.xlsx", headers=None, **fields):
    form = {"file": (io.BytesIO(data), filename), **fields}
    return web.client.post(f"{BASE}/import", data=form, content_type="multipart/form-data",
                           headers=web.auth if headers is None else headers)


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["detail"]
    if code is not None:
        assert body["errors"][0]["code"] == code
    return body


# -- export and templates ------------------------------------------------------------

def test_export_xlsx_is_a_named_attachment(web):
    seed(web)
    r = web.client.get(f"{BASE}/export?sort=code", headers=web.auth)
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    disposition = unquote(r.headers["Content-Disposition"])
    assert disposition.startswith("attachment") and "联系人.xlsx" in disposition
    rows = list(openpyxl.load_workbook(io.BytesIO(r.data)).worksheets[0].values)
    assert rows[0][:2] == ("编号", "姓名") and rows[1][:2] == ("C0", "客户0") and len(rows) == 6
    assert rows[1][rows[0].index("备注")] == "'=1+1"


def test_export_csv_follows_filter_sort_fields_and_language(web):
    seed(web)
    r = web.client.get(f"{BASE}/export", query_string={"format": "csv", "filter": "amount >= 2",
                                                       "sort": "-amount", "fields": "code,amount",
                                                       "lang": "en"}, headers=web.auth)
    assert r.status_code == 200 and r.mimetype == "text/csv" and r.data.startswith(b"\xef\xbb\xbf")
    assert read_csv(r.data) == [["Code", "Amount"], ["C4", "4.00"], ["C3", "3.00"], ["C2", "2.00"]]


def test_export_problems(web):
    assert_problem(web.client.get(f"{BASE}/export?filter=amount%20%3E", headers=web.auth), 400)
    body = assert_problem(web.client.get(f"{BASE}/export?fields=code,nmae", headers=web.auth), 400, "unknown")
    assert "did you mean 'name'" in body["detail"]
    assert_problem(web.client.get(f"{BASE}/export?format=ods", headers=web.auth), 400)
    assert_problem(web.client.get(f"{BASE}/export?colour=red", headers=web.auth), 400)
    assert_problem(web.client.get("/api/v1/apps/crm/forms/nope/export", headers=web.auth), 404)
    assert_problem(web.client.get(f"{BASE}/export"), 401)


def test_templates(web):
    r = web.client.get(f"{BASE}/import/template", headers=web.auth)
    assert r.status_code == 200 and "联系人导入模板.xlsx" in unquote(r.headers["Content-Disposition"])
    wb = openpyxl.load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames == ["联系人", "说明"] and wb["联系人"]["A1"].value == "编号"
    r = web.client.get(f"{BASE}/import/template?format=csv&lang=en", headers=web.ro)
    assert r.status_code == 200 and read_csv(r.data)[0][:3] == ["Code", "Name", "Mobile"]


# -- import ------------------------------------------------------------------------------

def test_import_good_rows_reports_bad_rows(web):
    data = xlsx_bytes([HEADERS, ["C1", "好", "13812345678", 1], ["C2", "坏", "12345", 2], ["C3", "好", None, 3]])
    r = upload(web, data, mode="good_rows")
    assert r.status_code == 200, r.get_data(as_text=True)
    report = r.get_json()
    assert report["created"] == 2 and report["failed"] == 1 and not report["ok"]
    assert report["lines"][0].startswith("row 3, 手机号: '12345' is not a valid phone number")
    assert count(web.ff) == 2


def test_import_all_or_nothing_refuses_with_located_errors(web):
    data = xlsx_bytes([HEADERS, ["C1", "好", "13812345678", 1], ["C2", "坏", "12345", -2]])
    body = assert_problem(upload(web, data), 422)
    assert body["title"] == "Import refused" and body["created"] == 0 and body["failed"] == 1
    locations = {(e["location"], e["column"]) for e in body["errors"]}
    assert ("row 3, 手机号", "手机号") in locations
    assert count(web.ff) == 0
    r = upload(web, xlsx_bytes([HEADERS, ["C1", "好", "13812345678", 1]]))
    assert r.status_code == 200 and r.get_json()["created"] == 1


def test_an_exported_file_reimports_over_http(web):
    seed(web)
    exported = web.client.get(f"{BASE}/export", headers=web.auth).data
    r = web.client.post("/api/v1/apps/crm/forms/copy/import", headers=web.auth,
                        data={"file": (io.BytesIO(exported), "联系人.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["created"] == 5
    copied = web.client.get("/api/v1/apps/crm/forms/copy/export?format=csv&sort=code", headers=web.auth)
    original = web.client.get(f"{BASE}/export?format=csv&sort=code", headers=web.auth)
    assert copied.data == original.data


def test_import_mapping_and_unknown_columns(web):
    data = xlsx_bytes([["编号", "客户", "Fax"], ["C1", "张三", "x"]])
    r = upload(web, data, mapping=json.dumps({"客户": "name"}))
    report = r.get_json()
    assert r.status_code == 200 and report["created"] == 1
    assert report["warnings"] == ["column C 'Fax' matches no field: ignored"]
    assert_problem(upload(web, data, mapping="{not json"), 400, "json")
    assert_problem(upload(web, data, mapping=json.dumps({"客户": "nmae"})), 422, "mapping")


@pytest.mark.parametrize("data,filename,code", [
    (b"", "a.xlsx", "empty"),
    (b"code,name\nC1,x\n", "a.xlsx", "not_xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "a.xls", "xls"),
])
def test_bad_files_are_refused(web, data, filename, code):
    assert_problem(upload(web, data, filename=filename), 422, code)


def test_a_zip_bomb_upload_is_refused(web):
    body = assert_problem(upload(web, zip_bomb()), 422, "zip_bomb")
    assert "zip bomb" in body["detail"]
    assert list(web.ff.config.data_dir.joinpath("imports").iterdir()) == []  # the upload is deleted


def test_import_request_problems(web):
    r = web.client.post(f"{BASE}/import", headers=web.auth, data={}, content_type="multipart/form-data")
    assert_problem(r, 400, "required")
    assert_problem(upload(web, xlsx_bytes([HEADERS]), mode="some"), 400)
    assert_problem(upload(web, xlsx_bytes([HEADERS]), headers={}), 401)
    assert_problem(upload(web, xlsx_bytes([HEADERS]), headers=web.ro), 403)


def test_async_import_reports_progress_and_result(web):
    data = xlsx_bytes([HEADERS, *[[f"C{i}", "x", None, i] for i in range(25)], ["C99", None, None, 1]])
    r = upload(web, data, mode="good_rows", **{"async": "1"})
    assert r.status_code == 202, r.get_data(as_text=True)
    url = r.headers["Location"]
    assert r.get_json()["url"] == url and url.startswith("/api/v1/jobs/job_")
    deadline = time.monotonic() + 120
    while True:
        state = web.client.get(url, headers=web.auth).get_json()
        if state["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        assert state["progress"] is None or state["progress"] <= (state["total"] or 26)
        time.sleep(0.05)
    assert state["status"] == "done" and state["progress"] == state["total"] == 26
    assert state["result"]["created"] == 25 and state["result"]["lines"] == ["row 27, 姓名: name is required"]
    assert count(web.ff) == 25
    # other users do not see the job
    from engine import api_keys, users
    other = users.add_user(web.ff, "other", "another long password")
    key = api_keys.create_key(web.ff, other["id"], write=True)["key"]
    assert_problem(web.client.get(url, headers={"Authorization": f"Bearer {key}"}), 404)
    assert_problem(web.client.get("/api/v1/jobs/job_nope", headers=web.auth), 404)


def test_session_writes_need_the_csrf_token(web):
    c = web.client
    r = c.post("/api/v1/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200
    assert c.get(f"{BASE}/export?format=csv").status_code == 200  # reads need no token
    data = xlsx_bytes([HEADERS, ["C1", "x", None, 1]])
    assert_problem(upload(web, data, headers={}), 403)
    token = c.get("/api/v1/me").get_json()["csrf_token"]
    r = upload(web, data, headers={"X-CSRFToken": token})
    assert r.status_code == 200 and r.get_json()["created"] == 1


def test_a_retried_import_with_an_idempotency_key_imports_once(web):
    """A retry sends the same bytes (the same multipart boundary): the first result is replayed."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart
    data = xlsx_bytes([HEADERS, ["C1", "x", None, 1], ["C2", "y", None, 2]])
    _boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), "a.xlsx"), "mode": "good_rows"},
                                       boundary="formflow-test-boundary")
    headers = {**web.auth, "Idempotency-Key": "import-1"}
    ctype = "multipart/form-data; boundary=formflow-test-boundary"
    first = web.client.post(f"{BASE}/import", data=body, content_type=ctype, headers=headers)
    again = web.client.post(f"{BASE}/import", data=body, content_type=ctype, headers=headers)
    assert first.status_code == again.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["created"] == 2
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json() and count(web.ff) == 2


def test_a_retry_with_a_new_multipart_boundary_is_the_same_request(web):
    """Clients pick a new boundary for every send; the key still recognises the retry."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart
    data = xlsx_bytes([HEADERS, ["C1", "x", None, 1]])
    headers = {**web.auth, "Idempotency-Key": "import-2"}
    answers = []
    for boundary in ("first-boundary", "second-boundary"):
        _b, body = encode_multipart({"file": FileStorage(io.BytesIO(data), "a.xlsx"), "mode": "good_rows"},
                                    boundary=boundary)
        answers.append(web.client.post(f"{BASE}/import", data=body, headers=headers,
                                       content_type=f"multipart/form-data; boundary={boundary}"))
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[1].headers.get("Idempotent-Replayed") == "true" and count(web.ff) == 1


def test_another_file_with_the_same_key_is_refused(web):
    headers = {**web.auth, "Idempotency-Key": "import-3"}
    for rows, status in (([["C1", "x", None, 1]], 200), ([["C9", "z", None, 9]], 422)):
        r = web.client.post(f"{BASE}/import", headers=headers, data={
            "file": (io.BytesIO(xlsx_bytes([HEADERS, *rows])), "a.xlsx"), "mode": "good_rows"})
        assert r.status_code == status


def test_an_upload_over_the_body_limit_is_a_413_problem(web):
    web.app.config["MAX_CONTENT_LENGTH"] = 2_000
    assert_problem(upload(web, xlsx_bytes([HEADERS, *[[f"C{i}", "x" * 50, None, i] for i in range(50)]])), 413)
