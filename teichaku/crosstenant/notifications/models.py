"""The outbox of cross-tenant events and the inboxes they are delivered to.

``outbox_events`` is a platform table (no ``center_id``: it names the receiving center in
``to_center_id``) and holds no personal data: a kind, where it goes, a transfer or pull-request id, timestamps
and the state of its delivery.  ``notifications`` has one row per event and recipient; its
``center_id`` is the recipient's center (NULL for association users) and row-level security
(policy ``inbox``) keeps each center's rows to itself.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ...platform.extensions import db
from ...platform.models import AwareDateTime, utcnow

# What happened, as the inbox says it.  The codes are stored values (and the contract's "kind").
KIND_LABELS = {
    "transfer_requested": _l("広域調整の依頼が届きました"),
    "transfer_message": _l("広域調整に新しいメッセージがあります"),
    "transfer_accepted": _l("広域調整の依頼が受諾されました"),
    "transfer_declined": _l("広域調整の依頼が辞退されました"),
    "transfer_withdrawn": _l("広域調整の依頼が取り下げられました"),
    "transfer_reminder": _l("回答を待っている広域調整の依頼があります"),
    "transfer_reassigned": _l("広域調整の依頼先が変更されました"),
    "transfer_approval_needed": _l("広域調整の依頼がセンター長の承認を待っています"),
    "transfer_pull_requested": _l("広域調整の開始を依頼されました"),
    "transfer_update_shared": _l("広域調整で共有された情報が更新されました"),
    "transfer_completed": _l("広域調整が完了しました"),
    "transfer_overdue": _l("期限を過ぎた広域調整の依頼があります"),
    "transfer_pull_confirmed": _l("広域調整の開始依頼に応じて、依頼が作成されました"),
    "transfer_pull_refused": _l("広域調整の開始依頼が断られました"),
    "transfer_pull_cancelled": _l("広域調整の開始依頼が取り消されました"),
    # 事例の共有 (crosstenant/exchange): the inbox links to the study (``case_study_id``)
    "case_study_question": _l("共有した事例に質問が届きました"),
    "case_study_answer": _l("事例への質問に回答がありました"),
    "case_study_hidden": _l("共有した事例が全国協議会により非表示になりました"),
    "case_study_version_withdrawn": _l("共有した事例の版が全国協議会により取り下げられました"),
    # 保存期間 (crosstenant/retention): the monthly review found case files due for erasure
    "retention_review_due": _l("保存期間を過ぎた記録の削除確認があります"),
    # 職務の分離 (platform/auth/duties.py): a new center admin, something for the association to
    # confirm, an account's own second factor reset
    "center_admin_added": _l("センター長（管理者）のアカウントが追加されました"),
    "confirmation_requested": _l("全国協議会の確認を待っているアカウントの変更があります"),
    "second_factor_reset": _l("あなたのアカウントの二要素認証がリセットされました"),
}
KINDS = tuple(KIND_LABELS)

EMAIL_STATUSES = ("pending", "sent")

# Roles notified when an event names a center, and when it names the association.
CENTER_RECIPIENT_ROLES = ("staff", "center_admin")
ASSOCIATION_RECIPIENT_ROLES = ("association",)
# Kinds only some of a center's roles act on (the others would get a notice they cannot follow).
KIND_CENTER_ROLES = {"retention_review_due": ("center_admin",), "center_admin_added": ("center_admin",)}


def center_recipient_roles(kind: str) -> tuple[str, ...]:
    return KIND_CENTER_ROLES.get(kind, CENTER_RECIPIENT_ROLES)


def sql_in(values) -> str:
    """A literal IN list for CHECK constraints (the code constants above, never input)."""
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


class OutboxEvent(db.Model):
    """One cross-tenant event waiting for (or done with) delivery.  Ids and codes only."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        CheckConstraint(f"kind IN {sql_in(KINDS)}", name="kind"),
        CheckConstraint("to_center_id IS NOT NULL OR to_association OR to_user_id IS NOT NULL", name="has_recipients"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # the sweep's scan: undelivered (or e-mail pending), not failed
        Index("ix_outbox_events_pending", "created_at",
              postgresql_where=text("failed_at IS NULL AND (delivered_at IS NULL OR email_pending)"),
              sqlite_where=text("failed_at IS NULL AND (delivered_at IS NULL OR email_pending)")),
        Index("ix_outbox_events_failed", "failed_at",
              postgresql_where=text("failed_at IS NOT NULL"), sqlite_where=text("failed_at IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    to_center_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("centers.id"))
    to_association: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    to_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))  # one account
    # A transfer or a pull request (開始依頼) by its one public id (the group's: every party's id).
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    pull_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    case_study_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # a study of the shared library (事例の共有)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(64))  # a short code, never a message
    next_attempt_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(AwareDateTime)  # gave up: the admin retries
    email_pending: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    @property
    def state(self) -> str:
        if self.failed_at is not None:
            return "failed"
        if self.delivered_at is None:
            return "pending"
        return "email_pending" if self.email_pending else "delivered"


class Notification(db.Model):
    """One recipient's inbox entry for one event (a second delivery of the event is a no-op)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "recipient_user_id"),
        CheckConstraint(f"kind IN {sql_in(KINDS)}", name="kind"),
        CheckConstraint(f"email_status IS NULL OR email_status IN {sql_in(EMAIL_STATUSES)}", name="email_status"),
        Index("ix_notifications_recipient_created", "recipient_user_id", "created_at", "id"),
        Index("ix_notifications_recipient_unread", "recipient_user_id",
              postgresql_where=text("read_at IS NULL"), sqlite_where=text("read_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    center_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("centers.id"), index=True)
    recipient_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("outbox_events.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    pull_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    case_study_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False)  # when the event happened
    delivered_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    read_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    email_status: Mapped[str | None] = mapped_column(String(16))
    email_sent_at: Mapped[datetime | None] = mapped_column(AwareDateTime)

    @property
    def label(self) -> str:
        return str(KIND_LABELS.get(self.kind, self.kind))
