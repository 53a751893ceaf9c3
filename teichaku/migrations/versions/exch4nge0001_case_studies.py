"""Case-study exchange: case studies, versions, PII findings, search index, questions.

Revision ID: exch4nge0001
Revises: tr4nsfers004
Create Date: 2026-11-27 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "exch4nge0001"
down_revision = "tr4nsfers004"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
