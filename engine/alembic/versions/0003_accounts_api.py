"""accounts and REST API: API keys, idempotency keys, login throttling

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ff_api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("apps", sa.Text(), nullable=True),
        sa.Column("can_write", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("last_used_at", sa.String(length=32), nullable=True),
        sa.Column("revoked_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["ff_users.id"], name=op.f("fk_ff_api_keys_user_id_ff_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ff_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_ff_api_keys_key_hash")),
    )
    op.create_index("ix_ff_api_keys_user", "ff_api_keys", ["user_id"], unique=False)
    op.create_table(
        "ff_idempotency_keys",
        sa.Column("caller", sa.String(length=60), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request", sa.String(length=1000), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("caller", "key", name=op.f("pk_ff_idempotency_keys")),
    )
    op.create_index("ix_ff_idempotency_keys_created", "ff_idempotency_keys", ["created_at"], unique=False)
    op.create_table(
        "ff_login_throttle",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_ff_login_throttle")),
    )


def downgrade() -> None:
    op.drop_table("ff_login_throttle")
    op.drop_index("ix_ff_idempotency_keys_created", table_name="ff_idempotency_keys")
    op.drop_table("ff_idempotency_keys")
    op.drop_index("ix_ff_api_keys_user", table_name="ff_api_keys")
    op.drop_table("ff_api_keys")
