"""Records and plans on a case: records, documents, coordination plans and their revisions.

Revision ID: rec0rds00001
Revises: ca3dc34a7ee6
Create Date: 2026-11-28 09:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "rec0rds00001"
down_revision = "ca3dc34a7ee6"
branch_labels = None
depends_on = None


def _tenant_columns():
    return [sa.Column("center_id", sa.Uuid(), nullable=False), sa.Column("id", sa.Uuid(), nullable=False)]


def upgrade():
    op.create_table(
        "case_records",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("participants", sa.Text(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("sections", sa.JSON(), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        *_tenant_columns(),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('assessment','interview','progress')", name=op.f("ck_case_records_kind")),
        sa.ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"],
                                name=op.f("fk_case_records_center_id_case_id_cases")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_case_records_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_case_records")),
    )
    with op.batch_alter_table("case_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_records_center_id"), ["center_id"], unique=False)
        batch_op.create_index("ix_case_records_center_id_case_id", ["center_id", "case_id"], unique=False)

    op.create_table(
        "case_documents",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("uploaded_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant_columns(),
        sa.CheckConstraint("kind IN ('request_letter','assessment','plan','other')", name=op.f("ck_case_documents_kind")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_case_documents_size")),
        sa.ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"],
                                name=op.f("fk_case_documents_center_id_case_id_cases")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_case_documents_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_case_documents")),
    )
    with op.batch_alter_table("case_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_documents_center_id"), ["center_id"], unique=False)
        batch_op.create_index("ix_case_documents_center_id_case_id", ["center_id", "case_id"], unique=False)

    op.create_table(
        "coordination_plans",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("latest_revision", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        *_tenant_columns(),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("latest_revision >= 1", name=op.f("ck_coordination_plans_latest_revision")),
        sa.ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"],
                                name=op.f("fk_coordination_plans_center_id_case_id_cases")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_coordination_plans_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_coordination_plans")),
    )
    with op.batch_alter_table("coordination_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coordination_plans_center_id"), ["center_id"], unique=False)
        batch_op.create_index("ix_coordination_plans_center_id_case_id", ["center_id", "case_id"], unique=False)

    op.create_table(
        "plan_revisions",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant_columns(),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_plan_revisions_revision")),
        sa.ForeignKeyConstraint(["center_id", "plan_id"], ["coordination_plans.center_id", "coordination_plans.id"],
                                name=op.f("fk_plan_revisions_center_id_plan_id_coordination_plans")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_plan_revisions_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_plan_revisions")),
        sa.UniqueConstraint("center_id", "plan_id", "revision", name=op.f("uq_plan_revisions_center_id_plan_id_revision")),
    )
    with op.batch_alter_table("plan_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_revisions_center_id"), ["center_id"], unique=False)

    # Row-level security and grants (PostgreSQL only).  Records and plans are changed in place
    # under a version check; documents and plan revisions are only ever added (no UPDATE, and
    # nothing of a case's record is deleted by the application).
    role = app_role()
    for table in ("case_records", "case_documents", "coordination_plans", "plan_revisions"):
        enable_rls(op, table, "tenant")
    grant(op, role, "case_records", "SELECT, INSERT, UPDATE")
    grant(op, role, "coordination_plans", "SELECT, INSERT, UPDATE")
    grant(op, role, "case_documents", "SELECT, INSERT")
    grant(op, role, "plan_revisions", "SELECT, INSERT")


def downgrade():
    op.drop_table("plan_revisions")
    op.drop_table("coordination_plans")
    op.drop_table("case_documents")
    op.drop_table("case_records")
