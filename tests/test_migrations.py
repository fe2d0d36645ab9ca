"""The engine's own tables: one linear chain of Alembic revisions that matches the code's metadata."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.migrations_db import SCRIPT_LOCATION, current, newest
from engine.tables import metadata


def test_revisions_form_one_chain():
    heads = ScriptDirectory(str(SCRIPT_LOCATION)).get_heads()
    assert len(heads) == 1


def test_upgrade_reaches_the_newest_revision(ff):
    assert current(ff.db.engine) == newest()


def test_migrations_create_exactly_the_schema_the_code_declares(ff):
    import engine.audit, engine.directory, workflows.tables  # noqa: F401,E401
    with ff.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
