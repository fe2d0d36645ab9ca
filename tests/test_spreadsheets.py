"""Excel/CSV export and import (engine level), on SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from engine import spreadsheets as ss
from engine.records import RecordContext, record_json
from workflows import jobs

CONTACT_FIELDS = [
    {"key": "code", "type": "text", "label": {"zh-CN": "编号", "en": "Code"}, "required": True, "unique": True},
    {"key": "name", "type": "text", "label": {"zh-CN": "姓名", "en": "Name"}, "required": True},
    {"key": "phone", "type": "phone", "label": {"zh-CN": "手机号", "en": "Mobile"}},
    {"key": "email", "type": "email", "label": {"zh-CN": "邮箱", "en": "Email"}},
    {"key": "amount", "type": "money", "label": {"zh-CN": "金额", "en": "Amount"}, "min": 0},
    {"key": "score", "type": "number", "label": {"zh-CN": "得分", "en": "Score"}},
    {"key": "rate", "type": "percent", "label": {"zh-CN": "比例", "en": "Rate"}},
    {"key": "joined", "type": "date", "label": {"zh-CN": "加入日期", "en": "Joined"}},
    {"key": "seen", "type": "datetime", "label": {"zh-CN": "最近访问", "en": "Last seen"}},
    {"key": "at", "type": "time", "label": {"zh-CN": "时间", "en": "Time"}},
    {"key": "vip", "type": "boolean", "label": {"zh-CN": "贵宾", "en": "VIP"}},
    {"key": "level", "type": "select", "label": {"zh-CN": "等级", "en": "Level"}, "options": ["金", "银"]},
    {"key": "tags", "type": "multiselect", "label": {"zh-CN": "标签", "en": "Tags"}, "options": ["a", "b", "c"]},
    {"key": "note", "type": "textarea", "label": {"zh-CN": "备注", "en": "Note"}},
    {"key": "addr", "type": "address", "label": {"zh-CN": "地址", "en": "Address"}},
    {"key": "loc", "type": "location", "label": {"zh-CN": "位置", "en": "Location"}},
    {"key": "items", "type": "subform", "label": {"zh-CN": "明细", "en": "Items"}, "fields": [
        {"key": "sku", "type": "text", "label": {"en": "SKU"}},
        {"key": "price", "type": "decimal", "label": {"en": "Price"}}]},
    {"key": "double", "type": "formula", "label": {"zh-CN": "双倍", "en": "Double"},
     "formula": "amount * 2", "result_type": "money"},
]

CRM_APP = {
    "key": "crm", "label": {"zh-CN": "客户管理", "en": "CRM"},
    "forms": [
        {"key": "contact", "label": {"zh-CN": "联系人", "en": "Contact"}, "fields": CONTACT_FIELDS},
        {"key": "copy", "label": {"zh-CN": "联系人副本", "en": "Contact copy"}, "fields": CONTACT_FIELDS},
    ]}

HEADERS = ["编号", "姓名", "手机号", "金额"]


@pytest.fixture
def crm(ff):
    """The CRM app installed on SQLite and PostgreSQL."""
    ff.apps.install(copy.deepcopy(CRM_APP))
    return ff


def count(ff, form="contact") -> int:
    _app, f = ff.form("crm", form)
    ft = ff.form_table(f)
    with ff.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(ft.table)
                            .where(ft.c.deleted_at.is_(None))).scalar()


def all_records(ff, form="contact", sort="code") -> list[dict]:
    from engine.queries import list_records
    _app, f = ff.form("crm", form)
    with ff.db.read() as conn:
        page = list_records(conn, ff, f, sort=sort, limit=500)
    return [record_json(f, r) for r in page.records]


def values_only(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in records]


def xlsx_bytes(rows: list[list], title: str = "Sheet") -> bytes:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(title)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export(ff, fmt="xlsx", form="contact", **kw) -> bytes:
    buf = io.BytesIO()
    ss.export_records(ff, "crm", form, buf, format=fmt, **kw)
    return buf.getvalue()


def read_xlsx(data: bytes) -> list[tuple]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return [tuple(c.value for c in row) for row in wb.worksheets[0].iter_rows()]


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


RICH = [
    dict(code="C001", name="张三", phone="13812345678", email="zhang@example.com", amount="12.50",
         score="-3", rate="0.125", joined="2026-12-05", seen="2026-12-05T09:30:00", at="08:15:00",
         vip=True, level="金", tags=["a", "c"], note="第一行\n第二行",
         addr={"province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路 1 号"},
         loc={"lng": "120.15", "lat": "30.28"},
         items=[{"sku": "P-1", "price": "6.60"}, {"sku": "=cmd|' /C calc'!A0", "price": "1"}]),
    dict(code="C002", name="=HYPERLINK(\"http://evil\",\"点我\")", phone="+8613912345678", amount="0",
         score="1e3", vip=False, tags=["b"], note="@SUM(A1:A2)", seen="2026-01-02T03:04:05.123456"),
    dict(code="-C003", name="+1 800", note="\tTabbed", email=None),
    dict(code="'=already quoted", name="'plain quote"),
]


def seed(ff, rows=RICH, form="contact"):
    for row in rows:
        ff.records.create("crm", form, {k: v for k, v in row.items() if v is not None},
                          ctx=RecordContext(actor="u1"))


# -- export ---------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_an_exported_file_reimports_to_identical_records(crm, fmt):
    seed(crm)
    data = export(crm, fmt)
    report = ss.import_file(crm, "crm", "copy", data, filename=f"x.{fmt}", actor="u2")
    assert report["ok"] and report["created"] == len(RICH) and report["errors"] == []
    # the computed column was recognised and ignored, not reported as unknown
    assert any(c["field"] is None and c["ignored"] == "computed field" for c in report["columns"])
    assert values_only(all_records(crm, "copy")) == values_only(all_records(crm, "contact"))


def test_system_columns_of_an_export_are_ignored_on_reimport(crm):
    seed(crm, RICH[:1])
    data = export(crm, "xlsx", fields="_id,_created_at,code,name,double")
    assert read_xlsx(data)[0] == ("_id", "_created_at", "编号", "姓名", "双倍")
    report = ss.import_file(crm, "crm", "copy", data, filename="x.xlsx")
    assert report["created"] == 1
    ignored = {c["column"]: c.get("ignored") for c in report["columns"]}
    assert ignored["_id"] == "system field" and ignored["双倍"] == "computed field"
    assert all_records(crm, "copy")[0]["_id"] != all_records(crm, "contact")[0]["_id"]


def test_formula_injection_is_neutralised_but_numbers_stay_numbers(crm):
    seed(crm)
    rows = read_xlsx(export(crm, "xlsx", fields="code,name,phone,note,score,amount", sort="code"))
    by_code = {r[0]: r for r in rows[1:]}
    assert by_code["'-C003"][1] == "'+1 800"
    evil = next(r for r in rows[1:] if r[0] == "C002")
    assert evil[1].startswith("'=HYPERLINK") and evil[2] == "'+8613912345678" and evil[3] == "'@SUM(A1:A2)"
    assert by_code["'-C003"][3] == "'\tTabbed"
    assert by_code["''=already quoted"][1] == "'plain quote"  # no trigger after the quote: left alone
    c1 = next(r for r in rows[1:] if r[0] == "C001")
    assert isinstance(c1[4], (int, float)) and c1[4] == -3 and isinstance(c1[5], (int, float)) and c1[5] == 12.5
    wb = openpyxl.load_workbook(io.BytesIO(export(crm, "xlsx")))
    assert not [c for row in wb.worksheets[0].iter_rows() for c in row if c.data_type == "f"]
    # CSV: text cells escaped, numbers left as numbers
    lines = read_csv(export(crm, "csv", fields="code,name,score", sort="code"))
    assert ["C002", "'=HYPERLINK(\"http://evil\",\"点我\")", "1000"] in lines
    assert ["C001", "张三", "-3"] in lines


def test_escaping_is_reversible():
    for text in ["=1+1", "+86", "-", "@x", "\tx", "\rx", "'=x", "''=x", "'x", "x", "", "'"]:
        assert ss.unescape_text(ss.escape_text(text)) == text
        assert not ss.escape_text(text)[:1] in ("=", "+", "-", "@", "\t", "\r")


def test_csv_has_a_bom_and_chinese_round_trips(crm):
    seed(crm, RICH[:1])
    data = export(crm, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = read_csv(data)
    assert rows[0][:3] == ["编号", "姓名", "手机号"] and rows[1][1] == "张三"
    assert rows[1][rows[0].index("标签")] == "a, c"
    assert rows[1][rows[0].index("地址")].startswith('{"province": "浙江省"')


def test_export_follows_filter_sort_fields_language_and_key_headers(crm):
    seed(crm, [{"code": f"K{i}", "name": f"n{i}", "amount": str(i)} for i in range(7)])
    rows = read_csv(export(crm, "csv", filter="amount >= 3", sort="-amount", fields="code,amount",
                           lang="en", page_size=2))  # several pages through the cursor
    assert rows == [["Code", "Amount"], ["K6", "6.00"], ["K5", "5.00"], ["K4", "4.00"], ["K3", "3.00"]]
    rows = read_xlsx(export(crm, "xlsx", fields=["code", "name"], header="key", sort="code"))
    assert rows[0] == ("code", "name") and len(rows) == 8


def test_export_problems_are_raised_before_writing(crm):
    from engine.errors import FormflowError
    for kw in ({"fields": "code,nope"}, {"filter": "amount >"}, {"sort": "nope"}, {"format": "ods"},
               {"header": "both"}):
        buf = io.BytesIO()
        with pytest.raises(FormflowError):
            ss.export_records(crm, "crm", "contact", buf, **kw)
        assert buf.getvalue() == b""


def test_duplicate_labels_get_their_key_and_still_map(ff):
    ff.apps.install({"key": "dup", "label": {"en": "Dup"}, "forms": [{"key": "f", "label": {"en": "F"}, "fields": [
        {"key": "a", "type": "text", "label": {"en": "Same"}},
        {"key": "b", "type": "text", "label": {"en": "Same"}}]}]})
    ff.records.create("dup", "f", {"a": "1", "b": "2"})
    buf = io.BytesIO()
    ss.export_records(ff, "dup", "f", buf, format="csv", lang="en")
    assert read_csv(buf.getvalue()) == [["Same (a)", "Same (b)"], ["1", "2"]]
    report = ss.import_file(ff, "dup", "f", buf.getvalue(), filename="x.csv")
    assert [c["field"] for c in report["columns"]] == ["a", "b"] and report["created"] == 1


# -- templates ---------------------------------------------------------------------

def test_xlsx_template_has_writable_headers_and_a_notes_sheet(crm):
    buf = io.BytesIO()
    headers = ss.write_template(crm, "crm", "contact", buf)
    wb = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    assert wb.sheetnames == ["联系人", "说明"]
    assert [c.value for c in wb["联系人"][1]] == headers and "双倍" not in headers and headers[0] == "编号"
    notes = [tuple(c.value for c in row) for row in wb["说明"].iter_rows()]
    assert notes[0] == ("列", "字段键", "类型", "必填", "说明")
    assert ("等级", "level", "select", "否", "可选值：金, 银") in notes
    assert notes[1][:4] == ("编号", "code", "text", "是")


def test_a_filled_template_imports(crm):
    buf = io.BytesIO()
    ss.write_template(crm, "crm", "contact", buf, format="csv", lang="en")
    data = buf.getvalue()
    assert data.startswith(b"\xef\xbb\xbf") and read_csv(data)[0][:2] == ["Code", "Name"]
    data += "T1,Tom,,,,,,2026/12/5,,,是,,\"a;b\"\r\n".encode()
    report = ss.import_file(crm, "crm", "contact", data, filename="t.csv")
    assert report["created"] == 1, report
    rec = all_records(crm)[0]
    assert rec["joined"] == "2026-12-05" and rec["vip"] is True and rec["tags"] == ["a", "b"]


# -- import: encodings, mapping, errors --------------------------------------------

def test_gb18030_csv_is_imported(crm):
    data = "编号,姓名,手机号\r\nC1,张三丰,13812345678\r\nC2,李四,\r\n".encode("gb18030")
    report = ss.import_file(crm, "crm", "contact", data, filename="客户.csv")
    assert report["created"] == 2
    recs = all_records(crm)
    assert recs[0]["name"] == "张三丰" and recs[0]["phone"] == "+8613812345678"


def test_utf8_without_bom_and_semicolons_are_read(crm):
    data = "Code;Name\nC1;Zoë\n".encode()
    assert ss.import_file(crm, "crm", "contact", data, filename="x.csv")["created"] == 1
    assert all_records(crm)[0]["name"] == "Zoë"


def test_errors_are_reported_by_sheet_row_and_column_header(crm):
    data = xlsx_bytes([HEADERS, ["C1", "好", "13812345678", 1], ["C2", "坏", "12345", 2],
                       [None, None, None, None], ["C3", None, None, -5]])
    report = ss.import_file(crm, "crm", "contact", data, filename="x.xlsx", mode="good_rows")
    assert report["created"] == 1 and report["failed"] == 2 and report["rows"] == 3
    lines = report["lines"]
    assert lines[0].startswith("row 3, 手机号: '12345' is not a valid phone number")
    assert "row 5, 姓名: name is required" in lines
    assert any(line.startswith("row 5, 金额: must be at least 0") for line in lines)
    assert {e["row"] for e in report["errors"]} == {3, 5}


def test_all_or_nothing_writes_nothing_when_a_row_is_bad(crm):
    data = xlsx_bytes([HEADERS, *[[f"C{i}", "x", None, i] for i in range(20)], ["C99", "x", None, -1]])
    report = ss.import_file(crm, "crm", "contact", data, filename="x.xlsx", chunk_size=4)
    assert not report["ok"] and report["created"] == 0 and report["failed"] == 1
    assert report["lines"] == ["row 22, 金额: must be at least 0, got -1.00"]
    assert count(crm) == 0
    good = xlsx_bytes([HEADERS, *[[f"C{i}", "x", None, i] for i in range(20)]])
    report = ss.import_file(crm, "crm", "contact", good, filename="x.xlsx", chunk_size=4)
    assert report["ok"] and report["created"] == 20 and count(crm) == 20


def test_good_rows_imports_each_good_row_exactly_once(crm):
    seed(crm, [{"code": "TAKEN", "name": "already there"}])
    rows = [HEADERS]
    for i in range(40):
        bad = i % 9 == 4
        rows.append([f"C{i}", "x" if i % 13 else None, "13812345678", -1 if bad else i])
    rows.append(["TAKEN", "dup of a stored record", None, 1])   # found by the database (unique index)
    rows.append(["C1", "dup in the file", None, 1])
    data = xlsx_bytes(rows)
    report = ss.import_file(crm, "crm", "contact", data, filename="x.xlsx", mode="good_rows", chunk_size=6)
    bad_rows = {i + 2 for i in range(40) if i % 9 == 4 or i % 13 == 0}
    assert {e["row"] for e in report["errors"]} == bad_rows | {42, 43}
    assert report["created"] == 40 - len(bad_rows) and count(crm) == 1 + report["created"]
    codes = [r["code"] for r in all_records(crm)]
    assert len(codes) == len(set(codes))
    lines = report["lines"]
    assert "row 42, 编号: another record already has this value (it must be unique)" in lines
    assert "row 43, 编号: the value is already in row 3 (it must be unique)" in lines


def test_unknown_columns_are_ignored_with_a_warning(crm):
    data = xlsx_bytes([["编号", "Name", "Fax", "", "phone"], ["C1", "n", "x", "y", "13812345678"]])
    report = ss.import_file(crm, "crm", "contact", data, filename="x.xlsx")
    assert report["created"] == 1
    assert report["warnings"] == ["column C 'Fax' matches no field: ignored"]
    assert {"column": "Fax", "field": None, "ignored": "matches no field"} in report["columns"]


def test_columns_match_by_key_or_any_label_case_and_space_insensitively(crm):
    data = xlsx_bytes([["  CODE ", "姓名", "MOBILE", "e-mail"], ["C1", "n", "13812345678", "a@b.cn"]])
    report = ss.import_file(crm, "crm", "contact", data, filename="x.xlsx")
    assert [c["field"] for c in report["columns"]] == ["code", "name", "phone", None]


def test_a_mapping_overrides_the_headers(crm):
    data = xlsx_bytes([["编号", "客户", "Tel", "姓名"], ["C1", "张三", "13812345678", "ignored"]])
    report = ss.import_file(crm, "crm", "contact", data, filename="x.xlsx",
                            mapping={"客户": "name", "tel": "phone", "姓名": None})
    assert report["created"] == 1 and report["warnings"] == []
    rec = all_records(crm)[0]
    assert rec["name"] == "张三" and rec["phone"] == "+8613812345678"
    with pytest.raises(ss.FileRefused, match="no field 'nmae'"):
        ss.import_file(crm, "crm", "contact", data, filename="x.xlsx", mapping={"客户": "nmae"})


def test_two_columns_for_one_field_or_no_known_column_are_refused(crm):
    with pytest.raises(ss.FileRefused, match="both map to field 'name'"):
        ss.import_file(crm, "crm", "contact", xlsx_bytes([["姓名", "Name"], ["a", "b"]]), filename="x.xlsx")
    with pytest.raises(ss.FileRefused, match="no column matches a field"):
        ss.import_file(crm, "crm", "contact", xlsx_bytes([["foo", "bar"], ["a", "b"]]), filename="x.xlsx")


# -- refusals ------------------------------------------------------------------------

def zip_bomb(size: int = 110 * 1024 * 1024) -> bytes:
    """A real workbook whose sheet XML expands to `size` bytes."""
    good = xlsx_bytes([["编号"], ["C1"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                head, _, tail = data.partition(b"<sheetData>")
                data = head + b"<sheetData>" + b" " * size + tail
            dst.writestr(info.filename, data)
    return out.getvalue()


def refused(crm, data, filename="x.xlsx", **kw) -> ss.FileRefused:
    with pytest.raises(ss.FileRefused) as err:
        ss.import_file(crm, "crm", "contact", data, filename=filename, **kw)
    assert err.value.errors[0]["message"] == err.value.message
    return err.value


def test_a_zip_bomb_is_refused_before_parsing(crm, monkeypatch):
    bomb = zip_bomb()
    assert len(bomb) < 1024 * 1024
    import openpyxl as opx

    def never(*a, **k):
        raise AssertionError("the workbook must not be parsed")
    monkeypatch.setattr(opx, "load_workbook", never)
    err = refused(crm, bomb)
    assert err.code == "zip_bomb" and "looks like a zip bomb" in err.message
    assert "xl/worksheets/sheet1.xml" in err.message
    # the total expanded size is capped too, whatever the ratio
    err = refused(crm, zip_bomb(3 * 1024 * 1024), limits=ss.Limits(max_uncompressed=2 * 1024 * 1024))
    assert err.code == "zip_bomb" and "when unpacked" in err.message


def test_too_many_rows_columns_long_cells_and_big_files_are_refused(crm):
    many = xlsx_bytes([HEADERS, *[[f"C{i}", "x", None, 1] for i in range(11)]])
    err = refused(crm, many, limits=ss.Limits(max_rows=10))
    assert err.code == "too_many_rows" and "more than 10 data rows" in err.message
    assert count(crm) == 0  # refused before anything was written, in either mode
    refused(crm, many, mode="good_rows", limits=ss.Limits(max_rows=10))
    assert count(crm) == 0
    wide = xlsx_bytes([[f"c{i}" for i in range(201)], ["x"] * 201])
    err = refused(crm, wide)
    assert err.code == "too_many_columns" and "201 columns, at most 200" in err.message
    err = refused(crm, "编号,姓名\nC1,".encode() + b"x" * 50 + b"\n", filename="x.csv",
                  limits=ss.Limits(max_cell_chars=20))
    assert err.code == "cell_too_long" and err.message.startswith("row 2, column B")
    err = refused(crm, many, limits=ss.Limits(max_bytes=100))
    assert isinstance(err, ss.FileTooLarge) and err.status == 413


def test_files_that_are_not_what_they_claim_are_refused(crm):
    assert refused(crm, b"").code == "empty"
    assert refused(crm, b"code,name\nC1,x\n", filename="x.xlsx").code == "not_xlsx"
    assert refused(crm, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, filename="x.xls").code == "xls"
    assert refused(crm, b"PK\x03\x04 not really a zip", filename="x.xlsx").code == "not_xlsx"
    other_zip = io.BytesIO()
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("hello.txt", "hi")
    assert refused(crm, other_zip.getvalue(), filename="x.xlsx").code == "not_xlsx"
    assert refused(crm, b"x", filename="x.pdf").code == "format"
    assert refused(crm, xlsx_bytes([]), filename="x.xlsx").code == "no_header"
    assert refused(crm, b"\xff\xfe\x00", filename="x.csv").code == "encoding"


def test_xml_entities_are_refused(crm):
    """defusedxml guards the XML inside the workbook (billion laughs)."""
    good = xlsx_bytes([["编号"], ["C1"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
                data = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
                        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' + body)
            dst.writestr(info.filename, data)
    assert refused(crm, out.getvalue()).code == "not_xlsx"


# -- background job ---------------------------------------------------------------

def test_an_all_or_nothing_import_tells_its_checking_then_its_writing(crm):
    data = xlsx_bytes([HEADERS, *[[f"C{i}", "x", None, i] for i in range(25)]])
    heard = []
    report = ss.import_file(crm, "crm", "contact", data, filename="c.xlsx", chunk_size=10,
                            progress=lambda done, total, phase: heard.append((phase, done, total)))
    assert report["created"] == 25
    phases = [p for p, _d, _t in heard]
    assert phases == sorted(phases, key=["checking", "writing"].index)          # checking first, then writing
    assert ("checking", 25, 25) in heard and heard[-1] == ("writing", 25, 25)
    writing = [d for p, d, _t in heard if p == "writing"]
    if crm.db.dialect == "postgresql":                                           # rows counted as they are written
        assert writing == [0, 10, 20, 25, 25]
    else:                                                                        # SQLite: one locked transaction
        assert writing == [0, 25]


def test_a_running_import_job_shows_its_phase(crm):
    job_id = jobs.submit(crm, "spreadsheet.import", {"app": "crm", "form": "contact", "path": "nope"}, run=False)
    jobs.JobContext(crm, job_id, {}).progress(3, 10, "checking")
    state = jobs.state(crm, job_id)
    assert (state["progress"], state["total"], state["phase"]) == (3, 10, "checking")


def test_an_import_job_reports_progress_and_its_result(crm):
    data = xlsx_bytes([HEADERS, *[[f"C{i}", "x", None, i] for i in range(30)], ["C30", "x", "1", 0]])
    path = ss.imports_dir(crm) / "upload.xlsx"
    path.write_bytes(data)
    job_id = ss.submit_import(crm, "crm", "contact", path, actor="u1", filename="客户.xlsx", mode="good_rows")
    done = jobs.wait(crm, job_id, timeout=120)
    assert done["status"] == "done" and done["kind"] == "spreadsheet.import" and done["created_by"] == "u1"
    assert done["progress"] == done["total"] == 31
    assert done["result"]["created"] == 30 and done["result"]["failed"] == 1
    assert done["result"]["lines"][0].startswith("row 32, 手机号:")
    assert not path.exists() and count(crm) == 30


def test_a_refused_file_fails_its_job_with_the_reason(crm):
    path = ss.imports_dir(crm) / "bomb.xlsx"
    path.write_bytes(zip_bomb(5 * 1024 * 1024))
    job_id = ss.submit_import(crm, "crm", "contact", path, filename="bomb.xlsx")
    done = jobs.wait(crm, job_id, timeout=60)
    assert done["status"] == "failed" and "zip bomb" in done["error"]["message"]
    assert done["error"]["errors"][0]["code"] == "zip_bomb" and not path.exists()


# -- the big one ---------------------------------------------------------------------

@pytest.mark.slow
def test_50000_rows_with_3_percent_bad_rows(make_ff, sqlite_url):
    """50,000 rows, 3% bad (cell, lifecycle and in-file unique errors): each reported, the rest once."""
    ff = make_ff(sqlite_url)
    ff.apps.install(copy.deepcopy(CRM_APP))
    n = 50_000
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("联系人")
    ws.append(HEADERS + ["加入日期"])
    expected_bad = set()
    for i in range(n):
        row = [f"C{i:06d}", f"客户{i}", "13812345678", i % 1000, dt.date(2026, 1, 1 + i % 28)]
        kind = i % 100
        if kind == 7:
            row[2] = "12345"                    # parse_cell: not a phone number
        elif kind == 42:
            row[3] = -1                         # lifecycle: below min
        elif kind == 77:
            row[0] = f"C{i - 1:06d}"            # duplicate of the row before (unique)
        if kind in (7, 42, 77):
            expected_bad.add(i + 2)
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    path = ss.imports_dir(ff) / "big.xlsx"
    path.write_bytes(buf.getvalue())
    report = ss.import_file(ff, "crm", "contact", str(path), filename="big.xlsx", mode="good_rows")
    assert len(expected_bad) == n * 3 // 100
    assert report["rows"] == n and report["failed"] == len(expected_bad)
    assert {e["row"] for e in report["errors"]} == expected_bad
    assert report["created"] == n - len(expected_bad) == count(ff)
    _app, form = ff.form("crm", "contact")
    from engine.queries import list_records
    codes, cursor = [], None
    while True:
        with ff.db.read() as conn:
            page = list_records(conn, ff, form, limit=500, cursor=cursor)
        codes.extend(r["code"] for r in page.records)
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(codes) == len(set(codes)) == n - len(expected_bad)
    messages = {e["row"]: e for e in report["errors"]}
    assert messages[9]["column"] == "手机号" and messages[44]["column"] == "金额"
    assert messages[79]["message"] == "the value is already in row 78 (it must be unique)"
