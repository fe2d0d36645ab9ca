"""App definitions over the API: list, install, read, change (with a dry-run plan), export."""
from __future__ import annotations

import orjson
from flask import Response, request

from . import access
from .api import (BadRequest, api, body, endpoint, etag, flag, if_match_version, instance, json_response,
                  require)
from .errors import Conflict, NotFound


def _summary(app) -> dict:
    return {"key": app.key, "version": app.version, "label": app.definition.get("label"),
            "forms": [{"key": f.key, "label": f.definition.get("label")} for f in app.forms]}


@api.get("/apps")
@endpoint()
def list_apps():
    """The installed apps the caller may read."""
    from .api import principal
    me = principal()
    apps = [a for k, a in sorted(instance().installed().items()) if access.can(me, access.READ, k)]
    return json_response({"apps": [_summary(a) for a in apps]})


@api.post("/apps")
@endpoint("dry_run")
def create_app():
    """Install a new app (409 when its key is taken; ?dry_run=1 only validates)."""
    ff = instance()
    definition = body()
    key = definition.get("key") if isinstance(definition, dict) else None
    require(access.DEFINE, key if isinstance(key, str) else None)
    if isinstance(key, str) and key in ff.installed():
        raise Conflict(f"app {key!r} is already installed; PUT /apps/{key} changes it",
                       [{"location": "key", "message": "already installed", "code": "duplicate"}])
    result = ff.apps.install(definition, actor=_actor(), dry_run=flag("dry_run"))
    if result.get("dry_run"):
        return json_response(result)
    return json_response(result, 201, {"Location": f"/api/v1/apps/{result['app']}",
                                       "ETag": etag(result["app"], result["version"])})


@api.post("/apps/import")
@endpoint("dry_run")
def import_app():
    """Install a definition file: a new app, or a new version of an installed one."""
    ff = instance()
    definition = body()
    key = definition.get("key") if isinstance(definition, dict) else None
    require(access.DEFINE, key if isinstance(key, str) else None)
    result = ff.apps.install(definition, actor=_actor(), dry_run=flag("dry_run"))
    status = 201 if result.get("created") and not result.get("dry_run") else 200
    return json_response(result, status, {"ETag": etag(result["app"], result["version"])})


@api.get("/apps/<app_key>")
@endpoint()
def get_app(app_key):
    """The installed definition (with ids and version); ETag is its version."""
    require(access.READ, app_key)
    text = instance().apps.export(app_key)
    version = orjson.loads(text)["version"]
    tag = etag(app_key, version)
    if request.if_none_match.contains(tag.strip('"')):
        return Response(status=304, headers={"ETag": tag})
    return Response(text, mimetype="application/json", headers={"ETag": tag})


@api.put("/apps/<app_key>")
@endpoint("dry_run")
def put_app(app_key):
    """Apply a new version of an app (If-Match on its ETag; ?dry_run=1 returns the plan only)."""
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
    expected = if_match_version(app_key)
    result = ff.apps.install(definition, actor=_actor(), dry_run=flag("dry_run"), expected_version=expected)
    return json_response(result, 200, {"ETag": etag(app_key, result["version"])})


@api.get("/apps/<app_key>/export")
@endpoint()
def export_app(app_key):
    """The definition as a downloadable file."""
    require(access.READ, app_key)
    text = instance().apps.export(app_key)
    return Response(text, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{app_key}.json"'})


@api.get("/apps/<app_key>/versions")
@endpoint()
def app_versions(app_key):
    """The applied versions of an app with their migration plans."""
    require(access.READ, app_key)
    return json_response({"versions": instance().apps.versions(app_key)})


def _actor() -> str | None:
    from .api import principal
    who = principal()
    return who.id if who else None
