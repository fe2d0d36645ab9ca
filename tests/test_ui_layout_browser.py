"""Sections and columns in the browser: built in the designer, used on the entry page on a desktop and a phone."""
from __future__ import annotations

import copy
import json

from playwright.sync_api import expect

from tests.conftest import REPAIR_APP
from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import SCREENSHOTS, browser_sign_in, drag


def _open_designer(page, base):
    page.goto(f"{base}/apps/repair/design")
    page.wait_for_selector("#designer[data-ready='1']")


def _card(page, key):
    return page.locator(f"#designer li.d-field[data-key='{key}']")


def _save(page):
    page.click("#save-definition")
    expect(page.locator("#plan-dialog")).to_be_visible()
    expect(page.locator("#plan-steps [data-op='change_form']")).to_have_count(1)
    page.click("#plan-confirm")
    expect(page.locator("#save-status")).to_contain_text("已保存")


def _ticket(ff) -> dict:
    return json.loads(ff.apps.export("repair"))["forms"][0]


def test_group_fields_into_a_two_column_section_in_the_designer(live_repair, page):
    base, ff = live_repair.url, live_repair.ff
    browser_sign_in(page, base)
    _open_designer(page, base)
    page.click("#add-section")
    section = page.locator("#sections .d-section")
    expect(section).to_have_count(1)
    page.fill("#props [data-name='section-label-zh-CN']", "处理信息")
    page.fill("#props [data-name='section-label-en']", "Handling")
    page.select_option("#section-columns", "2")
    expect(section.locator(".d-section-title")).to_have_text("处理信息")
    # keyboard way: the field's "move into" choice
    _card(page, "qty").locator(".d-select").click()
    page.select_option("#prop-parent", label="分区: 处理信息")
    expect(section.locator("li.d-field[data-key='qty']")).to_have_count(1)
    # pointer way: drag a field onto the section's list
    drag(page, _card(page, "status").locator(".d-handle"), section.locator("li.d-field[data-key='qty']"))
    expect(section.locator("li.d-field[data-key='status']")).to_have_count(1)
    # the live preview shows the section with its two columns
    expect(page.locator("#preview details.form-section .section-grid.cols-2 [data-key='qty']")).to_have_count(1)
    expect(page.locator("#preview details.form-section .section-grid.cols-2 [data-key='status']")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "designer-sections.png"), full_page=True)
    _save(page)
    form = _ticket(ff)
    (section,) = form["layout"]["sections"]
    assert set(form["layout"]) == {"sections"} and set(section["fields"]) == {"qty", "status"}
    assert section["label"] == {"zh-CN": "处理信息", "en": "Handling"} and section["columns"] == 2
    # `fields` is saved in display order: the fields outside sections first, then the section's
    keys = [f["key"] for f in form["fields"]]
    assert keys[-2:] == form["layout"]["sections"][0]["fields"]


def test_removing_a_section_keeps_its_fields(live_repair, page):
    base, ff = live_repair.url, live_repair.ff
    defn = json.loads(ff.apps.export("repair"))
    defn["forms"][0]["layout"] = {"sections": [{"label": {"en": "Parts"}, "fields": ["parts", "total"]}]}
    ff.apps.install(defn)
    browser_sign_in(page, base)
    _open_designer(page, base)
    page.locator("#sections .d-section [data-delete-section]").click()
    expect(page.locator("#sections .d-section")).to_have_count(0)
    expect(page.locator("#canvas > li[data-key='parts']")).to_have_count(1)
    _save(page)
    form = _ticket(ff)
    assert "layout" not in form and {"parts", "total"} <= {f["key"] for f in form["fields"]}


def _laid_out(ff):
    defn = copy.deepcopy(REPAIR_APP)
    defn["forms"][0]["fields"].append({"key": "closing_note", "type": "textarea", "label": {"en": "Closing note"},
                                       "visible_if": 'status = "closed"'})
    defn["forms"][0]["layout"] = {"columns": 1, "sections": [
        {"label": {"zh-CN": "报修", "en": "Report"}, "columns": 2, "fields": ["title", "qty", "status", "machine"]},
        {"label": {"zh-CN": "配件", "en": "Parts"}, "collapsed": True, "fields": ["parts", "total"]},
        {"label": {"zh-CN": "关闭", "en": "Closing"}, "fields": ["closing_note"]}]}
    ff.apps.install(defn)


def test_two_columns_side_by_side_on_a_desktop_stacked_on_a_phone(live_repair, page, browser):
    base = live_repair.url
    _laid_out(live_repair.ff)
    browser_sign_in(page, base)
    page.goto(f"{base}/apps/repair/forms/ticket/new")
    title, qty = page.locator("#field-title"), page.locator("#field-qty")
    expect(title).to_be_visible()
    a, b = title.bounding_box(), qty.bounding_box()
    assert abs(a["y"] - b["y"]) < 2 and b["x"] > a["x"] + a["width"] - 1   # one row, two columns
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    small = phone.new_page()
    small.set_default_timeout(15_000)
    try:
        browser_sign_in(small, base)
        small.goto(f"{base}/apps/repair/forms/ticket/new")
        t, q = small.locator("#field-title"), small.locator("#field-qty")
        expect(t).to_be_visible()
        a, b = t.bounding_box(), q.bounding_box()
        assert b["y"] >= a["y"] + a["height"] - 1                              # stacked
        assert small.evaluate("document.documentElement.scrollWidth") <= 391    # nothing sticks out
        small.screenshot(path=str(SCREENSHOTS / "entry-sections-phone.png"), full_page=True)
    finally:
        phone.close()


def test_a_folded_section_opens_with_one_click(live_repair, page):
    base = live_repair.url
    _laid_out(live_repair.ff)
    browser_sign_in(page, base)
    page.goto(f"{base}/apps/repair/forms/ticket/new")
    expect(page.locator("#add-row-parts")).to_be_hidden()
    page.locator("details.form-section", has_text="配件").locator("summary").click()
    expect(page.locator("#add-row-parts")).to_be_visible()


def test_a_section_whose_fields_are_all_hidden_is_hidden(live_repair, page):
    base = live_repair.url
    _laid_out(live_repair.ff)
    browser_sign_in(page, base)
    page.goto(f"{base}/apps/repair/forms/ticket/new")
    closing = page.locator("details.form-section", has_text="关闭")
    expect(closing).to_be_hidden()
    page.select_option("#field-status select", "closed")
    expect(closing).to_be_visible()
    expect(page.locator("#field-closing_note")).to_be_visible()
    page.select_option("#field-status select", "open")
    expect(closing).to_be_hidden()


def test_a_sections_visibility_rule_is_written_with_the_formula_editor(live_repair, page):
    base, ff = live_repair.url, live_repair.ff
    defn = json.loads(ff.apps.export("repair"))
    defn["forms"][0]["layout"] = {"sections": [{"label": {"zh-CN": "配件"}, "fields": ["parts", "total"]}]}
    ff.apps.install(defn)
    browser_sign_in(page, base)
    _open_designer(page, base)
    page.locator("#sections .d-section .d-section-title").click()
    editor = page.locator("#props .fx[data-formula='visible_if']")
    editor.locator("textarea").fill('stauts = "open"')
    expect(editor.locator("mark.fx-err")).to_have_text("stauts")        # the server's checker, underlined
    editor.locator("textarea").fill('status = "open"')
    expect(editor.locator(".fx-diag.ok")).to_be_visible()
    _save(page)
    assert _ticket(ff)["layout"]["sections"][0]["visible_if"] == 'status = "open"'
