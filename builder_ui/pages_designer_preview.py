"""The form designer's live preview of a draft (unsaved) form: /apps/<app>/design/preview[/evaluate].

  POST …/design/preview            {definition, form} → the data-entry widgets of the draft's form
                                   (an HTML fragment of _widgets.html, as the data-entry page shows them)
  POST …/design/preview/evaluate   {definition, form, values, defaults?} → {values, visible, errors}

The second runs a save's own steps on the values typed into the preview — coerce, defaults,
formulas/lookups/rollups, visibility, required and constraint checks, links, form rules —
with engine.api_ui.evaluate_record, the function behind the data-entry page's record
preview, but on the model Form of the draft: static/entry.js, mounted on the preview by
designer.js, behaves exactly as on the real data-entry page. Nothing is installed or written.

Both need the right to define the app (access.DEFINE) and the CSRF token like every UI POST;
a draft that does not load answers 422 with the definition's located errors.
"""
from __future__ import annotations

from flask import jsonify, render_template, request
from flask_login import login_required

from engine import access
from engine.errors import FormflowError, NotFound

from . import ui
from .guard import find_form, instance, require_page
from .widgets import input_id, options_of, widget_for

#: The body properties of an evaluation (the record preview's, less `record`: a draft has no records).
EVALUATE_PROPERTIES = {"definition", "form", "values", "defaults"}


class _Refused(Exception):
    """A request answered with located errors (`status`, `errors`) instead of a result."""

    def __init__(self, status: int, errors: list[dict]):
        super().__init__(status)
        self.status, self.errors = status, errors

    def response(self):
        """The JSON answer {errors: [...]} with the status."""
        return jsonify({"errors": self.errors}), self.status


def _bad(location: str, message: str) -> _Refused:
    return _Refused(400, [{"location": location, "message": message}])


def _installed_form(app_key: str, form_key: str) -> bool:
    app = instance().installed().get(app_key)
    return app is not None and form_key in app.forms_by_key


def _draft_form(app_key: str, data: dict):
    """(model App, model Form) of form `form` of the draft in `data`; _Refused when it does not load."""
    from engine.definition import load_definition
    from engine.model import App
    if not isinstance(data.get("definition"), dict):
        raise _bad("definition", "expected an app definition (an object)")
    draft = {**data["definition"], "key": app_key}
    draft.pop("version", None)
    try:
        # a key renamed in the designer while formulas still say the old one: read as install will
        draft = instance().apps.follow_draft_renames(draft)
        defn = load_definition(draft, installed=_installed_form)
        model = App(defn)
    except FormflowError as err:
        raise _Refused(422, err.errors or [{"location": "", "message": err.message}]) from None
    form = model.forms_by_key.get(data.get("form")) if isinstance(data.get("form"), str) else None
    if form is None:
        raise _Refused(422, [{"location": "form", "message": "no such form in the draft"}])
    return model, form


def _readable_link(who, app_key: str, form, field) -> bool:
    """True when a link field of the draft may load linked records in the preview.

    Its target must be an installed form — the very one (same id) the draft points at, so a
    draft cannot relabel another form's storage — that the caller may read: lookups show
    the linked records' values.
    """
    from engine.model import link_target
    ff = instance()
    target_app, target_key = link_target(field.definition, app_key)
    target_app = target_app or app_key
    try:
        installed = ff.form(target_app, target_key or "")[1]
        drafted = ff.link_target(form, field)
    except (NotFound, KeyError):
        return False
    return drafted.id == installed.id and access.can(who, access.READ, target_app, installed.key)


@ui.post("/apps/<app_key>/design/preview")
@login_required
def designer_preview(app_key):
    """The data-entry widgets of a draft form (HTML fragment); 422 + located errors for an invalid draft."""
    from .pages_records import _link_info, _messages
    require_page(access.DEFINE, app_key)
    find_form(app_key)
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("definition"), dict):
        return jsonify({"errors": [{"location": "", "message": "expected {definition, form}"}]}), 400
    try:
        model, form = _draft_form(app_key, data)
    except _Refused as refused:
        return refused.response()
    return render_template("designer_preview.html", form=form, widget_for=widget_for, input_id=input_id,
                           options_of=options_of, link_info=_link_info(model), messages=_messages(),
                           app_key=app_key)


@ui.post("/apps/<app_key>/design/preview/evaluate")
@login_required
def designer_preview_evaluate(app_key):
    """Evaluate values typed into the preview against the draft: → {values, visible, errors} (nothing saved)."""
    from engine.api import json_response
    try:
        return json_response(_evaluate(app_key))  # orjson, as the record preview answers
    except _Refused as refused:
        return refused.response()


def _evaluate(app_key: str) -> dict:
    from engine.api_ui import evaluate_record
    from engine.records import RecordContext
    who = require_page(access.DEFINE, app_key)
    find_form(app_key)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise _bad("", "expected {definition, form, values}")
    unknown = sorted(set(data) - EVALUATE_PROPERTIES)
    if unknown:
        raise _bad(unknown[0], "unknown property")
    given = data.get("values", {})
    if not isinstance(given, dict):
        raise _bad("values", "expected an object of field keys")
    with_defaults = data.get("defaults", False)
    if not isinstance(with_defaults, bool):
        raise _bad("defaults", "expected true or false")
    _model, form = _draft_form(app_key, data)
    # a link value is only looked up when the caller could pick that record on the real page
    given = {k: v for k, v in given.items()
             if not (k in form.fields_by_key and form.fields_by_key[k].type_name == "link"
                     and v is not None and not _readable_link(who, app_key, form, form.fields_by_key[k]))}
    ff = instance()
    ctx = RecordContext(actor=who.id, user={"id": who.id, "username": who.user.get("username")})
    try:
        with ff.db.read() as conn:
            values, visible, errors = evaluate_record(ff, conn, form, given, ctx, defaults=with_defaults)
    except FormflowError as err:  # e.g. a link target the draft names but nothing installs yet
        raise _Refused(422, err.errors or [{"location": "", "message": err.message}]) from None
    return {"values": {f.key: (f.type.to_json(values[f.key]) if values.get(f.key) is not None else None)
                       for f in form.fields},
            "visible": {f.key: visible.get(f.key, True) for f in form.fields},
            "errors": errors}
