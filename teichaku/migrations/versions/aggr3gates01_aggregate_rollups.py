"""Aggregates: rollup tables kept current by RQ jobs, dirty slices, fiscal-year figure submissions.

Revision ID: aggr3gates01
Revises: exch4nge0001
Create Date: 2026-11-27 15:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "aggr3gates01"
down_revision = "exch4nge0001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
