"""Transfers: a message of the thread may be an update the sending center shares after acceptance
(``transfer_messages.kind``: 'message' or 'shared_update').

Revision ID: tr4nsfers002
Revises: tr4nsfers001
Create Date: 2026-12-06 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "tr4nsfers002"
down_revision = "tr4nsfers001"
branch_labels = None
depends_on = None

MESSAGE_KINDS = "('message','shared_update')"


def upgrade():
    with op.batch_alter_table("transfer_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=20), nullable=False, server_default="message"))
        batch_op.create_check_constraint(op.f("ck_transfer_messages_kind"), f"kind IN {MESSAGE_KINDS}")


def downgrade():
    with op.batch_alter_table("transfer_messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_transfer_messages_kind"), type_="check")
        batch_op.drop_column("kind")
