"""Tables of automations, the task queue, webhooks and notifications (on engine.tables.metadata).

Migration: engine/alembic/versions/0004_workflows.py. Every task the runner
executes (an automation run, a webhook delivery) is a row here: the row is the
source of truth, the queue only carries its id, so nothing is lost when Redis or
a worker goes away (see workflows/queue.py).
"""
from __future__ import annotations

import sqlalchemy as sa

from engine.tables import Timestamp, metadata

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")

webhooks = sa.Table(
    # outbound webhook subscriptions (endpoints)
    "ff_webhooks", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("app_key", sa.String(64)),            # None: every app
    sa.Column("form_key", sa.String(64)),           # None: every form of the app
    sa.Column("event_types", sa.Text, nullable=False, server_default="[]"),  # JSON list, [] = all
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("previous_secret", sa.String(200)),
    sa.Column("previous_secret_until", Timestamp),
    sa.Column("owner", sa.String(40)),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("failing_since", Timestamp),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

deliveries = sa.Table(
    # one message to one endpoint; its id is the stable webhook-id
    "ff_deliveries", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("webhook_id", sa.String(40), nullable=False),
    sa.Column("event_id", BigId),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),   # pending, sending, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp),
    sa.Column("enqueued_at", Timestamp),
    sa.Column("locked_until", Timestamp),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.UniqueConstraint("webhook_id", "event_id", name="uq_ff_deliveries_webhook_event"),
    sa.Index("ix_ff_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_ff_deliveries_webhook", "webhook_id", "created_at"),
)

delivery_attempts = sa.Table(
    "ff_delivery_attempts", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(40), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("response_excerpt", sa.Text),
    sa.Column("error", sa.Text),
    sa.Index("ix_ff_delivery_attempts_delivery", "delivery_id", "id"),
)

automation_runs = sa.Table(
    # one run of one automation: queued by the relay/scheduler, executed by the runner, logged
    "ff_automation_runs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("app_key", sa.String(64), nullable=False),
    sa.Column("automation", sa.String(64), nullable=False),
    sa.Column("trigger_type", sa.String(32), nullable=False),
    sa.Column("trigger_key", sa.String(200)),        # dedup key: event id, cron tick, date reached
    sa.Column("event_id", BigId),
    sa.Column("form_key", sa.String(64)),
    sa.Column("record_id", sa.String(40)),
    sa.Column("actor", sa.String(40)),
    sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),  # queued, running, done, skipped, failed
    sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("replay_of", sa.String(40)),
    sa.Column("trigger", sa.Text, nullable=False),       # JSON snapshot of what triggered the run
    sa.Column("log", sa.Text),                           # JSON: conditions, actions, errors
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Timestamp),
    sa.Column("enqueued_at", Timestamp),
    sa.Column("locked_until", Timestamp),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.Column("duration_ms", sa.Integer),
    sa.UniqueConstraint("app_key", "automation", "trigger_key", name="uq_ff_automation_runs_trigger"),
    sa.Index("ix_ff_automation_runs_due", "status", "next_attempt_at"),
    sa.Index("ix_ff_automation_runs_list", "app_key", "automation", "created_at"),
)

event_origins = sa.Table(
    # events written by an automation's actions: how deep in a chain they are
    "ff_event_origins", metadata,
    sa.Column("event_id", BigId, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("depth", sa.Integer, nullable=False),
)

inbound_hooks = sa.Table(
    # tokens of inbound webhooks (POST /api/v1/hooks/<token>); only a hash is stored
    "ff_inbound_hooks", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("app_key", sa.String(64), nullable=False),
    sa.Column("automation", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", Timestamp, nullable=False),
)

notifications = sa.Table(
    "ff_notifications", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("link", sa.Text),                     # JSON {app, form, id} or null
    sa.Column("source", sa.String(80)),             # e.g. automation:repair.notify_owner
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("read_at", Timestamp),
    sa.Index("ix_ff_notifications_user", "user_id", "read_at", "created_at"),
)

schedule_state = sa.Table(
    # cron and date-field triggers: up to when each automation has been scheduled
    "ff_schedule_state", metadata,
    sa.Column("app_key", sa.String(64), primary_key=True),
    sa.Column("automation", sa.String(64), primary_key=True),
    sa.Column("checked_until", Timestamp, nullable=False),
)
