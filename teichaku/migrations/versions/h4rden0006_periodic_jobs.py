"""Hardening: last success of each periodic job.

Revision ID: h4rden0006
Revises: h4rden0005
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "h4rden0006"
down_revision = "h4rden0005"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
