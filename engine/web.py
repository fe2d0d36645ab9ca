"""The Flask application factory: API blueprint, builder UI blueprint, security headers."""
from __future__ import annotations

import secrets

from flask import Flask, g, request

from .errors import FormflowError


def create_app(ff=None, start_runner: bool | None = None, **settings) -> Flask:
    """Create the WSGI app for a Formflow instance (a new one from FORMFLOW_* variables by default).

    With the embedded job runner, the in-process relay/runner thread starts when the app
    makes its own instance (gunicorn, `formflow serve`) or when start_runner=True.
    """
    from .formflow import Formflow
    if start_runner is None:
        start_runner = ff is None
    if ff is None:
        ff = Formflow()
        ff.init_db()
    app = Flask("formflow", template_folder=None, static_folder=None)
    app.config.update(SECRET_KEY=ff.config.secret_key, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", MAX_CONTENT_LENGTH=20 * 1024 * 1024,
                      SESSION_COOKIE_SECURE=ff.config.env == "production")
    app.config.update(settings)
    app.extensions["formflow"] = ff

    from werkzeug.routing import BaseConverter

    class RecordId(BaseConverter):
        """A record id in a path: no "/" and no ":" (so `{id}:restore` routes parse)."""

        regex = r"[^/:]+"
    app.url_map.converters["rid"] = RecordId

    from .api import api
    app.register_blueprint(api, url_prefix="/api/v1")
    from .api_spreadsheets import spreadsheets
    app.register_blueprint(spreadsheets, url_prefix="/api/v1")
    from .api_permissions import permissions_api
    app.register_blueprint(permissions_api, url_prefix="/api/v1")
    from .api_ui import api_ui
    app.register_blueprint(api_ui, url_prefix="/api/v1")
    from .api_ui_wizard import api_ui_wizard; app.register_blueprint(api_ui_wizard, url_prefix="/api/v1")  # noqa: E702
    from .api_files import files_api; app.register_blueprint(files_api, url_prefix="/api/v1")  # noqa: E702
    import workflows.api
    app.register_blueprint(workflows.api.workflows, url_prefix="/api/v1")
    workflows.api.document_paths(app)
    if start_runner and ff.config.job_runner == "inline":
        from workflows.queue import start_embedded
        start_embedded(ff)
    from builder_ui import ui
    app.register_blueprint(ui)
    from .auth import csrf, init_auth
    init_auth(app)
    csrf.exempt(api)  # the API checks CSRF itself, for cookie-authenticated writes only

    @app.before_request
    def _nonce():
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
        return response

    @app.errorhandler(FormflowError)
    def _formflow_error(err: FormflowError):
        from .api import problem
        response = problem(err.status, err.title, err.message, err.errors)
        if getattr(err, "retry_after", None):
            response.headers["Retry-After"] = str(err.retry_after)
        return response

    from werkzeug.exceptions import HTTPException

    @app.errorhandler(HTTPException)
    def _http_error(err):
        if request.path.startswith("/api/"):
            from .api import problem
            return problem(err.code or 500, err.name, err.description or err.name)
        return err

    @app.errorhandler(404)
    def _not_found(err):
        if request.path.startswith("/api/"):
            from .api import problem
            return problem(404, "Not found", f"no endpoint {request.method} {request.path}")
        return err

    @app.errorhandler(405)
    def _method(err):
        from .api import problem
        return problem(405, "Method not allowed", f"{request.method} is not allowed on {request.path}")

    @app.errorhandler(413)
    def _too_large(err):
        from .api import problem
        return problem(413, "Payload too large", "the request body is larger than 20 MB")

    @app.errorhandler(500)
    def _internal(err):
        from .api import problem
        return problem(500, "Internal error", "an unexpected error occurred; it has been logged")

    return app
