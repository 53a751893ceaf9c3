"""Transfers: attachments in the thread, linking an accepted person to an existing one, snapshot erasure.

Revision ID: tr4nsfers004
Revises: tr4nsfers003
Create Date: 2026-11-27 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "tr4nsfers004"
down_revision = "tr4nsfers003"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
