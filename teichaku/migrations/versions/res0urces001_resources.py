"""Local resources directory (社会資源): resources and their contacts, with RLS and grants.

Cases get ``placement_resource_id`` in the case-work revision (``cas3w0rk0001``), which this one
follows; it ties that column to the directory with a composite foreign key (same center only).

Revision ID: res0urces001
Revises: cas3w0rk0001
"""

from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant
from teichaku.tenants.resources.models import ACCEPTS_RECORD, RESOURCE_TYPES, sql_in

revision = "res0urces001"
down_revision = "cas3w0rk0001"  # after case work: cases.placement_resource_id gets its foreign key
branch_labels = None
CASE_WORK = "cas3w0rk0001"
depends_on = None

PLACEMENT_FK = "fk_cases_center_id_placement_resource_id_resources"


def upgrade():
    op.create_table(
        "resources",
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kana", sa.String(200), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("municipality_name", sa.String(50), nullable=True),
        sa.Column("municipality_code", sa.String(6), nullable=True),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("openings", sa.Integer(), nullable=True),
        sa.Column("accepts_record", sa.String(16), nullable=True),
        sa.Column("self_reliance_home_registered", sa.Boolean(), nullable=False),
        sa.Column("entrustment_from", sa.Date(), nullable=True),
        sa.Column("entrustment_to", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("name_search", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"resource_type IN {sql_in(RESOURCE_TYPES)}", name=op.f("ck_resources_resource_type")),
        sa.CheckConstraint(f"accepts_record IS NULL OR accepts_record IN {sql_in(ACCEPTS_RECORD)}",
                           name=op.f("ck_resources_accepts_record")),
        sa.CheckConstraint("municipality_code IS NULL OR length(municipality_code) = 6",
                           name=op.f("ck_resources_municipality_code")),
        sa.CheckConstraint("capacity IS NULL OR capacity >= 0", name=op.f("ck_resources_capacity")),
        sa.CheckConstraint("openings IS NULL OR openings >= 0", name=op.f("ck_resources_openings")),
        sa.CheckConstraint("openings IS NULL OR capacity IS NULL OR openings <= capacity",
                           name=op.f("ck_resources_openings_within_capacity")),
        sa.CheckConstraint("entrustment_from IS NULL OR entrustment_to IS NULL OR entrustment_to >= entrustment_from",
                           name=op.f("ck_resources_entrustment_period")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_resources_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_resources")),
    )
    op.create_index("ix_resources_center_id", "resources", ["center_id"])
    op.create_index("ix_resources_center_created", "resources", ["center_id", "created_at", "id"])
    op.create_index("ix_resources_center_type", "resources", ["center_id", "resource_type"])
    op.create_index("ix_resources_center_municipality", "resources", ["center_id", "municipality_code"])

    op.create_table(
        "resource_contacts",
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(30), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_resource_contacts_center_id_centers")),
        sa.ForeignKeyConstraint(["center_id", "resource_id"], ["resources.center_id", "resources.id"],
                                name=op.f("fk_resource_contacts_center_id_resource_id_resources"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_resource_contacts")),
    )
    op.create_index("ix_resource_contacts_center_id", "resource_contacts", ["center_id"])
    op.create_index("ix_resource_contacts_center_resource", "resource_contacts", ["center_id", "resource_id"])

    role = app_role()
    for table in ("resources", "resource_contacts"):
        enable_rls(op, table, "tenant")
        grant(op, role, table)

    _link_case_placements()


def _link_case_placements() -> None:
    """cases (center_id, placement_resource_id) -> resources (center_id, id), if the column exists.

    PostgreSQL only: SQLite does not enforce foreign keys here (no PRAGMA foreign_keys), and
    adding one would mean rebuilding the cases table.  Skipped when a foreign key on those
    columns is already there (the case-work branch may add it itself when it runs second).
    """
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    inspector = sa.inspect(bind)
    if "placement_resource_id" not in {c["name"] for c in inspector.get_columns("cases")}:
        return
    if any(fk["constrained_columns"] == ["center_id", "placement_resource_id"] for fk in inspector.get_foreign_keys("cases")):
        return
    op.create_foreign_key(PLACEMENT_FK, "cases", "resources",
                          ["center_id", "placement_resource_id"], ["center_id", "id"])


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        names = {fk["name"] for fk in sa.inspect(bind).get_foreign_keys("cases")}
        if PLACEMENT_FK in names:
            op.drop_constraint(PLACEMENT_FK, "cases", type_="foreignkey")
    op.drop_index("ix_resource_contacts_center_resource", table_name="resource_contacts")
    op.drop_index("ix_resource_contacts_center_id", table_name="resource_contacts")
    op.drop_table("resource_contacts")
    op.drop_index("ix_resources_center_municipality", table_name="resources")
    op.drop_index("ix_resources_center_type", table_name="resources")
    op.drop_index("ix_resources_center_created", table_name="resources")
    op.drop_index("ix_resources_center_id", table_name="resources")
    op.drop_table("resources")
