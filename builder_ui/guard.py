"""Who may see a page: the same `access.can` decision the REST API asks."""
from __future__ import annotations

from flask import abort, current_app

from engine import access


def instance():
    """The Formflow instance serving this request."""
    return current_app.extensions["formflow"]


def me() -> access.Principal | None:
    """The signed-in caller (None when signed out)."""
    from engine.auth import current_principal
    return current_principal(instance())


def allowed(action: str, app: str | None = None, form: str | None = None) -> bool:
    """True when the caller may do `action` (used to hide buttons they could not use)."""
    return access.can(me(), action, app, form)


def require_page(action: str, app: str | None = None, form: str | None = None) -> access.Principal:
    """The caller when allowed; a 403 page otherwise (pages are already behind login_required)."""
    who = me()
    if not access.can(who, action, app, form):
        abort(403)
    return who


def find_form(app_key: str, form_key: str | None = None):
    """(app, form) of the installed definitions; a 404 page when absent."""
    from engine.errors import NotFound
    try:
        if form_key is None:
            return instance().app(app_key), None
        return instance().form(app_key, form_key)
    except NotFound:
        abort(404)
