"""Home and apps: the list of apps, create an app, import a bundle, install a template, export."""
from __future__ import annotations

from pathlib import Path

import orjson
from flask import Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine import access
from engine.errors import FormflowError

from . import ui
from .guard import allowed, find_form, instance, me, require_page

ROOT = Path(__file__).resolve().parent.parent
#: folders whose *.json files are offered as templates
TEMPLATE_DIRS = (ROOT / "templates", ROOT / "examples")


def templates() -> dict[str, Path]:
    """{name: path} of the installable template files (name relative to the project folder)."""
    found = {}
    for folder in TEMPLATE_DIRS:
        if folder.is_dir():
            for path in sorted(folder.rglob("*.json")):
                found[path.relative_to(ROOT).as_posix()] = path
    return found


def _apps_page(errors=None, status=200, message=None, values=None):
    who = me()
    installed = [a for k, a in sorted(instance().installed().items()) if access.can(who, access.READ, k)]
    return render_template("apps.html", apps=installed, can_define=allowed(access.DEFINE),
                           templates=sorted(templates()), errors=errors or [], message=message,
                           values=values or {}), status


def _install(definition, values=None, designer=False):
    """Install a definition (then open the app, or its designer); the apps page with the located
    errors when it is refused."""
    who = me()
    key = definition.get("key") if isinstance(definition, dict) else None
    require_page(access.DEFINE, key if isinstance(key, str) else None)
    try:
        result = instance().apps.install(definition, actor=who.id)
    except FormflowError as err:
        errors = err.errors or [{"location": "", "message": err.message}]
        return _apps_page(errors, err.status if 400 <= err.status < 500 else 422, values=values)
    if designer:
        return redirect(url_for("ui.designer", app_key=result["app"], form=definition["forms"][0]["key"]))
    return redirect(url_for("ui.app_page", app_key=result["app"]))


@ui.get("/apps")
@login_required
def apps():
    """The installed apps the caller may read, and (for admins) ways to add one."""
    return _apps_page()


@ui.post("/apps/new")
@login_required
def create_app():
    """Create a new app from a key and labels and open it in the designer.

    A definition needs a form with a field, so the app starts with the smallest one — form `main`
    with a `title` text field — which the designer renames, extends or replaces."""
    require_page(access.DEFINE)
    key = request.form.get("key", "").strip()
    label = {k: v for k, v in (("zh-CN", request.form.get("label_zh", "").strip()),
                               ("en", request.form.get("label_en", "").strip())) if v}
    definition = {"key": key, "label": label or {"en": key}, "forms": [
        {"key": "main", "label": {"zh-CN": "表单", "en": "Form"},
         "fields": [{"key": "title", "type": "text", "label": {"zh-CN": "标题", "en": "Title"}}]}]}
    if key in instance().installed():
        return _apps_page([{"location": "key", "message": _("An app with this key already exists.")}], 409,
                          values=request.form)
    return _install(definition, values=request.form, designer=True)


@ui.post("/apps/import")
@login_required
def import_app():
    """Install an uploaded app bundle (a JSON definition): a new app or a new version."""
    require_page(access.DEFINE)
    upload = request.files.get("bundle")
    if upload is None or not upload.filename:
        return _apps_page([{"location": "bundle", "message": _("Choose a JSON file to import.")}], 400)
    try:
        definition = orjson.loads(upload.read())
    except orjson.JSONDecodeError as err:
        return _apps_page([{"location": "bundle", "message": _("The file is not valid JSON: %(e)s", e=str(err))}],
                          400)
    return _install(definition)


@ui.post("/apps/templates")
@login_required
def install_template():
    """Install one of the template files shipped with formflow."""
    require_page(access.DEFINE)
    path = templates().get(request.form.get("template", ""))
    if path is None:
        return _apps_page([{"location": "template", "message": _("Unknown template.")}], 404)
    return _install(orjson.loads(path.read_bytes()))


@ui.get("/apps/<app_key>")
@login_required
def app_page(app_key):
    """One app: its forms, with links to their data."""
    require_page(access.READ, app_key)
    app, _form = find_form(app_key)
    return render_template("app.html", app=app, can_define=allowed(access.DEFINE, app_key))


@ui.get("/apps/<app_key>/export")
@login_required
def export_app(app_key):
    """Download the app definition as a JSON file."""
    require_page(access.READ, app_key)
    find_form(app_key)
    text = instance().apps.export(app_key)
    return Response(text, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{app_key}.json"'})


@ui.app_errorhandler(403)
def _forbidden(err):
    from flask import request as rq
    if rq.path.startswith("/api/"):
        from engine.api import problem
        return problem(403, "Forbidden", err.description or "Forbidden")
    return render_template("error.html", code=403, message=_("You may not open this page.")), 403


@ui.app_context_processor
def _navigation():
    def nav_apps():
        who = me()
        return [a for k, a in sorted(instance().installed().items()) if access.can(who, access.READ, k)]
    return {"nav_apps": nav_apps}
