"""The permissions editor on a phone (390 × 844, Playwright + Debian's Chromium): nothing is wider than the
screen, every input has an accessible name, and a permission set is edited and saved at that width."""
from __future__ import annotations

import copy
import json
import re

import pytest
from playwright.sync_api import expect

from tests.test_spreadsheets import CRM_APP
from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import SCREENSHOTS, browser_sign_in

PHONE = {"width": 390, "height": 844}
PERMS = "/apps/crm/permissions"
#: long words that do not wrap by themselves: a field key, a role key, a user name, a department name
LONG_FIELD = {"key": "emergency_contact_mobile_number_of_the_customer", "type": "phone",
              "label": {"zh-CN": "紧急联系人手机号码（客户本人以外）", "en": "Emergency contact"}}
LONG_ROLE = "regional_sales_manager_of_east_china"
LONG_USER = "zhang.san.regional.sales.manager.east.china"
LONG_DEPT = "华东区销售部（上海、杭州、南京、苏州、无锡、宁波、合肥、温州）"
CRM_WITH_SETS = {**copy.deepcopy(CRM_APP), "roles": [{"key": "member"}, {"key": "lead"}], "permissions": [
    {"key": "members", "form": "contact", "who": {"roles": ["member"]}, "actions": ["read"],
     "new_fields": "readonly"},
    {"key": "leads", "who": {"roles": ["lead"]}, "actions": ["manage_permissions", "edit_definition"]}]}
CRM_WITH_SETS["forms"] = [{**f, "fields": [*f["fields"], LONG_FIELD]} for f in CRM_WITH_SETS["forms"]]


@pytest.fixture
def crm(live_site):
    """The CRM app with two permission sets, roles, a department and a user with long names, on the live server."""
    from engine import directory, users
    ff = live_site.ff
    ff.apps.install(copy.deepcopy(CRM_WITH_SETS))
    for role in ("member", "lead", LONG_ROLE):
        directory.add_role(ff, role)
    directory.add_department(ff, LONG_DEPT)
    users.add_user(ff, LONG_USER, None)
    return live_site


@pytest.fixture
def phone(browser, crm):
    """A 390 × 844 browser page signed in as the administrator, on the permissions editor."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    browser_sign_in(page, crm.url)
    page.goto(crm.url + PERMS)
    page.wait_for_selector("#pset-0")
    yield page
    context.close()


def _overflowing(page) -> list[str]:
    """Elements reaching past the right edge of the screen, outside a container that scrolls them."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth, out = [];
        const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
            const o = getComputedStyle(p).overflowX;
            if ((o === "auto" || o === "scroll") && p.getBoundingClientRect().right <= width + 1) return true;
        } return false; };
        document.querySelectorAll("body *").forEach(el => {
            const r = el.getBoundingClientRect();
            if (r.width && r.right > width + 1 && !scrolls(el))
                out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : ""));
        });
        return out;
    }""")


def test_the_editor_is_no_wider_than_a_phone_screen(phone):
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    assert _overflowing(phone) == []


def test_a_new_permission_set_is_no_wider_than_a_phone_screen(phone):
    phone.click("#add-set")
    expect(phone.locator("fieldset.pset")).to_have_count(3)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    assert _overflowing(phone) == []


def test_every_visible_input_of_the_editor_has_an_accessible_name(phone):
    controls = phone.locator("#perm-editor").locator("input:visible, select:visible, textarea:visible")
    assert controls.count() > 20
    for i in range(controls.count()):
        expect(controls.nth(i)).to_have_accessible_name(re.compile(r"\S"))


def test_every_input_of_the_editor_is_labelled_also_while_hidden(phone):
    """The field rights of the forms a set is not about, and the app-level actions, are hidden until chosen."""
    unlabelled = phone.evaluate("""() => Array.from(document.querySelectorAll(
        "#perm-editor input:not([type=hidden]), #perm-editor select, #perm-editor textarea"))
        .filter(el => !((el.getAttribute("aria-label") || "").trim() || el.getAttribute("aria-labelledby")
                        || Array.from(el.labels || []).some(l => l.textContent.trim())))
        .map(el => el.id || el.outerHTML)""")
    assert unlabelled == []


def test_the_inputs_of_a_new_permission_set_have_accessible_names(phone):
    phone.click("#add-set")
    controls = phone.locator("fieldset.pset").nth(2).locator("input:visible, select:visible")
    assert controls.count() > 20
    for i in range(controls.count()):
        expect(controls.nth(i)).to_have_accessible_name(re.compile(r"\S"))


def test_every_button_of_the_editor_has_an_accessible_name(phone):
    buttons = phone.locator("#perm-editor button:visible")
    assert buttons.count() >= 4
    for i in range(buttons.count()):
        expect(buttons.nth(i)).to_have_accessible_name(re.compile(r"\S"))


def test_a_permission_set_is_edited_and_saved_on_a_phone(phone, crm):
    phone.select_option("#right-0-contact-phone", "hidden")
    phone.check("#pset-0 input[data-p=action][value=export]")
    phone.fill("#rows-0", "score > 5")
    expect(phone.locator("#rule-0")).to_have_text("规则可以使用。")
    phone.click("#save-permissions")
    expect(phone.locator("#perm-editor[data-saved='1']")).to_have_count(1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "permissions-phone.png"), full_page=True)
    members = json.loads(crm.ff.apps.export("crm"))["permissions"][0]
    assert members == {"key": "members", "form": "contact", "who": {"roles": ["member"]},
                       "actions": ["read", "export"], "rows": "score > 5", "fields": {"phone": "hidden"},
                       "new_fields": "readonly"}
