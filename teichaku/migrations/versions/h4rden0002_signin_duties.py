"""Hardening: invitations of center admins confirmed by the association, second-factor resets.

Revision ID: h4rden0002
Revises: h4rden0001
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "h4rden0002"
down_revision = "h4rden0001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
