"""The REST API blueprint (/api/v1): authentication, request checks, idempotency, errors.

Every failure is an RFC 9457 problem document (application/problem+json) with an
`errors` list of {location, message, code}. The resources live in api_accounts,
api_apps and api_records; they all register on the one `api` blueprint below and
ask `access.can` before doing anything.
"""
from __future__ import annotations

import functools

import orjson
from flask import Blueprint, Response, current_app, g, jsonify, request

from . import access
from .errors import FormflowError, StaleVersion

api = Blueprint("api", __name__)

JSON_BODY_METHODS = ("POST", "PUT", "PATCH")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def problem(status: int, title: str, detail: str, errors: list | None = None, **extra):
    """An application/problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="formflow"'
    return response


def instance():
    """The Formflow instance serving this request."""
    return current_app.extensions["formflow"]


class BadRequest(FormflowError):
    """The request itself is malformed (query parameters, headers, body)."""


class UnsupportedMediaType(FormflowError):
    """The body is not JSON."""

    status = 415
    title = "Unsupported media type"


class PayloadTooLarge(FormflowError):
    """Too many items in one request."""

    status = 413
    title = "Payload too large"


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON response serialised with orjson."""
    return Response(orjson.dumps(body), status=status, headers=headers, mimetype="application/json")


# -- view decorators ------------------------------------------------------------

def endpoint(*params: str, public: bool = False):
    """Declare a view's accepted query parameters (others are a 400) and whether it needs no sign-in."""
    def decorate(fn):
        fn.query_params = frozenset(params)
        fn.public = public

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)
        wrapper.query_params = fn.query_params
        wrapper.public = public
        return wrapper
    return decorate


def principal() -> access.Principal | None:
    """The caller of this request (None when not signed in)."""
    return g.get("principal")


def require(action: str, app: str | None = None, form: str | None = None) -> access.Principal:
    """The caller, when `access.can` allows `action`; 401/403 otherwise."""
    from .auth import Forbidden, Unauthorized
    who = principal()
    if who is None:
        raise Unauthorized("sign in, or send an API key as 'Authorization: Bearer <key>'")
    if not access.can(who, action, app, form):
        where = f" on app {app!r}" if app else ""
        raise Forbidden(f"you may not {action}{where}" + (" with this API key" if who.via == "key" else ""))
    return who


def body():
    """The parsed JSON body: 415 when it is not JSON, 400 when it does not parse."""
    if "json_body" in g:
        return g.json_body
    mimetype = request.mimetype or ""
    if not (mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))):
        raise UnsupportedMediaType(f"send the body as application/json (got {mimetype or 'no Content-Type'})")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest("the request needs a JSON body",
                         [{"location": "body", "message": "empty body", "code": "required"}])
    try:
        g.json_body = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise BadRequest(f"the body is not valid JSON: {err}",
                         [{"location": "body", "message": str(err), "code": "json"}]) from None
    return g.json_body


def body_object() -> dict:
    """The JSON body, which must be an object."""
    data = body()
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object",
                         [{"location": "body", "message": "expected an object", "code": "type"}])
    return data


def flag(name: str) -> bool:
    """A boolean query parameter (1/true/yes or 0/false/no)."""
    value = request.args.get(name)
    if value is None:
        return False
    low = value.lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no", ""):
        return False
    raise BadRequest(f"{name}: use 1 or 0", [{"location": name, "message": "expected 1 or 0", "code": "type"}])


def if_match_version(resource_id: str) -> int | None:
    """The version an If-Match header expects of resource `resource_id` (None: no condition).

    A tag that names another resource or is malformed can never match: 412.
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    for tag in request.if_match.as_set():
        if not tag:  # e.g. `If-Match: ""`
            continue
        rid, _, version = tag.rpartition("-")
        if rid == resource_id and version.isdigit():
            return int(version)
    raise StaleVersion(f"If-Match does not match the current ETag of {resource_id}; reload it and try again")


def etag(resource_id: str, version: int) -> str:
    """The (strong) ETag of a versioned resource."""
    return f'"{resource_id}-{version}"'


# -- request pipeline -------------------------------------------------------------

@api.before_request
def _authenticate():
    from .auth import csrf, current_principal
    view = current_app.view_functions.get(request.endpoint)
    allowed = getattr(view, "query_params", None)
    if allowed is not None:
        unknown = sorted(set(request.args) - allowed)
        if unknown:
            raise BadRequest(f"unknown query parameter {unknown[0]!r}"
                             + (f"; accepted: {', '.join(sorted(allowed))}" if allowed else ""),
                             [{"location": u, "message": "unknown query parameter", "code": "unknown"}
                              for u in unknown])
    ff = instance()
    who = current_principal(ff)
    if who is not None and who.via == "session" and request.method in UNSAFE_METHODS \
            and request.endpoint != "api.login":
        from flask_wtf.csrf import CSRFError
        try:
            csrf.protect()
        except CSRFError as err:
            from .auth import Forbidden
            raise Forbidden(f"CSRF check failed ({err.description}); send the token of GET /api/v1/me "
                            "in the X-CSRFToken header") from None
    if view is not None and not getattr(view, "public", False) and who is None:
        from .auth import Unauthorized
        raise Unauthorized("sign in, or send an API key as 'Authorization: Bearer <key>'")
    key = request.headers.get("Idempotency-Key")
    if key is not None and request.method == "POST" and who is not None:
        from . import idempotency
        body = _multipart_material() if request.mimetype == "multipart/form-data" \
            else request.get_data(cache=True)
        name, digest = idempotency.fingerprint(request.method, request.path, request.query_string, body)
        stored = idempotency.begin(ff, who.caller, key, name, digest)
        if stored is not None:
            response = Response(stored["body"], status=stored["status"])
            for h, v in stored["headers"].items():
                response.headers[h] = v
            response.headers["Idempotent-Replayed"] = "true"
            return response
        g.idempotency = (who.caller, key)


def _multipart_material() -> bytes:
    """What identifies a multipart request for Idempotency-Key: its fields and file contents.

    Clients choose a new random boundary on every send, so the raw bytes of a retry
    differ; the parsed parts do not.
    """
    import hashlib
    # a part without a name has the key None (not comparable with a str): order by "" then
    order = lambda kv: (kv[0] is not None, kv[0] or "")  # noqa: E731
    parts = [f"f:{k}={v}".encode() for k, v in sorted(request.form.items(multi=True),
                                                       key=lambda kv: (*order(kv), kv[1]))]
    for key, upload in sorted(request.files.items(multi=True), key=order):
        digest = hashlib.sha256()
        for chunk in iter(lambda: upload.stream.read(65536), b""):
            digest.update(chunk)
        upload.stream.seek(0)
        parts.append(f"u:{key}:{upload.filename}:{digest.hexdigest()}".encode())
    return b"\0".join(parts)


@api.after_request
def _remember(response):
    claim = g.pop("idempotency", None)
    if claim is not None:
        from . import idempotency
        from .idempotency import REPLAYED_HEADERS
        headers = {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers}
        idempotency.finish(instance(), *claim, response.status_code, headers,
                           response.get_data(as_text=True))
    return response


@api.teardown_request
def _release(_exc):
    claim = g.pop("idempotency", None)
    if claim is not None:  # the request failed before a response was made
        from . import idempotency
        try:
            idempotency.release(instance(), *claim)
        except Exception:  # pragma: no cover - nothing more to do
            current_app.logger.exception("could not release an idempotency key")


@api.get("/health")
@endpoint(public=True)
def health():
    """Liveness and database reachability."""
    ff = instance()
    with ff.db.read() as conn:
        conn.exec_driver_sql("SELECT 1")
    return jsonify({"status": "ok", "database": ff.db.dialect})


# the resources register their routes on `api`
from . import api_accounts, api_apps, api_records, openapi  # noqa: E402,F401
