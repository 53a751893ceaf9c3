"""Hardening: invitations of center admins confirmed by the association, second-factor resets.

* ``users.awaiting_confirmation``: an invited center admin is unusable until an association
  account confirms it.
* ``account_confirmations``: what waits for the association's confirmation (a center admin
  invited from the operator's pages, a second-factor reset the operator asked for).  A platform
  table (no ``center_id``): ids and timestamps only.
* ``outbox_events.to_user_id``: a notification for one account (its second factor was reset).
* Notification kinds ``center_admin_added``, ``confirmation_requested``, ``second_factor_reset``.

Revision ID: h4rden0002
Revises: h4rden0001
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, grant


# revision identifiers, used by Alembic.
revision = "h4rden0002"
down_revision = "h4rden0001"
branch_labels = None
depends_on = None

NEW_KINDS = ("center_admin_added", "confirmation_requested", "second_factor_reset")


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def _set_kinds(kinds) -> None:
    for table in ("outbox_events", "notifications"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
            batch_op.create_check_constraint(op.f(f"ck_{table}_kind"), f"kind IN {_in(kinds)}")


def _all_kinds() -> tuple[str, ...]:
    from teichaku.crosstenant.notifications.models import KINDS

    return tuple(KINDS)


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("awaiting_confirmation", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        "account_confirmations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_set_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('center_admin','second_factor_reset')", name=op.f("ck_account_confirmations_kind")),
        sa.CheckConstraint("decision IS NULL OR decision IN ('confirmed','refused','withdrawn')",
                           name=op.f("ck_account_confirmations_decision")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_account_confirmations_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"],
                                name=op.f("fk_account_confirmations_requested_by_id_users")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"],
                                name=op.f("fk_account_confirmations_decided_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_confirmations")),
    )
    with op.batch_alter_table("account_confirmations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_confirmations_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("to_user_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_outbox_events_to_user_id_users"), "users", ["to_user_id"], ["id"],
                                    ondelete="CASCADE")
        batch_op.drop_constraint(op.f("ck_outbox_events_has_recipients"), type_="check")
        batch_op.create_check_constraint(op.f("ck_outbox_events_has_recipients"),
                                         "to_center_id IS NOT NULL OR to_association OR to_user_id IS NOT NULL")
    _set_kinds(_all_kinds())
    grant(op, app_role(), "account_confirmations", "SELECT, INSERT, UPDATE")


def downgrade():
    kinds = _in(NEW_KINDS)
    op.execute(f"DELETE FROM notifications WHERE kind IN {kinds}")
    op.execute(f"DELETE FROM outbox_events WHERE kind IN {kinds} OR to_user_id IS NOT NULL")
    _set_kinds(tuple(k for k in _all_kinds() if k not in NEW_KINDS))
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_events_has_recipients"), type_="check")
        batch_op.create_check_constraint(op.f("ck_outbox_events_has_recipients"), "to_center_id IS NOT NULL OR to_association")
        batch_op.drop_constraint(batch_op.f("fk_outbox_events_to_user_id_users"), type_="foreignkey")
        batch_op.drop_column("to_user_id")
    op.drop_table("account_confirmations")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("awaiting_confirmation")
