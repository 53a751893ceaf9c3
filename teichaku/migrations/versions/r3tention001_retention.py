"""Retention and deletion (保存期間と削除): rules, the monthly review, erased persons.

* ``retention_rules``: a center's years of keeping a case file after it ended, per case type
  (no row: the installation's ``RETENTION_YEARS_AFTER_CLOSING``).
* ``retention_reviews``: one row per person the monthly job found due; the center admin confirms
  the erasure or holds it with a reason.  At most one open (``due`` or ``held``) row per person.
* ``persons.erased_at``: an erased person is a statistical stub.  Name, kana, birth date and sex
  are personal data the figures never count, so they become NULL once erased (CHECK).
* Two SECURITY DEFINER functions let the application role carry out an erasure although it may
  not DELETE records, documents or plan revisions nor UPDATE audit entries: each acts only on the
  current tenant's rows (``app.tenant_id``) and only for a person already marked erased, so
  the application cannot use them to drop one record of a living case file quietly.
* The notification kind ``retention_review_due`` (a database created before this revision has
  the older list in its CHECK constraints).

Revision ID: r3tention001
Revises: r3porting001
Create Date: 2026-12-05 10:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant

# revision identifiers, used by Alembic.
revision = "r3tention001"
down_revision = "r3porting001"
branch_labels = None
depends_on = None

# The values as of this revision.
CASE_TYPES = "case_type IN ('coordination','follow_up','suspect_support','consultation')"
STATUSES = "status IN ('due','held','erased','withdrawn')"
RETENTION_KINDS = ("retention_review_due",)
# Tables an erasure may delete rows from (the functions refuse any other).
ERASABLE = ("case_records", "case_documents", "plan_revisions", "coordination_plans", "case_needs", "reminders",
            "committee_agenda_items", "transfer_messages", "transfer_message_attachments", "provision_records")


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def _create_rules() -> None:
    op.create_table(
        "retention_rules",
        sa.Column("case_type", sa.String(length=20), nullable=False),
        sa.Column("years_after_closing", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(CASE_TYPES, name=op.f("ck_retention_rules_case_type")),
        sa.CheckConstraint("years_after_closing BETWEEN 1 AND 30", name=op.f("ck_retention_rules_years")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_retention_rules_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_retention_rules")),
        sa.UniqueConstraint("center_id", "case_type", name=op.f("uq_retention_rules_center_id_case_type")),
    )
    with op.batch_alter_table("retention_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_rules_center_id"), ["center_id"], unique=False)


def _create_reviews() -> None:
    op.create_table(
        "retention_reviews",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("hold_until", sa.Date(), nullable=True),
        sa.Column("erased_counts", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(STATUSES, name=op.f("ck_retention_reviews_status")),
        sa.CheckConstraint("status <> 'held' OR (hold_reason IS NOT NULL AND hold_until IS NOT NULL)",
                           name=op.f("ck_retention_reviews_held_has_reason")),
        sa.CheckConstraint("status NOT IN ('held','erased') OR decided_at IS NOT NULL",
                           name=op.f("ck_retention_reviews_decided_has_time")),
        sa.ForeignKeyConstraint(["center_id", "person_id"], ["persons.center_id", "persons.id"],
                                name=op.f("fk_retention_reviews_center_id_person_id_persons")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_retention_reviews_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_retention_reviews")),
    )
    with op.batch_alter_table("retention_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_reviews_center_id"), ["center_id"], unique=False)
        batch_op.create_index("ix_retention_reviews_center_status", ["center_id", "status", "due_on"], unique=False)
        batch_op.create_index("uq_retention_reviews_open", ["center_id", "person_id"], unique=True,
                              postgresql_where=sa.text("status IN ('due','held')"),
                              sqlite_where=sa.text("status IN ('due','held')"))


def _erase_persons_columns() -> None:
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("birth_date", existing_type=sa.Date(), nullable=True)
        batch_op.alter_column("sex", existing_type=sa.String(length=8), nullable=True)
        batch_op.create_check_constraint(
            op.f("ck_persons_identity_until_erased"),
            "erased_at IS NOT NULL OR (birth_date IS NOT NULL AND sex IS NOT NULL)")


def _create_functions(role: str) -> None:
    tenant = "nullif(current_setting('app.tenant_id', true), '')::uuid"
    erased_check = f"""
        IF tenant IS NULL THEN RAISE EXCEPTION 'retention: no center is set'; END IF;
        IF NOT EXISTS (SELECT 1 FROM persons WHERE center_id = tenant AND id = erased_person
                       AND erased_at IS NOT NULL) THEN
            RAISE EXCEPTION 'retention: person % is not being erased', erased_person;
        END IF;"""
    op.execute(f"""
        CREATE FUNCTION retention_delete_rows(tbl text, ids uuid[], erased_person uuid) RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE tenant uuid := {tenant}; n integer;
        BEGIN
            IF tbl NOT IN {_in(ERASABLE)} THEN RAISE EXCEPTION 'retention: % is not erasable', tbl; END IF;
            {erased_check}
            EXECUTE format('DELETE FROM %I WHERE center_id = $1 AND id = ANY($2)', tbl) USING tenant, ids;
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN n;
        END $$""")
    op.execute(f"""
        CREATE FUNCTION retention_blank_audit(erased_person uuid, object_ids text[]) RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE tenant uuid := {tenant}; n integer;
        BEGIN
            {erased_check}
            UPDATE audit_entries SET details = NULL, details_blanked = true
             WHERE center_id = tenant AND NOT details_blanked
               AND (person_id = erased_person OR object_id = ANY(object_ids));
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN n;
        END $$""")
    for signature in ("retention_delete_rows(text, uuid[], uuid)", "retention_blank_audit(uuid, text[])"):
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {signature} TO "{role}"')


def _set_kinds(kinds) -> None:
    for table in ("outbox_events", "notifications"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
            batch_op.create_check_constraint(op.f(f"ck_{table}_kind"), f"kind IN {_in(kinds)}")


def _notification_kinds() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the kinds before this revision, and with it), from the code's list."""
    from teichaku.crosstenant.notifications.models import KINDS

    before = tuple(k for k in KINDS if k not in RETENTION_KINDS)
    return before, before + RETENTION_KINDS


def upgrade():
    _create_rules()
    _create_reviews()
    _erase_persons_columns()
    _set_kinds(_notification_kinds()[1])
    role = app_role()
    for table in ("retention_rules", "retention_reviews"):
        enable_rls(op, table, "tenant")
        grant(op, role, table, "SELECT, INSERT, UPDATE")
    if op.get_bind().dialect.name == "postgresql":
        _create_functions(role)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION retention_blank_audit(uuid, text[])")
        op.execute("DROP FUNCTION retention_delete_rows(text, uuid[], uuid)")
    kinds = _in(RETENTION_KINDS)
    op.execute(f"DELETE FROM notifications WHERE kind IN {kinds}")
    op.execute(f"DELETE FROM outbox_events WHERE kind IN {kinds}")
    _set_kinds(_notification_kinds()[0])
    # Erased persons cannot get their identity back: a downgrade refuses rather than invent one.
    op.execute("DELETE FROM retention_reviews")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_persons_identity_until_erased"), type_="check")
        batch_op.alter_column("sex", existing_type=sa.String(length=8), nullable=False)
        batch_op.alter_column("birth_date", existing_type=sa.Date(), nullable=False)
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("retention_reviews", schema=None) as batch_op:
        batch_op.drop_index("uq_retention_reviews_open")
        batch_op.drop_index("ix_retention_reviews_center_status")
        batch_op.drop_index(batch_op.f("ix_retention_reviews_center_id"))
    op.drop_table("retention_reviews")
    with op.batch_alter_table("retention_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_rules_center_id"))
    op.drop_table("retention_rules")
