"""The row rule of the permissions editor in the shared formula editor (static/formula-editor.js):
the page's check endpoint returns located diagnostics (and the engine's {problem}), the page gets
the chips and functions, and in the browser an unknown field is underlined, chips follow the
chosen form, the function help shows and the rule typed with chips is saved."""
from __future__ import annotations

import copy
import json
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import REPAIR_APP
from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import ADMIN, ADMIN_PW, CLERK, CLERK_PW, SCREENSHOTS, browser_sign_in, csrf_of

PERMS = "/apps/repair/permissions"
CHECK = "/apps/repair/forms/ticket/rules/check"
API_CHECK = "/api/v1/apps/repair/forms/ticket/rules/check"


def _with_a_set(**props) -> dict:
    pset = {"key": "clerks", "form": "ticket", "who": {"everyone": True}, "actions": ["read"], **props}
    return {**copy.deepcopy(REPAIR_APP), "permissions": [pset]}


def _client(site, user=ADMIN, pw=ADMIN_PW):
    client = client_of(site, user, pw)
    client.token = csrf_of(client.get("/apps").get_data(as_text=True))
    return client


def _check(client, source, url=CHECK):
    return client.post(url, json={"source": source}, headers={"X-CSRFToken": client.token})


def _covered(source: str, d: dict) -> str:
    """The text a diagnostic's line/column range covers."""
    line = source.split("\n")[d["line"] - 1]
    return line[d["column"] - 1:d["end_column"] - 1]


def test_a_valid_rule_has_no_diagnostics(sqlite_repair_site):
    client = _client(sqlite_repair_site)
    r = _check(client, "qty > 1")
    assert r.status_code == 200
    assert r.get_json() == {"problem": None, "diagnostics": []}
    assert _check(client, "   ").get_json() == {"problem": None, "diagnostics": []}


def test_an_unknown_field_is_located(sqlite_repair_site):
    client = _client(sqlite_repair_site)
    source = "qtty > 1"
    data = _check(client, source).get_json()
    [d] = data["diagnostics"]
    assert (d["line"], d["column"]) == (1, 1) and _covered(source, d) == "qtty"
    assert "qtty" in d["message"] and d["suggestion"] == "qty"
    assert data["problem"] == d["message"]


def test_a_problem_on_the_second_line_is_located_there(sqlite_repair_site):
    source = "OR(qty > 1,\n   nope = 2)"
    [d] = _check(_client(sqlite_repair_site), source).get_json()["diagnostics"]
    assert d["line"] == 2 and _covered(source, d) == "nope"


@pytest.mark.parametrize("source", ["_owner = $user.id", "CONTAINS($user.departments, title)",
                                    "OR(_created_by = $user.id, status = \"open\")"])
def test_rules_with_user_variables_and_system_fields_are_valid(sqlite_repair_site, source):
    assert _check(_client(sqlite_repair_site), source).get_json() == {"problem": None, "diagnostics": []}


def test_a_rule_that_cannot_run_in_sql_is_marked_whole(sqlite_repair_site):
    source = "LEN(title) > 3"
    data = _check(_client(sqlite_repair_site), source).get_json()
    [d] = data["diagnostics"]
    assert "database" in d["message"] and _covered(source, d) == source


@pytest.mark.parametrize("source", ["qty > 1", "qtty > 1", "LEN(title) > 3", "_owner = $usr.id", "qty >", ""])
def test_problem_is_what_the_api_rule_check_says(sqlite_repair_site, source):
    """{problem} stays as the API's rules/check gives it, for anything reading it."""
    client = _client(sqlite_repair_site)
    assert _check(client, source).get_json()["problem"] == _check(client, source, API_CHECK).get_json()["problem"]


def test_the_check_needs_manage_permissions_a_form_and_text(sqlite_repair_site):
    admin = _client(sqlite_repair_site)
    assert _check(admin, "qty > 1", "/apps/repair/forms/nope/rules/check").status_code == 404
    assert admin.post(CHECK, json={"source": 1}, headers={"X-CSRFToken": admin.token}).status_code == 400
    assert admin.post(CHECK, json={"source": "qty > 1"}).status_code == 400  # no CSRF token
    assert _check(_client(sqlite_repair_site, CLERK, CLERK_PW), "qty > 1").status_code == 403


def test_the_page_carries_chips_and_functions(sqlite_repair_site):
    from builder_ui.pages_designer import function_help
    html = _client(sqlite_repair_site).get(PERMS).get_data(as_text=True)
    start = html.index('id="ff-perm-formula">') + len('id="ff-perm-formula">')
    cfg = json.loads(html[start:html.index("</script>", start)])
    assert [f["name"] for f in cfg["functions"]] == [f["name"] for f in function_help()]
    ticket = [c["ref"] for c in cfg["fields"]["ticket"]]
    assert ticket == ["title", "qty", "status", "total", "machine"]  # the subform is a list: not offered
    assert [c["ref"] for c in cfg["fields"]["machine"]] == ["name"]
    variables = [c["ref"] for c in cfg["variables"]]
    assert {"_id", "_owner", "_created_by", "_updated_by", "$user.id", "$user.departments"} <= set(variables)
    assert all(c["title"] for c in cfg["variables"])
    assert "formula-editor.js" in html and "formula-editor.css" in html


def test_a_row_rule_is_edited_with_the_formula_editor_and_saved(live_repair, page):
    base, ff = live_repair.url, live_repair.ff
    ff.apps.install(_with_a_set())
    browser_sign_in(page, base)
    page.goto(base + PERMS)
    editor = page.locator("#pset-0 .fx")
    box = page.locator("#rows-0")
    expect(box).to_have_accessible_name(re.compile(r"^数据范围"))
    assert page.evaluate("document.getElementById('rows-0').labels[0].htmlFor") == "rows-0"

    # an unknown field is underlined where it stands, and said in the status line
    box.fill("OR(status = \"open\", qtty > 1)")
    expect(editor.locator("mark.fx-err")).to_have_text("qtty")
    expect(page.locator("#rule-0")).to_contain_text("unknown field 'qtty'")
    expect(box).to_have_attribute("aria-invalid", "true")

    # chips follow the chosen form
    expect(editor.locator("[data-chip='qty']")).to_have_count(1)
    page.select_option("#form-0", "machine")
    expect(editor.locator("[data-chip='name']")).to_have_count(1)
    expect(editor.locator("[data-chip='qty']")).to_have_count(0)
    expect(editor.locator("[data-chip='$user.id']")).to_have_count(1)
    page.select_option("#form-0", "ticket")
    expect(editor.locator("[data-chip='qty']")).to_have_count(1)

    # the function list with help
    editor.locator("details.fx-fns summary").click()
    editor.locator("input[type=search]").fill("contai")
    editor.locator("[data-function='CONTAINS']").hover()
    expect(editor.locator(".fx-help-text")).to_contain_text("CONTAINS(")
    page.locator("#pset-0").screenshot(path=str(SCREENSHOTS / "permissions-row-rule.png"))

    # a rule built with chips: a field and a $user variable
    box.fill("")
    editor.locator("[data-chip='_owner']").click()
    box.press("End")
    box.type(" = ")
    editor.locator("[data-chip='$user.id']").click()
    expect(box).to_have_value("_owner = $user.id")
    expect(page.locator("#rule-0")).to_have_text("规则可以使用。")
    expect(editor.locator("mark.fx-err")).to_have_count(0)

    page.click("#save-permissions")
    expect(page.locator("#perm-editor[data-saved='1']")).to_have_count(1)
    stored = json.loads(ff.apps.export("repair"))["permissions"][0]
    assert stored["rows"] == "_owner = $user.id"
    assert stored == {"key": "clerks", "form": "ticket", "who": {"everyone": True}, "actions": ["read"],
                      "rows": "_owner = $user.id", "new_fields": "hidden"}
