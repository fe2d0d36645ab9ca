"""The form designer in the browser (Playwright + Debian's Chromium), as a new admin would use it:
build the repair app from nothing (apps page → create → designer), change a field's type with data present and read the plan first,
lose a concurrent edit with a clear message, see a formula's unknown field underlined."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import ADMIN, ADMIN_PW, browser_sign_in, drag

ROOT = Path(__file__).resolve().parent.parent
from tests.ui_conftest import SCREENSHOTS as SHOTS  # noqa: E402


def _open_designer(page, base, app="repair"):
    page.goto(f"{base}/apps/{app}/design")
    page.wait_for_selector("#designer[data-ready='1']")


def _card(page, key, parent=None):
    if parent:
        return page.locator(f"#canvas > li[data-key='{parent}'] li[data-key='{key}']")
    return page.locator(f"#canvas > li[data-key='{key}']")


def _add(page, type_name, key, zh=None, en=None):
    """Press a palette type (it is added at the end and selected), then name it."""
    page.click(f"#palette [data-add-type='{type_name}']")
    page.fill("#prop-key", key)
    if zh:
        page.fill("#props [data-name='label-zh-CN']", zh)
    if en:
        page.fill("#props [data-name='label-en']", en)
    expect(_card(page, key)).to_have_count(1)


def _formula(page, prop, source):
    box = page.locator(f"#props .fx[data-formula='{prop}'] textarea").first
    box.fill(source)
    return box


def _save_and_confirm(page):
    page.click("#save-definition")
    expect(page.locator("#plan-dialog")).to_be_visible()
    page.click("#plan-confirm")
    expect(page.locator("#save-status")).to_contain_text("已保存")


def test_build_the_repair_app_from_nothing_and_use_it(live_site, page):
    base, ff = live_site.url, live_site.ff
    browser_sign_in(page, base)
    page.fill("#new-key", "repair")
    page.fill("#new-label-zh", "设备报修")
    page.fill("#new-label-en", "Equipment repair")
    page.click("#create-app button[type=submit]")
    # creating the app opens the designer on its (minimal) first form right away
    page.wait_for_url(re.compile(r"/apps/repair/design"))
    page.wait_for_selector("#designer[data-ready='1']")
    expect(page.locator("#canvas > li")).to_have_count(1)

    # the first form: rename it
    page.fill("#form-key", "ticket")
    page.fill("#props [data-name='form-label-zh-CN']", "报修单")
    page.fill("#props [data-name='form-label-en']", "Ticket")
    # a second form to link to
    page.fill("#new-form-key", "machine")
    page.fill("#new-form-label", "设备")
    page.click("#add-form")
    _card(page, "text1").locator(".d-select").click()
    page.fill("#prop-key", "name")
    page.click("#form-list [data-form='ticket']")
    expect(_card(page, "title")).to_have_count(1)

    _add(page, "number", "qty", "数量", "Quantity")
    page.fill("#props [data-name='min']", "0")
    _add(page, "select", "status", "状态", "Status")
    page.fill("#props [data-option-value='0']", "open")
    page.fill("#props [data-option-value='1']", "closed")
    page.click("#props [data-add-option]")
    page.fill("#props [data-option-value='2']", "waiting")
    page.select_option("#prop-default", "open")
    _add(page, "time", "visit_slot", "上门时间", "Visit slot")
    _formula(page, "visible_if", 'status = "open"')
    _add(page, "date", "reported_on", "报修日期", "Reported on")
    _formula(page, "default_formula", "TODAY()")
    _add(page, "boolean", "urgent", "加急", "Urgent")
    _add(page, "textarea", "details", "详情", "Details")
    # a subform with child fields
    _add(page, "subform", "parts", "配件", "Parts")
    _card(page, "text1", parent="parts").locator(".d-select").click()
    page.fill("#prop-key", "part")
    page.fill("#props [data-name='label-zh-CN']", "配件名")
    page.select_option("select[data-child-type='parts']", "decimal")
    page.click("[data-add-child='parts']")
    page.fill("#prop-key", "price")
    page.fill("#props [data-name='label-zh-CN']", "单价")
    expect(_card(page, "price", parent="parts")).to_have_count(1)
    # a formula over the subform, written with field chips and the function list
    _add(page, "formula", "total", "合计", "Total")
    page.click("#props .fx[data-formula='formula'] details.fx-fns summary")
    page.fill("#props .fx[data-formula='formula'] input[type=search]", "su")
    page.click("#props .fx[data-formula='formula'] [data-function='SUM']")
    expect(page.locator("#props .fx[data-formula='formula'] .fx-help-text")).to_contain_text("SUM(")
    page.click("#props .fx[data-formula='formula'] [data-chip='parts.price']")
    box = page.locator("#props .fx[data-formula='formula'] textarea")
    box.press("End")
    box.type(" * ")
    page.click("#props .fx[data-formula='formula'] [data-chip='qty']")
    expect(box).to_have_value("SUM(parts.price) * qty")
    expect(page.locator("#props .fx[data-formula='formula'] .fx-diag")).to_have_text("未发现问题。")
    page.select_option("#props select#prop-result_type", "decimal")
    # a link to the second form
    _add(page, "link", "machine", "设备", "Machine")
    expect(page.locator("#prop-target")).to_have_value("machine")
    # reorder with the keyboard alternative: qty moves above title... and back
    _card(page, "qty").locator("[data-move='up']").click()
    expect(page.locator("#canvas > li").first).to_have_attribute("data-key", "qty")
    _card(page, "qty").locator("[data-move='down']").click()
    expect(page.locator("#canvas > li").first).to_have_attribute("data-key", "title")
    # a form rule
    page.click("#props-form")
    page.click("#add-rule")
    _formula(page, "formula", "qty <= 100")
    page.fill("#props [data-name='rule-message-zh-CN']", "每单最多 100 件")
    # the live preview shows the draft with the data-entry widgets
    expect(page.locator("#preview #f-visit_slot")).to_have_count(1)
    expect(page.locator("#preview #add-row-parts")).to_have_count(1)
    page.click("#save-definition")
    expect(page.locator("#plan-dialog")).to_be_visible()
    expect(page.locator("#plan-steps")).to_contain_text("add field ticket.total (formula)")
    expect(page.locator("#plan-steps")).to_contain_text("add form 'machine'")
    page.click("#plan-confirm")
    expect(page.locator("#save-status")).to_contain_text("已保存：版本 2")

    _app, ticket = ff.form("repair", "ticket")
    types = {f.key: f.type_name for f in ticket.fields}
    assert len(set(types.values())) >= 8 and types["parts"] == "subform" and types["machine"] == "link"
    assert ticket.fields_by_key["total"].definition["formula"] == "SUM(parts.price) * qty"
    assert [c.key for c in ticket.fields_by_key["parts"].children] == ["part", "price"]
    assert ticket.definition["rules"][0]["formula"] == "qty <= 100"
    ff.records.create("repair", "machine", {"name": "车床 3"})

    # the generated data-entry page: the formula and the visibility rule work
    page.goto(base + "/apps/repair/forms/ticket/new")
    page.wait_for_selector("#entry[data-ready='1']")
    page.fill("#f-title", "水泵漏水")
    page.fill("#f-qty", "3")
    page.click("#add-row-parts")
    page.fill("#f-parts-0-part", "密封圈")
    page.fill("#f-parts-0-price", "2.50")
    expect(page.locator("#f-total")).to_have_text(re.compile(r"^7\.50?$"))
    expect(page.locator("#field-visit_slot")).to_be_visible()
    page.select_option("#f-status", "closed")
    expect(page.locator("#field-visit_slot")).to_be_hidden()
    page.select_option("#f-status", "open")
    expect(page.locator("#field-visit_slot")).to_be_visible()
    page.fill("#f-machine", "车床")
    page.click(".link-results button:has-text('车床 3')")
    page.click("#save")
    page.wait_for_selector("#history")
    assert page.dialogs == []


def test_changing_a_type_with_data_shows_the_plan_before_applying(live_repair, page):
    base, ff = live_repair.url, live_repair.ff
    for title in ("12", "7", "not a number"):
        ff.records.create("repair", "ticket", {"title": title})
    browser_sign_in(page, base)
    _open_designer(page, base)
    _card(page, "title").locator(".d-select").click()
    page.select_option("#prop-type", "number")
    expect(_card(page, "title")).to_have_attribute("data-type", "number")
    page.click("#save-definition")
    dialog = page.locator("#plan-dialog")
    expect(dialog).to_be_visible()
    step = dialog.locator(".plan-step[data-op='change_type']")
    expect(step.locator(".plan-converted")).to_have_text("2 个值可以转换")
    expect(step.locator(".plan-failed")).to_have_text("1 个值无法转换（另行保留）")
    expect(step.locator(".plan-samples")).to_contain_text("not a number")
    assert ff.form("repair", "ticket")[1].fields_by_key["title"].type_name == "text"  # nothing applied yet
    page.click("#plan-cancel")
    expect(dialog).to_be_hidden()
    assert ff.form("repair", "ticket")[1].fields_by_key["title"].type_name == "text"
    page.click("#save-definition")
    expect(dialog).to_be_visible()
    page.click("#plan-confirm")
    expect(page.locator("#save-status")).to_contain_text("已保存：版本 2")
    assert ff.form("repair", "ticket")[1].fields_by_key["title"].type_name == "number"


def test_a_concurrent_save_gets_a_clear_409_message(live_repair, page, browser):
    base, ff = live_repair.url, live_repair.ff
    browser_sign_in(page, base)
    _open_designer(page, base)
    other_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    other = other_context.new_page()
    other.set_default_timeout(15_000)
    try:
        browser_sign_in(other, base, ADMIN, ADMIN_PW)
        _open_designer(other, base)
        # the first designer saves a change
        _card(page, "qty").locator(".d-select").click()
        page.fill("#props [data-name='label-zh-CN']", "数量")
        _save_and_confirm(page)
        # the second, opened before that, must not overwrite it
        _card(other, "qty").locator(".d-select").click()
        other.fill("#props [data-name='label-zh-CN']", "件数")
        with other.expect_response(lambda r: r.request.method == "PUT" and "/api/v1/apps/repair" in r.url) as answer:
            other.click("#save-definition")
        assert answer.value.status == 409
        expect(other.locator("#stale-message")).to_contain_text("已被其他人修改")
        expect(other.locator("#plan-dialog")).to_be_hidden()
        assert ff.form("repair", "ticket")[1].fields_by_key["qty"].definition["label"]["zh-CN"] == "数量"
        assert ff.installed()["repair"].version == 2
        # the first designer knows its new version: it saves again without a conflict
        page.fill("#props [data-name='label-en']", "Quantity (pcs)")
        _save_and_confirm(page)
        expect(page.locator("#save-status")).to_contain_text("版本 3")
    finally:
        other_context.close()


def test_the_formula_editor_underlines_an_unknown_field_with_the_servers_message(live_repair, page):
    browser_sign_in(page, live_repair.url)
    _open_designer(page, live_repair.url)
    _card(page, "total").locator(".d-select").click()
    editor = page.locator("#props .fx[data-formula='formula']")
    expect(editor.locator("textarea")).to_have_value("SUM(parts.price) * qty")
    expect(editor.locator(".fx-diag")).to_have_text("未发现问题。")
    editor.locator("textarea").fill("SUM(parts.price) * qtty")
    expect(editor.locator("mark.fx-err")).to_have_text("qtty")
    expect(editor.locator(".fx-diag")).to_contain_text("unknown field 'qtty' (did you mean 'qty'?)")
    expect(editor.locator("textarea")).to_have_attribute("aria-invalid", "true")
    # the draft's own new fields are known to the checker before they are saved
    page.click("#palette [data-add-type='number']")
    page.fill("#prop-key", "discount")
    _card(page, "total").locator(".d-select").click()
    editor.locator("textarea").fill("SUM(parts.price) * qty - discount")
    expect(editor.locator(".fx-diag")).to_have_text("未发现问题。")
    expect(editor.locator("mark.fx-err")).to_have_count(0)


def test_located_definition_errors_are_shown_next_to_the_field(live_repair, page):
    browser_sign_in(page, live_repair.url)
    _open_designer(page, live_repair.url)
    _card(page, "qty").locator(".d-select").click()
    page.fill("#props [data-name='min']", "10")
    page.fill("#props [data-name='max']", "5")
    page.click("#save-definition")
    expect(page.locator("#props .prop-errors[data-errors-for='min'] .field-error")).to_contain_text("greater than max")
    expect(_card(page, "qty")).to_have_class(re.compile("d-has-error"))
    expect(page.locator("#designer-errors")).to_contain_text("forms[0].fields[1].min")
    expect(page.locator("#plan-dialog")).to_be_hidden()
    assert live_repair.ff.installed()["repair"].version == 1


def test_drag_a_type_from_the_palette_and_reorder_by_drag(live_repair, page):
    browser_sign_in(page, live_repair.url)
    _open_designer(page, live_repair.url)

    drag(page, page.locator("#palette [data-add-type='email']"), _card(page, "title"))
    expect(page.locator("#canvas > li[data-type='email']")).to_have_count(1)
    expect(page.locator("#prop-key")).to_have_value("email1")
    before = page.locator("#canvas > li").evaluate_all("els => els.map(e => e.dataset.key)")
    drag(page, _card(page, "machine").locator(".d-handle"), _card(page, "title"))
    after = page.locator("#canvas > li").evaluate_all("els => els.map(e => e.dataset.key)")
    assert sorted(after) == sorted(before) and after != before
    assert after.index("machine") < before.index("machine")
    # a field dragged into the subform becomes a column of its rows
    drag(page, _card(page, "qty").locator(".d-handle"), _card(page, "price", parent="parts"))
    expect(_card(page, "qty", parent="parts")).to_have_count(1)
    expect(_card(page, "qty")).to_have_count(0)


def test_screenshot_of_the_designer(live_repair, page):
    """Writes docs/screenshots/designer.png (English UI: the test machines have no CJK font)."""
    base = live_repair.url
    page.context.add_cookies([{"name": "ff_lang", "value": "en", "url": base}])
    browser_sign_in(page, base)
    _open_designer(page, base)
    _card(page, "total").locator(".d-select").click()
    expect(page.locator("#preview #f-title")).to_have_count(1)
    editor = page.locator("#props .fx[data-formula='formula']")
    editor.locator("textarea").fill("SUM(parts.price) * qtty")
    expect(editor.locator("mark.fx-err")).to_have_text("qtty")
    expect(page.locator("#preview-note")).to_be_visible()
    page.click("#props .fx[data-formula='formula'] details.fx-fns summary")
    editor.locator("[data-function='SUM']").hover()
    expect(editor.locator(".fx-help-text")).to_contain_text("SUM(")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "designer.png"), full_page=True)
    assert (SHOTS / "designer.png").stat().st_size > 0


XSS = '<img src=x onerror="window.__xss=1;alert(1)">'


def test_user_text_in_the_designer_never_runs(live_site, page):
    ff = live_site.ff
    ff.apps.install({"key": "x", "label": {"zh-CN": XSS}, "forms": [
        {"key": "f", "label": {"zh-CN": XSS}, "fields": [
            {"key": "t", "type": "text", "label": {"zh-CN": XSS, "en": XSS}},
            {"key": "s", "type": "select", "label": {"zh-CN": XSS},
             "options": [{"value": "a", "label": {"zh-CN": XSS}}, "<b>b</b>"]},
            {"key": "rows", "type": "subform", "label": {"zh-CN": XSS}, "fields": [
                {"key": "c", "type": "text", "label": {"zh-CN": XSS}}]},
            {"key": "calc", "type": "formula", "label": {"zh-CN": XSS}, "formula": 't & "<script>window.__xss=2</script>"'}],
         "rules": [{"formula": "TRUE", "message": {"zh-CN": XSS}}]}]})
    browser_sign_in(page, live_site.url)
    _open_designer(page, live_site.url, "x")
    expect(page.locator("#preview #f-t")).to_have_count(1)
    expect(page.locator("#props [data-name='rule-message-zh-CN']")).to_have_value(XSS)
    for key in ("t", "calc", "s"):
        _card(page, key).locator(".d-select").click()
    expect(page.locator("#props [data-option-value='1']")).to_have_value("<b>b</b>")
    _card(page, "c", parent="rows").locator(".d-select").click()
    page.fill("#props [data-name='label-zh-CN']", XSS + "2")
    expect(_card(page, "c", parent="rows").locator(".d-select")).to_have_text(XSS + "2")
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#designer img, #preview img").count() == 0
    assert page.dialogs == []


def test_a_rollup_condition_over_a_link_is_checked_against_the_linked_form(live_repair, page):
    browser_sign_in(page, live_repair.url)
    _open_designer(page, live_repair.url)
    page.click("#palette [data-add-type='rollup']")
    page.select_option("#prop-source", "machine")
    page.select_option("#prop-function", "COUNT")
    editor = page.locator("#props .fx[data-formula='where']")
    expect(editor.locator("[data-chip='name']")).to_have_count(1)  # the machine form's fields
    editor.locator("textarea").fill('name = "车床"')
    expect(editor.locator(".fx-diag")).to_have_text("未发现问题。")
    editor.locator("textarea").fill('nmae = "车床"')
    expect(editor.locator("mark.fx-err")).to_have_text("nmae")
