"""The engine's own tables (apps, versions, revisions, users, ...), managed by Alembic.

Record tables are not here: there is one per form, created by storage.py from the
app definition (their shape is fixed, so a field change never alters them).
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# Timestamps are ISO 8601 UTC text with microseconds: identical on both databases,
# sortable, and exactly what the API returns.
Timestamp = sa.String(32)

apps = sa.Table(
    "ff_apps", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", sa.Text, nullable=False),
    # fields deleted from the definition, kept (with their data) until purged
    sa.Column("removed", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

app_versions = sa.Table(
    "ff_app_versions", metadata,
    sa.Column("app_id", sa.String(40), sa.ForeignKey("ff_apps.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("plan", sa.Text, nullable=False, server_default="[]"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(40)),
)

forms = sa.Table(
    "ff_forms", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("app_id", sa.String(40), sa.ForeignKey("ff_apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("table_name", sa.String(64), nullable=False, unique=True),
    # the set of expression indexes that exist, as JSON {index_name: field_id}
    sa.Column("indexes", sa.Text, nullable=False, server_default="{}"),
    sa.Column("removed_at", Timestamp),
)

revisions = sa.Table(
    "ff_revisions", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("form_id", sa.String(40), nullable=False),
    sa.Column("record_id", sa.String(40), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(40)),
    sa.Column("at", Timestamp, nullable=False),
    # {field_id: [old, new]} in storage form
    sa.Column("changes", sa.Text, nullable=False),
    # the whole stored document after the change, so any version can be restored
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Index("ix_ff_revisions_record", "form_id", "record_id", "version"),
)

links = sa.Table(
    # Which record links to which: lets a change to a linked record find the
    # records whose lookups and rollups read it, on both databases, by index.
    "ff_links", metadata,
    sa.Column("form_id", sa.String(40), primary_key=True),
    sa.Column("field_id", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.String(40), primary_key=True),
    sa.Column("target_id", sa.String(40), primary_key=True),
    sa.Column("target_form_id", sa.String(40), nullable=False),
    sa.Index("ix_ff_links_target", "target_form_id", "target_id"),
)

serials = sa.Table(
    "ff_serials", metadata,
    sa.Column("field_id", sa.String(40), primary_key=True),
    sa.Column("period", sa.String(16), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

events = sa.Table(
    # The transactional outbox: written in the same transaction as the change.
    "ff_events", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("app_id", sa.String(40), nullable=False),
    sa.Column("form_id", sa.String(40)),
    sa.Column("record_id", sa.String(40)),
    sa.Column("revision_id", sa.BigInteger),
    sa.Column("actor", sa.String(40)),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("dispatched_at", Timestamp),
    sa.Index("ix_ff_events_pending", "dispatched_at", "id"),
)

users = sa.Table(
    "ff_users", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("username", sa.String(150), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320)),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_login_at", Timestamp),
    sa.Column("password_changed_at", Timestamp),
)

# -- background jobs (workflows/jobs.py) ---------------------------------------------

jobs = sa.Table(
    "ff_jobs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),   # queued, running, done, failed
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
    sa.Column("total", sa.Integer),
    sa.Column("phase", sa.String(32)),                         # what the job is doing now (migration 0008)
    sa.Column("result", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.Index("ix_ff_jobs_status", "status", "created_at"),
)

# -- accounts and the REST API (issue 4: API keys, idempotency keys, login throttling) ----

api_keys = sa.Table(
    "ff_api_keys", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("ff_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    # the first characters of the key, shown in listings so a user can tell keys apart
    sa.Column("prefix", sa.String(16), nullable=False),
    # SHA-256 hex of the whole key (see engine/api_keys.py for why not argon2)
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    # JSON list of app keys, or NULL for every app
    sa.Column("apps", sa.Text),
    sa.Column("can_write", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_used_at", Timestamp),
    sa.Column("revoked_at", Timestamp),
    sa.Index("ix_ff_api_keys_user", "user_id"),
)

idempotency_keys = sa.Table(
    "ff_idempotency_keys", metadata,
    # who sent it ("user:<id>" / "key:<id>") and the client's Idempotency-Key header
    sa.Column("caller", sa.String(60), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request", sa.String(1000), nullable=False),     # method and path
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer),                           # NULL while the first request runs
    sa.Column("response", sa.Text),                            # JSON: headers and body
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_ff_idempotency_keys_created", "created_at"),
)

login_throttle = sa.Table(
    "ff_login_throttle", metadata,
    sa.Column("scope", sa.String(200), primary_key=True),      # "user:<name>" or "ip:<address>"
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("window_start", sa.Float, nullable=False),       # unix time of the first failure counted
    sa.Column("blocked_until", sa.Float),                      # unix time
)

counters = sa.Table(
    # Generation numbers processes compare to know their caches are current (migration 0009):
    # "directory" rises with every department, membership and role change.
    "ff_counters", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
