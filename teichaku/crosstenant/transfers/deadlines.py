"""A transfer's deadlines: an answer within ``TRANSFER_ANSWER_DAYS`` days, and an acceptance
before the release (warned ``TRANSFER_RELEASE_WARNING_DAYS`` days ahead); the association's
reminder and the daily job that reminds and flags.  Nothing here commits: the view or job does.
"""
from __future__ import annotations

from datetime import date

from flask import current_app
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.errors import InvalidState
from ...platform.extensions import db
from ...platform.i18n import jst_date, today_jst
from ...platform.models import utcnow
from ...platform.tenancy import cross_tenant
from ..notifications.services import emit
from . import lifecycle as lc
from .groups import lock_group, sending_by_public_id
from .models import Transfer


def answer_days() -> int:
    """Days a receiving center has to answer (the compliance report counts against it too)."""
    return int(current_app.config.get("TRANSFER_ANSWER_DAYS", lc.ANSWER_DAYS))


def release_warning_days() -> int:
    """How close to the release an unaccepted request is flagged as overdue."""
    return int(current_app.config.get("TRANSFER_RELEASE_WARNING_DAYS", lc.RELEASE_WARNING_DAYS))


def remind_transfer(transfer_id, actor) -> Transfer:
    """The association reminds the receiving center of a request still unanswered."""
    with cross_tenant("transfers.remind"):
        found = sending_by_public_id(transfer_id)
        if found is None:
            raise NotFound()
        sending, receiving = lock_group(found.group_id)
        if receiving is None or receiving.status != "requested":
            raise InvalidState("回答待ちの依頼ではないため、催促できません。", details={"status": sending.status})
        _remind(receiving)
        db.session.flush()
    audit("transfer.remind", object_type="transfer", object_id=sending.id, details={"reminder_count": receiving.reminder_count})
    return sending


def _remind(receiving: Transfer) -> None:
    receiving.reminded_at = utcnow()
    receiving.reminder_count = (receiving.reminder_count or 0) + 1
    emit("transfer_reminder", to_center_id=receiving.center_id, transfer_id=receiving.public_id)


def _needs_reminder(receiving: Transfer, today: date) -> bool:
    if receiving.status != "requested":
        return False
    waited = (today - (jst_date(receiving.sent_at) or today)).days
    release_soon = receiving.release_date is not None and (receiving.release_date - today).days <= release_warning_days()
    return waited >= answer_days() or release_soon


def send_reminders(today: date | None = None) -> int:
    """Daily job: requests unanswered for ``TRANSFER_ANSWER_DAYS`` days, or whose release is
    within ``TRANSFER_RELEASE_WARNING_DAYS`` days without an acceptance, remind the receiving
    center (once a day) and are flagged for the association (notified once, when first flagged).
    Returns the number of reminders sent."""
    today = today or today_jst()
    sent = 0
    with cross_tenant("transfers.reminders"):
        rows = list(db.session.scalars(select(Transfer).where(Transfer.side == "receiving", Transfer.status == "requested")
                                       .order_by(Transfer.sent_at).with_for_update(skip_locked=True)))
        for receiving in rows:
            if not _needs_reminder(receiving, today) or jst_date(receiving.reminded_at) == today:
                continue
            _remind(receiving)
            sent += 1
            if receiving.flagged_at is None:
                receiving.flagged_at = utcnow()
                emit("transfer_overdue", to_association=True, transfer_id=receiving.public_id)
        db.session.flush()
    audit("transfer.reminders", object_type="transfer", details={"sent": sent, "on": today.isoformat()})
    return sent
