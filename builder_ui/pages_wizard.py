"""The import wizard: upload → map columns → preview row errors → choose the mode → run as a job → result.

The page is one screen driven by static/wizard.js: the file stays in the browser and
is sent to `POST /api/v1/apps/{app}/forms/{form}/import/preview` (engine/api_ui_wizard.py:
proposed mapping, sample rows, row errors, nothing written) each time the mapping
changes, then to the import endpoint with `async=1`; the job is polled at
`GET /api/v1/jobs/{id}` for the progress bar and the result.
"""
from __future__ import annotations

from flask import render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from . import ui
from .guard import find_form, require_page
from .i18n import ui_lang


def _wizard_messages() -> dict:
    """Texts the script shows, in the UI language ({n}-style placeholders are filled in by it)."""
    return {
        "ignore": _("— ignore this column —"),
        "checking": _("Checking the file…"),
        "summary": _("{rows} rows in the file, {checked} checked: {failed} with errors."),
        "all_good": _("Every checked row is valid."),
        "more_errors": _("…and {n} more errors."),
        "refused": _("The file cannot be imported as it is: {m}"),
        "failed": _("Something went wrong: {m}"),
        "queued": _("Waiting to start…"),
        "progress": _("{done} of {total} rows handled"),
        "checking": _("Checking the rows: {done} of {total}"),
        "writing": _("Writing the rows: {done} of {total}"),
        "writing_all": _("Writing all {total} rows at once…"),
        "created": _("{n} records created."),
        "not_created": _("{n} rows failed and were not imported."),
        "nothing": _("Nothing was imported: fix the rows below or import the good rows only."),
        "choose_file": _("Choose an .xlsx or .csv file first."),
        "row": _("Row"),
    }


@ui.get("/apps/<app_key>/forms/<form_key>/import")
@login_required
def import_wizard(app_key, form_key):
    """Upload a spreadsheet, map its columns, see the row errors, import it in the background."""
    require_page("import", app_key, form_key)
    app, form = find_form(app_key, form_key)
    base = f"/api/v1/apps/{app.key}/forms/{form.key}"
    return render_template(
        "wizard.html", app=app, form=form, messages=_wizard_messages(), lang=ui_lang(),
        preview_url=base + "/import/preview", import_url=base + "/import",
        template_url=base + "/import/template?lang=" + ui_lang(),
        table_url=url_for("ui.table_view", app_key=app.key, form_key=form.key))
