"""workflows: automations, task queue, webhooks, notifications

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.String(length=32)


def _big():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ff_webhooks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("app_key", sa.String(length=64), nullable=True),
        sa.Column("form_key", sa.String(length=64), nullable=True),
        sa.Column("event_types", sa.Text(), server_default="[]", nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("previous_secret", sa.String(length=200), nullable=True),
        sa.Column("previous_secret_until", TS, nullable=True),
        sa.Column("owner", sa.String(length=40), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("failing_since", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ff_webhooks")),
    )
    op.create_table(
        "ff_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", _big(), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("enqueued_at", TS, nullable=True),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ff_deliveries")),
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_ff_deliveries_webhook_event"),
    )
    op.create_index("ix_ff_deliveries_due", "ff_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_ff_deliveries_webhook", "ff_deliveries", ["webhook_id", "created_at"])
    op.create_table(
        "ff_delivery_attempts",
        sa.Column("id", _big(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ff_delivery_attempts")),
    )
    op.create_index("ix_ff_delivery_attempts_delivery", "ff_delivery_attempts", ["delivery_id", "id"])
    op.create_table(
        "ff_automation_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("app_key", sa.String(length=64), nullable=False),
        sa.Column("automation", sa.String(length=64), nullable=False),
        sa.Column("trigger_type", sa.String(length=32), nullable=False),
        sa.Column("trigger_key", sa.String(length=200), nullable=True),
        sa.Column("event_id", _big(), nullable=True),
        sa.Column("form_key", sa.String(length=64), nullable=True),
        sa.Column("record_id", sa.String(length=40), nullable=True),
        sa.Column("actor", sa.String(length=40), nullable=True),
        sa.Column("depth", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("replay_of", sa.String(length=40), nullable=True),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("log", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("enqueued_at", TS, nullable=True),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ff_automation_runs")),
        sa.UniqueConstraint("app_key", "automation", "trigger_key", name="uq_ff_automation_runs_trigger"),
    )
    op.create_index("ix_ff_automation_runs_due", "ff_automation_runs", ["status", "next_attempt_at"])
    op.create_index("ix_ff_automation_runs_list", "ff_automation_runs", ["app_key", "automation", "created_at"])
    op.create_table(
        "ff_event_origins",
        sa.Column("event_id", _big(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_ff_event_origins")),
    )
    op.create_table(
        "ff_inbound_hooks",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("app_key", sa.String(length=64), nullable=False),
        sa.Column("automation", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_ff_inbound_hooks")),
    )
    op.create_table(
        "ff_notifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=80), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("read_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ff_notifications")),
    )
    op.create_index("ix_ff_notifications_user", "ff_notifications", ["user_id", "read_at", "created_at"])
    op.create_table(
        "ff_schedule_state",
        sa.Column("app_key", sa.String(length=64), nullable=False),
        sa.Column("automation", sa.String(length=64), nullable=False),
        sa.Column("checked_until", TS, nullable=False),
        sa.PrimaryKeyConstraint("app_key", "automation", name=op.f("pk_ff_schedule_state")),
    )


def downgrade() -> None:
    op.drop_table("ff_schedule_state")
    op.drop_index("ix_ff_notifications_user", table_name="ff_notifications")
    op.drop_table("ff_notifications")
    op.drop_table("ff_inbound_hooks")
    op.drop_table("ff_event_origins")
    op.drop_index("ix_ff_automation_runs_list", table_name="ff_automation_runs")
    op.drop_index("ix_ff_automation_runs_due", table_name="ff_automation_runs")
    op.drop_table("ff_automation_runs")
    op.drop_index("ix_ff_delivery_attempts_delivery", table_name="ff_delivery_attempts")
    op.drop_table("ff_delivery_attempts")
    op.drop_index("ix_ff_deliveries_webhook", table_name="ff_deliveries")
    op.drop_index("ix_ff_deliveries_due", table_name="ff_deliveries")
    op.drop_table("ff_deliveries")
