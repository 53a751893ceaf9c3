"""Jobs.  Each takes ids or plain values and opens its own app context (see ``platform.jobs.job``)."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, or_

from ..crosstenant.retention.services import run_review
from ..crosstenant.transfers.deadlines import send_reminders
from ..platform.auth.models import ApiToken, UserSession
from ..platform.centers import list_centers
from ..platform.extensions import db
from ..platform.jobs import job
from ..platform.models import utcnow
from ..platform.tenancy import account_lookup, set_tenant
from ..tenants.cases.services import raise_reminders


@job
def purge_expired_sessions() -> int:
    """Delete sessions and tokens that can no longer be used (kept a day for investigation)."""
    cutoff = utcnow() - current_app.config["SESSION_ABSOLUTE_TIMEOUT"] - timedelta(days=1)
    with account_lookup():
        n = db.session.execute(delete(UserSession).where(or_(UserSession.created_at < cutoff, UserSession.revoked_at < cutoff))).rowcount
        n += db.session.execute(delete(ApiToken).where(ApiToken.expires_at < utcnow() - timedelta(days=1))).rowcount
    return n


@job
def raise_deadline_reminders() -> int:
    """Daily: reminders 3 and 1 days (``REMINDER_DAYS``) before release and follow-up dates,
    center by center (each with its own tenant scope)."""
    total = 0
    for center in list_centers():
        if not center.active:
            continue
        set_tenant(center.id)
        total += raise_reminders()
        db.session.commit()  # one center per transaction: a later center's failure keeps these reminders raised
    set_tenant(None)
    return total


@job
def send_transfer_reminders() -> int:
    """Daily: 広域調整 requests unanswered for ``TRANSFER_ANSWER_DAYS`` days, or releasing within
    ``TRANSFER_RELEASE_WARNING_DAYS`` days without an acceptance, remind the receiving center and
    are flagged for the association (crosstenant/transfers)."""
    sent = send_reminders()
    return sent


@job
def review_retention() -> int:
    """Monthly: list each center's persons whose case files are past their keeping period, for
    the center admin to confirm or hold (crosstenant/retention); nothing is erased here."""
    listed = 0
    for center in list_centers():
        if not center.active:
            continue
        set_tenant(center.id)
        listed += run_review().listed
        db.session.commit()  # one center per transaction: a later center's failure keeps this review listed
    set_tenant(None)
    return listed
