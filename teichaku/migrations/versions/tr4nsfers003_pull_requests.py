"""Transfers: the receiving center's pull request (the destination asks the facility center to start a transfer).

``transfer_pulls`` keeps one row per side (the asking center's and the asked center's, joined by
``group_id``) under row-level security, with one open pull per asking case and asked center
(partial unique index).  A provision record now belongs to a transfer or to a pull (exactly one:
``provision_records.transfer_id`` becomes nullable, ``pull_id`` is added).  Notifications may
name a pull (``pull_id`` on the outbox and the inbox), and three kinds are added.

Downgrading refuses while pulls exist: their provision records (APPI) must not be dropped silently.

Revision ID: tr4nsfers003
Revises: tr4nsfers002
Create Date: 2026-11-27 15:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "tr4nsfers003"
down_revision = "tr4nsfers002"
branch_labels = None
depends_on = None

PULL_SIDES = "('asking','asked')"
PULL_STATUSES = "('open','confirmed','refused','cancelled')"
CONSENT_METHODS = "('written','oral_with_witness')"
OPEN_PULL_WHERE = "side = 'asking' AND status IN ('open')"
OLD_KINDS = ("transfer_requested", "transfer_message", "transfer_accepted", "transfer_declined", "transfer_withdrawn",
             "transfer_reminder", "transfer_reassigned", "transfer_approval_needed", "transfer_pull_requested",
             "transfer_update_shared", "transfer_completed", "transfer_overdue")
PULL_KINDS = ("transfer_pull_confirmed", "transfer_pull_refused", "transfer_pull_cancelled")


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def _ts(name, nullable=True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _create_pulls():
    op.create_table(
        "transfer_pulls",
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("counterpart_center_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("consent_obtained_on", sa.Date(), nullable=False),
        sa.Column("consent_method", sa.String(length=20), nullable=False),
        sa.Column("consent_witness", sa.String(length=100), nullable=True),
        sa.Column("consent_scope", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("person_snapshot", sa.JSON(), nullable=True),
        sa.Column("facility_name", sa.String(length=100), nullable=True),
        sa.Column("release_date", sa.Date(), nullable=True),
        sa.Column("refuse_comment", sa.Text(), nullable=True),
        sa.Column("transfer_group_id", sa.Uuid(), nullable=True),
        _ts("requested_at", nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        _ts("confirmed_at"),
        sa.Column("confirmed_by_id", sa.Uuid(), nullable=True),
        _ts("refused_at"),
        sa.Column("refused_by_id", sa.Uuid(), nullable=True),
        _ts("cancelled_at"),
        sa.Column("cancelled_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.CheckConstraint(f"side IN {PULL_SIDES}", name=op.f("ck_transfer_pulls_side")),
        sa.CheckConstraint(f"status IN {PULL_STATUSES}", name=op.f("ck_transfer_pulls_status")),
        sa.CheckConstraint(f"consent_method IN {CONSENT_METHODS}", name=op.f("ck_transfer_pulls_consent_method")),
        sa.CheckConstraint("consent_method <> 'oral_with_witness' OR coalesce(consent_witness, '') <> ''",
                           name=op.f("ck_transfer_pulls_oral_consent_has_witness")),
        sa.CheckConstraint("side = 'asked' OR case_id IS NOT NULL", name=op.f("ck_transfer_pulls_asking_has_case")),
        sa.CheckConstraint("status <> 'confirmed' OR (transfer_group_id IS NOT NULL AND confirmed_at IS NOT NULL)",
                           name=op.f("ck_transfer_pulls_confirmed_has_transfer")),
        sa.CheckConstraint("status <> 'refused' OR (refused_at IS NOT NULL AND coalesce(refuse_comment, '') <> '')",
                           name=op.f("ck_transfer_pulls_refused_has_comment")),
        sa.CheckConstraint("status <> 'cancelled' OR cancelled_at IS NOT NULL",
                           name=op.f("ck_transfer_pulls_cancelled_has_time")),
        sa.CheckConstraint("center_id <> counterpart_center_id", name=op.f("ck_transfer_pulls_two_centers")),
        sa.ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"],
                                name="fk_transfer_pulls_center_id_case_id_cases"),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_transfer_pulls_center_id_centers")),
        sa.ForeignKeyConstraint(["counterpart_center_id"], ["centers.id"],
                                name=op.f("fk_transfer_pulls_counterpart_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_transfer_pulls")),
    )
    with op.batch_alter_table("transfer_pulls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_pulls_center_id"), ["center_id"], unique=False)
        batch_op.create_index("ix_transfer_pulls_center_created", ["center_id", "created_at", "id"], unique=False)
        batch_op.create_index("ix_transfer_pulls_center_case", ["center_id", "case_id"], unique=False)
        batch_op.create_index("ix_transfer_pulls_group", ["group_id", "side"], unique=False)
    # One open pull per asking case and asked center: a second one is refused by the database too.
    op.create_index("uq_transfer_pulls_open_request", "transfer_pulls", ["center_id", "case_id", "counterpart_center_id"],
                    unique=True, postgresql_where=sa.text(OPEN_PULL_WHERE), sqlite_where=sa.text(OPEN_PULL_WHERE))
    # Each center sees only its own side; the cross-tenant service changes both under lock.
    enable_rls(op, "transfer_pulls", "tenant")
    grant(op, app_role(), "transfer_pulls", "SELECT, INSERT, UPDATE")


def _set_kinds(table: str, kinds) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_{table}_kind"), f"kind IN {_in(kinds)}")


def upgrade():
    _create_pulls()
    with op.batch_alter_table("provision_records", schema=None) as batch_op:
        batch_op.alter_column("transfer_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(sa.Column("pull_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key("fk_provision_records_center_id_pull_id_transfer_pulls", "transfer_pulls",
                                    ["center_id", "pull_id"], ["center_id", "id"])
        batch_op.create_check_constraint(op.f("ck_provision_records_one_source"),
                                         "(transfer_id IS NULL) <> (pull_id IS NULL)")
    for table in ("outbox_events", "notifications"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("pull_id", sa.Uuid(), nullable=True))
        _set_kinds(table, OLD_KINDS + PULL_KINDS)


def downgrade():
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM transfer_pulls")).scalar():
        raise RuntimeError("transfer_pulls holds pull requests (and provision_records their APPI records): "
                           "export and remove them deliberately before downgrading")
    kinds = ",".join(f"'{k}'" for k in PULL_KINDS)
    op.execute(f"DELETE FROM notifications WHERE kind IN ({kinds})")
    op.execute(f"DELETE FROM outbox_events WHERE kind IN ({kinds})")
    for table in ("notifications", "outbox_events"):
        _set_kinds(table, OLD_KINDS)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("pull_id")
    with op.batch_alter_table("provision_records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_provision_records_one_source"), type_="check")
        batch_op.drop_constraint("fk_provision_records_center_id_pull_id_transfer_pulls", type_="foreignkey")
        batch_op.drop_column("pull_id")
        batch_op.alter_column("transfer_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_index("uq_transfer_pulls_open_request", table_name="transfer_pulls")
    op.drop_table("transfer_pulls")
