"""formflow's engine: app definitions, field types, expressions, storage, records and the API.

The public API (stable names; everything else is internal):
"""
from .config import Config
from .errors import (Conflict, DefinitionError, FormflowError, MigrationError, NotFound,
                     RecordValidationError, StaleVersion)
from .formflow import Formflow
from .records import RecordContext

__all__ = ["Config", "Formflow", "RecordContext", "FormflowError", "DefinitionError",
           "RecordValidationError", "NotFound", "Conflict", "StaleVersion", "MigrationError",
           "create_app"]


def create_app(ff=None, **settings):
    """The Flask WSGI application (see engine.web.create_app)."""
    from .web import create_app as _create_app
    return _create_app(ff, **settings)
