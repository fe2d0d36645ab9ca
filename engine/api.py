"""The REST API blueprint (/api/v1). Errors are RFC 9457 problem documents."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

api = Blueprint("api", __name__)


def problem(status: int, title: str, detail: str, errors: list | None = None, **extra):
    """An application/problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def instance():
    """The Formflow instance serving this request."""
    return current_app.extensions["formflow"]


@api.get("/health")
def health():
    """Liveness and database reachability."""
    ff = instance()
    with ff.db.read() as conn:
        conn.exec_driver_sql("SELECT 1")
    return jsonify({"status": "ok", "database": ff.db.dialect})
