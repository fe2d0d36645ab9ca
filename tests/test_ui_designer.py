"""The form designer page (view tests, Flask test client on SQLite): who may open it, what it embeds,
the draft preview, and the formula check against a draft definition."""
from __future__ import annotations

import json
import re

import pytest

from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import ADMIN, ADMIN_PW, CLERK, CLERK_PW, csrf_of


@pytest.fixture
def admin(sqlite_repair_site):
    return client_of(sqlite_repair_site)


@pytest.fixture
def clerk(sqlite_repair_site):
    return client_of(sqlite_repair_site, CLERK, CLERK_PW)


def _config(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="ff-designer">(.*?)</script>', html, re.S)
    assert match, "the designer embeds its configuration as JSON"
    return json.loads(match.group(1))


def _draft(site) -> dict:
    return json.loads(site.ff.apps.export("repair"))


def _post_json(client, url, body, token=None):
    headers = {"X-CSRFToken": token} if token else {}
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def test_the_designer_renders_for_admins_with_the_installed_definition(admin):
    response = admin.get("/apps/repair/design")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    config = _config(html)
    assert config["app"] == "repair" and config["version"] == 1
    assert [f["key"] for f in config["definition"]["forms"]] == ["ticket", "machine"]
    assert "designer.js" in html and "designer.css" in html and "Sortable.min.js" in html
    assert 'id="palette"' in html and 'id="canvas"' in html and 'id="props"' in html


def test_the_designer_has_no_inline_scripts_or_handlers(admin):
    html = admin.get("/apps/repair/design").get_data(as_text=True)
    for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        attrs, body = script
        assert "src=" in attrs or 'type="application/json"' in attrs
    assert not re.search(r"\son[a-z]+=", html)


def test_members_get_403(clerk):
    assert clerk.get("/apps/repair/design").status_code == 403
    token = csrf_of(clerk.get("/apps").get_data(as_text=True))
    assert _post_json(clerk, "/apps/repair/design/preview", {"definition": {}, "form": "ticket"}, token).status_code == 403


def test_signed_out_users_are_sent_to_sign_in(sqlite_repair_site):
    response = sqlite_repair_site.app.test_client().get("/apps/repair/design")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_unknown_app_is_404(admin):
    assert admin.get("/apps/nope/design").status_code == 404


def test_the_palette_lists_every_registered_field_type_with_its_properties(admin):
    from engine.field_types import registry
    config = _config(admin.get("/apps/repair/design").get_data(as_text=True))
    assert [t["name"] for t in config["types"]] == registry.names()
    by_name = {t["name"]: t for t in config["types"]}
    assert by_name["select"]["required"] == ["options"]
    assert [name for name, _schema in by_name["formula"]["properties"]] == ["formula", "result_type", "scale", "currency"]
    assert by_name["text"]["label"] == "单行文本"  # Chinese by default


def test_a_newly_registered_field_type_appears_in_the_palette(admin):
    from engine.field_types import TextType, registry

    class ShoeSize(TextType):
        name = "shoe_size"
    registry.add("shoe_size", ShoeSize)
    try:
        config = _config(admin.get("/apps/repair/design").get_data(as_text=True))
        assert "shoe_size" in [t["name"] for t in config["types"]]
    finally:
        registry._items.pop("shoe_size")


def test_the_function_help_comes_from_the_expression_registry(admin):
    from engine.expr.functions import FUNCTIONS
    config = _config(admin.get("/apps/repair/design").get_data(as_text=True))
    names = [f["name"] for f in config["functions"]]
    assert sorted(names) == sorted(FUNCTIONS.names())
    total = next(f for f in config["functions"] if f["name"] == "SUM")
    assert total["signature"].startswith("SUM(") and total["doc"]


def test_the_ui_texts_are_english_when_chosen(admin):
    admin.set_cookie("ff_lang", "en")
    config = _config(admin.get("/apps/repair/design").get_data(as_text=True))
    assert next(t for t in config["types"] if t["name"] == "text")["label"] == "Single-line text"
    assert config["messages"]["stale"].startswith("This app was changed by someone else")


def test_other_apps_forms_are_offered_as_link_targets(admin, sqlite_repair_site):
    sqlite_repair_site.ff.apps.install({"key": "crm", "label": {"en": "CRM"}, "forms": [
        {"key": "customer", "label": {"en": "Customer"}, "fields": [{"key": "name", "type": "text", "label": {"en": "Name"}}]}]})
    config = _config(admin.get("/apps/repair/design").get_data(as_text=True))
    assert [f["target"] for f in config["other_forms"]] == ["crm.customer"]


def test_the_preview_needs_the_csrf_token(admin, sqlite_repair_site):
    response = _post_json(admin, "/apps/repair/design/preview", {"definition": _draft(sqlite_repair_site), "form": "ticket"})
    assert response.status_code == 400


def test_the_preview_renders_the_data_entry_widgets_of_a_draft(admin, sqlite_repair_site):
    token = csrf_of(admin.get("/apps/repair/design").get_data(as_text=True))
    draft = _draft(sqlite_repair_site)
    draft["forms"][0]["fields"].append({"key": "urgent", "type": "boolean", "label": {"zh-CN": "<b>加急</b>"}})
    response = _post_json(admin, "/apps/repair/design/preview", {"definition": draft, "form": "ticket"}, token)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="f-urgent"' in html and 'id="f-title"' in html and "data-add-row" in html
    assert "&lt;b&gt;加急&lt;/b&gt;" in html and "<b>加急" not in html
    assert sqlite_repair_site.ff.form("repair", "ticket")[1].fields_by_key.get("urgent") is None  # nothing saved


def test_an_invalid_draft_previews_as_located_errors(admin, sqlite_repair_site):
    token = csrf_of(admin.get("/apps/repair/design").get_data(as_text=True))
    draft = _draft(sqlite_repair_site)
    draft["forms"][0]["fields"][4]["formula"] = "SUM(parts.price) * qtty"
    response = _post_json(admin, "/apps/repair/design/preview", {"definition": draft, "form": "ticket"}, token)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert any(e["location"] == "forms[0].fields[4].formula" and "qtty" in e["message"] for e in errors)


def test_the_formula_check_accepts_a_draft_definition(admin, sqlite_repair_site):
    token = csrf_of(admin.get("/apps/repair/design").get_data(as_text=True))
    draft = _draft(sqlite_repair_site)
    draft["forms"][0]["fields"].append({"key": "discount", "type": "number", "label": {"en": "Discount"}})
    body = {"source": "SUM(parts.price) * qty - discount", "app": "repair", "form": "ticket", "definition": draft}
    assert _post_json(admin, "/api/v1/expressions/check", body, token).get_json()["diagnostics"] == []
    body["source"] = "qty * discont"
    diagnostics = _post_json(admin, "/api/v1/expressions/check", body, token).get_json()["diagnostics"]
    assert diagnostics[0]["code"] == "#NAME?" and "discont" in diagnostics[0]["message"]
    assert (diagnostics[0]["column"], diagnostics[0]["end_column"]) == (7, 14)
    row = {"source": "price * 2 + $parent.qty", "app": "repair", "form": "ticket", "subform": "parts", "definition": draft}
    assert _post_json(admin, "/api/v1/expressions/check", row, token).get_json()["diagnostics"] == []
    bad = dict(body, form="nope")
    assert _post_json(admin, "/api/v1/expressions/check", bad, token).status_code == 400


def test_the_formula_check_without_a_draft_is_unchanged(admin):
    token = csrf_of(admin.get("/apps/repair/design").get_data(as_text=True))
    body = {"source": "qtty", "app": "repair", "form": "ticket"}
    assert _post_json(admin, "/api/v1/expressions/check", body, token).get_json()["diagnostics"][0]["suggestion"] == "qty"


def test_the_designer_opens_on_the_form_asked_for(admin):
    config = _config(admin.get("/apps/repair/design?form=machine").get_data(as_text=True))
    assert config["form"] == "machine"


def test_every_designer_text_is_translated():
    from pathlib import Path
    from babel.messages.extract import extract_from_file
    from babel.messages.mofile import read_mo
    root = Path(__file__).resolve().parent.parent / "builder_ui"
    ids = {m[1] for m in extract_from_file("python", str(root / "pages_designer.py"))}
    ids |= {m[1] for m in extract_from_file("jinja2", str(root / "templates/designer.html"))}
    assert len(ids) > 100, len(ids)
    for lang in ("zh_Hans_CN", "en"):
        with open(root / f"translations/{lang}/LC_MESSAGES/messages.mo", "rb") as fh:
            catalog = read_mo(fh)
        assert sorted(i for i in ids if not (catalog.get(i) and catalog.get(i).string)) == [], lang
