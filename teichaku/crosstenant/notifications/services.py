"""Notifications: emitting events into the outbox, the inbox, the e-mail preference, and the
platform admin's view of failed deliveries.

``emit`` is the one interface the cross-tenant services (transfers, ...) call, and the
platform's account duties through ``platform.announcements`` (the app factory names ``emit``
there): it writes an outbox row in the caller's open transaction and never commits or talks to
Redis.  A flush hook (installed by the app factory) enqueues the delivery of new outbox rows after
the commit (``platform.transaction.on_commit``); a rollback forgets them.  If Redis does not answer
at that moment the failure is logged (ids only)
and the sweep (``delivery.sweep_outbox``) delivers the event later.
"""
from __future__ import annotations

import functools
import uuid
from datetime import timedelta

from flask import current_app, g, has_app_context
from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.orm import Session

from ...platform.audit.services import record
from ...platform.extensions import db
from ...platform.logs import get_logger
from ...platform.models import utcnow
from ...platform.pagination import keyset_page
from ...platform.tenancy import account_lookup
from ...platform.jobs import enqueue
from ...platform.transaction import on_commit
from .delivery import commit_job_id, deliver_event
from .models import KINDS, Notification, OutboxEvent

log = get_logger("teichaku.notifications")

JOB_TTL = 24 * 3600  # a delivery job waits at most a day in Redis; the sweep re-enqueues anyway


# --- emitting ------------------------------------------------------------------------------------

def emit(kind: str, *, to_center_id: uuid.UUID | None = None, to_association: bool = False,
         to_user_id: uuid.UUID | None = None, transfer_id: uuid.UUID | None = None, pull_id: uuid.UUID | None = None,
         case_study_id: uuid.UUID | None = None) -> OutboxEvent:
    """Record a cross-tenant event for delivery, in the caller's open transaction (no commit).

    Recipients are resolved at delivery: every active ``staff`` and ``center_admin`` of
    ``to_center_id``, and/or every active ``association`` user when ``to_association``.
    ``transfer_id`` / ``pull_id`` name the transfer or pull request by its one public id (the
    group's, ``SideRow.public_id``: the id every party opens it with);
    ``case_study_id`` names a study of the shared library (the same id for every reader).
    ``to_user_id`` adds one account (an announcement about that account itself).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind: {kind!r}")
    if to_center_id is None and not to_association and to_user_id is None:
        raise ValueError("a notification event needs recipients: to_center_id, to_association or to_user_id")
    outbox_event = OutboxEvent(
        id=uuid.uuid4(), kind=kind, to_center_id=to_center_id, to_association=bool(to_association), to_user_id=to_user_id,
        transfer_id=transfer_id, pull_id=pull_id, case_study_id=case_study_id, created_at=utcnow(), attempts=0,
        email_pending=False,
    )
    db.session.add(outbox_event)
    db.session.flush()
    return outbox_event


def _collect_new_events(session, _flush_context) -> None:
    """Enqueue the delivery of the outbox rows a flush wrote, once their transaction commits."""
    ids = [obj.id for obj in session.new if isinstance(obj, OutboxEvent)]
    if ids:
        on_commit(functools.partial(_enqueue_if_app, ids, retry=False), session)


def _enqueue_if_app(event_ids, *, retry: bool) -> None:
    if has_app_context():
        enqueue_deliveries(event_ids, retry=retry)


def install() -> None:
    """Listen on every session's flush (called once by the app factory; idempotent)."""
    if not event.contains(Session, "after_flush", _collect_new_events):
        event.listen(Session, "after_flush", _collect_new_events)


def enqueue_deliveries(event_ids, *, retry: bool = False) -> int:
    """Enqueue ``deliver_event`` for each id; a Redis failure is logged and left to the sweep.

    The job id of an event's first job is ``outbox-<event id>`` (a worker that delivers the event
    first takes that job off the queue); a retry gets an id of its own."""
    if not event_ids:
        return 0
    app = current_app._get_current_object()
    queued = 0
    # A fresh app context: its own session (the committing one may not run SQL now) and no
    # tenant or signed-in user, exactly as in a worker, when jobs run in-process.
    with app.app_context():
        g._login_user = None
        for event_id in event_ids:
            job_id = f"{commit_job_id(event_id)}-retry-{uuid.uuid4().hex[:8]}" if retry else commit_job_id(event_id)
            try:
                enqueue(deliver_event, str(event_id), job_id=job_id, ttl=JOB_TTL)
                queued += 1
            except Exception as exc:  # noqa: BLE001 - Redis down: the sweep delivers it later
                log.warning("outbox_enqueue_failed", event_id=str(event_id), error=type(exc).__name__)
    return queued


# --- the inbox -------------------------------------------------------------------------------------

def list_notifications(user, *, limit: int = 50, cursor: str | None = None) -> tuple[list[Notification], str | None]:
    """The user's notifications, newest first, and the cursor of the next page."""
    stmt = select(Notification).where(Notification.recipient_user_id == user.id)
    return keyset_page(stmt, (Notification.created_at, Notification.id), limit, cursor)


def unread_count(user) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.recipient_user_id == user.id, Notification.read_at.is_(None))) or 0


def get_own_notification(user, notification_id) -> Notification | None:
    """One of the user's notifications; None for anybody else's, as for a missing one."""
    try:
        notification_id = uuid.UUID(str(notification_id))
    except (ValueError, TypeError):
        return None
    return db.session.scalar(select(Notification).where(
        Notification.id == notification_id, Notification.recipient_user_id == user.id))


def mark_read(user, notification_id) -> Notification | None:
    """Mark one of the user's notifications read (the first reading time is kept)."""
    notification = get_own_notification(user, notification_id)
    if notification is None:
        return None
    if notification.read_at is None:
        notification.read_at = utcnow()
        db.session.flush()
    return notification


def mark_all_read(user) -> int:
    result = db.session.execute(
        update(Notification)
        .where(Notification.recipient_user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def set_email_preference(user, enabled: bool) -> None:
    """The user's own choice: e-mail for each new notification (when SMTP is configured)."""
    enabled = bool(enabled)
    if user.email_notifications == enabled:
        return
    with account_lookup():  # association and ministry accounts have no center: open the account row
        user.email_notifications = enabled
        user.version += 1
        db.session.flush()
    record("user.email_notifications", object_type="user", object_id=user.id, details={"enabled": enabled})


# --- the platform admin's view -------------------------------------------------------------------

def _problem_filter(now):
    cutoff = now - _sweep_after()
    return or_(
        OutboxEvent.failed_at.is_not(None),
        and_(OutboxEvent.delivered_at.is_(None), OutboxEvent.created_at <= cutoff),
        and_(OutboxEvent.email_pending.is_(True), OutboxEvent.delivered_at <= cutoff),
    )


def _sweep_after() -> timedelta:
    return timedelta(seconds=current_app.config["OUTBOX_SWEEP_AFTER_SECONDS"])


def problem_deliveries(limit: int = 200) -> list[OutboxEvent]:
    """Failed events, and events still undelivered (or with e-mail pending) past the sweep's age.

    Ids, kinds, counts, codes and times only: an outbox row holds no personal data."""
    stmt = (select(OutboxEvent).where(_problem_filter(utcnow()))
            .order_by(OutboxEvent.created_at.desc(), OutboxEvent.id.desc()).limit(limit))
    return list(db.session.scalars(stmt))


def delivery_counts() -> dict[str, int]:
    now = utcnow()
    failed = db.session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.failed_at.is_not(None)))
    waiting = db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.failed_at.is_(None), _problem_filter(now)))
    return {"failed": failed or 0, "waiting": waiting or 0}


def retry_delivery(event_id) -> OutboxEvent | None:
    """Give a failed or stuck event a fresh set of attempts; its delivery is enqueued after the
    commit.  None when the id names no such event (a delivered one included)."""
    try:
        event_id = uuid.UUID(str(event_id))
    except (ValueError, TypeError):
        return None
    outbox_event = db.session.scalar(
        select(OutboxEvent).where(OutboxEvent.id == event_id, _problem_filter(utcnow())).with_for_update())
    if outbox_event is None:
        return None
    record("outbox.retry", object_type="outbox_event", object_id=outbox_event.id,
           details={"attempts": outbox_event.attempts, "last_error": outbox_event.last_error,
                    "failed": outbox_event.failed_at is not None})
    outbox_event.failed_at = None
    outbox_event.attempts = 0
    outbox_event.next_attempt_at = None
    db.session.flush()
    on_commit(functools.partial(_enqueue_if_app, [outbox_event.id], retry=True))
    return outbox_event
