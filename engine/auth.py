"""Sign-in for the browser (Flask-Login session cookies)."""
from __future__ import annotations

import sqlalchemy as sa
from flask_login import LoginManager, UserMixin

from . import tables

login_manager = LoginManager()


class SessionUser(UserMixin):
    """The signed-in user of a browser session."""

    def __init__(self, row: dict):
        self.row = row
        self.id = row["id"]
        self.username = row["username"]
        self.is_admin = bool(row["is_admin"])

    @property
    def is_active(self) -> bool:
        return bool(self.row["is_active"])


def init_auth(app) -> None:
    """Attach Flask-Login to the app."""
    login_manager.init_app(app)
    login_manager.login_view = "ui.login"

    @login_manager.user_loader
    def load_user(user_id: str):
        ff = app.extensions["formflow"]
        with ff.db.read() as conn:
            row = conn.execute(sa.select(tables.users).where(tables.users.c.id == user_id)).mappings().first()
        return SessionUser(dict(row)) if row else None
