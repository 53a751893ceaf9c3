"""Review committee (検討委員会): members, meetings, attendances and agenda items, with RLS and grants.

Revision ID: c0mm1ttee001
Revises: ca3dc34a7ee6
Create Date: 2026-11-27 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "c0mm1ttee001"
down_revision = "ca3dc34a7ee6"
branch_labels = None
depends_on = None

PROFESSIONS = (
    "psychiatrist", "physician", "social_worker", "psychiatric_social_worker", "care_manager",
    "clinical_psychologist", "lawyer", "probation_officer", "prison_staff", "prefectural_staff",
    "municipal_staff", "welfare_facility", "academic", "other",
)
TABLES = ("committee_members", "committee_meetings", "committee_attendances", "committee_agenda_items")


def _tenant_columns():
    return [
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
    ]


def _timestamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade():
    op.create_table(
        "committee_members",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_kana", sa.String(length=100), nullable=False),
        sa.Column("profession", sa.String(length=32), nullable=False),
        sa.Column("affiliation", sa.String(length=200), nullable=False),
        sa.Column("observer", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_tenant_columns(),
        *_timestamps(),
        sa.CheckConstraint("profession IN (" + ",".join(f"'{p}'" for p in PROFESSIONS) + ")",
                           name=op.f("ck_committee_members_profession")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_committee_members_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_committee_members")),
    )
    with op.batch_alter_table("committee_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_committee_members_center_id"), ["center_id"], unique=False)

    op.create_table(
        "committee_meetings",
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_tenant_columns(),
        *_timestamps(),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_committee_meetings_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_committee_meetings")),
    )
    with op.batch_alter_table("committee_meetings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_committee_meetings_center_id"), ["center_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_committee_meetings_held_on"), ["held_on"], unique=False)

    op.create_table(
        "committee_attendances",
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        *_tenant_columns(),
        sa.ForeignKeyConstraint(["center_id", "meeting_id"], ["committee_meetings.center_id", "committee_meetings.id"],
                                name=op.f("fk_committee_attendances_center_id_meeting_id_committee_meetings")),
        sa.ForeignKeyConstraint(["center_id", "member_id"], ["committee_members.center_id", "committee_members.id"],
                                name=op.f("fk_committee_attendances_center_id_member_id_committee_members")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_committee_attendances_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_committee_attendances")),
        sa.UniqueConstraint("center_id", "meeting_id", "member_id",
                            name=op.f("uq_committee_attendances_center_id_meeting_id_member_id")),
    )
    with op.batch_alter_table("committee_attendances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_committee_attendances_center_id"), ["center_id"], unique=False)

    op.create_table(
        "committee_agenda_items",
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("advice", sa.Text(), nullable=True),
        sa.Column("advice_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("advice_recorded_by", sa.Uuid(), nullable=True),
        sa.Column("follow_up", sa.Text(), nullable=True),
        sa.Column("follow_up_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        *_tenant_columns(),
        *_timestamps(),
        sa.CheckConstraint("follow_up IS NULL OR advice IS NOT NULL",
                           name=op.f("ck_committee_agenda_items_follow_up_after_advice")),
        sa.CheckConstraint("(follow_up IS NULL) = (follow_up_on IS NULL)",
                           name=op.f("ck_committee_agenda_items_follow_up_dated")),
        sa.CheckConstraint("(advice IS NULL) = (advice_recorded_at IS NULL)",
                           name=op.f("ck_committee_agenda_items_advice_stamped")),
        sa.ForeignKeyConstraint(["center_id", "meeting_id"], ["committee_meetings.center_id", "committee_meetings.id"],
                                name=op.f("fk_committee_agenda_items_center_id_meeting_id_committee_meetings")),
        sa.ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"],
                                name=op.f("fk_committee_agenda_items_center_id_case_id_cases")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_committee_agenda_items_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_committee_agenda_items")),
        sa.UniqueConstraint("center_id", "meeting_id", "case_id",
                            name=op.f("uq_committee_agenda_items_center_id_meeting_id_case_id")),
    )
    with op.batch_alter_table("committee_agenda_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_committee_agenda_items_center_id"), ["center_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_committee_agenda_items_meeting_id"), ["meeting_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_committee_agenda_items_case_id"), ["case_id"], unique=False)

    # Row-level security and the application role's grants (PostgreSQL only).
    role = app_role()
    for table in TABLES:
        enable_rls(op, table, "tenant")
        grant(op, role, table)


def downgrade():
    for table, indexes in (
        ("committee_agenda_items", ("case_id", "meeting_id", "center_id")),
        ("committee_attendances", ("center_id",)),
        ("committee_meetings", ("held_on", "center_id")),
        ("committee_members", ("center_id",)),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
