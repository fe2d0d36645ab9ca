"""Excel (.xlsx) and CSV import and export of form records.

Export pages through `queries.list_records` with its cursor (never everything at
once), follows the caller's filter, sort and column choice, writes field labels
(or keys) as the header row, and neutralises spreadsheet formula injection.

Import reads a file defensively (size, zip-bomb, row, column and cell caps are
checked before or while parsing, XML through defusedxml), maps columns to fields
by label or key, converts each cell with its field type's `parse_cell`, and
writes through the ONE record lifecycle (`Records.create_many`) in chunks, in
one of two modes:

* ``all_or_nothing``: every row is validated first (chunk by chunk, in
  transactions that are rolled back); only when no row is bad is everything
  written, in one transaction.
* ``good_rows``: every good row is written exactly once (one transaction per
  chunk); the bad ones are reported.

Errors are located as the user sees them: ``row 12, 手机号: ... is not a valid
phone number`` (sheet row numbers, the header is row 1; the column by its
header text).
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from . import field_types
from .errors import Conflict, FieldValueError, FormflowError, RecordValidationError
from .records import SYSTEM_FIELDS, RecordContext

try:  # openpyxl uses defusedxml by itself when it is installed; make it a hard requirement
    import defusedxml  # noqa: F401
    _DEFUSED = True
except ImportError:  # pragma: no cover - defusedxml is a declared dependency
    _DEFUSED = False

DEFAULT_LANG = "zh-CN"
FORMATS = ("xlsx", "csv")
MODES = ("all_or_nothing", "good_rows")
CHUNK_SIZE = 500            # records per create_many call
EXPORT_PAGE_SIZE = 500      # records per list_records page
MAX_REPORTED_ERRORS = 10_000
#: characters that make a spreadsheet treat a text cell as a formula (OWASP CSV injection)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: system fields an export may include (re-imports ignore them)
EXPORTABLE_SYSTEM = tuple(f for f in SYSTEM_FIELDS if f != "_deleted_at")

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class Limits:
    """Caps an imported file must stay within (each breach is refused with a clear error)."""

    max_bytes: int = 20 * 1024 * 1024           # the uploaded file
    max_rows: int = 100_000                      # data rows, header excluded
    max_columns: int = 200
    max_cell_chars: int = 131_072                # one cell's text (CSV's own field limit too)
    max_uncompressed: int = 250 * 1024 * 1024    # all members of an .xlsx together
    max_ratio: int = 100                         # uncompressed/compressed size of one member
    ratio_floor: int = 1024 * 1024               # members smaller than this skip the ratio check
    max_members: int = 1_000                     # files inside an .xlsx


DEFAULT_LIMITS = Limits()


class FileRefused(FormflowError):
    """An uploaded file cannot be imported as it is (format, size, caps, headers)."""

    status = 422
    title = "File refused"

    def __init__(self, message: str, code: str = "file", location: str = "file"):
        super().__init__(message, [{"location": location, "message": message, "code": code}])
        self.code = code


class FileTooLarge(FileRefused):
    """The file itself is larger than allowed."""

    status = 413
    title = "File too large"


# --------------------------------------------------------------------------- labels and cells


def label_of(field, lang: str | None = None) -> str:
    """The field's label in `lang`, falling back to zh-CN... en, then any label, then the key."""
    labels = field.label or {}
    for code in (lang or DEFAULT_LANG, "en", DEFAULT_LANG):
        if labels.get(code):
            return str(labels[code])
    for value in labels.values():
        if value:
            return str(value)
    return field.key


def needs_escape(text: str) -> bool:
    """True when a text cell would run as a formula (or an escaped one must stay escaped)."""
    if text[:1] in FORMULA_TRIGGERS:
        return True
    return text[:1] == "'" and needs_escape(text[1:])


def escape_text(text: str) -> str:
    """Neutralise formula injection: a leading `'` before =, +, -, @, TAB or CR (reversible)."""
    return "'" + text if text and needs_escape(text) else text


def unescape_text(text: str) -> str:
    """Undo `escape_text` (an exported file re-imports to the same values)."""
    if text[:1] == "'" and needs_escape(text[1:]):
        return text[1:]
    return text


def cell_value(field, value: Any, caller: Any = None) -> Any:
    """The API JSON value of a field as an export shows it to `caller`.

    `caller` is the exporting user's permissions.FormAccess (or None: everything in
    clear, for the engine's own use): a sensitive field it may not unmask is exported
    as `field.type.mask(value)` — exactly what the API shows. Every exported cell goes
    through this one function.
    """
    is_masked = getattr(caller, "is_masked", None)
    if value is not None and is_masked is not None and is_masked(field.key):
        return field.type.mask(value)
    return field.type.to_json(value)


def _value_type(field):
    """The FieldType that describes a field's values (the result type of computed fields)."""
    return getattr(field.type, "result", field.type)


def _is_numeric(field) -> bool:
    return isinstance(_value_type(field), field_types.NumberType)


_NUMBER_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss", "percent": "0.00%"}


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def export_cell(field, value: Any, fmt: str, caller: Any = None) -> Any:
    """One exported cell: numbers stay numeric (xlsx), text is escaped, lists joined, objects JSON."""
    if value is None:
        return None if fmt == "xlsx" else ""
    if field is None:  # a system field: text or an integer
        return value if isinstance(value, int) else escape_text(str(value))
    j = cell_value(field, value, caller)
    if j is None:
        return None if fmt == "xlsx" else ""
    if isinstance(j, str) and getattr(caller, "is_masked", None) is not None and caller.is_masked(field.key):
        return escape_text(j)  # a masked value is text, whatever the field's type
    vt = _value_type(field)
    if isinstance(j, bool):
        return j if fmt == "xlsx" else ("true" if j else "false")
    if _is_numeric(field) and isinstance(j, str) and field_types._DEC_RE.match(j):
        return Decimal(j) if fmt == "xlsx" else j
    if fmt == "xlsx" and isinstance(j, str):
        if vt.name == "date":
            return dt.date.fromisoformat(j)
        if vt.name == "datetime" and isinstance(value, dt.datetime) and value.microsecond == 0:
            return value.replace(tzinfo=None)
    if isinstance(j, list):
        if all(isinstance(v, str) for v in j) and vt.name in ("multiselect", "user", "department", "link"):
            return escape_text(", ".join(j))
        return escape_text(_json_text(j))
    if isinstance(j, dict):
        if vt.name == "location":
            return f"{j['lng']},{j['lat']}"
        parts = getattr(vt, "parts", None)  # address: province/city/district/detail, in that order
        if parts:
            j = {p: j.get(p) for p in parts if p in j}
        return escape_text(_json_text(j))
    return escape_text(str(j))


# --------------------------------------------------------------------------- export

def _columns(form, fields, lang: str, header: str) -> list[tuple[str, Any, str]]:
    """[(key, Field or None, header text)] for the chosen fields (all top-level fields by default)."""
    if header not in ("label", "key"):
        raise FormflowError(f"header: use label or key, not {header!r}",
                            [{"location": "header", "message": "use label or key", "code": "invalid"}])
    if fields is None or fields == "" or fields == []:
        keys = [f.key for f in form.fields]
    else:
        keys = [k.strip() for k in (fields.split(",") if isinstance(fields, str) else fields) if k.strip()]
    errors, chosen, seen = [], [], set()
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        if key in EXPORTABLE_SYSTEM:
            chosen.append((key, None))
        elif key in form.fields_by_key:
            chosen.append((key, form.fields_by_key[key]))
        else:
            hint = form.suggest_field(key)
            errors.append({"location": "fields", "code": "unknown",
                           "message": f"unknown field {key!r}" + (f" (did you mean {hint!r}?)" if hint else "")})
    if errors:
        raise FormflowError(errors[0]["message"], errors)
    labels = [label_of(f, lang) if f is not None else k for k, f in chosen]
    dupes = {x for x in labels if labels.count(x) > 1}
    out = []
    for (key, field), text in zip(chosen, labels):
        if header == "key" or field is None:
            text = key
        elif text in dupes:
            text = f"{text} ({key})"
        out.append((key, field, text))
    return out


def _check_format(fmt: str) -> str:
    fmt = (fmt or "xlsx").lower()
    if fmt not in FORMATS:
        raise FormflowError(f"format: use xlsx or csv, not {fmt!r}",
                            [{"location": "format", "message": "use xlsx or csv", "code": "invalid"}])
    return fmt


def _sheet_title(form, lang: str) -> str:
    title = re.sub(r"[\[\]:*?/\\]", " ", label_of(form, lang)).strip()
    return (title or form.key)[:31]


def _filter_user(caller) -> dict | None:
    """The `$user` an export's filter reads: the caller's (permissions.FormAccess), else none."""
    subject = getattr(caller, "subject", None)
    return subject.expr_user() if subject is not None else None


def iter_export_rows(ff, form, columns, fmt: str, *, filter=None, sort=None, caller=None,
                     page_size: int = EXPORT_PAGE_SIZE) -> Iterator[list]:
    """Rows of cells, one page of `list_records` at a time (each page in its own read).

    With a `caller` (permissions.FormAccess) only the rows its `export` row rules reach.
    """
    from .queries import list_records
    cursor = None
    user = _filter_user(caller)
    where = getattr(caller, "where", None)
    extra_where = where("export") if where is not None else None
    extra_key = caller.where_key("export") if where is not None else None
    while True:
        with ff.db.read() as conn:
            page = list_records(conn, ff, form, filter=filter or None, sort=sort or None,
                                limit=page_size, cursor=cursor, extra_where=extra_where, extra_key=extra_key,
                                user=user)
        for record in page.records:
            yield [export_cell(field, record.get(key), fmt, caller) for key, field, _h in columns]
        cursor = page.next_cursor
        if not cursor:
            return


def export_records(ff, app_key: str, form_key: str, out: IO[bytes], *, format: str = "xlsx",
                   filter: str | None = None, sort: str | None = None, fields=None,
                   lang: str = DEFAULT_LANG, header: str = "label", caller: Any = None,
                   page_size: int = EXPORT_PAGE_SIZE) -> int:
    """Write the records of a form to `out` (a binary file) as xlsx or csv; returns the row count.

    `fields` is a list or "a,b" string of top-level field keys and system fields
    (`_id`, `_created_at`, ...); default: every top-level field. The header row has
    the labels in `lang` (zh-CN, falling back to en, then the key) or the keys
    (`header="key"`). Filter and sort problems raise before anything is written.
    """
    from .queries import filter_clause, parse_sort
    fmt = _check_format(format)
    _app, form = ff.form(app_key, form_key)
    columns = _columns(form, fields, lang, header)
    ft = ff.form_table(form)
    parse_sort(form, ft, sort or None)                       # fail early, before any byte is written
    filter_clause(form, ft, filter or None, ff.db.dialect, user=_filter_user(caller))
    rows = iter_export_rows(ff, form, columns, fmt, filter=filter, sort=sort, caller=caller,
                            page_size=page_size)
    headers = [h for _k, _f, h in columns]
    if fmt == "csv":
        return _write_csv(out, headers, rows)
    formats = [_NUMBER_FORMATS.get(_value_type(f).name) if f is not None else None for _k, f, _h in columns]
    return _write_xlsx(out, _sheet_title(form, lang), headers, rows, formats)


def _write_csv(out: IO[bytes], headers: list[str], rows) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")  # BOM: Excel then reads UTF-8
    writer = csv.writer(text)
    writer.writerow([escape_text(h) for h in headers])
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    text.flush()
    text.detach()
    return n


def _write_xlsx(out: IO[bytes], title: str, headers: list[str], rows, formats=None, notes=None) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=escape_text(h))
        cell.font = bold
        head.append(cell)
    ws.append(head)
    n = 0
    formats = formats or []
    has_formats = any(formats)
    for row in rows:
        if has_formats:
            row = list(row)
            for i, fmt in enumerate(formats):
                if fmt and row[i] is not None and not isinstance(row[i], str):
                    cell = WriteOnlyCell(ws, value=row[i])
                    cell.number_format = fmt
                    row[i] = cell
        ws.append(row)
        n += 1
    if notes:
        notes_title, note_rows = notes
        sheet = wb.create_sheet(title=notes_title)
        for i, note in enumerate(note_rows):
            if i == 0:
                cells = []
                for v in note:
                    c = WriteOnlyCell(sheet, value=v)
                    c.font = bold
                    cells.append(c)
                sheet.append(cells)
            else:
                sheet.append([escape_text(v) if isinstance(v, str) else v for v in note])
    wb.save(out)
    return n


# --------------------------------------------------------------------------- template

_HINTS = {
    "zh-CN": {"date": "日期，如 2026-12-05", "datetime": "日期时间，如 2026-12-05 09:30",
              "time": "时间，如 09:30", "boolean": "是/否（或 true/false、1/0）",
              "multiselect": "多个选项用逗号分隔", "subform": "JSON 行列表，如 [{\"key\": \"值\"}]",
              "attachment": "已上传文件的 JSON 列表", "image": "已上传图片的 JSON 列表",
              "address": "省/市/区/详细地址", "location": "经度,纬度", "percent": "百分比，如 12.5%",
              "phone": "手机或电话号码", "email": "电子邮箱", "url": "http(s) 网址",
              "link": "关联记录的 ID", "user": "用户 ID", "department": "部门 ID"},
    "en": {"date": "a date, e.g. 2026-12-05", "datetime": "date and time, e.g. 2026-12-05 09:30",
           "time": "a time, e.g. 09:30", "boolean": "yes/no (or true/false, 1/0)",
           "multiselect": "options separated by commas", "subform": "JSON list of rows, e.g. [{\"key\": \"value\"}]",
           "attachment": "JSON list of uploaded files", "image": "JSON list of uploaded images",
           "address": "province/city/district/detail", "location": "lng,lat", "percent": "a percentage, e.g. 12.5%",
           "phone": "a phone number", "email": "an email address", "url": "an http(s) address",
           "link": "id of the linked record", "user": "a user id", "department": "a department id"},
}


def _template_notes(form, columns, lang: str):
    zh = lang == "zh-CN"
    hints = _HINTS["zh-CN" if zh else "en"]
    head = ["列", "字段键", "类型", "必填", "说明"] if zh else ["Column", "Key", "Type", "Required", "Notes"]
    rows = [head]
    for _key, field, text in columns:
        d = field.definition
        note = hints.get(field.type.name, "")
        options = d.get("options")
        if options:
            shown = [o if isinstance(o, str) else str(o.get("value", o)) if isinstance(o, dict) else str(o)
                     for o in options]
            note = (("可选值：" if zh else "options: ") + ", ".join(shown)
                    + ("（多个用逗号分隔）" if zh and field.type.name == "multiselect" else
                       " (several separated by commas)" if field.type.name == "multiselect" else ""))
        if d.get("unique"):
            note = (note + ("；" if zh else "; ") if note else "") + ("不可重复" if zh else "must be unique")
        required = bool(d.get("required"))
        rows.append([text, field.key, field.type.name, ("是" if required else "否") if zh else
                     ("yes" if required else "no"), note])
    return ("说明" if zh else "Notes"), rows


def write_template(ff, app_key: str, form_key: str, out: IO[bytes], *, format: str = "xlsx",
                   lang: str = DEFAULT_LANG, caller: Any = None) -> list[str]:
    """An empty import file: headers of every writable field; xlsx adds a 说明/Notes sheet.

    With a `caller` (permissions.FormAccess): only the fields it may write.
    """
    fmt = _check_format(format)
    _app, form = ff.form(app_key, form_key)
    keys = [f.key for f in form.fields
            if not f.computed and (caller is None or caller.right(f.key) == "editable")]
    columns = _columns(form, keys, lang, "label") if keys else []
    headers = [h for _k, _f, h in columns]
    if fmt == "csv":
        _write_csv(out, headers, [])
    else:
        _write_xlsx(out, _sheet_title(form, lang), headers, [], notes=_template_notes(form, columns, lang))
    return headers


# --------------------------------------------------------------------------- reading files safely

Source = str | os.PathLike | bytes


def _size(source: Source) -> int:
    return len(source) if isinstance(source, (bytes, bytearray)) else os.path.getsize(source)


def _open(source: Source) -> IO[bytes]:
    return io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")


def _head(source: Source, n: int = 8) -> bytes:
    with _open(source) as fh:
        return fh.read(n)


def detect_format(source: Source, filename: str | None = None, format: str | None = None) -> str:
    """xlsx or csv, from the explicit format, the file name and the first bytes (which must agree)."""
    head = _head(source)
    if not head:
        raise FileRefused("the file is empty: upload an .xlsx or .csv file with a header row", "empty")
    is_zip = head.startswith(b"PK\x03\x04")
    ext = Path(filename).suffix.lower().lstrip(".") if filename else ""
    fmt = (format or "").lower() or {"xlsx": "xlsx", "xlsm": "xlsx", "csv": "csv", "txt": "csv"}.get(ext)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused("this is an old Excel 97-2003 (.xls) file: save it as .xlsx (Excel workbook) "
                          "or CSV and upload it again", "xls")
    if fmt is None and ext:
        raise FileRefused(f"files of type .{ext} cannot be imported: use .xlsx or .csv", "format")
    if fmt is None:
        fmt = "xlsx" if is_zip else "csv"
    if fmt not in FORMATS:
        raise FileRefused(f"format: use xlsx or csv, not {fmt!r}", "format")
    if fmt == "xlsx" and not is_zip:
        raise FileRefused("the file is not a valid .xlsx workbook (it is not a zip archive); "
                          "save it from Excel as .xlsx or as CSV", "not_xlsx")
    if fmt == "csv" and is_zip:
        raise FileRefused("the file is a zip archive (an .xlsx workbook?), not CSV text", "not_csv")
    return fmt


def check_xlsx_archive(source: Source, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse zip bombs BEFORE parsing: member count, total uncompressed size, compression ratio."""
    try:
        with _open(source) as fh, zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise FileRefused(f"the file is not a valid .xlsx workbook: {exc}", "not_xlsx") from None
    if len(infos) > limits.max_members:
        raise FileRefused(f"the workbook holds {len(infos):,} files, at most {limits.max_members:,} "
                          "allowed; this looks like a zip bomb", "zip_bomb")
    total = 0
    for info in infos:
        total += info.file_size
        if total > limits.max_uncompressed:
            raise FileRefused(f"the workbook would expand to more than {limits.max_uncompressed // 2**20:,} MB "
                              f"when unpacked (at {info.filename}); this looks like a zip bomb", "zip_bomb")
        if info.file_size > limits.ratio_floor:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise FileRefused(f"{info.filename} would expand from {info.compress_size:,} to "
                                  f"{info.file_size:,} bytes (ratio {ratio:,.0f}:1, at most "
                                  f"{limits.max_ratio}:1 allowed); this looks like a zip bomb", "zip_bomb")
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise FileRefused("the file is a zip archive but not an Excel .xlsx workbook", "not_xlsx")


def _check_row(n: int, row: tuple | list, limits: Limits) -> list:
    """Trailing blanks trimmed; columns and cell text checked against the caps."""
    row = list(row)
    while row and (row[-1] is None or (isinstance(row[-1], str) and row[-1].strip() == "")):
        row.pop()
    if len(row) > limits.max_columns:
        raise FileRefused(f"row {n} has {len(row):,} columns, at most {limits.max_columns} allowed",
                          "too_many_columns")
    for i, v in enumerate(row):
        if isinstance(v, str) and len(v) > limits.max_cell_chars:
            raise FileRefused(f"row {n}, column {_col_letter(i)}: the cell has {len(v):,} characters, "
                              f"at most {limits.max_cell_chars:,} allowed", "cell_too_long")
    return row


def _col_letter(i: int) -> str:
    from openpyxl.utils import get_column_letter
    return get_column_letter(i + 1)


def _too_many_rows(limits: Limits) -> FileRefused:
    return FileRefused(f"the file has more than {limits.max_rows:,} data rows: split it into smaller files",
                       "too_many_rows")


def _xlsx_rows(source: Source, limits: Limits, sheet: str | None = None) -> Iterator[tuple[int, list]]:
    if not _DEFUSED:  # pragma: no cover
        raise FileRefused("Excel import needs the defusedxml package", "unsupported")
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException
    check_xlsx_archive(source, limits)
    fh = _open(source)
    try:
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError,
                SyntaxError, OSError) as exc:  # XML errors (ParseError, defusedxml's) are ValueError/SyntaxError
            raise FileRefused(f"the file is not a readable .xlsx workbook: {type(exc).__name__}: {exc}",
                              "not_xlsx") from None
        try:
            if sheet:
                if sheet not in wb.sheetnames:
                    raise FileRefused(f"the workbook has no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})",
                                      "sheet")
                ws = wb[sheet]
            else:
                if not wb.worksheets:
                    raise FileRefused("the workbook has no worksheet", "empty")
                ws = wb.worksheets[0]
            ws.reset_dimensions()  # never trust (or pad rows to) the sheet's declared size
            try:
                for n, row in enumerate(ws.iter_rows(values_only=True), start=1):
                    if n > limits.max_rows + 1:
                        raise _too_many_rows(limits)
                    yield n, _check_row(n, row, limits)
            except FileRefused:
                raise
            except (zipfile.BadZipFile, KeyError, ValueError, TypeError, SyntaxError, OSError, EOFError) as exc:
                raise FileRefused(f"the worksheet cannot be read: {type(exc).__name__}: {exc}", "not_xlsx") from None
        finally:
            wb.close()
    finally:
        fh.close()


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (Chinese Excel's default)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise FileRefused("the file starts like UTF-16 text but cannot be decoded", "encoding") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise FileRefused("the file is neither UTF-8 nor GB18030 text: save it as CSV UTF-8", "encoding") from None


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _csv_rows(source: Source, limits: Limits) -> Iterator[tuple[int, list]]:
    with _open(source) as fh:
        data = fh.read()
    text = decode_text(data)
    del data
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    n = 0
    try:
        for row in reader:
            n += 1
            if n > limits.max_rows + 1:
                raise _too_many_rows(limits)
            yield n, _check_row(n, row, limits)
    except csv.Error as exc:
        raise FileRefused(f"row {n + 1}: the CSV cannot be read: {exc}", "csv") from None


def _check_size(source: Source, limits: Limits) -> None:
    size = _size(source)
    if size == 0:
        raise FileRefused("the file is empty: upload an .xlsx or .csv file with a header row", "empty")
    if size > limits.max_bytes:
        raise FileTooLarge(f"the file is {size / 2**20:,.1f} MB, at most {limits.max_bytes / 2**20:,.0f} MB "
                           "allowed: split it into smaller files", "too_large")


def check_file(source: Source, filename: str | None = None, format: str | None = None,
               limits: Limits = DEFAULT_LIMITS) -> str:
    """The cheap checks (empty, size, type, zip bomb) without parsing; returns xlsx or csv."""
    _check_size(source, limits)
    fmt = detect_format(source, filename, format)
    if fmt == "xlsx":
        check_xlsx_archive(source, limits)
    return fmt


def read_rows(source: Source, fmt: str, limits: Limits = DEFAULT_LIMITS,
              sheet: str | None = None) -> Iterator[tuple[int, list]]:
    """(sheet row number, cells) of every row, header included, with every cap enforced."""
    _check_size(source, limits)
    return _xlsx_rows(source, limits, sheet) if fmt == "xlsx" else _csv_rows(source, limits)


# --------------------------------------------------------------------------- column mapping

def _norm(text: Any) -> str:
    return " ".join(unicodedata.normalize("NFKC", str(text)).split()).casefold()


_KEYED_LABEL = re.compile(r"^(.*?)\s*\(\s*([^()]+?)\s*\)$")


@dataclass
class Column:
    index: int
    header: str
    field: Any = None          # the Field it feeds, or None when ignored
    reason: str | None = None  # why it is ignored


def map_columns(form, headers: list, mapping: dict | None = None) -> tuple[list[Column], list[str]]:
    """Columns → fields by key or label (any language), case-insensitive and trimmed.

    `mapping` {header: field key or null (ignore)} overrides. Computed and system
    columns (from an export) and unknown columns are ignored with a warning;
    two columns feeding one field, or a mapping to an unknown field, are refused.
    Returns (columns, warnings).
    """
    by_name: dict[str, list] = {}
    for field in form.fields:
        names = {_norm(field.key)} | {_norm(v) for v in (field.label or {}).values() if v}
        for name in names:
            by_name.setdefault(name, []).append(field)
    user_map: dict[str, Any] = {}
    for header, key in (mapping or {}).items():
        if key is not None and key != "" and (not isinstance(key, str) or key not in form.fields_by_key):
            hint = form.suggest_field(str(key))
            raise FileRefused(f"mapping: {header!r} → {key!r}: the form has no field {key!r}"
                              + (f" (did you mean {hint!r}?)" if hint else ""), "mapping", "mapping")
        user_map[_norm(header)] = form.fields_by_key.get(key) if key else None
    columns, warnings = [], []
    for i, raw in enumerate(headers):
        header = "" if raw is None else str(raw).strip()
        header = unescape_text(header)
        col = Column(i, header)
        name = _norm(header)
        if name in user_map:
            col.field = user_map[name]
            col.reason = None if col.field is not None else "ignored by the mapping"
        elif not header:
            col.reason = "has no header"
        elif header in SYSTEM_FIELDS:
            col.reason = "system field"
        else:
            candidates = [f for f in form.fields if f.key == header] or by_name.get(name, [])
            if not candidates:
                m = _KEYED_LABEL.match(header)  # "标签 (key)", as exports write duplicate labels
                if m and m.group(2) in form.fields_by_key:
                    candidates = [form.fields_by_key[m.group(2)]]
            candidates = list(dict.fromkeys(candidates))
            if len(candidates) > 1:
                raise FileRefused(f"column {_col_letter(i)} {header!r} matches several fields "
                                  f"({', '.join(f.key for f in candidates)}): give a mapping", "ambiguous",
                                  "mapping")
            col.field = candidates[0] if candidates else None
            if col.field is None:
                hint = form.suggest_field(header)
                col.reason = "matches no field" + (f" (did you mean {hint!r}?)" if hint else "")
        if col.field is not None and col.field.computed:
            col.reason, col.field = "computed field", None
        if col.field is None and header and col.reason != "ignored by the mapping":
            warnings.append(f"column {_col_letter(i)} {header!r} {col.reason}: ignored")
        columns.append(col)
    used: dict[str, Column] = {}
    for col in columns:
        if col.field is None:
            continue
        if col.field.key in used:
            first = used[col.field.key]
            raise FileRefused(f"columns {_col_letter(first.index)} {first.header!r} and {_col_letter(col.index)} "
                              f"{col.header!r} both map to field {col.field.key!r}: remove one or give a mapping",
                              "duplicate_column", "mapping")
        used[col.field.key] = col
    if not used:
        raise FileRefused("no column matches a field of the form: row 1 must hold the field labels or keys "
                          "(download the template)", "no_columns", "mapping")
    for field in form.fields:
        d = field.definition
        if (not field.computed and d.get("required") and field.key not in used
                and d.get("default") is None and not d.get("default_formula")):
            warnings.append(f"required field {field.key!r} ({label_of(field)}) has no column: "
                            "every row will fail")
    return columns, warnings


# --------------------------------------------------------------------------- import

class ImportReport:
    """What an import did: counts, located errors, mapped and ignored columns."""

    def __init__(self, form, mode: str, columns: list[Column], warnings: list[str], lang: str):
        self.form = form
        self.mode = mode
        self.columns = columns
        self.warnings = warnings
        self.lang = lang
        self.rows = 0          # data rows read (blank rows skipped)
        self.created = 0
        self.bad_rows: set[int] = set()
        self.errors: list[dict] = []
        self.more_errors = 0
        self.header_of = {c.field.key: c.header for c in columns if c.field is not None}

    def add(self, row: int | None, key: str | None, message: str, code: str = "invalid") -> None:
        self.bad_rows.add(row if row is not None else 0)
        if len(self.errors) >= MAX_REPORTED_ERRORS:
            self.more_errors += 1
            return
        column = None
        if key:
            top = re.split(r"[.\[]", key, maxsplit=1)[0]
            column = self.header_of.get(top)
            if column is None:
                field = self.form.fields_by_key.get(top)
                column = label_of(field, self.lang) if field is not None else top
        where = f"row {row}" if row is not None else "file"
        location = f"{where}, {column}" if column else where
        self.errors.append({"row": row, "column": column, "field": key, "location": location,
                            "message": message, "code": code})

    def as_dict(self) -> dict:
        ok = not self.bad_rows
        return {
            "mode": self.mode, "ok": ok,
            "rows": self.rows,
            "created": self.created,
            "failed": len(self.bad_rows),
            "errors": sorted(self.errors, key=lambda e: (e["row"] or 0, e["column"] or "")),
            "more_errors": self.more_errors,
            "columns": [{"column": c.header, "field": c.field.key if c.field is not None else None,
                         **({"ignored": c.reason} if c.field is None and c.header else {})}
                        for c in self.columns if c.header or c.field is not None],
            "warnings": self.warnings,
            "lines": [f"{e['location']}: {e['message']}" for e in
                      sorted(self.errors, key=lambda e: (e["row"] or 0, e["column"] or ""))[:1000]],
        }


def _parse_row(form, columns: list[Column], cells: list, n: int, report: ImportReport,
               unique_seen: dict) -> dict | None:
    """Cells → {field key: value} (blank cells omitted so defaults apply); None when a cell is bad."""
    values, bad = {}, False
    for col in columns:
        if col.field is None or col.index >= len(cells):
            continue
        raw = cells[col.index]
        if isinstance(raw, str):
            raw = unescape_text(raw)
        try:
            value = col.field.type.parse_cell(raw)
        except FieldValueError as fe:
            report.add(n, col.field.key, fe.message, fe.code)
            bad = True
            continue
        if value is None:
            continue
        if col.field.key in unique_seen and isinstance(value, (str, Decimal, int, dt.date)):
            seen = unique_seen[col.field.key]
            marker = value.casefold() if isinstance(value, str) else value
            if marker in seen:
                report.add(n, col.field.key, f"the value is already in row {seen[marker]} "
                           "(it must be unique)", "unique")
                bad = True
                continue
            seen[marker] = n
        values[col.field.key] = value
    return None if bad else values


def _record_errors(report: ImportReport, rows: list[tuple[int, dict]], err: RecordValidationError) -> set[int]:
    """Map create_many's `rows[i].key` errors to sheet rows; returns the bad indexes."""
    bad = set()
    for e in err.errors:
        i = e.get("row", 0 if len(rows) == 1 else None)
        if i is None:
            continue
        bad.add(i)
        loc = e.get("location") or ""
        loc = re.sub(r"^rows\[\d+\]\.?", "", loc)
        report.add(rows[i][0], loc or None, e.get("message", "invalid"), e.get("code", "invalid"))
    return bad


@contextlib.contextmanager
def _savepoint(conn):
    with conn.begin_nested():
        yield conn


def _row_rule_check(ff, app_key: str, form_key: str, user_id: str | None):
    """A predicate on written records when `user_id`'s import is limited by row rules, else None."""
    if user_id is None:
        return None
    from . import permissions
    fa = permissions.form_access(ff, user_id, app_key, form_key)
    if fa.admin or fa.where("import") is None:
        return None
    return lambda record: fa.allows(record, "import")


def _check_inside(records: list[dict], inside) -> None:
    """RecordValidationError locating every written record outside the importer's row rules
    (raised inside the write's transaction, it rolls the chunk back; the others are retried)."""
    if inside is None:
        return
    errors = [{"row": i, "location": f"rows[{i}]", "code": "forbidden",
               "message": "outside the rows you may import (a row rule of your permissions)"}
              for i, record in enumerate(records) if not inside(record)]
    if errors:
        raise RecordValidationError(f"{len(errors)} row(s) outside your import row rules", errors)


def _write_chunk(ff, app_key: str, form_key: str, rows: list[tuple[int, dict]], ctx: RecordContext,
                 transaction: Callable, report: ImportReport, inside=None) -> int:
    """create_many the chunk in one transaction; bad rows are reported and the rest retried.

    Each attempt is all-or-nothing, so a row is written at most once. Unique
    conflicts (found only by the database) are located one row at a time.
    """
    pending = list(rows)
    while pending:
        try:
            with transaction() as conn:
                created = ff.records.create_many(app_key, form_key, [v for _n, v in pending], ctx=ctx, conn=conn)
                _check_inside(created, inside)
            return len(pending)
        except RecordValidationError as err:
            bad = _record_errors(report, pending, err)
            if not bad:
                raise
            pending = [r for i, r in enumerate(pending) if i not in bad]
        except Conflict:
            written = 0
            for n, values in pending:
                try:
                    with transaction() as conn:
                        _check_inside([ff.records.create(app_key, form_key, values, ctx=ctx, conn=conn)], inside)
                    written += 1
                except RecordValidationError as err:
                    _record_errors(report, [(n, values)], err)
                except Conflict as err:
                    key = err.errors[0]["location"] if err.errors else None
                    report.add(n, key, "another record already has this value (it must be unique)"
                               if key else err.message, "unique")
            return written
    return 0


def _dry_run(ff):
    """A write transaction that is always rolled back (validation through the real lifecycle)."""
    @contextlib.contextmanager
    def run():
        with ff.db.engine.connect().execution_options(formflow_write=True) as conn:
            trans = conn.begin()
            try:
                yield conn
            finally:
                trans.rollback()
    return run


def import_file(ff, app_key: str, form_key: str, source: Source, *, filename: str | None = None,
                format: str | None = None, mode: str = "all_or_nothing", mapping: dict | None = None,
                actor: str | None = None, lang: str = DEFAULT_LANG, limits: Limits | None = None,
                chunk_size: int = CHUNK_SIZE, sheet: str | None = None,
                progress: Callable[[int, int, str], None] | None = None,
                row_rules_of: str | None = None) -> dict:
    """Import an .xlsx or .csv file (path or bytes) into a form; returns the report dict.

    `progress(done, total, phase)` hears of every chunk: phase "checking" while all_or_nothing
    validates, "writing" while rows are written. `row_rules_of` (a user id) checks every row as
    it would be written against that user's `import` row rules: rows outside are row errors.

    The report: {"ok", "mode", "rows", "created", "failed", "errors": [{"row", "column",
    "field", "location", "message", "code"}], "columns", "warnings", "lines"}.
    With all_or_nothing and any bad row, "created" is 0 and nothing was written.
    A file that cannot be imported at all raises FileRefused (FileTooLarge: 413).
    """
    if mode not in MODES:
        raise FormflowError(f"mode: use all_or_nothing or good_rows, not {mode!r}",
                            [{"location": "mode", "message": "use all_or_nothing or good_rows", "code": "invalid"}])
    limits = limits or DEFAULT_LIMITS
    _app, form = ff.form(app_key, form_key)
    fmt = check_file(source, filename, format, limits)
    ctx = RecordContext(actor=actor)
    inside = _row_rule_check(ff, app_key, form_key, row_rules_of)

    # pass 1: the whole file against the caps, before anything is written
    total = 0
    headers = None
    for n, cells in read_rows(source, fmt, limits, sheet):
        if n == 1:
            headers = cells
        elif cells:
            total += 1
    if not headers:
        raise FileRefused("row 1 is empty: it must hold the column headers (download the template)",
                          "no_header")
    columns, warnings = map_columns(form, headers, mapping)
    report = ImportReport(form, mode, columns, warnings, lang)
    unique_seen = {f.key: {} for f in form.fields if f.definition.get("unique") and not f.computed}
    if progress:
        progress(0, total, "checking" if mode == "all_or_nothing" else "writing")

    def chunks() -> Iterator[list[tuple[int, dict]]]:
        chunk = []
        for n, cells in read_rows(source, fmt, limits, sheet):
            if n == 1 or not cells:
                continue
            report.rows += 1
            values = _parse_row(form, columns, cells, n, report, unique_seen)
            if values is not None:
                chunk.append((n, values))
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    if mode == "good_rows":
        for chunk in chunks():
            report.created += _write_chunk(ff, app_key, form_key, chunk, ctx, ff.db.write, report, inside)
            if progress:
                progress(min(report.rows, total), total, "writing")
        if progress:
            progress(total, total, "writing")
        return report.as_dict()

    # all_or_nothing: validate every row first (the lifecycle in rolled-back transactions) ...
    good: list[list[tuple[int, dict]]] = []
    dry = _dry_run(ff)
    for chunk in chunks():
        before = len(report.bad_rows)
        with dry() as conn:
            _write_chunk(ff, app_key, form_key, chunk, ctx, lambda: _savepoint(conn), report, inside)
        if len(report.bad_rows) == before and not report.bad_rows:
            good.append(chunk)
        else:
            good = []  # nothing will be written: keep no rows in memory
        if progress:
            progress(min(report.rows, total), total, "checking")
    if report.bad_rows:
        return report.as_dict()
    # ... then write everything in one transaction. Its progress can only be told on PostgreSQL:
    # on SQLite this transaction holds the one write lock a progress update would wait for.
    if progress:
        progress(0, total, "writing")
    live_progress = progress if ff.db.dialect == "postgresql" else None
    n_written, current = 0, []
    try:
        with ff.db.write() as conn:
            for chunk in good:
                current = chunk
                created = ff.records.create_many(app_key, form_key, [v for _n, v in chunk], ctx=ctx, conn=conn)
                _check_inside(created, inside)
                n_written += len(chunk)
                if live_progress:
                    live_progress(n_written, total, "writing")
    except RecordValidationError as err:  # the data changed between validation and writing
        if not _record_errors(report, current, err):
            report.add(None, None, f"{err.message}; nothing was written", "invalid")
        return report.as_dict()
    except Conflict as err:
        report.add(None, err.errors[0]["location"] if err.errors else None,
                   f"{err.message} (a record was created meanwhile); nothing was written", "unique")
        return report.as_dict()
    report.created = n_written
    if progress:
        progress(total, total, "writing")
    return report.as_dict()


# --------------------------------------------------------------------------- background job

def imports_dir(ff) -> Path:
    """Where uploaded files wait for their import job."""
    path = Path(ff.config.data_dir) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_import_job(ff, job) -> dict:
    """The `spreadsheet.import` job: import the stored upload, report progress, delete the file."""
    p = job.params
    path = Path(p["path"])
    try:
        return import_file(ff, p["app"], p["form"], str(path), filename=p.get("filename"),
                           format=p.get("format"), mode=p.get("mode", "all_or_nothing"),
                           mapping=p.get("mapping"), actor=p.get("actor"), lang=p.get("lang", DEFAULT_LANG),
                           sheet=p.get("sheet"), progress=job.progress, row_rules_of=p.get("row_rules_of"))
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def submit_import(ff, app_key: str, form_key: str, path: str | os.PathLike, *, actor: str | None = None,
                  **options) -> str:
    """Queue an import of a file already stored under `imports_dir(ff)`; returns the job id."""
    from workflows import jobs
    params = {"app": app_key, "form": form_key, "path": str(path), "actor": actor,
              **{k: v for k, v in options.items() if v is not None}}
    return jobs.submit(ff, "spreadsheet.import", params, actor=actor)


def _register() -> None:
    from workflows import jobs
    if "spreadsheet.import" not in jobs.job_handlers:
        jobs.job_handlers.add("spreadsheet.import", run_import_job)


_register()
