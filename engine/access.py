"""Who may do what: the ONE authorization decision every API endpoint asks.

The rights themselves come from the permission service (engine/permissions.py,
docs/permissions.md): form-level actions (`read create update delete restore
export import`) through `permissions.form_access`, app-level rights
(`edit_definition manage_permissions manage_automations`) through
`permissions.app_access`. This module adds what belongs to the *caller* rather
than the user: an API key acts as its user, limited to its apps and, unless it
was made for writing, to reading (`read`, `export`). A key never exceeds its user.

    can(principal, action, app=None, form=None) -> bool
    form_access(principal, app, form) -> permissions.FormAccess  (key scope applied)

Actions understood by `can`:

- a record action (`read`, `create`, …) with `app` and `form`: the service's answer;
- `write` with a form: any of create / update / delete / restore (legacy callers);
- an app right (`edit_definition`, …) with `app`;
- `read` with only `app`: the caller may see the app (some right on one of its forms,
  or an app right); `view_definition`: may read the definition itself;
- `define` without `app`: install new apps (administrators); with `app`: `edit_definition`;
- `admin`: users, directory, audit, access review (administrators);
- `account`: one's own account and API keys (every signed-in user).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import permissions, queries

# actions
READ = "read"          # read records (with a form) or see an app (without)
WRITE = "write"        # create, change, delete or restore records (any of them)
DEFINE = "define"      # install new apps (no app) or change an app's definition
ADMIN = "admin"        # manage users, the directory, read the audit log
ACCOUNT = "account"    # manage one's own account and API keys
VIEW_DEFINITION = "view_definition"  # read an app's definition, versions and export file

FORM_ACTIONS = ("create", "read", "update", "delete", "restore", "export", "import")
APP_ACTIONS = ("edit_definition", "manage_permissions", "manage_automations")
#: what a read-only API key may still do
KEY_READ_ACTIONS = frozenset({"read", "export", VIEW_DEFINITION})
_WRITE_ACTIONS = ("create", "update", "delete", "restore")


@dataclass
class Principal:
    """The caller of a request: a user, possibly through an API key."""

    user: dict
    via: str = "session"                     # "session" or "key"
    key_id: str | None = None
    key_apps: list[str] | None = None        # None: every app
    key_write: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.user["id"]

    @property
    def is_admin(self) -> bool:
        return bool(self.user.get("is_admin"))

    @property
    def caller(self) -> str:
        """A stable name of the caller (idempotency keys are per caller)."""
        return f"key:{self.key_id}" if self.via == "key" else f"user:{self.id}"


def _ff():
    from flask import current_app
    return current_app.extensions["formflow"]


def _cache(principal: Principal) -> dict:
    return principal.extra.setdefault("access", {})


def _subject(principal: Principal, ff):
    """The permission service's Subject of the caller (directory facts), once per request."""
    from . import permissions
    cache = _cache(principal)
    if "subject" not in cache:
        cache["subject"] = permissions.subject(ff, principal.user)
    return cache["subject"]


def _key_allows(principal: Principal, action: str, app: str | None) -> bool:
    """The API key's own limits (apps, read-only); sessions have none."""
    if principal.via != "key":
        return True
    if not principal.key_write and action not in KEY_READ_ACTIONS:
        return False
    if principal.key_apps is not None:
        # a key limited to some apps touches only those apps' records and definitions
        if app is None or app not in principal.key_apps or action in (ADMIN, ACCOUNT):
            return False
    return True


class CallerFormAccess(permissions.FormAccess):
    """A FormAccess of a request's caller: its lists and counts give filters `$user` = the caller."""

    def list_records(self, conn, **kwargs):
        """permissions.FormAccess.list_records, the filter reading `$user` as the caller."""
        with queries.caller(self.subject.expr_user()):
            return super().list_records(conn, **kwargs)

    def count_records(self, conn, **kwargs):
        """permissions.FormAccess.count_records, the filter reading `$user` as the caller."""
        with queries.caller(self.subject.expr_user()):
            return super().count_records(conn, **kwargs)


def form_access(principal: Principal, app: str, form: str, ff=None):
    """The permission service's FormAccess of the caller on app.form, narrowed by its API key.

    NotFound for an unknown app or form. Cached per principal (one request). Its record
    lists and counts give filters the caller as `$user` (`who = $user.id`).
    """
    cache = _cache(principal)
    key = ("form", app, form)
    if key not in cache:
        ff = ff or _ff()
        subject = _subject(principal, ff)
        app_def, form_def = ff.form(app, form)
        fa = CallerFormAccess(ff, subject, app_def, form_def)
        if principal.via == "key":
            if principal.key_apps is not None and app not in principal.key_apps:
                fa.actions = frozenset()
            elif not principal.key_write:
                fa.actions = fa.actions & KEY_READ_ACTIONS
        cache[key] = fa
    return cache[key]


def app_access(principal: Principal, app: str, ff=None):
    """The permission service's AppAccess of the caller on an app, narrowed by its API key."""
    from . import permissions
    cache = _cache(principal)
    key = ("app", app)
    if key not in cache:
        ff = ff or _ff()
        aa = permissions.app_access(ff, _subject(principal, ff), app)
        if principal.via == "key" and (not principal.key_write or (
                principal.key_apps is not None and app not in principal.key_apps)):
            aa.rights = frozenset()
        cache[key] = aa
    return cache[key]


def _installed(ff, app: str):
    return ff.installed().get(app)


def can(principal: Principal | None, action: str, app: str | None = None, form: str | None = None) -> bool:
    """True when `principal` may do `action` (on `app`, and `form` of it, when given)."""
    if principal is None or not principal.user.get("is_active", True):
        return False
    if not _key_allows(principal, action, app):
        return False
    if action == ACCOUNT:
        return True
    if action == ADMIN:
        return principal.is_admin
    if app is None:
        if action == DEFINE:
            return principal.is_admin   # a new app
        return action == READ           # e.g. one's own background jobs
    ff = _ff()
    installed = _installed(ff, app)
    if installed is None:
        # unknown apps: only administrators may create them; the rest is a 404 later
        return principal.is_admin
    if action == DEFINE:
        action = "edit_definition"
    if action in APP_ACTIONS:
        return app_access(principal, app, ff).can(action)
    if action == VIEW_DEFINITION:
        if principal.is_admin or app_access(principal, app, ff).rights:
            return True
        # an app without a permissions section hides nothing from its users
        return installed.section("permissions") is None and any(
            form_access(principal, app, f.key, ff).actions for f in installed.forms)
    if form is None:
        if action != READ:
            return False
        return bool(app_access(principal, app, ff).rights) or any(
            form_access(principal, app, f.key, ff).actions for f in installed.forms)
    from .errors import NotFound
    try:
        fa = form_access(principal, app, form, ff)
    except NotFound:  # unknown form: a 404 for administrators, the same 403 as a closed form for others
        return principal.is_admin
    if action == WRITE:
        return any(fa.can(a) for a in _WRITE_ACTIONS)
    return fa.can(action)
