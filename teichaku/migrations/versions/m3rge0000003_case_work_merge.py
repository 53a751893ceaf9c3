"""Join the case-work branches (cases, records, committees, resources, activities) into one head.

Revision ID: m3rge0000003
Revises: act1vities01, c0mm1ttee001, rec0rds00001, res0urces001
"""

revision = "m3rge0000003"
down_revision = ("act1vities01", "c0mm1ttee001", "rec0rds00001", "res0urces001")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
