"""engine tables

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ff_apps',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('removed', sa.Text(), server_default='{}', nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('updated_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ff_apps')),
    sa.UniqueConstraint('key', name=op.f('uq_ff_apps_key'))
    )
    op.create_table('ff_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.String(length=40), nullable=False),
    sa.Column('form_id', sa.String(length=40), nullable=True),
    sa.Column('record_id', sa.String(length=40), nullable=True),
    sa.Column('revision_id', sa.BigInteger(), nullable=True),
    sa.Column('actor', sa.String(length=40), nullable=True),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('dispatched_at', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ff_events'))
    )
    with op.batch_alter_table('ff_events', schema=None) as batch_op:
        batch_op.create_index('ix_ff_events_pending', ['dispatched_at', 'id'], unique=False)

    op.create_table('ff_links',
    sa.Column('form_id', sa.String(length=40), nullable=False),
    sa.Column('field_id', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=40), nullable=False),
    sa.Column('target_id', sa.String(length=40), nullable=False),
    sa.Column('target_form_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('form_id', 'field_id', 'record_id', 'target_id', name=op.f('pk_ff_links'))
    )
    with op.batch_alter_table('ff_links', schema=None) as batch_op:
        batch_op.create_index('ix_ff_links_target', ['target_form_id', 'target_id'], unique=False)

    op.create_table('ff_revisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('form_id', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=True),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('snapshot', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ff_revisions'))
    )
    with op.batch_alter_table('ff_revisions', schema=None) as batch_op:
        batch_op.create_index('ix_ff_revisions_record', ['form_id', 'record_id', 'version'], unique=False)

    op.create_table('ff_serials',
    sa.Column('field_id', sa.String(length=40), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('field_id', 'period', name=op.f('pk_ff_serials'))
    )
    op.create_table('ff_users',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('username', sa.String(length=150), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('is_admin', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('last_login_at', sa.String(length=32), nullable=True),
    sa.Column('password_changed_at', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ff_users')),
    sa.UniqueConstraint('username', name=op.f('uq_ff_users_username'))
    )
    op.create_table('ff_app_versions',
    sa.Column('app_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('plan', sa.Text(), server_default='[]', nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['ff_apps.id'], name=op.f('fk_ff_app_versions_app_id_ff_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'version', name=op.f('pk_ff_app_versions'))
    )
    op.create_table('ff_forms',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('table_name', sa.String(length=64), nullable=False),
    sa.Column('indexes', sa.Text(), server_default='{}', nullable=False),
    sa.Column('removed_at', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['ff_apps.id'], name=op.f('fk_ff_forms_app_id_ff_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ff_forms')),
    sa.UniqueConstraint('table_name', name=op.f('uq_ff_forms_table_name'))
    )


def downgrade() -> None:
    op.drop_table('ff_forms')
    op.drop_table('ff_app_versions')
    op.drop_table('ff_users')
    op.drop_table('ff_serials')
    with op.batch_alter_table('ff_revisions', schema=None) as batch_op:
        batch_op.drop_index('ix_ff_revisions_record')

    op.drop_table('ff_revisions')
    with op.batch_alter_table('ff_links', schema=None) as batch_op:
        batch_op.drop_index('ix_ff_links_target')

    op.drop_table('ff_links')
    with op.batch_alter_table('ff_events', schema=None) as batch_op:
        batch_op.drop_index('ix_ff_events_pending')

    op.drop_table('ff_events')
    op.drop_table('ff_apps')
