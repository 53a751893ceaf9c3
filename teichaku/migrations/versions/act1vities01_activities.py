"""Network activities (地域ネットワーク強化) and their participants by sector, with RLS and grants.

Revision ID: act1vities01
Revises: ca3dc34a7ee6
Create Date: 2026-11-27 12:40:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "act1vities01"
down_revision = "ca3dc34a7ee6"
branch_labels = None
depends_on = None

ACTIVITY_TYPES = "activity_type IN ('regional_support_meeting','provider_outreach','regional_training','other')"
SECTORS = ("sector IN ('welfare','medical','municipal','justice','legal','police','education','community','other')")


def upgrade():
    op.create_table(
        "network_activities",
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("organisations", sa.Text(), nullable=True),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(ACTIVITY_TYPES, name=op.f("ck_network_activities_activity_type")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_network_activities_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_network_activities")),
    )
    with op.batch_alter_table("network_activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_activities_center_id"), ["center_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_network_activities_held_on"), ["held_on"], unique=False)

    op.create_table(
        "network_activity_participants",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("sector", sa.String(length=16), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(SECTORS, name=op.f("ck_network_activity_participants_sector")),
        sa.CheckConstraint("participants >= 0 AND participants <= 100000",
                           name=op.f("ck_network_activity_participants_participants")),
        sa.ForeignKeyConstraint(["center_id", "activity_id"], ["network_activities.center_id", "network_activities.id"],
                                name=op.f("fk_network_activity_participants_activity")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"],
                                name=op.f("fk_network_activity_participants_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_network_activity_participants")),
        sa.UniqueConstraint("center_id", "activity_id", "sector",
                            name=op.f("uq_network_activity_participants_center_id_activity_id_sector")),
    )
    with op.batch_alter_table("network_activity_participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_activity_participants_center_id"), ["center_id"], unique=False)

    # Row-level security and the application role's grants (PostgreSQL only).
    role = app_role()
    for table in ("network_activities", "network_activity_participants"):
        enable_rls(op, table, "tenant")
        grant(op, role, table)


def downgrade():
    with op.batch_alter_table("network_activity_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_activity_participants_center_id"))
    op.drop_table("network_activity_participants")
    with op.batch_alter_table("network_activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_activities_held_on"))
        batch_op.drop_index(batch_op.f("ix_network_activities_center_id"))
    op.drop_table("network_activities")
