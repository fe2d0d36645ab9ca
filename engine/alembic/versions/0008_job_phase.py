"""jobs: the phase a running job is in (an import checks its rows, then writes them)

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ff_jobs", sa.Column("phase", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("ff_jobs", "phase")
