"""HTTP endpoints of automations, webhooks and notifications (Blueprint `workflows`, under /api/v1).

LEAD: register with `app.register_blueprint(workflows.api.workflows, url_prefix="/api/v1")`.
Auth: this blueprint authenticates like engine/api.py (engine.auth.current_principal,
CSRF for browser sessions on unsafe methods) and asks engine.access.can through
engine.api.require — the ONE authorization decision. `POST /hooks/<token>` is
public: the token is the secret (only its hash is stored).

    POST   /hooks/<token>                                        inbound webhook → automation run (202)
    GET    /webhooks                      POST /webhooks         subscriptions (admin: all; others: own)
    GET    /webhooks/<id>   PATCH   DELETE                       one subscription
    POST   /webhooks/<id>:rotate-secret                          new secret; the old one signs for a day
    GET    /webhooks/<id>/deliveries?status=&limit=              delivery log
    GET    /deliveries/<id>                                      one delivery with every attempt
    POST   /deliveries/<id>:resend                               send again (same webhook-id)
    POST   /webhooks/<id>:replay   {"since": "<ISO time>"}       resend every failed delivery since T
    GET    /apps/<app>/automations/runs?automation=&status=&limit=   run log
    GET    /automation-runs/<id>                                 one run with its log
    POST   /automation-runs/<id>:replay                          run again on the same trigger snapshot
    POST   /apps/<app>/automations/<key>:dry-run  {"record": id} | {"payload": {...}}
    POST   /apps/<app>/automations/<key>:hook-token              token of an inbound-webhook automation
    POST   /apps/<app>/forms/<form>/records/<id>:run/<key>       a button
    GET    /notifications?unread=1        POST /notifications:mark-read {"ids": [...]} (no ids: all)
"""
from __future__ import annotations

import time

from flask import Blueprint, current_app, g, request

from engine import access
from engine.api import body_object, json_response, problem, require
from engine.errors import FormflowError, NotFound
from . import automations, defaults, deliveries, notifications, webhooks

workflows = Blueprint("workflows", __name__)


def _exempt_from_global_csrf() -> None:
    # as for engine/api.py: CSRF is checked in _authenticate, for browser sessions only
    from engine.auth import csrf
    csrf.exempt(workflows)


_exempt_from_global_csrf()
_PUBLIC = {"workflows.inbound_hook"}


def _ff():
    return current_app.extensions["formflow"]


@workflows.before_request
def _authenticate():
    from engine.auth import Unauthorized, csrf, current_principal
    if request.endpoint in _PUBLIC:
        return None
    who = current_principal(_ff())
    g.principal = who
    if who is None:
        raise Unauthorized("sign in, or send an API key as 'Authorization: Bearer <key>'")
    if who.via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        from flask_wtf.csrf import CSRFError
        from engine.auth import Forbidden
        try:
            csrf.protect()
        except CSRFError as err:
            raise Forbidden(f"CSRF check failed ({err.description})") from None
    return None


def _limit(default: int = 50, most: int = 500) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise FormflowError(f"limit: a number from 1 to {most}")
    return int(raw)


# -- inbound webhooks ---------------------------------------------------------------------

def _rate_limited(ff, token: str) -> bool:
    """Count a call to an inbound hook in its one-minute window; True past the limit.

    The counter is a database row (the sign-in throttle's table, scope "hook:<hash>"), so
    every gunicorn process and machine shares it: a per-process count would multiply the limit
    by the number of processes.
    """
    import hashlib

    import sqlalchemy as sa

    from engine import tables
    t = tables.login_throttle
    scope = "hook:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    limit = defaults.INBOUND_RATE_PER_MINUTE
    for _attempt in range(3):
        now = time.time()
        try:
            with ff.db.write() as conn:
                row = conn.execute(sa.select(t.c.failures, t.c.window_start).where(t.c.scope == scope)).first()
                if row is None:
                    conn.execute(t.insert().values(scope=scope, failures=1, window_start=now, blocked_until=None))
                    return False
                hits, start = row
                if now - start >= 60:
                    hits, start = 0, now
                if hits >= limit:
                    return True
                conn.execute(t.update().where(t.c.scope == scope).values(failures=hits + 1, window_start=start))
                return False
        except sa.exc.IntegrityError:  # another process inserted the row first: count again
            continue
    return False


@workflows.post("/hooks/<token>")
def inbound_hook(token):
    if request.content_length is not None and request.content_length > defaults.INBOUND_MAX_BYTES:
        return problem(413, "Payload too large", f"the body may have at most {defaults.INBOUND_MAX_BYTES} bytes")
    if _rate_limited(_ff(), token):
        response = problem(429, "Too many requests", "slow down: this hook is rate-limited")
        response.headers["Retry-After"] = "60"
        return response
    raw = request.get_data(cache=False)
    if len(raw) > defaults.INBOUND_MAX_BYTES:
        return problem(413, "Payload too large", f"the body may have at most {defaults.INBOUND_MAX_BYTES} bytes")
    if (request.mimetype or "") != "application/json":
        return problem(415, "Unsupported media type", "send the body as application/json")
    import orjson
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        return problem(400, "Bad request", f"the body is not valid JSON: {err}")
    try:
        run_id = automations.receive_webhook(_ff(), token, payload)
    except NotFound:
        return problem(404, "Not found", "no such hook")
    return json_response({"run": run_id, "status": "queued"}, 202)


# -- webhook subscriptions ------------------------------------------------------------------

def _own_hook(hook_id: str, with_secret: bool = False) -> dict:
    who = require(access.ACCOUNT)
    hook = webhooks.get(_ff(), hook_id, with_secret=with_secret)
    if not who.is_admin and hook["owner"] != who.id:
        raise NotFound(f"no webhook {hook_id!r}")
    return hook


@workflows.get("/webhooks")
def list_webhooks():
    who = require(access.ACCOUNT)
    return json_response({"webhooks": webhooks.list_all(_ff(), owner=None if who.is_admin else who.id)})


@workflows.post("/webhooks")
def create_webhook():
    data = body_object()
    app = data.get("app")
    # subscribing is an app-level admin right (manage automations and webhooks); the
    # payloads are still projected through the owner's own read permissions
    who = require("manage_automations", app) if app else require(access.ADMIN)
    unknown = set(data) - {"url", "app", "form", "event_types", "description"}
    if unknown:
        raise FormflowError(f"{sorted(unknown)[0]}: unknown property (url, app, form, event_types, description)")
    hook = webhooks.create(_ff(), url=data.get("url"), owner=who.id, app=app, form=data.get("form"),
                           event_types=data.get("event_types"), description=data.get("description"))
    return json_response(hook, 201)


@workflows.get("/webhooks/<hook_id>")
def get_webhook(hook_id):
    return json_response(_own_hook(hook_id, with_secret=True))


@workflows.patch("/webhooks/<hook_id>")
def patch_webhook(hook_id):
    _own_hook(hook_id)
    return json_response(webhooks.update(_ff(), hook_id, body_object()))


@workflows.delete("/webhooks/<hook_id>")
def delete_webhook(hook_id):
    _own_hook(hook_id)
    webhooks.delete(_ff(), hook_id)
    from flask import Response
    return Response(status=204)


@workflows.post("/webhooks/<hook_id>:rotate-secret")
def rotate_webhook_secret(hook_id):
    _own_hook(hook_id)
    return json_response(webhooks.rotate_secret(_ff(), hook_id))


@workflows.get("/webhooks/<hook_id>/deliveries")
def list_deliveries(hook_id):
    _own_hook(hook_id)
    return json_response({"deliveries": deliveries.list_for(_ff(), hook_id, status=request.args.get("status"),
                                                            limit=_limit())})


@workflows.get("/deliveries/<delivery_id>")
def get_delivery(delivery_id):
    one = deliveries.get(_ff(), delivery_id)
    _own_hook(one["webhook"])
    return json_response(one)


@workflows.post("/deliveries/<delivery_id>:resend")
def resend_delivery(delivery_id):
    one = deliveries.get(_ff(), delivery_id)
    _own_hook(one["webhook"])
    return json_response(deliveries.resend(_ff(), delivery_id), 202)


@workflows.post("/webhooks/<hook_id>:replay")
def replay_deliveries(hook_id):
    _own_hook(hook_id)
    since = body_object().get("since")
    if not isinstance(since, str) or len(since) < 10:
        raise FormflowError('since: an ISO 8601 UTC time, e.g. "2026-01-31T00:00:00.000000Z"')
    return json_response({"resent": deliveries.replay_failed(_ff(), hook_id, since)}, 202)


# -- automation runs --------------------------------------------------------------------------

@workflows.get("/apps/<app_key>/automations/runs")
def list_runs(app_key):
    require("manage_automations", app_key)
    _ff().app(app_key)
    return json_response({"runs": automations.list_runs(_ff(), app_key, request.args.get("automation"),
                                                        status=request.args.get("status"), limit=_limit())})


@workflows.get("/automation-runs/<run_id>")
def get_run(run_id):
    run = automations.get_run(_ff(), run_id)
    require("manage_automations", run["app"])
    return json_response(run)


@workflows.post("/automation-runs/<run_id>:replay")
def replay_run(run_id):
    run = automations.get_run(_ff(), run_id)
    who = require("manage_automations", run["app"])
    return json_response(automations.replay(_ff(), run_id, actor=who.id), 202)


@workflows.post("/apps/<app_key>/automations/<key>:dry-run")
def dry_run(app_key, key):
    who = require("manage_automations", app_key)
    data = body_object()
    return json_response(automations.dry_run(_ff(), app_key, key, record_id=data.get("record"),
                                             payload=data.get("payload"), actor=who.id))


@workflows.post("/apps/<app_key>/automations/<key>:hook-token")
def hook_token(app_key, key):
    who = require("manage_automations", app_key)
    token = automations.create_hook_token(_ff(), app_key, key, actor=who.id)
    return json_response({"token": token, "url": f"{request.host_url.rstrip('/')}/api/v1/hooks/{token}"}, 201)


@workflows.post("/apps/<app_key>/forms/<form_key>/records/<record_id>:run/<key>")
def press_button(app_key, form_key, record_id, key):
    who = require("update", app_key, form_key)
    fa = access.form_access(who, app_key, form_key, _ff())
    fa.check_record(_ff().records.get(app_key, form_key, record_id), "update")
    return json_response(automations.press_button(_ff(), app_key, form_key, record_id, key, actor=who.id))


# -- notifications ------------------------------------------------------------------------------

@workflows.get("/notifications")
def list_notifications():
    who = require(access.ACCOUNT)
    unread = request.args.get("unread") in ("1", "true", "yes")
    return json_response({"notifications": notifications.list_for(_ff(), who.id, unread_only=unread,
                                                                  limit=_limit())})


@workflows.post("/notifications:mark-read")
def mark_read():
    who = require(access.ACCOUNT)
    ids = body_object().get("ids") if request.get_data(cache=True).strip() else None
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise FormflowError("ids: a list of notification ids")
    return json_response({"marked": notifications.mark_read(_ff(), who.id, ids)})



def document_paths(app) -> None:
    """Advertise this blueprint's routes in the static OpenAPI document (engine.openapi)."""
    import re

    from engine import openapi as oa
    obj = {"type": "object", "additionalProperties": True}
    ok = {"GET": ("200", "The resource"), "POST": ("200", "Done"), "PATCH": ("200", "Updated"),
          "DELETE": ("204", "Deleted")}
    # views whose success is not the method's default (see their json_response calls)
    status_of = {"create_webhook": ("201", "Created"), "hook_token": ("201", "Created"),
                 "inbound_hook": ("202", "Accepted: the run is queued"),
                 "resend_delivery": ("202", "Accepted"), "replay_deliveries": ("202", "Accepted"),
                 "replay_run": ("202", "Accepted")}
    paths: dict = {}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(workflows.name + "."):
            continue
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len("/api/v1"):])
        params = [oa._path_param(p, {"type": "string"}) for p in re.findall(r"{([a-z_]+)}", path)]
        public = path.startswith("/hooks/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            status, description = status_of.get(view.__name__, ok[method])
            summary = (view.__doc__ or view.__name__).strip().splitlines()[0]
            response = {status: {"description": description,
                                 **({"content": oa._json(obj)} if status != "204" else {})}}
            build = oa._post if method == "POST" else oa._op
            op = build(summary, response, params=params, tag="automations and webhooks", public=public)
            if method in ("POST", "PATCH"):
                op["requestBody"] = {"required": False, "content": oa._json(obj)}
                # a body that is not JSON (or none where one is needed): 415; too large: 413
                for code in ("413", "415"):
                    op["responses"][code] = {"$ref": f"#/components/responses/Problem{code}"}
            if public:  # the inbound hook is rate-limited per token
                op["responses"]["429"] = {"$ref": "#/components/responses/Problem429"}
            paths.setdefault(path, {})[method.lower()] = op
    oa.register_paths(paths)
