"""The formflow instance: configuration, database, installed apps and the services on them.

Like Flask's application object, one `Formflow` holds everything a process needs;
the web app, the CLI, workers and tests each create one from a Config (or a URL).
"""
from __future__ import annotations

import threading
from typing import Any

import orjson
import sqlalchemy as sa

from . import storage, tables
from .config import Config
from .database import Database
from .errors import NotFound


class Formflow:
    """One formflow instance bound to one database."""

    def __init__(self, config: Config | None = None, *, database_url: str | None = None):
        self.config = config or Config.from_env()
        url = database_url or self.config.resolved_database_url
        if url.startswith("sqlite:///") and database_url is None:
            self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(url)
        from .field_types import DateTimeType
        DateTimeType.timezone = self.config.timezone  # aware datetimes convert to the instance zone
        from . import audit  # noqa: F401  (subscribes the audit log to record events)
        from . import files
        files.register(self)  # file references in records are checked on every write path
        from .apps import Apps
        from .computed import Computer
        from .links import Links
        from .records import Records
        self.records = Records(self)
        self.computer = Computer(self)
        self.links = Links(self)
        self.apps = Apps(self)
        self._lock = threading.Lock()
        self._apps: dict[str, Any] = {}          # key -> App (model)
        self._catalog: tuple = ()                 # ((key, version), ...) the cache was built from
        self._form_tables: dict[str, storage.FormTable] = {}
        self._link_readers_cache: dict[str, dict] = {}
        self._directory_profiles: dict[str, tuple] = {}   # engine.directory.cached_profile

    # -- schema ----------------------------------------------------------------

    def init_db(self) -> None:
        """Create or upgrade the engine's own tables (Alembic, to the newest revision)."""
        from .migrations_db import upgrade
        upgrade(self.db.engine)

    # -- installed apps ----------------------------------------------------------

    def installed(self, conn: sa.Connection | None = None) -> dict[str, Any]:
        """Every installed app by key (cached; refreshed when any app's version changes)."""
        if conn is None:
            # within one web request the catalog is checked once; writes check it again
            # inside their own transaction, so they never validate against a stale version
            from flask import g, has_request_context
            if has_request_context():
                apps = g.get("formflow_installed")
                if apps is None:
                    with self.db.read() as conn:
                        apps = g.formflow_installed = self.installed(conn)
                return apps
            with self.db.read() as conn:
                return self.installed(conn)
        # driver-level SQL: this runs once per operation, SQLAlchemy's statement
        # machinery would cost more than the query itself
        # the id too: an app uninstalled and installed again under its key restarts at version 1
        catalog = tuple(map(tuple, conn.exec_driver_sql(
            "SELECT key, version, id FROM ff_apps ORDER BY key").fetchall()))
        if catalog != self._catalog:
            with self._lock:
                self._reload(conn, catalog)
        return self._apps

    def _reload(self, conn, catalog) -> None:
        from .model import App
        fresh = {}
        rows = conn.execute(sa.select(tables.apps.c.key, tables.apps.c.id, tables.apps.c.version,
                                      tables.apps.c.definition)).all()
        for key, app_id, version, definition in rows:
            old = self._apps.get(key)
            if old is not None and old.version == version and old.id == app_id:
                fresh[key] = old
                continue
            defn = orjson.loads(definition)
            defn["version"] = version
            app = App.from_definition(defn)
            app.id = app_id
            fresh[key] = app
        self._apps = fresh
        self._catalog = tuple(tuple(c) for c in catalog)
        self._link_readers_cache: dict[str, dict] = {}

    def app(self, key: str, conn: sa.Connection | None = None):
        """The installed app `key`; NotFound with a suggestion otherwise."""
        apps = self.installed(conn)
        try:
            return apps[key]
        except KeyError:
            import difflib
            hint = difflib.get_close_matches(str(key), list(apps), n=1)
            raise NotFound(f"no app {key!r} is installed" + (f" (did you mean {hint[0]!r}?)" if hint else "")) from None

    def form(self, app_key: str, form_key: str, conn: sa.Connection | None = None):
        """(app, form) for keys; NotFound with a suggestion otherwise."""
        app = self.app(app_key, conn)
        form = app.forms_by_key.get(form_key)
        if form is None:
            import difflib
            hint = difflib.get_close_matches(str(form_key), list(app.forms_by_key), n=1)
            raise NotFound(f"app {app_key!r} has no form {form_key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        return app, form

    def form_table(self, form) -> storage.FormTable:
        """The storage table object of a form (cached by form id)."""
        ft = self._form_tables.get(form.id)
        if ft is None:
            ft = self._form_tables[form.id] = storage.FormTable(form.id, self.db.dialect)
        return ft

    def app_of_form(self, form):
        """The installed app a form belongs to (the model keeps the link)."""
        return form.app

    def link_target(self, form, field):
        """The form a link field points to (`form` or `app.form`)."""
        target = field.definition["target"]
        app = self.app_of_form(form)
        if "." in target:
            app_key, form_key = target.split(".", 1)
            return self.form(app_key, form_key)[1]
        return app.forms_by_key[target]

    def link_readers(self, target_form) -> dict[str, Any]:
        """{link field id: form} for forms whose lookups/rollups read through a link to `target_form`."""
        cache = self._link_readers_cache
        if target_form.id in cache:
            return cache[target_form.id]
        readers = {}
        for app in self._apps.values():
            for form in app.forms:
                read = set(form.link_keys_read)
                for field in form.link_fields:
                    if field.key in read and self.link_target(form, field).id == target_form.id:
                        readers[field.id] = form
        cache[target_form.id] = readers
        return readers

    # -- what the record lifecycle calls ----------------------------------------

    def compute(self, conn, form, values, ctx):
        """Recompute a record's computed fields."""
        return self.computer.compute(conn, form, values, ctx)

    def visibility(self, form, values, ctx):
        """Which conditional fields are visible."""
        return self.computer.visibility(form, values, ctx)

    def check_rules(self, form, values, ctx, conn=None):
        """Errors of form rules that fail."""
        return self.computer.check_rules(conn, form, values, ctx)

    def check_links(self, conn, form, values, given):
        """Errors of links to records that do not exist."""
        return self.links.check(conn, form, values, given)

    def evaluate(self, form, source, values, ctx):
        """Evaluate an expression on a record (errors → None)."""
        return self.computer.evaluate(form, source, values, ctx)

    def next_serial(self, conn, field):
        """The next serial number of a field."""
        return self.computer.next_serial(conn, field)

    def sync_links(self, conn, form, record_id, doc, new=False):
        """Refresh the reverse-link rows of a record."""
        return self.links.sync(conn, form, record_id, doc, new)

    def dependents(self, conn, form, record_id):
        """Records whose lookups/rollups read this record."""
        return self.links.dependents(conn, form, record_id)

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()
