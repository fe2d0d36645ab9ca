"""Server-rendered pages: sign-in and the list of apps (the visual builder grows here)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

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
    from engine import tables, users
    from engine.auth import SessionUser
    error = None
    if request.method == "POST":
        name = request.form.get("username", "")
        password = request.form.get("password", "")
        with _ff().db.read() as conn:
            row = conn.execute(sa.select(tables.users).where(
                sa.func.lower(tables.users.c.username) == name.lower())).mappings().first()
        ok = users.verify_password(row["password_hash"] if row else None, password)
        if row and ok and row["is_active"]:
            login_user(SessionUser(dict(row)))
            return redirect(url_for("ui.apps"))
        error = "Wrong user name or password."
    return render_template("login.html", error=error), (401 if error else 200)


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
