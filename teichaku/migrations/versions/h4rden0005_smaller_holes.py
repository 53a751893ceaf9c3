"""Hardening: transfer threads close, provision records for attachments.

A refused or cancelled pull request erases the asked center's copy of the person's identity,
as a declined transfer does on the receiving side: ``transfer_pulls.snapshot_erased_at`` says
when (the identity itself becomes NULL).  Threads closing and the attachments' provision records
need no schema change (``provision_records`` takes an attachment's record as it is).

Revision ID: h4rden0005
Revises: h4rden0004
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "h4rden0005"
down_revision = "h4rden0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("transfer_pulls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snapshot_erased_at", sa.DateTime(timezone=True), nullable=True))
    # Pull requests refused or cancelled before this revision still hold the identity on the asked
    # side: erase it as services.erase_identity now does at the moment of refusal (the schema owner
    # runs migrations and sees every center).
    op.execute(
        "UPDATE transfer_pulls SET person_snapshot = NULL, "
        "snapshot_erased_at = coalesce(refused_at, cancelled_at) "
        "WHERE side = 'asked' AND status IN ('refused', 'cancelled') AND person_snapshot IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table("transfer_pulls", schema=None) as batch_op:
        batch_op.drop_column("snapshot_erased_at")
