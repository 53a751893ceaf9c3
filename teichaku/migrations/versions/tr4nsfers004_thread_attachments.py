"""Transfers: attachments in the thread, linking an accepted person to an existing one, snapshot erasure.

Files attached to a message of the thread (one row and one copy of the bytes per side), and the
time the receiving side's copy of the person's identity was erased (``transfers.snapshot_erased_at``)
once that center no longer needs it.  Linking an accepted transfer to an existing person needs no
schema change.

Revision ID: tr4nsfers004
Revises: tr4nsfers003
Create Date: 2026-11-27 15:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "tr4nsfers004"
down_revision = "tr4nsfers003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snapshot_erased_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "transfer_message_attachments",
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("pair_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_transfer_message_attachments_size")),
        sa.ForeignKeyConstraint(["center_id", "message_id"], ["transfer_messages.center_id", "transfer_messages.id"],
                                name="fk_transfer_msg_attachments_message"),
        sa.ForeignKeyConstraint(["center_id", "transfer_id"], ["transfers.center_id", "transfers.id"],
                                name="fk_transfer_msg_attachments_transfer"),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"],
                                name=op.f("fk_transfer_message_attachments_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_transfer_message_attachments")),
    )
    with op.batch_alter_table("transfer_message_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_message_attachments_center_id"), ["center_id"], unique=False)
        batch_op.create_index("ix_transfer_msg_attachments_message", ["center_id", "message_id"], unique=False)

    # Each center sees only its own copies; like the messages they belong to, attachments are only
    # ever added (no UPDATE, no DELETE for the application).
    enable_rls(op, "transfer_message_attachments", "tenant")
    grant(op, app_role(), "transfer_message_attachments", "SELECT, INSERT")


def downgrade():
    op.drop_table("transfer_message_attachments")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_column("snapshot_erased_at")
