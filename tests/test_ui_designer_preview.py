"""The designer's interactive live preview: POST /apps/<app>/design/preview/evaluate runs a save's steps
(formulas, defaults, visibility, validation, rules) on values typed into the preview of a DRAFT form,
without installing or writing anything; and in the browser, typing into the preview of an unsaved
form shows a new formula's result and a new visibility rule at work."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import browser_sign_in, csrf_of

EVALUATE = "/apps/repair/design/preview/evaluate"


def _draft(site) -> dict:
    return json.loads(site.ff.apps.export("repair"))


def _token(client) -> str:
    return csrf_of(client.get("/apps/repair/design").get_data(as_text=True))


def _evaluate(client, body, token):
    headers = {"X-CSRFToken": token} if token else {}
    return client.post(EVALUATE, data=json.dumps(body), content_type="application/json", headers=headers)


def _ticket_fields(draft) -> list:
    return next(f for f in draft["forms"] if f["key"] == "ticket")["fields"]


def _records(site) -> int:
    import sqlalchemy as sa
    _app, form = site.ff.form("repair", "ticket")
    ft = site.ff.form_table(form)
    with site.ff.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(ft.table)).scalar_one()


def test_a_formula_of_the_draft_is_evaluated_without_installing_it(admin_client, site):
    draft = _draft(site)
    _ticket_fields(draft).append({"key": "doubled", "type": "formula", "label": {"en": "Doubled"},
                                  "formula": "qty * 2 + discount"})
    _ticket_fields(draft).append({"key": "discount", "type": "number", "label": {"en": "Discount"}})
    body = {"definition": draft, "form": "ticket",
            "values": {"title": "pump", "qty": "3", "discount": 1, "parts": [{"part": "seal", "price": "2.5"}]}}
    response = _evaluate(admin_client, body, _token(admin_client))
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert float(data["values"]["doubled"]) == 7 and float(data["values"]["total"]) == 7.5
    assert data["errors"] == [] and data["visible"]["doubled"] is True
    # nothing installed, nothing written
    assert "doubled" not in site.ff.form("repair", "ticket")[1].fields_by_key
    assert _records(site) == 0


def test_a_key_renamed_in_the_draft_is_read_in_formulas_still_saying_the_old_one(admin_client, site):
    draft = _draft(site)
    next(f for f in _ticket_fields(draft) if f["key"] == "qty")["key"] = "quantity"   # total still says qty
    body = {"definition": draft, "form": "ticket", "values": {"title": "pump", "quantity": "2",
                                                              "parts": [{"part": "seal", "price": "2.5"}]}}
    response = _evaluate(admin_client, body, _token(admin_client))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert float(response.get_json()["values"]["total"]) == 5


def test_visibility_rules_of_the_draft_apply(admin_client, site):
    draft = _draft(site)
    _ticket_fields(draft)[1]["visible_if"] = 'status = "open"'
    token = _token(admin_client)
    closed = _evaluate(admin_client, {"definition": draft, "form": "ticket", "values": {"status": "closed"}}, token)
    assert closed.get_json()["visible"]["qty"] is False and closed.get_json()["visible"]["title"] is True
    opened = _evaluate(admin_client, {"definition": draft, "form": "ticket", "values": {"status": "open"}}, token)
    assert opened.get_json()["visible"]["qty"] is True


def test_validation_errors_are_located_by_field_key(admin_client, site):
    draft = _draft(site)
    _ticket_fields(draft).append({"key": "code", "type": "text", "label": {"en": "Code"}, "max_length": 3})
    body = {"definition": draft, "form": "ticket",
            "values": {"qty": -1, "code": "toolong", "parts": [{"price": "x"}]}}
    errors = _evaluate(admin_client, body, _token(admin_client)).get_json()["errors"]
    assert {"qty", "code", "parts[0].price", "title"} <= {e["location"] for e in errors}
    assert next(e for e in errors if e["location"] == "title")["code"] == "required"


def test_a_form_rule_of_the_draft_is_checked(admin_client, site):
    draft = _draft(site)
    form = next(f for f in draft["forms"] if f["key"] == "ticket")
    form["rules"] = [{"formula": "qty < 10", "field": "qty", "message": {"en": "at most 9"}}]
    body = {"definition": draft, "form": "ticket", "values": {"title": "t", "qty": 12}}
    errors = _evaluate(admin_client, body, _token(admin_client)).get_json()["errors"]
    assert [(e["location"], e["code"]) for e in errors] == [("qty", "rule")]


def test_defaults_of_the_draft_are_applied_when_asked(admin_client, site):
    draft = _draft(site)
    _ticket_fields(draft)[2]["default"] = "open"
    _ticket_fields(draft).append({"key": "copies", "type": "number", "label": {"en": "Copies"},
                                  "default_formula": "1 + 1"})
    token = _token(admin_client)
    data = _evaluate(admin_client, {"definition": draft, "form": "ticket", "values": {}, "defaults": True},
                     token).get_json()
    assert data["values"]["status"] == "open" and float(data["values"]["copies"]) == 2
    given = _evaluate(admin_client, {"definition": draft, "form": "ticket", "values": {"status": "closed"},
                                     "defaults": True}, token).get_json()
    assert given["values"]["status"] == "closed"


def test_a_new_form_of_the_draft_can_be_evaluated(admin_client, site):
    draft = _draft(site)
    draft["forms"].append({"key": "visit", "label": {"en": "Visit"}, "fields": [
        {"key": "hours", "type": "number", "label": {"en": "Hours"}},
        {"key": "cost", "type": "formula", "label": {"en": "Cost"}, "formula": "hours * 40"},
        {"key": "ticket", "type": "link", "label": {"en": "Ticket"}, "target": "ticket"}]})
    body = {"definition": draft, "form": "visit", "values": {"hours": 2, "ticket": "no-such-record"}}
    data = _evaluate(admin_client, body, _token(admin_client)).get_json()
    assert float(data["values"]["cost"]) == 80
    assert [e["location"] for e in data["errors"]] == ["ticket"]  # the link is checked like on a save
    # a link to a form only the draft has (no storage yet) is left blank rather than looked up
    _ticket_fields(draft).append({"key": "visit", "type": "link", "label": {"en": "Visit"}, "target": "visit"})
    _ticket_fields(draft).append({"key": "visit_hours", "type": "lookup", "label": {"en": "Hours"},
                                  "link": "visit", "field": "hours"})
    body = {"definition": draft, "form": "ticket", "values": {"title": "t", "visit": "r1"}}
    response = _evaluate(admin_client, body, _token(admin_client))
    assert response.status_code == 200 and response.get_json()["errors"] == []
    assert response.get_json()["values"]["visit"] is None and response.get_json()["values"]["visit_hours"] is None


def test_an_invalid_draft_is_422_with_located_errors(admin_client, site):
    draft = _draft(site)
    _ticket_fields(draft)[4]["formula"] = "SUM(parts.price) * qtty"
    response = _evaluate(admin_client, {"definition": draft, "form": "ticket", "values": {}}, _token(admin_client))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert any(e["location"] == "forms[0].fields[4].formula" and "qtty" in e["message"] for e in errors)
    missing = _evaluate(admin_client, {"definition": _draft(site), "form": "nope", "values": {}}, _token(admin_client))
    assert missing.status_code == 422 and missing.get_json()["errors"][0]["location"] == "form"


@pytest.mark.parametrize("body, location", [
    ({"form": "ticket", "values": {}}, "definition"),
    ({"definition": [], "form": "ticket"}, "definition"),
    ({"definition": {}, "form": "ticket", "values": []}, "values"),
    ({"definition": {}, "form": "ticket", "defaults": "yes"}, "defaults"),
    ({"definition": {}, "form": "ticket", "record": "r1"}, "record"),
    ("not an object", ""),
])
def test_bad_bodies_are_400_with_a_location(admin_client, site, body, location):
    response = _evaluate(admin_client, body, _token(admin_client))
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["location"] == location


def test_bad_values_give_located_errors_never_a_server_error(admin_client, site):
    body = {"definition": _draft(site), "form": "ticket",
            "values": {"qty": {"x": 1}, "parts": "nope", "status": ["a"], "nope": 1, "total": 5}}
    response = _evaluate(admin_client, body, _token(admin_client))
    assert response.status_code == 200
    assert {"qty", "parts", "status"} <= {e["location"].split("[")[0] for e in response.get_json()["errors"]}


def test_members_who_may_not_define_the_app_get_403(clerk_client, site):
    token = csrf_of(clerk_client.get("/apps").get_data(as_text=True))
    response = _evaluate(clerk_client, {"definition": _draft(site), "form": "ticket", "values": {}}, token)
    assert response.status_code == 403


def test_the_csrf_token_is_required(admin_client, site):
    response = _evaluate(admin_client, {"definition": _draft(site), "form": "ticket", "values": {}}, None)
    assert response.status_code == 400
    assert "values" not in (response.get_json(silent=True) or {})


def test_signed_out_callers_are_sent_to_sign_in(site):
    client = site.app.test_client()
    response = client.post(EVALUATE, data="{}", content_type="application/json")
    assert response.status_code in (302, 400, 401)
    assert response.status_code != 200


def test_the_preview_fragment_carries_the_evaluate_url_and_inert_texts(admin_client, site):
    body = {"definition": _draft(site), "form": "ticket"}
    response = admin_client.post("/apps/repair/design/preview", data=json.dumps(body),
                                 content_type="application/json", headers={"X-CSRFToken": _token(admin_client)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-evaluate-url="{EVALUATE}"' in html and "data-form-errors" in html
    assert '<script type="application/json" data-ff-messages>' in html


# -- in the browser ------------------------------------------------------------------

def _open_designer(page, base):
    page.goto(f"{base}/apps/repair/design")
    page.wait_for_selector("#designer[data-ready='1']")


def test_typing_into_the_preview_of_an_unsaved_form_evaluates_the_draft(live_repair, page):
    base, ff = live_repair.url, live_repair.ff
    browser_sign_in(page, base)
    _open_designer(page, base)
    # a new formula field, not saved
    page.click("#palette [data-add-type='formula']")
    page.fill("#prop-key", "double_qty")
    page.locator("#props .fx[data-formula='formula'] textarea").first.fill("qty * 2")
    preview = page.locator("#preview")
    expect(preview.locator("[data-key='double_qty'] output")).to_have_count(1)
    # the preview is interactive: type, and the server evaluates the draft's formula
    preview.locator("#f-qty").fill("21")
    expect(preview.locator("[data-key='double_qty'] output")).to_have_text("42")
    preview.locator("#f-qty").fill("5")
    expect(preview.locator("[data-key='double_qty'] output")).to_have_text("10")
    # an error of the typed value is shown at its field
    preview.locator("#f-qty").fill("-1")
    expect(preview.locator("#err-qty")).not_to_have_text("")
    preview.locator("#f-qty").fill("4")
    expect(preview.locator("[data-key='double_qty'] output")).to_have_text("8")
    expect(preview.locator("#err-qty")).to_have_text("")

    # a visibility rule of the draft hides and shows a preview field
    page.locator("#canvas > li[data-key='qty'] .d-select").click()
    page.locator("#props .fx[data-formula='visible_if'] textarea").first.fill('status = "open"')
    # the re-rendered preview keeps what was typed and evaluates the new rule at once
    expect(preview.locator("#f-qty")).to_have_value("4")
    expect(preview.locator("[data-key='qty']")).to_be_hidden()
    preview.locator("#f-status").select_option("open")
    expect(preview.locator("[data-key='qty']")).to_be_visible()
    expect(preview.locator("[data-key='double_qty'] output")).to_have_text("8")
    preview.locator("#f-status").select_option("closed")
    expect(preview.locator("[data-key='qty']")).to_be_hidden()

    # nothing was saved: neither the definition nor a record
    assert "double_qty" not in ff.form("repair", "ticket")[1].fields_by_key
    assert ff.form("repair", "ticket")[1].fields_by_key["qty"].definition.get("visible_if") is None
    assert not page.locator("#preview button[type=submit], #preview #save").count()


MOUNT_MARKUP = """
<div class="form-section" data-section id="mt-s1"><div class="section-grid">
  <div class="field" data-key="a" data-kind="text" data-type="text"><input id="mt-a" data-input>
    <p class="field-error"></p></div></div></div>
<details class="form-section titled" data-section id="mt-s2" open><summary>S2</summary><div class="section-grid">
  <div class="field" data-key="b" data-kind="text" data-type="text"><input id="mt-b" data-input>
    <p class="field-error"></p></div></div></details>
"""


def test_entry_js_mounts_on_any_root_and_hides_a_section_whose_fields_are_all_hidden(live_repair, page):
    """formflowEntry.mount on markup with section wrappers, against a stand-in evaluation endpoint."""
    base = live_repair.url
    browser_sign_in(page, base)
    _open_designer(page, base)
    seen = []

    def evaluate(route):
        body = json.loads(route.request.post_data)
        seen.append(body)
        hide = body["values"].get("a") == "hide"
        route.fulfill(json={"values": {"a": body["values"].get("a"), "b": None},
                            "visible": {"a": True, "b": not hide}, "errors": []})
    page.route("**/mount-test/evaluate", evaluate)
    # test scaffolding only (Playwright's evaluate is not subject to the page's CSP)
    page.evaluate("""markup => {
        const root = document.createElement("div");
        root.id = "mount-test";
        root.innerHTML = markup;
        document.body.appendChild(root);
        window.formflowEntry.mount(root, {previewUrl: "/mount-test/evaluate", csrf: "t", save: false,
                                          body: () => ({definition: {marker: 1}})});
    }""", MOUNT_MARKUP)
    expect(page.locator("#mount-test")).to_have_attribute("data-ready", "1")
    page.fill("#mt-a", "hide")
    expect(page.locator("#mt-s2")).to_be_hidden()
    expect(page.locator("#mt-s1")).to_be_visible()
    page.fill("#mt-a", "show")
    expect(page.locator("#mt-s2")).to_be_visible()
    assert seen and all(b["definition"] == {"marker": 1} for b in seen)
