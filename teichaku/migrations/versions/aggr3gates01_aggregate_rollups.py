"""Aggregates: rollup tables kept current by RQ jobs, dirty-slice marks, rebuild runs.

``rollup_counts``, ``rollup_day_counts``, ``rollup_slices`` and ``rollup_dirty_slices`` carry a
``center_id`` and hold counts, codes and fiscal years only; they get the ``tenant`` policy like
every tenant table (a center's jobs write its rows; reporting reads across centers only inside
the audited ``cross_tenant("aggregates.figures")``).  ``rollup_runs`` is a platform table.

Existing rows (an upgrade of a database already in use) are marked dirty here, one mark per
(center, fiscal year) they count in, so the sweep computes their rollups within minutes of the
first ``rq cron`` tick (or run ``flask aggregates rebuild``).  A fiscal year is the year of the
date three months earlier (1 April -> 1 January of the same year).

Revision ID: aggr3gates01
Revises: exch4nge0001
Create Date: 2026-11-27 15:10:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "aggr3gates01"
down_revision = "exch4nge0001"
branch_labels = None
depends_on = None

# The values as of this revision (a later family or measure widens these in a migration of its own).
FAMILIES = ("cases", "cases_by_need", "co_requests", "co_ended", "co_placements", "co_return", "fu_closed", "fu_span",
            "ss_requests", "ss_supported", "ss_outcomes", "consultations", "transfers_sent", "transfers_received",
            "transfers_accepted", "transfers_declined", "activities", "activity_participants")
MEASURES = ("co_days_to_release", "fu_days_to_end", "transfer_days_to_answer")
ROLES = ("own", "sending", "receiving")
RUN_KINDS, RUN_TRIGGERS, RUN_STATUSES = ("rebuild",), ("nightly", "cli"), ("running", "done", "failed")
CENTER_TABLES = ("rollup_counts", "rollup_day_counts", "rollup_slices", "rollup_dirty_slices")


def sql_in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def _center_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f(f"fk_{table}_center_id_centers"))


def upgrade():
    op.create_table(
        "rollup_counts",
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(40), nullable=False),
        sa.Column("dim1", sa.String(40), nullable=False),
        sa.Column("dim2", sa.String(40), nullable=False),
        sa.Column("dim3", sa.String(40), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(f"family IN {sql_in(FAMILIES)}", name=op.f("ck_rollup_counts_family")),
        sa.CheckConstraint(f"role IN {sql_in(ROLES)}", name=op.f("ck_rollup_counts_role")),
        sa.CheckConstraint("value > 0", name=op.f("ck_rollup_counts_value")),
        _center_fk("rollup_counts"),
        sa.PrimaryKeyConstraint("center_id", "fiscal_year", "family", "dim1", "dim2", "dim3", "role",
                                name=op.f("pk_rollup_counts")),
    )
    op.create_index("ix_rollup_counts_year_family", "rollup_counts", ["fiscal_year", "family"])

    op.create_table(
        "rollup_day_counts",
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(40), nullable=False),
        sa.Column("dim1", sa.String(40), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint(f"measure IN {sql_in(MEASURES)}", name=op.f("ck_rollup_day_counts_measure")),
        sa.CheckConstraint(f"role IN {sql_in(ROLES)}", name=op.f("ck_rollup_day_counts_role")),
        sa.CheckConstraint("count > 0", name=op.f("ck_rollup_day_counts_count")),
        _center_fk("rollup_day_counts"),
        sa.PrimaryKeyConstraint("center_id", "fiscal_year", "measure", "dim1", "role", "days",
                                name=op.f("pk_rollup_day_counts")),
    )
    op.create_index("ix_rollup_day_counts_year_measure", "rollup_day_counts", ["fiscal_year", "measure"])

    op.create_table(
        "rollup_slices",
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        _center_fk("rollup_slices"),
        sa.PrimaryKeyConstraint("center_id", "fiscal_year", name=op.f("pk_rollup_slices")),
    )

    op.create_table(
        "rollup_dirty_slices",
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        _center_fk("rollup_dirty_slices"),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_rollup_dirty_slices")),
    )
    op.create_index("ix_rollup_dirty_slices_slice", "rollup_dirty_slices", ["center_id", "fiscal_year"])

    op.create_table(
        "rollup_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("triggered_by", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("centers", sa.Integer(), nullable=False),
        sa.Column("slices", sa.Integer(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("mismatches", sa.Integer(), nullable=False),
        sa.Column("pending_slices", sa.Integer(), nullable=False),
        sa.CheckConstraint(f"kind IN {sql_in(RUN_KINDS)}", name=op.f("ck_rollup_runs_kind")),
        sa.CheckConstraint(f"triggered_by IN {sql_in(RUN_TRIGGERS)}", name=op.f("ck_rollup_runs_triggered_by")),
        sa.CheckConstraint(f"status IN {sql_in(RUN_STATUSES)}", name=op.f("ck_rollup_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_runs")),
    )
    op.create_index("ix_rollup_runs_started", "rollup_runs", ["started_at"])

    role = app_role()
    for table in CENTER_TABLES:
        enable_rls(op, table, "tenant")
        grant(op, role, table)
    grant(op, role, "rollup_runs", "SELECT, INSERT, UPDATE")
    _mark_existing_rows()


def _mark_existing_rows() -> None:
    """One mark per (center, fiscal year) that existing rows count in (see the module doc)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("SELECT set_config('app.cross_tenant', 'on', true)")  # an owner without BYPASSRLS
        fy = "extract(year from ({}) - interval '3 months')::int"
        jst = "({} AT TIME ZONE 'Asia/Tokyo')"
        new_id, now = "gen_random_uuid()", "now()"
    else:
        fy = "CAST(strftime('%Y', date({}, '-3 months')) AS INTEGER)"
        jst = "datetime({}, '+9 hours')"
        new_id, now = "lower(hex(randomblob(16)))", "datetime('now')"
    sources = " UNION ".join((
        f"SELECT center_id, {fy.format('requested_on')} AS fiscal_year FROM cases",
        f"SELECT center_id, {fy.format('released_on')} FROM cases WHERE released_on IS NOT NULL",
        f"SELECT center_id, {fy.format('closed_on')} FROM cases WHERE closed_on IS NOT NULL",
        f"SELECT center_id, {fy.format(jst.format('sent_at'))} FROM transfers WHERE sent_at IS NOT NULL",
        f"SELECT center_id, {fy.format('held_on')} FROM network_activities",
    ))
    op.execute(f"INSERT INTO rollup_dirty_slices (center_id, id, fiscal_year, marked_at) "
               f"SELECT center_id, {new_id}, fiscal_year, {now} FROM ({sources}) AS years")


def downgrade():
    op.drop_index("ix_rollup_runs_started", table_name="rollup_runs")
    op.drop_table("rollup_runs")
    op.drop_index("ix_rollup_dirty_slices_slice", table_name="rollup_dirty_slices")
    op.drop_table("rollup_dirty_slices")
    op.drop_table("rollup_slices")
    op.drop_index("ix_rollup_day_counts_year_measure", table_name="rollup_day_counts")
    op.drop_table("rollup_day_counts")
    op.drop_index("ix_rollup_counts_year_family", table_name="rollup_counts")
    op.drop_table("rollup_counts")
