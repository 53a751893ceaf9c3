"""Hardening: case-study versions can be withdrawn one by one.

``case_studies.current_version``: the latest version not withdrawn (NULL: every version is
withdrawn), the only version other centers read; existing studies start with their latest.
``case_study_withdrawals``: one row per version the association withdrew, with its reason.  It
is part of the shared library (policy ``library``) and the application role may only SELECT
and INSERT it: a withdrawal is never changed nor undone.

Revision ID: h4rden0004
Revises: h4rden0003
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "h4rden0004"
down_revision = "h4rden0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("case_studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("current_version", sa.Integer(), nullable=True))
    op.execute("UPDATE case_studies SET current_version = latest_version")
    op.create_table(
        "case_study_withdrawals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_by_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("length(reason) > 0", name=op.f("ck_case_study_withdrawals_reason")),
        sa.ForeignKeyConstraint(["study_id"], ["case_studies.id"],
                                name=op.f("fk_case_study_withdrawals_study_id_case_studies")),
        sa.ForeignKeyConstraint(["study_id", "version_no"],
                                ["case_study_versions.study_id", "case_study_versions.version_no"],
                                name="fk_case_study_withdrawals_version"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_study_withdrawals")),
        sa.UniqueConstraint("study_id", "version_no", name=op.f("uq_case_study_withdrawals_study_id_version_no")),
    )
    enable_rls(op, "case_study_withdrawals", "library")
    grant(op, app_role(), "case_study_withdrawals", "SELECT, INSERT")


def downgrade():
    op.drop_table("case_study_withdrawals")
    with op.batch_alter_table("case_studies", schema=None) as batch_op:
        batch_op.drop_column("current_version")
