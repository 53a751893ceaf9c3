"""Notifications: the outbox of cross-tenant events and the recipients' inboxes.

``outbox_events`` is a platform table (no ``center_id``, no personal data); the application role
may read, insert and update it.  ``notifications`` carries the recipient's ``center_id`` (NULL
for association users) under row-level security (policy ``inbox``); one row per event and
recipient (UNIQUE), so delivering an event twice is a no-op.

The transfers revision follows this one (``down_revision = "n0tif1cat1on"``).

Revision ID: n0tif1cat1on
Revises: m3rge0000003
"""
from alembic import op
import sqlalchemy as sa

from teichaku.crosstenant.notifications.models import EMAIL_STATUSES, KINDS, sql_in
from teichaku.platform.rls import app_role, enable_rls, grant

revision = "n0tif1cat1on"
down_revision = "s3arch000004"  # after the name-search revision
branch_labels = None
depends_on = None

PENDING = "failed_at IS NULL AND (delivered_at IS NULL OR email_pending)"


def upgrade():
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("to_center_id", sa.Uuid(), nullable=True),
        sa.Column("to_association", sa.Boolean(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(64), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_pending", sa.Boolean(), nullable=False),
        sa.CheckConstraint(f"kind IN {sql_in(KINDS)}", name=op.f("ck_outbox_events_kind")),
        sa.CheckConstraint("to_center_id IS NOT NULL OR to_association", name=op.f("ck_outbox_events_has_recipients")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_events_attempts")),
        sa.ForeignKeyConstraint(["to_center_id"], ["centers.id"], name=op.f("fk_outbox_events_to_center_id_centers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index("ix_outbox_events_pending", "outbox_events", ["created_at"],
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    op.create_index("ix_outbox_events_failed", "outbox_events", ["failed_at"],
                    postgresql_where=sa.text("failed_at IS NOT NULL"), sqlite_where=sa.text("failed_at IS NOT NULL"))

    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("center_id", sa.Uuid(), nullable=True),
        sa.Column("recipient_user_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_status", sa.String(16), nullable=True),
        sa.Column("email_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"kind IN {sql_in(KINDS)}", name=op.f("ck_notifications_kind")),
        sa.CheckConstraint(f"email_status IS NULL OR email_status IN {sql_in(EMAIL_STATUSES)}",
                           name=op.f("ck_notifications_email_status")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_notifications_center_id_centers")),
        sa.ForeignKeyConstraint(["recipient_user_id"], ["users.id"], name=op.f("fk_notifications_recipient_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"], name=op.f("fk_notifications_event_id_outbox_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("event_id", "recipient_user_id", name=op.f("uq_notifications_event_id_recipient_user_id")),
    )
    op.create_index("ix_notifications_center_id", "notifications", ["center_id"])
    op.create_index("ix_notifications_recipient_created", "notifications", ["recipient_user_id", "created_at", "id"])
    op.create_index("ix_notifications_recipient_unread", "notifications", ["recipient_user_id"],
                    postgresql_where=sa.text("read_at IS NULL"), sqlite_where=sa.text("read_at IS NULL"))

    role = app_role()
    grant(op, role, "outbox_events", "SELECT, INSERT, UPDATE")
    enable_rls(op, "notifications", "inbox")
    grant(op, role, "notifications", "SELECT, INSERT, UPDATE")


def downgrade():
    op.drop_index("ix_notifications_recipient_unread", table_name="notifications")
    op.drop_index("ix_notifications_recipient_created", table_name="notifications")
    op.drop_index("ix_notifications_center_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_outbox_events_failed", table_name="outbox_events")
    op.drop_index("ix_outbox_events_pending", table_name="outbox_events")
    op.drop_table("outbox_events")
