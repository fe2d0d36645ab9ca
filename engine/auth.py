"""Authentication: browser sessions (Flask-Login cookies, CSRF), API keys, login throttling.

A request is authenticated either by `Authorization: Bearer <API key>` or by the
session cookie. Cookie-authenticated writes need a CSRF token (flask-wtf; the
token is in the sign-in page and in `GET /api/v1/me`, sent back in the
`X-CSRFToken` header); Bearer requests cannot be forged cross-site and are exempt.

A session remembers the user's `password_changed_at` from when it was opened; a
password change makes every older session invalid.

Sign-in failures are counted in the database (so every server process sees
them) per user name and per client address. Past the limit the answer is 429
with Retry-After, given before the password is looked at and the same for names
that do not exist.
"""
from __future__ import annotations

import time

import sqlalchemy as sa
from flask import current_app, g, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user
from flask_wtf.csrf import CSRFProtect

from . import tables
from .access import Principal
from .errors import FormflowError

login_manager = LoginManager()
csrf = CSRFProtect()

# login throttling defaults (override with app.config["FORMFLOW_LOGIN_THROTTLE"])
THROTTLE = {"user_failures": 5, "ip_failures": 20, "window": 15 * 60, "block": 15 * 60}


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


class TooManyAttempts(FormflowError):
    """Sign-in is blocked for a while after repeated failures."""

    status = 429
    title = "Too many sign-in attempts"

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-in attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after


def init_auth(app) -> None:
    """Attach Flask-Login and CSRF protection to the app."""
    login_manager.init_app(app)
    login_manager.login_view = "ui.login"
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)   # valid as long as the session
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)  # SameSite cookies + token; no Referer needed
    csrf.init_app(app)

    @login_manager.user_loader
    def load_user(user_id: str):
        ff = app.extensions["formflow"]
        with ff.db.read() as conn:
            row = conn.execute(sa.select(tables.users).where(tables.users.c.id == user_id)).mappings().first()
        if row is None or not row["is_active"]:
            return None
        if session.get("pwd_at") != row["password_changed_at"]:
            return None  # the password changed after this session was opened
        return SessionUser(dict(row))


def sign_in(row: dict) -> None:
    """Open a session for a user (remembering the password version it belongs to)."""
    session.clear()
    login_user(SessionUser(row))
    session["pwd_at"] = row["password_changed_at"]


def current_principal(ff) -> Principal | None:
    """The caller of this request (cached on `g`); raises Unauthorized for a bad Bearer key."""
    if "principal" in g:
        return g.principal
    principal = None
    header = request.headers.get("Authorization")
    if header is not None:
        from .api_keys import verify_key
        scheme, _, token = header.partition(" ")
        found = verify_key(ff, token.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise Unauthorized("the API key is not valid (unknown, revoked, or its user is disabled)")
        key, user = found
        import json
        principal = Principal(user=user, via="key", key_id=key["id"],
                              key_apps=None if key["apps"] is None else json.loads(key["apps"]),
                              key_write=bool(key["can_write"]))
    elif current_user.is_authenticated:
        principal = Principal(user=current_user.row, via="session")
    g.principal = principal
    return principal


class Unauthorized(FormflowError):
    """No valid credentials."""

    status = 401
    title = "Unauthorized"


class Forbidden(FormflowError):
    """Valid credentials, but not allowed."""

    status = 403
    title = "Forbidden"


# -- login throttling ---------------------------------------------------------

def _limits() -> dict:
    return {**THROTTLE, **current_app.config.get("FORMFLOW_LOGIN_THROTTLE", {})}


def _scopes(username: str, ip: str | None) -> list[tuple[str, int]]:
    limits = _limits()
    name = (username or "").strip().lower()[:150]
    return [(f"user:{name}", limits["user_failures"]), (f"ip:{ip or '-'}", limits["ip_failures"])]


def check_throttle(ff, username: str, ip: str | None) -> None:
    """TooManyAttempts when the user name or the address is blocked."""
    now = time.time()
    t = tables.login_throttle
    scopes = [s for s, _ in _scopes(username, ip)]
    with ff.db.read() as conn:
        rows = conn.execute(sa.select(t.c.blocked_until).where(t.c.scope.in_(scopes))).all()
    until = max((r[0] or 0 for r in rows), default=0)
    if until > now:
        raise TooManyAttempts(max(1, int(until - now + 0.999)))


def record_failure(ff, username: str, ip: str | None) -> None:
    """Count a failed sign-in for the name and the address; block them past the limit."""
    limits = _limits()
    now = time.time()
    t = tables.login_throttle
    for scope, limit in _scopes(username, ip):
        for _attempt in range(3):
            try:
                with ff.db.write() as conn:
                    row = conn.execute(sa.select(t).where(t.c.scope == scope)).mappings().first()
                    if row is None:
                        conn.execute(t.insert().values(scope=scope, failures=1, window_start=now,
                                                       blocked_until=None))
                    else:
                        failures, start = row["failures"] + 1, row["window_start"]
                        if now - start > limits["window"]:
                            failures, start = 1, now
                        blocked = now + limits["block"] if failures >= limit else row["blocked_until"]
                        conn.execute(t.update().where(t.c.scope == scope).values(
                            failures=failures, window_start=start, blocked_until=blocked))
                break
            except sa.exc.IntegrityError:  # another process inserted the row first
                continue


def clear_failures(ff, username: str) -> None:
    """Forget the failures of a user name after a successful sign-in."""
    scope = _scopes(username, None)[0][0]
    with ff.db.write() as conn:
        conn.execute(tables.login_throttle.delete().where(tables.login_throttle.c.scope == scope))
