"""permissions: departments, roles, memberships, append-only audit log

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.String(length=32)

_MESSAGE = "the audit log is append-only"


def upgrade() -> None:
    op.create_table(
        "ff_departments",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.String(length=128), nullable=True),
        sa.Column("manager_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["ff_departments.id"],
                                name=op.f("fk_ff_departments_parent_id_ff_departments")),
        sa.ForeignKeyConstraint(["manager_id"], ["ff_users.id"], ondelete="SET NULL",
                                name=op.f("fk_ff_departments_manager_id_ff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ff_departments")),
    )
    op.create_index("ix_ff_departments_parent", "ff_departments", ["parent_id"])
    op.create_table(
        "ff_department_members",
        sa.Column("department_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["ff_departments.id"], ondelete="CASCADE",
                                name=op.f("fk_ff_department_members_department_id_ff_departments")),
        sa.ForeignKeyConstraint(["user_id"], ["ff_users.id"], ondelete="CASCADE",
                                name=op.f("fk_ff_department_members_user_id_ff_users")),
        sa.PrimaryKeyConstraint("department_id", "user_id", name=op.f("pk_ff_department_members")),
    )
    op.create_index("ix_ff_department_members_user", "ff_department_members", ["user_id"])
    op.create_table(
        "ff_roles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ff_roles")),
    )
    op.create_table(
        "ff_role_members",
        sa.Column("role_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["role_key"], ["ff_roles.key"], ondelete="CASCADE",
                                name=op.f("fk_ff_role_members_role_key_ff_roles")),
        sa.ForeignKeyConstraint(["user_id"], ["ff_users.id"], ondelete="CASCADE",
                                name=op.f("fk_ff_role_members_user_id_ff_users")),
        sa.PrimaryKeyConstraint("role_key", "user_id", name=op.f("pk_ff_role_members")),
    )
    op.create_index("ix_ff_role_members_user", "ff_role_members", ["user_id"])
    op.create_table(
        "ff_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=True),
        sa.Column("object_id", sa.String(length=200), nullable=True),
        sa.Column("app", sa.String(length=64), nullable=True),
        sa.Column("form", sa.String(length=64), nullable=True),
        sa.Column("form_id", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("revision_id", sa.BigInteger(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ff_audit")),
    )
    op.create_index("ix_ff_audit_at", "ff_audit", ["at"])
    op.create_index("ix_ff_audit_actor", "ff_audit", ["actor", "id"])
    op.create_index("ix_ff_audit_object", "ff_audit", ["object_type", "object_id", "id"])
    op.create_index("ix_ff_audit_action", "ff_audit", ["action", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION ff_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'insufficient_privilege';
            END $$""")
        op.execute("CREATE TRIGGER ff_audit_no_change BEFORE UPDATE OR DELETE ON ff_audit "
                   "FOR EACH ROW EXECUTE FUNCTION ff_audit_append_only()")
        op.execute("CREATE TRIGGER ff_audit_no_truncate BEFORE TRUNCATE ON ff_audit "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ff_audit_append_only()")
    else:
        op.execute(f"CREATE TRIGGER ff_audit_no_update BEFORE UPDATE ON ff_audit "
                   f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END")
        op.execute(f"CREATE TRIGGER ff_audit_no_delete BEFORE DELETE ON ff_audit "
                   f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ff_audit_no_truncate ON ff_audit")
        op.execute("DROP TRIGGER IF EXISTS ff_audit_no_change ON ff_audit")
        op.execute("DROP FUNCTION IF EXISTS ff_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS ff_audit_no_update")
        op.execute("DROP TRIGGER IF EXISTS ff_audit_no_delete")
    for index, table in (("ix_ff_audit_action", "ff_audit"), ("ix_ff_audit_object", "ff_audit"),
                         ("ix_ff_audit_actor", "ff_audit"), ("ix_ff_audit_at", "ff_audit")):
        op.drop_index(index, table_name=table)
    op.drop_table("ff_audit")
    op.drop_index("ix_ff_role_members_user", table_name="ff_role_members")
    op.drop_table("ff_role_members")
    op.drop_table("ff_roles")
    op.drop_index("ix_ff_department_members_user", table_name="ff_department_members")
    op.drop_table("ff_department_members")
    op.drop_index("ix_ff_departments_parent", table_name="ff_departments")
    op.drop_table("ff_departments")
