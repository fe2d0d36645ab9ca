"""Alembic migrations of the engine's own tables (`formflow db upgrade`)."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

SCRIPT_LOCATION = Path(__file__).parent / "alembic"


def alembic_config(engine: sa.Engine) -> AlembicConfig:
    """An Alembic config that runs on `engine` (no alembic.ini needed)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: sa.Engine, revision: str = "heads") -> None:
    """Bring the engine's tables to `revision` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def current(engine: sa.Engine) -> str | None:
    """The applied revision(s), or None for an empty database."""
    from alembic.runtime.migration import MigrationContext
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ", ".join(sorted(heads)) or None


def newest() -> str:
    """The newest revision(s) this code ships."""
    from alembic.script import ScriptDirectory
    return ", ".join(sorted(ScriptDirectory(str(SCRIPT_LOCATION)).get_heads()))
