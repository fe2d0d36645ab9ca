"""Server-rendered pages (blueprint `ui`): sign-in, language, and the page modules registered below.

Page modules: pages_apps (home, create/import/export/templates), pages_records
(data entry, table view, record page). i18n sets up Flask-Babel; the JSON
endpoints the pages call live in engine.api_ui (mounted at /api/v1 by engine.web).
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from .guard import instance as _ff

ui = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


@ui.record_once
def _setup(state):
    """Flask-Babel and the label filters."""
    from . import i18n
    i18n.init_app(state.app)


@ui.get("/")
def home():
    """Send signed-in users to their apps, others to the sign-in page."""
    return redirect(url_for("ui.apps" if current_user.is_authenticated else "ui.login"))


@ui.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with user name and password."""
    from engine import auth, users
    error, status = None, 200
    if request.method == "POST":
        name = request.form.get("username", "")
        password = request.form.get("password", "")
        try:
            auth.check_throttle(_ff(), name, request.remote_addr)
        except auth.TooManyAttempts as err:
            message = _("Too many failed sign-in attempts; try again in %(n)s seconds.", n=err.retry_after)
            return render_template("login.html", error=message), 429, {"Retry-After": str(err.retry_after)}
        row = users.authenticate(_ff(), name, password)
        if row is not None:
            auth.clear_failures(_ff(), name)
            auth.sign_in(row)
            return redirect(url_for("ui.apps"))
        auth.record_failure(_ff(), name, request.remote_addr)
        error, status = _("Wrong user name or password."), 401
    return render_template("login.html", error=error), status


@ui.post("/logout")
@login_required
def logout():
    """Sign out."""
    logout_user()
    return redirect(url_for("ui.login"))


@ui.post("/lang")
def set_language():
    """Switch the UI language (remembered in a cookie) and go back."""
    from . import i18n
    lang = request.form.get("lang")
    target = request.form.get("next") or url_for("ui.home")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("ui.home")
    response = redirect(target)
    if lang in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


@ui.get("/api/docs")
def api_docs():
    """The browsable API reference (vendored Swagger UI; ?app=KEY shows that app's document)."""
    app_key = request.args.get("app")
    spec = f"/api/v1/apps/{app_key}/openapi.json" if app_key else "/api/v1/openapi.json"
    return render_template("api_docs.html", spec_url=spec)


from . import pages_apps, pages_records  # noqa: E402,F401  (each registers its routes on `ui`)
from . import pages_designer  # noqa: E402,F401
from . import pages_designer_preview  # noqa: E402,F401  (the designer's live preview of a draft)
from . import pages_wizard  # noqa: E402,F401  (import wizard)
from . import pages_views  # noqa: E402,F401  (kanban, calendar, saved views)
from . import pages_permissions  # noqa: E402,F401  (permissions editor, view as user)
