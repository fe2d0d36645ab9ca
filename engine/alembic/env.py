"""Alembic environment: runs on the engine handed over in config.attributes."""
from alembic import context

from engine.tables import metadata
import workflows.tables  # noqa: F401  (workflows' tables are on the same metadata)
import engine.directory, engine.audit  # noqa: F401,E401  (directory and audit tables)
import engine.api_ui_wizard  # noqa: F401,E402  (saved views of the UI)
import engine.files  # noqa: F401,E402  (uploaded files)

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
