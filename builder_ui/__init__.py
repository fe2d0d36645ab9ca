"""Server-rendered pages: sign-in and the list of apps (the visual builder grows here)."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user

ui = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


def _ff():
    return current_app.extensions["formflow"]


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
            return render_template("login.html", error=err.message), 429, {"Retry-After": str(err.retry_after)}
        row = users.authenticate(_ff(), name, password)
        if row is not None:
            auth.clear_failures(_ff(), name)
            auth.sign_in(row)
            return redirect(url_for("ui.apps"))
        auth.record_failure(_ff(), name, request.remote_addr)
        error, status = "Wrong user name or password.", 401
    return render_template("login.html", error=error), status


@ui.post("/logout")
@login_required
def logout():
    """Sign out."""
    logout_user()
    return redirect(url_for("ui.login"))


@ui.get("/apps")
@login_required
def apps():
    """The installed apps."""
    installed = sorted(_ff().installed().values(), key=lambda a: a.key)
    return render_template("apps.html", apps=installed)


@ui.get("/api/docs")
def api_docs():
    """The browsable API reference (vendored Swagger UI; ?app=KEY shows that app's document)."""
    app_key = request.args.get("app")
    spec = f"/api/v1/apps/{app_key}/openapi.json" if app_key else "/api/v1/openapi.json"
    return render_template("api_docs.html", spec_url=spec)
