"""Reporting: the approval chain of a center's yearly figures (業務実績報告の提出・確認).

``aggregate_submissions`` (one row per center and fiscal year: status, the snapshot of the
figures as submitted, who and when) and ``aggregate_submission_events`` (each step, with a
reopening's reason) belong to the center: the ``tenant`` policy, like every tenant table.  The
prefecture viewer and the ministry reach another center's rows only inside the audited
``cross_tenant("aggregates.submissions")``.  See ``crosstenant/aggregates/submissions.py``.

Revision ID: r3porting001
Revises: h4ndover0001
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "r3porting001"
down_revision = "h4ndover0001"
branch_labels = None
depends_on = None

# The values as of this revision (a later status or action widens these in a migration of its own).
STATUSES = "status IN ('submitted','confirmed','reopened')"
ACTIONS = "action IN ('submit','confirm','reopen')"
TABLES = ("aggregate_submissions", "aggregate_submission_events")


def upgrade():
    op.create_table(
        "aggregate_submissions",
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.Column("snapshot_digest", sa.String(length=64), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_by_id", sa.Uuid(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by_id", sa.Uuid(), nullable=True),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopen_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(STATUSES, name=op.f("ck_aggregate_submissions_status")),
        sa.CheckConstraint("status = 'reopened' OR (snapshot IS NOT NULL AND submitted_at IS NOT NULL)",
                           name=op.f("ck_aggregate_submissions_submitted_has_snapshot")),
        sa.CheckConstraint("status <> 'confirmed' OR confirmed_at IS NOT NULL",
                           name=op.f("ck_aggregate_submissions_confirmed_has_time")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_aggregate_submissions_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_aggregate_submissions")),
        sa.UniqueConstraint("center_id", "fiscal_year", name=op.f("uq_aggregate_submissions_center_id_fiscal_year")),
    )
    with op.batch_alter_table("aggregate_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aggregate_submissions_center_id"), ["center_id"], unique=False)

    op.create_table(
        "aggregate_submission_events",
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(ACTIONS, name=op.f("ck_aggregate_submission_events_action")),
        sa.ForeignKeyConstraint(["center_id", "submission_id"],
                                ["aggregate_submissions.center_id", "aggregate_submissions.id"],
                                name=op.f("fk_aggregate_submission_events_center_id_aggregate_submissions")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"],
                                name=op.f("fk_aggregate_submission_events_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_aggregate_submission_events")),
    )
    with op.batch_alter_table("aggregate_submission_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aggregate_submission_events_center_id"), ["center_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_aggregate_submission_events_submission_id"), ["submission_id"],
                              unique=False)

    # Row-level security and the application role's grants (PostgreSQL only).
    role = app_role()
    for table in TABLES:
        enable_rls(op, table, "tenant")
    grant(op, role, "aggregate_submissions", "SELECT, INSERT, UPDATE")
    # The history is append-only for the application.
    grant(op, role, "aggregate_submission_events", "SELECT, INSERT")


def downgrade():
    with op.batch_alter_table("aggregate_submission_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aggregate_submission_events_submission_id"))
        batch_op.drop_index(batch_op.f("ix_aggregate_submission_events_center_id"))
    op.drop_table("aggregate_submission_events")
    with op.batch_alter_table("aggregate_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aggregate_submissions_center_id"))
    op.drop_table("aggregate_submissions")
