"""Every page a user works with: each visible control has an accessible name, images have text
alternatives, and nothing takes itself out of (or reorders) the keyboard's tab order."""
from __future__ import annotations

import json

import pytest

from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import browser_sign_in

#: what a screen reader would announce for an element, as far as these pages need it
NAMELESS = """() => {
  const visible = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const text = el => (el.textContent || "").trim();
  const byIds = ids => ids.split(/\\s+/).map(id => document.getElementById(id)).filter(Boolean).map(text).join(" ").trim();
  const name = el => {
    if ((el.getAttribute("aria-label") || "").trim()) return true;
    if (el.getAttribute("aria-labelledby") && byIds(el.getAttribute("aria-labelledby"))) return true;
    if (el.labels && Array.from(el.labels).some(l => text(l))) return true;
    if ((el.getAttribute("title") || "").trim()) return true;
    if (el.tagName === "BUTTON" || el.tagName === "A" || el.tagName === "SUMMARY") return !!text(el) || !!el.querySelector("img[alt]:not([alt=''])");
    if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type)) return !!(el.value || "").trim();
    if (el.tagName === "INPUT" && (el.placeholder || "").trim() && el.type === "search") return true;
    return false;
  };
  const controls = document.querySelectorAll(
    "input:not([type=hidden]), select, textarea, button, a[href], summary, [role=button], [role=listbox]");
  const out = [];
  for (const el of controls) {
    if (!visible(el)) continue;
    if (!name(el)) out.push(el.outerHTML.slice(0, 160));
  }
  for (const img of document.querySelectorAll("img")) {
    if (visible(img) && !img.hasAttribute("alt")) out.push(img.outerHTML.slice(0, 160));
  }
  for (const el of document.querySelectorAll("[tabindex]")) {
    if (parseInt(el.getAttribute("tabindex"), 10) > 0) out.push("positive tabindex: " + el.outerHTML.slice(0, 120));
  }
  return out;
}"""


@pytest.fixture
def furnished(live_repair):
    """The repair app with sections, a datetime field and one record with a subform row."""
    ff = live_repair.ff
    defn = json.loads(ff.apps.export("repair"))
    defn["forms"][0]["fields"].append({"key": "reported_at", "type": "datetime", "label": {"zh-CN": "报修时间"}})
    defn["forms"][0]["layout"] = {"sections": [{"label": {"zh-CN": "基本信息"}, "columns": 2,
                                                "fields": ["title", "qty", "status", "reported_at"]}]}
    ff.apps.install(defn)
    live_repair.record = ff.records.create("repair", "ticket", {
        "title": "水泵漏水", "qty": 2, "status": "open", "reported_at": "2026-12-05T09:30:00",
        "parts": [{"part": "密封圈", "price": "2.5"}]})
    return live_repair


PAGES = ["/apps", "/apps/repair", "/apps/repair/forms/ticket", "/apps/repair/forms/ticket?group=status",
         "/apps/repair/forms/ticket/new", "/apps/repair/forms/ticket/records/{id}",
         "/apps/repair/forms/ticket/records/{id}/edit", "/apps/repair/design", "/apps/repair/permissions",
         "/apps/repair/forms/ticket/kanban", "/apps/repair/forms/ticket/calendar?month=2026-12",
         "/apps/repair/forms/ticket/import", "/apps/repair/forms/ticket/view-as?as={clerk}"]


@pytest.mark.parametrize("path", PAGES)
def test_every_visible_control_has_an_accessible_name(furnished, page, path):
    browser_sign_in(page, furnished.url)
    page.goto(furnished.url + path.format(id=furnished.record["_id"], clerk=furnished.clerk["id"]))
    page.wait_for_load_state("networkidle")
    assert page.evaluate(NAMELESS) == []


def test_the_entry_form_can_be_filled_with_the_keyboard_alone(furnished, page):
    browser_sign_in(page, furnished.url)
    page.goto(furnished.url + "/apps/repair/forms/ticket/new")
    page.wait_for_selector("#entry[data-ready='1']")
    page.locator("#f-title").focus()
    page.keyboard.type("键盘填写")
    page.keyboard.press("Tab")
    page.keyboard.type("3")
    assert page.evaluate("document.activeElement.id") == "f-qty"
    page.locator("#save").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/records/*")
    from engine.queries import list_records
    _, form = furnished.ff.form("repair", "ticket")
    with furnished.ff.db.read() as conn:
        saved = [r for r in list_records(conn, furnished.ff, form, filter='title = "键盘填写"').records]
    assert len(saved) == 1 and saved[0]["qty"] == 3


def test_the_check_itself_reports_a_nameless_control(furnished, page):
    browser_sign_in(page, furnished.url)
    page.goto(furnished.url + "/apps")
    page.evaluate("""() => { const i = document.createElement("input"); i.id = "nameless";
                             document.querySelector("main").appendChild(i);
                             const b = document.createElement("button"); document.querySelector("main").appendChild(b); }""")
    found = page.evaluate(NAMELESS)
    assert len(found) == 2 and 'id="nameless"' in found[0] and found[1].startswith("<button")
