"""Case work: lifecycles and case fields, eligibility, needs by life area, reminders, name search.

Revision ID: cas3w0rk0001
Revises: ca3dc34a7ee6
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from teichaku.platform.rls import app_role, enable_rls, grant
from teichaku.tenants.cases.lifecycle import (
    ALL_STATUSES, CLOSING_REASONS, FACILITY_TYPES, NEED_AREAS, NEED_STATUSES, PLACEMENTS, REQUESTER_TYPES,
    SUSPECT_STAGES, sql_in,
)

revision = "cas3w0rk0001"
down_revision = "ca3dc34a7ee6"
branch_labels = None
depends_on = None

CASE_COLUMNS = [
    sa.Column("parent_case_id", sa.Uuid(), nullable=True),
    sa.Column("request_source", sa.String(100), nullable=True),
    sa.Column("probation_office", sa.String(100), nullable=True),
    sa.Column("facility_name", sa.String(100), nullable=True),
    sa.Column("facility_type", sa.String(32), nullable=True),
    sa.Column("released_on", sa.Date(), nullable=True),
    sa.Column("destination_municipality_name", sa.String(50), nullable=True),
    sa.Column("destination_municipality_code", sa.String(6), nullable=True),
    sa.Column("follow_up_on", sa.Date(), nullable=True),
    sa.Column("eligibility", sa.JSON(), nullable=False, server_default="{}"),
    sa.Column("eligibility_override_reason", sa.Text(), nullable=True),
    sa.Column("eligibility_override_by", sa.Uuid(), nullable=True),
    sa.Column("eligibility_override_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("requester_type", sa.String(20), nullable=True),
    sa.Column("topic", sa.Text(), nullable=True),
    sa.Column("suspect_stage", sa.String(32), nullable=True),
    sa.Column("outcome_at_release", sa.Text(), nullable=True),
    sa.Column("closed_on", sa.Date(), nullable=True),
    sa.Column("closing_reason", sa.String(32), nullable=True),
    sa.Column("closing_note", sa.Text(), nullable=True),
    sa.Column("outcome_placement", sa.String(32), nullable=True),
    sa.Column("outcome_municipality_name", sa.String(50), nullable=True),
    sa.Column("outcome_municipality_code", sa.String(6), nullable=True),
    sa.Column("placement_resource_id", sa.Uuid(), nullable=True),
]


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    grams_type = postgresql.ARRAY(sa.Text()) if postgres else sa.JSON()
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("certificates", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("public_assistance", sa.String(16), nullable=False, server_default="none"))
        batch.add_column(sa.Column("name_grams", grams_type, nullable=False,
                                   server_default=sa.text("'{}'::text[]") if postgres else "[]"))
        batch.create_check_constraint("public_assistance", "public_assistance IN ('none','receiving','applied','planned')")
    if postgres:
        op.create_index("ix_persons_name_grams", "persons", ["name_grams"], postgresql_using="gin")
    _backfill_name_grams()

    with op.batch_alter_table("cases") as batch:
        for column in CASE_COLUMNS:
            batch.add_column(column)
        batch.create_foreign_key("fk_cases_parent_case", "cases", ["center_id", "parent_case_id"], ["center_id", "id"])
        batch.create_check_constraint("status", f"status IN {sql_in(ALL_STATUSES)}")
        batch.create_check_constraint("facility_type", f"facility_type IS NULL OR facility_type IN {sql_in(FACILITY_TYPES)}")
        batch.create_check_constraint("closing_reason", f"closing_reason IS NULL OR closing_reason IN {sql_in(CLOSING_REASONS)}")
        batch.create_check_constraint("outcome_placement", f"outcome_placement IS NULL OR outcome_placement IN {sql_in(PLACEMENTS)}")
        batch.create_check_constraint("requester_type", f"requester_type IS NULL OR requester_type IN {sql_in(REQUESTER_TYPES)}")
        batch.create_check_constraint("suspect_stage", f"suspect_stage IS NULL OR suspect_stage IN {sql_in(SUSPECT_STAGES)}")
        batch.create_check_constraint("closed_has_reason", "(status = 'closed') = (closing_reason IS NOT NULL)")
    op.create_index("ix_cases_center_created", "cases", ["center_id", "created_at", "id"])
    op.create_index("ix_cases_center_status", "cases", ["center_id", "status"])
    op.create_index("ix_cases_center_release", "cases", ["center_id", "release_date"])
    op.create_index("ix_cases_center_assigned", "cases", ["center_id", "assigned_user_id"])
    op.create_index("ix_cases_center_person", "cases", ["center_id", "person_id"])

    op.create_table(
        "case_needs",
        sa.Column("center_id", sa.Uuid(), sa.ForeignKey("centers.id", name="fk_case_needs_center_id_centers"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("area", sa.String(32), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("responsible", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("center_id", "id", name="pk_case_needs"),
        sa.ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"], ondelete="CASCADE",
                                name="fk_case_needs_center_id_case_id_cases"),
        sa.UniqueConstraint("center_id", "case_id", "area", name="uq_case_needs_center_id_case_id_area"),
        sa.CheckConstraint(f"area IN {sql_in(NEED_AREAS)}", name="ck_case_needs_area"),
        sa.CheckConstraint(f"status IN {sql_in(NEED_STATUSES)}", name="ck_case_needs_status"),
    )
    op.create_index("ix_case_needs_center_id", "case_needs", ["center_id"])
    op.create_table(
        "reminders",
        sa.Column("center_id", sa.Uuid(), sa.ForeignKey("centers.id", name="fk_reminders_center_id_centers"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("center_id", "id", name="pk_reminders"),
        sa.ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"], ondelete="CASCADE",
                                name="fk_reminders_center_id_case_id_cases"),
        sa.UniqueConstraint("center_id", "case_id", "kind", "due_on", "days_before",
                            name="uq_reminders_center_id_case_id_kind_due_on_days_before"),
        sa.CheckConstraint("kind IN ('release','follow_up')", name="ck_reminders_kind"),
    )
    op.create_index("ix_reminders_center_id", "reminders", ["center_id"])
    role = app_role()
    for table in ("case_needs", "reminders"):
        enable_rls(op, table, "tenant")
        grant(op, role, table)


def _backfill_name_grams():
    from teichaku.tenants.persons.names import name_grams

    bind = op.get_bind()
    persons = sa.table("persons", sa.column("center_id", sa.Uuid()), sa.column("id", sa.Uuid()),
                       sa.column("family_name"), sa.column("given_name"), sa.column("family_name_kana"),
                       sa.column("given_name_kana"),
                       sa.column("name_grams", postgresql.ARRAY(sa.Text()) if bind.dialect.name == "postgresql" else sa.JSON()))
    rows = bind.execute(sa.select(persons.c.center_id, persons.c.id, persons.c.family_name, persons.c.given_name,
                                  persons.c.family_name_kana, persons.c.given_name_kana)).all()
    for center_id, person_id, fam, giv, fam_k, giv_k in rows:
        bind.execute(persons.update().where(persons.c.center_id == center_id, persons.c.id == person_id)
                     .values(name_grams=name_grams(fam + giv, fam_k + giv_k, fam, giv)))


def downgrade():
    op.drop_table("reminders")
    op.drop_table("case_needs")
    for name in ("ix_cases_center_person", "ix_cases_center_assigned", "ix_cases_center_release",
                 "ix_cases_center_status", "ix_cases_center_created"):
        op.drop_index(name, table_name="cases")
    with op.batch_alter_table("cases") as batch:
        for name in ("closed_has_reason", "suspect_stage", "requester_type", "outcome_placement", "closing_reason",
                     "facility_type", "status"):
            batch.drop_constraint(f"ck_cases_{name}", type_="check")
        batch.drop_constraint("fk_cases_parent_case", type_="foreignkey")
        for column in reversed(CASE_COLUMNS):
            batch.drop_column(column.name)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_persons_name_grams", table_name="persons")
    with op.batch_alter_table("persons") as batch:
        batch.drop_constraint("ck_persons_public_assistance", type_="check")
        batch.drop_column("name_grams")
        batch.drop_column("public_assistance")
        batch.drop_column("certificates")
