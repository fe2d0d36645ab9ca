"""Accounts over the API: sign-in, the current user, users (admins) and API keys.

Audited (one entry each): login.succeeded, login.failed (also when throttled), logout,
password.changed (own), password.set (by an admin), user.created, user.updated,
api_key.created, api_key.revoked.
"""
from __future__ import annotations

from flask import request, session
from flask_login import logout_user
from flask_wtf.csrf import generate_csrf

from . import access, api_keys, auth, users
from .api import BadRequest, api, body_object, endpoint, instance, json_response, require
from .api_records import audit_event
from .errors import FormflowError


def _field(data: dict, name: str, kind, required: bool = True, default=None):
    value = data.get(name, default)
    if value is None and not required:
        return default
    if not isinstance(value, kind) or (kind is bool and not isinstance(value, bool)):
        expected = {str: "a string", bool: "true or false", list: "a list"}.get(kind, "a value")
        raise BadRequest(f"{name}: expected {expected}",
                         [{"location": name, "message": f"expected {expected}", "code": "type"}])
    return value


def _unknown(data: dict, allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise BadRequest(f"unknown property {extra[0]!r}",
                         [{"location": e, "message": "unknown property", "code": "unknown"} for e in extra])


def _me(who) -> dict:
    out = {"user": users.public_user(who.user), "auth": who.via}
    if who.via == "key":
        out["key"] = {"id": who.key_id, "apps": who.key_apps, "write": who.key_write}
    else:
        out["csrf_token"] = generate_csrf()
    return out


@api.post("/login")
@endpoint(public=True)
def login():
    """Sign in with user name and password; opens a session cookie."""
    ff = instance()
    data = body_object()
    _unknown(data, {"username", "password"})
    name = _field(data, "username", str)
    password = _field(data, "password", str)
    ip = request.remote_addr
    try:
        auth.check_throttle(ff, name, ip)
    except auth.TooManyAttempts:
        audit_event("login.failed", actor=None, object_type="user", object_id=name[:200],
                    details={"username": name[:150], "reason": "throttled"})
        raise
    row = users.authenticate(ff, name, password)
    if row is None:
        auth.record_failure(ff, name, ip)
        audit_event("login.failed", actor=None, object_type="user", object_id=name[:200],
                    details={"username": name[:150], "reason": "wrong user name or password"})
        raise auth.Unauthorized("wrong user name or password")
    auth.clear_failures(ff, name)
    auth.sign_in(row)
    audit_event("login.succeeded", actor=row["id"], object_type="user", object_id=row["id"],
                details={"username": row["username"]})
    return json_response(_me(access.Principal(user=row)))


@api.post("/logout")
@endpoint(public=True)
def logout():
    """End the browser session."""
    from flask_login import current_user
    user_id = current_user.id if getattr(current_user, "is_authenticated", False) else None
    logout_user()
    session.clear()
    if user_id is not None:
        audit_event("logout", actor=user_id, object_type="user", object_id=user_id)
    return "", 204


@api.get("/me")
@endpoint()
def me():
    """The signed-in user (and, for sessions, the CSRF token for writes); any valid key may ask."""
    from .api import principal
    return json_response(_me(principal()))


@api.post("/me/password")
@endpoint()
def change_own_password():
    """Change one's password (signs out every other session)."""
    ff = instance()
    who = require(access.ACCOUNT)
    data = body_object()
    _unknown(data, {"current_password", "new_password"})
    current = _field(data, "current_password", str)
    new = _field(data, "new_password", str)
    row = users.user_by_id(ff, who.id)
    if not users.verify_password(row["password_hash"], current):
        raise FormflowError("current_password is wrong", [{"location": "current_password",
                                                            "message": "wrong password", "code": "invalid"}])
    at = users.set_password(ff, who.id, new)
    if who.via == "session":
        session["pwd_at"] = at  # keep this session; the others end
    audit_event("password.changed", object_type="user", object_id=who.id)
    return "", 204


@api.get("/users")
@endpoint()
def list_users():
    """Every user (admins)."""
    require(access.ADMIN)
    return json_response({"users": users.list_users(instance())})


@api.post("/users")
@endpoint()
def create_user():
    """Create a user (admins)."""
    require(access.ADMIN)
    data = body_object()
    _unknown(data, {"username", "password", "admin", "display_name", "email"})
    created = users.add_user(instance(), _field(data, "username", str), _field(data, "password", str),
                             admin=_field(data, "admin", bool, False, False),
                             display_name=_field(data, "display_name", str, False),
                             email=_field(data, "email", str, False))
    audit_event("user.created", object_type="user", object_id=created["id"],
                details={"username": created["username"], "admin": bool(created.get("is_admin"))})
    return json_response(created, 201, {"Location": f"/api/v1/users/{created['id']}"})


@api.patch("/users/<user_id>")
@endpoint()
def update_user(user_id):
    """Enable/disable a user, grant/revoke admin, rename (admins)."""
    require(access.ADMIN)
    data = body_object()
    _unknown(data, {"is_active", "is_admin", "display_name", "email"})
    updated = users.update_user(
        instance(), user_id, is_active=_field(data, "is_active", bool, False),
        is_admin=_field(data, "is_admin", bool, False), display_name=_field(data, "display_name", str, False),
        email=_field(data, "email", str, False))
    audit_event("user.updated", object_type="user", object_id=updated["id"],
                details={k: data[k] for k in sorted(data)})
    return json_response(updated)


@api.post("/users/<user_id>/password")
@endpoint()
def set_user_password(user_id):
    """Set a user's password (admins); signs that user out everywhere."""
    require(access.ADMIN)
    data = body_object()
    _unknown(data, {"password"})
    users.set_password(instance(), user_id, _field(data, "password", str))
    audit_event("password.set", object_type="user", object_id=user_id)
    return "", 204


@api.get("/keys")
@endpoint()
def list_keys():
    """The caller's API keys (never the keys themselves)."""
    who = require(access.ACCOUNT)
    return json_response({"keys": api_keys.list_keys(instance(), who.id)})


@api.post("/keys")
@endpoint()
def create_key():
    """Create an API key; the response holds the key, shown this once."""
    who = require(access.ACCOUNT)
    data = body_object()
    _unknown(data, {"name", "apps", "write"})
    apps = data.get("apps")
    if apps is not None:
        apps = _field(data, "apps", list)
    created = api_keys.create_key(instance(), who.id, name=_field(data, "name", str, False),
                                  apps=apps, write=_field(data, "write", bool, False, False))
    audit_event("api_key.created", object_type="api_key", object_id=created["id"],
                details={"name": created["name"], "apps": created["apps"], "write": created["write"],
                         "user": who.id})
    return json_response(created, 201, {"Location": f"/api/v1/keys/{created['id']}"})


@api.delete("/keys/<key_id>")
@endpoint()
def revoke_key(key_id):
    """Revoke one of the caller's API keys (admins: any key)."""
    who = require(access.ACCOUNT)
    revoked = api_keys.revoke_key(instance(), key_id, user_id=None if who.is_admin else who.id)
    audit_event("api_key.revoked", object_type="api_key", object_id=key_id,
                details={"name": revoked["name"], "user": revoked["user_id"]})
    return "", 204


