"""Hardening: case-study versions can be withdrawn one by one.

Revision ID: h4rden0004
Revises: h4rden0003
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "h4rden0004"
down_revision = "h4rden0003"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
