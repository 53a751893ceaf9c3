"""Hardening: case-study versions can be withdrawn one by one.

``case_studies.current_version``: the latest version not withdrawn (NULL: every version is
withdrawn), the only version other centers read; existing studies start with their latest.
``case_study_withdrawals``: one row per version the association withdrew, with its reason.  It
is part of the shared library (policy ``library``) and the application role may only SELECT
and INSERT it: a withdrawal is never changed nor undone.  The notification kind
``case_study_version_withdrawn`` tells the author center (the kind CHECK constraints are rebuilt
from the code's list, as earlier revisions do, so kinds added elsewhere are kept).

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

WITHDRAWAL_KINDS = ("case_study_version_withdrawn",)


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def _set_kinds(kinds) -> None:
    for table in ("outbox_events", "notifications"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
            batch_op.create_check_constraint(op.f(f"ck_{table}_kind"), f"kind IN {_in(kinds)}")


def _notification_kinds() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the kinds before this revision, and with it), from the code's list."""
    from teichaku.crosstenant.notifications.models import KINDS

    before = tuple(k for k in KINDS if k not in WITHDRAWAL_KINDS)
    return before, before + WITHDRAWAL_KINDS


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
    _set_kinds(_notification_kinds()[1])


def downgrade():
    kinds = _in(WITHDRAWAL_KINDS)
    op.execute(f"DELETE FROM notifications WHERE kind IN {kinds}")
    op.execute(f"DELETE FROM outbox_events WHERE kind IN {kinds}")
    _set_kinds(_notification_kinds()[0])
    op.drop_table("case_study_withdrawals")
    with op.batch_alter_table("case_studies", schema=None) as batch_op:
        batch_op.drop_column("current_version")
