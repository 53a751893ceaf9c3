"""Transfers: the receiving center's pull request (the destination asks the facility center to start a transfer).

Revision ID: tr4nsfers003
Revises: tr4nsfers002
Create Date: 2026-11-27 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "tr4nsfers003"
down_revision = "tr4nsfers002"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
