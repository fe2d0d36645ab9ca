"""App definitions over the API: list, install, read, change (with a dry-run plan), export.

Installing a new app needs an administrator; changing one needs the app-level right
`edit_definition`, and `manage_permissions` too when its `roles` or `permissions`
sections change. Reading the definition (it names every field, hidden ones too) needs
an app-level right, or an app without a `permissions` section. Every applied change
leaves exactly one audit entry (`app.installed` / `app.updated`).
"""
from __future__ import annotations

import orjson
from flask import Response, request

from . import access
from .api import (BadRequest, api, body, endpoint, etag, flag, if_match_version, instance, json_response,
                  principal, require)
from .errors import Conflict, NotFound


def _summary(app, who=None) -> dict:
    forms = [f for f in app.forms
             if who is None or access.can(who, access.VIEW_DEFINITION, app.key)
             or access.form_access(who, app.key, f.key).actions]
    return {"key": app.key, "version": app.version, "label": app.definition.get("label"),
            "forms": [{"key": f.key, "label": f.definition.get("label")} for f in forms]}


def _strip(value):
    """A section without the ids the engine adds (so an unchanged section compares equal)."""
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "id"}
    return value


def _require_change(app_key: str, definition) -> None:
    """edit_definition on the app, plus manage_permissions when roles or permissions change."""
    who = require(access.DEFINE, app_key)
    installed = instance().installed().get(app_key)
    if installed is None or not isinstance(definition, dict):
        return
    current = installed.definition
    if any(_strip(definition.get(k)) != _strip(current.get(k)) for k in ("roles", "permissions")):
        if not access.can(who, "manage_permissions", app_key):
            from .auth import Forbidden
            raise Forbidden(f"changing the roles or permissions of app {app_key!r} needs the "
                            "manage_permissions right")


def _audit_install(result: dict, before: dict | None) -> None:
    """One audit entry for an applied (not dry-run) definition change."""
    if result.get("dry_run"):
        return
    from .api_records import audit_event
    details = {"version": result.get("version"), "from_version": result.get("from_version")}
    if before is not None:
        after = orjson.loads(instance().apps.export(result["app"]))
        details["changed_sections"] = sorted(
            k for k in set(before) | set(after) if k not in ("version",) and _strip(before.get(k)) != _strip(after.get(k)))
    audit_event("app.installed" if before is None else "app.updated",
                object_type="app", object_id=result["app"], app=result["app"], details=details)
    for step in result.get("plan") or ():
        if step.get("op") == "follow_rename":  # another app's references followed a rename: its own entry
            audit_event("app.updated", object_type="app", object_id=step["app"], app=step["app"],
                        details={"version": step.get("version"), "follows": result["app"],
                                 "summary": step.get("summary")})


@api.get("/apps")
@endpoint()
def list_apps():
    """The installed apps the caller may see (and of each the forms it has some right on)."""
    me = principal()
    apps = [a for k, a in sorted(instance().installed().items()) if access.can(me, access.READ, k)]
    return json_response({"apps": [_summary(a, me) for a in apps]})


@api.post("/apps")
@endpoint("dry_run")
def create_app():
    """Install a new app (409 when its key is taken; ?dry_run=1 only validates)."""
    ff = instance()
    definition = body()
    key = definition.get("key") if isinstance(definition, dict) else None
    require(access.DEFINE, None)  # a new app: administrators
    if isinstance(key, str) and key in ff.installed():
        raise Conflict(f"app {key!r} is already installed; PUT /apps/{key} changes it",
                       [{"location": "key", "message": "already installed", "code": "duplicate"}])
    result = ff.apps.install(definition, actor=_actor(), dry_run=flag("dry_run"))
    if result.get("dry_run"):
        return json_response(result)
    _audit_install(result, None)
    return json_response(result, 201, {"Location": f"/api/v1/apps/{result['app']}",
                                       "ETag": etag(result["app"], result["version"])})


@api.post("/apps/import")
@endpoint("dry_run")
def import_app():
    """Install a definition file: a new app, or a new version of an installed one."""
    ff = instance()
    definition = body()
    key = definition.get("key") if isinstance(definition, dict) else None
    existing = isinstance(key, str) and key in ff.installed()
    if existing:
        _require_change(key, definition)
    else:
        require(access.DEFINE, None)  # a new app: administrators
    before = orjson.loads(ff.apps.export(key)) if existing else None
    result = ff.apps.install(definition, actor=_actor(), dry_run=flag("dry_run"))
    _audit_install(result, before)
    status = 201 if result.get("created") and not result.get("dry_run") else 200
    return json_response(result, status, {"ETag": etag(result["app"], result["version"])})


@api.get("/apps/<app_key>")
@endpoint()
def get_app(app_key):
    """The installed definition (with ids and version); ETag is its version."""
    require(access.VIEW_DEFINITION, app_key)
    text = instance().apps.export(app_key)
    version = orjson.loads(text)["version"]
    tag = etag(app_key, version)
    if request.if_none_match.contains(tag.strip('"')):
        return Response(status=304, headers={"ETag": tag})
    return Response(text, mimetype="application/json", headers={"ETag": tag})


@api.put("/apps/<app_key>")
@endpoint("dry_run")
def put_app(app_key):
    """Apply a new version of an app (If-Match on its ETag → 412, a stale body `version` → 409; ?dry_run=1 plans)."""
    ff = instance()
    require(access.DEFINE, app_key)
    definition = body()
    if not isinstance(definition, dict):
        raise BadRequest("the body must be an app definition (a JSON object)",
                         [{"location": "body", "message": "expected an object", "code": "type"}])
    if definition.get("key", app_key) != app_key:
        raise BadRequest("the definition's key differs from the URL",
                         [{"location": "key", "message": f"must be {app_key!r}", "code": "mismatch"}])
    definition = {**definition, "key": app_key}
    if app_key not in ff.installed():
        raise NotFound(f"no app {app_key!r} is installed; POST /apps installs a new one")
    _require_change(app_key, definition)
    expected = if_match_version(app_key)
    based_on = definition.get("version")  # an exported copy says which version it was edited from
    if isinstance(based_on, bool) or not isinstance(based_on, int):
        based_on = None
    before = orjson.loads(ff.apps.export(app_key))
    result = ff.apps.install(definition, actor=_actor(), dry_run=flag("dry_run"), expected_version=expected,
                             based_on=based_on)
    _audit_install(result, before)
    return json_response(result, 200, {"ETag": etag(app_key, result["version"])})


@api.delete("/apps/<app_key>")
@endpoint("force")
def delete_app(app_key):
    """Uninstall an app: 409 while it holds records (unless ?force=1) or another app links to it."""
    ff = instance()
    require(access.DEFINE, app_key)
    result = ff.apps.uninstall(app_key, force=flag("force"))
    from .api_records import audit_event
    audit_event("app.uninstalled", object_type="app", object_id=app_key, app=app_key, details=result)
    return Response(status=204)


@api.get("/apps/<app_key>/export")
@endpoint()
def export_app(app_key):
    """The definition as a downloadable file."""
    require(access.VIEW_DEFINITION, app_key)
    text = instance().apps.export(app_key)
    return Response(text, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{app_key}.json"'})


@api.get("/apps/<app_key>/versions")
@endpoint()
def app_versions(app_key):
    """The applied versions of an app with their migration plans."""
    require(access.VIEW_DEFINITION, app_key)
    return json_response({"versions": instance().apps.versions(app_key)})


def _actor() -> str | None:
    who = principal()
    return who.id if who else None
