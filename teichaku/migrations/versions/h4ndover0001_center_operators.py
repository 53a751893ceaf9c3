"""Center handover: the operator (受託法人) of each center over time.

``center_operators`` keeps one row per operator period of a center (see
``teichaku/platform/handover/models.py``).  Row-level security: everyone reads (who runs a
center is public); rows are written only inside a cross-tenant scope (the audited
``cross_tenant("centers.handover")`` of the handover service) or by the schema owner.  None of
``rls.POLICIES`` says exactly that, so the policy is written here with the same settings.

Revision ID: h4ndover0001
Revises: aggr3gates01
Create Date: 2026-12-03 10:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import CROSS_TENANT, app_role, grant

# revision identifiers, used by Alembic.
revision = "h4ndover0001"
down_revision = "aggr3gates01"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "center_operators",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("operator_name", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_center_operators_center_id_centers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_center_operators")),
    )
    op.create_index("ix_center_operators_center_started", "center_operators", ["center_id", "started_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE center_operators ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE center_operators FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY operators_isolation ON center_operators USING (true) WITH CHECK ({CROSS_TENANT})")
    grant(op, app_role(), "center_operators", "SELECT, INSERT")


def downgrade():
    op.drop_index("ix_center_operators_center_started", table_name="center_operators")
    op.drop_table("center_operators")
