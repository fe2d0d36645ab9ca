"""ui: saved views of a form (per user, shared per role)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ff_saved_views",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("app_key", sa.String(length=64), nullable=False),
        sa.Column("form_key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("view_type", sa.String(length=16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=40), nullable=False),
        sa.Column("shared_role", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["owner"], ["ff_users.id"], ondelete="CASCADE",
                                name=op.f("fk_ff_saved_views_owner_ff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ff_saved_views")),
    )
    op.create_index("ix_ff_saved_views_form", "ff_saved_views", ["app_key", "form_key"])


def downgrade() -> None:
    op.drop_index("ix_ff_saved_views_form", table_name="ff_saved_views")
    op.drop_table("ff_saved_views")
