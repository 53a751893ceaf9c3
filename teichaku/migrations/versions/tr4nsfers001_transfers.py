"""Transfers between centers (広域調整): one row per side, their message threads, and the APPI
records of provision to a third party.

Revision ID: tr4nsfers001
Revises: n0tif1cat1on
Create Date: 2026-12-05 09:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "tr4nsfers001"
down_revision = "n0tif1cat1on"
branch_labels = None
depends_on = None

SIDES = "('sending','receiving')"
STATUSES = "('awaiting_approval','requested','accepted','declined','withdrawn','completed','reassigned')"
CONSENT_METHODS = "('written','oral_with_witness')"
DECLINE_REASONS = "('no_capacity','out_of_area','no_resources','person_declined','other')"
OPEN_REQUEST_WHERE = "side = 'sending' AND status IN ('awaiting_approval','requested')"


def _tenant_columns():
    return [sa.Column("center_id", sa.Uuid(), nullable=False), sa.Column("id", sa.Uuid(), nullable=False)]


def _ts(name, nullable=True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade():
    op.create_table(
        "transfers",
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("counterpart_center_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("consent_obtained_on", sa.Date(), nullable=False),
        sa.Column("consent_method", sa.String(length=20), nullable=False),
        sa.Column("consent_witness", sa.String(length=100), nullable=True),
        sa.Column("consent_scope", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("package", sa.JSON(), nullable=False),
        sa.Column("person_snapshot", sa.JSON(), nullable=True),
        sa.Column("release_date", sa.Date(), nullable=True),
        sa.Column("decline_reason", sa.String(length=20), nullable=True),
        sa.Column("decline_comment", sa.Text(), nullable=True),
        _ts("requested_at", nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        _ts("approved_at"),
        sa.Column("approved_by_id", sa.Uuid(), nullable=True),
        _ts("sent_at"),
        _ts("accepted_at"),
        sa.Column("accepted_by_id", sa.Uuid(), nullable=True),
        _ts("declined_at"),
        sa.Column("declined_by_id", sa.Uuid(), nullable=True),
        _ts("withdrawn_at"),
        sa.Column("withdrawn_by_id", sa.Uuid(), nullable=True),
        _ts("completed_at"),
        sa.Column("completed_by_id", sa.Uuid(), nullable=True),
        _ts("reassigned_at"),
        sa.Column("reassigned_by_id", sa.Uuid(), nullable=True),
        sa.Column("reassign_count", sa.Integer(), nullable=False),
        _ts("reminded_at"),
        sa.Column("reminder_count", sa.Integer(), nullable=False),
        _ts("flagged_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        *_tenant_columns(),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.CheckConstraint(f"side IN {SIDES}", name=op.f("ck_transfers_side")),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_transfers_status")),
        sa.CheckConstraint(f"consent_method IN {CONSENT_METHODS}", name=op.f("ck_transfers_consent_method")),
        sa.CheckConstraint("consent_method <> 'oral_with_witness' OR coalesce(consent_witness, '') <> ''",
                           name=op.f("ck_transfers_oral_consent_has_witness")),
        sa.CheckConstraint(f"decline_reason IS NULL OR decline_reason IN {DECLINE_REASONS}",
                           name=op.f("ck_transfers_decline_reason")),
        sa.CheckConstraint("status <> 'declined' OR (decline_reason IS NOT NULL AND declined_at IS NOT NULL)",
                           name=op.f("ck_transfers_declined_has_reason")),
        sa.CheckConstraint("status NOT IN ('accepted','completed') OR accepted_at IS NOT NULL",
                           name=op.f("ck_transfers_accepted_has_time")),
        sa.CheckConstraint("side = 'receiving' OR case_id IS NOT NULL", name=op.f("ck_transfers_sending_has_case")),
        sa.CheckConstraint("side = 'sending' OR status NOT IN ('accepted','completed') OR case_id IS NOT NULL",
                           name=op.f("ck_transfers_accepted_receiving_has_case")),
        sa.CheckConstraint("side = 'receiving' OR status <> 'reassigned'", name=op.f("ck_transfers_only_receiving_reassigned")),
        sa.CheckConstraint("center_id <> counterpart_center_id", name=op.f("ck_transfers_two_centers")),
        sa.ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"],
                                name="fk_transfers_center_id_case_id_cases"),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_transfers_center_id_centers")),
        sa.ForeignKeyConstraint(["counterpart_center_id"], ["centers.id"],
                                name=op.f("fk_transfers_counterpart_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_transfers")),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfers_center_id"), ["center_id"], unique=False)
        batch_op.create_index("ix_transfers_center_created", ["center_id", "created_at", "id"], unique=False)
        batch_op.create_index("ix_transfers_center_case", ["center_id", "case_id"], unique=False)
        batch_op.create_index("ix_transfers_group", ["group_id", "side"], unique=False)
    # One open request per case and receiving center: a second one is refused by the database too.
    op.create_index("uq_transfers_open_request", "transfers", ["center_id", "case_id", "counterpart_center_id"],
                    unique=True, postgresql_where=sa.text(OPEN_REQUEST_WHERE), sqlite_where=sa.text(OPEN_REQUEST_WHERE))

    op.create_table(
        "transfer_messages",
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("pair_id", sa.Uuid(), nullable=False),
        sa.Column("author_center_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_name", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _ts("created_at", nullable=False),
        *_tenant_columns(),
        sa.CheckConstraint("length(body) > 0", name=op.f("ck_transfer_messages_body")),
        sa.ForeignKeyConstraint(["center_id", "transfer_id"], ["transfers.center_id", "transfers.id"],
                                name="fk_transfer_messages_center_id_transfer_id_transfers"),
        sa.ForeignKeyConstraint(["author_center_id"], ["centers.id"],
                                name=op.f("fk_transfer_messages_author_center_id_centers")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_transfer_messages_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_transfer_messages")),
    )
    with op.batch_alter_table("transfer_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_messages_center_id"), ["center_id"], unique=False)
        batch_op.create_index("ix_transfer_messages_center_transfer", ["center_id", "transfer_id", "created_at"],
                              unique=False)

    op.create_table(
        "provision_records",
        sa.Column("provided_on", sa.Date(), nullable=False),
        sa.Column("recipient_center_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("consent_obtained_on", sa.Date(), nullable=False),
        sa.Column("consent_method", sa.String(length=20), nullable=False),
        sa.Column("consent_witness", sa.String(length=100), nullable=True),
        sa.Column("consent_scope", sa.Text(), nullable=True),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("retain_until", sa.Date(), nullable=False),
        _ts("created_at", nullable=False),
        *_tenant_columns(),
        sa.CheckConstraint(f"consent_method IN {CONSENT_METHODS}", name=op.f("ck_provision_records_consent_method")),
        sa.CheckConstraint("basis IN ('consent','consent_reassigned')", name=op.f("ck_provision_records_basis")),
        sa.CheckConstraint("retain_until >= provided_on", name=op.f("ck_provision_records_retention")),
        sa.ForeignKeyConstraint(["center_id", "person_id"], ["persons.center_id", "persons.id"],
                                name="fk_provision_records_center_id_person_id_persons"),
        sa.ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"],
                                name="fk_provision_records_center_id_case_id_cases"),
        sa.ForeignKeyConstraint(["center_id", "transfer_id"], ["transfers.center_id", "transfers.id"],
                                name="fk_provision_records_center_id_transfer_id_transfers"),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_provision_records_center_id_centers")),
        sa.ForeignKeyConstraint(["recipient_center_id"], ["centers.id"],
                                name=op.f("fk_provision_records_recipient_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_provision_records")),
    )
    with op.batch_alter_table("provision_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provision_records_center_id"), ["center_id"], unique=False)
        batch_op.create_index("ix_provision_records_center_provided", ["center_id", "provided_on", "created_at"],
                              unique=False)

    # Row-level security: each center sees only its own side (the cross-tenant services use the
    # audited escape hatch).  Transfers change state in place; a thread's messages and the
    # provision records are only ever added (no UPDATE, no DELETE for the application).
    role = app_role()
    for table in ("transfers", "transfer_messages", "provision_records"):
        enable_rls(op, table, "tenant")
    grant(op, role, "transfers", "SELECT, INSERT, UPDATE")
    grant(op, role, "transfer_messages", "SELECT, INSERT")
    grant(op, role, "provision_records", "SELECT, INSERT")


def downgrade():
    op.drop_table("provision_records")
    op.drop_table("transfer_messages")
    op.drop_index("uq_transfers_open_request", table_name="transfers")
    op.drop_table("transfers")
