"""Delivering outbox events: the RQ jobs ``deliver_event`` and ``sweep_outbox``.

Delivery of one event is one transaction: lock the outbox row (``FOR UPDATE SKIP LOCKED``: a
second worker on the same event skips it), resolve the recipients inside the audited
``cross_tenant("notifications.deliver")`` scope (plus ``account_lookup`` for the accounts), insert
one notification per recipient (``ON CONFLICT DO NOTHING`` on (event, recipient)), mark the event
delivered, commit.  A worker killed in the middle leaves nothing behind (the transaction rolls
back) and the sweep enqueues the event again; a job that runs twice finds the event delivered.
So the inbox gets exactly one entry per recipient.

In a worker, the horse that delivered its job's event goes on with whatever else is due
(``drain``: oldest first, each in its own transaction, up to ``DRAIN_MAX_EVENTS`` or
``DRAIN_SECONDS``) and takes each such event's commit-time job off the queue.  A fork per event
and a cold connection per event are what limit throughput otherwise (``make bench``).

E-mail goes after that commit, to recipients who want it, when SMTP is configured: a fixed
Japanese text and a link to the inbox, never a name or any other personal value.  Each message
is marked sent after the SMTP server took it, so a crash between the two sends it again:
e-mail is at-least-once.

A failure rolls back, records a short error code and the attempt on the outbox row (in a
transaction of its own), and raises an exception naming only the event id and that code, so
RQ's ``Retry`` retries with backoff.  After ``OUTBOX_MAX_ATTEMPTS`` the event is ``failed`` and
waits for the platform admin's retry button.
"""
from __future__ import annotations

import os
import smtplib
import time
import uuid
from datetime import timedelta
from email.message import EmailMessage

from flask import current_app
from rq.job import Job
from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from ...platform.auth.models import User
from ...platform.extensions import db
from ...platform.logs import get_logger
from ...platform.mail import fixed_message
from ...platform.models import utcnow
from ...platform.tenancy import account_lookup, cross_tenant
from ...platform.jobs import enqueue, get_queue, job
from .models import ASSOCIATION_RECIPIENT_ROLES, Notification, OutboxEvent, center_recipient_roles

log = get_logger("teichaku.notifications.delivery")

RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600
SWEEP_BATCH = 1000
DRAIN_MAX_EVENTS = 500  # per job, after its own event
DRAIN_SECONDS = 5.0

EMAIL_SUBJECT = "【Teichaku】新しいお知らせがあります"
EMAIL_BODY = (
    "Teichaku に新しいお知らせが届きました。\n"
    "内容はログインしてお知らせ一覧で確認してください。\n"
    "\n"
    "{link}\n"
    "\n"
    "このメールには個人情報を含めていません。返信はできません。\n"
    "メールが不要な場合は、お知らせ一覧の「新しいお知らせをメールでも受け取る」を外してください。\n"
)


class DeliveryFailed(RuntimeError):
    """A delivery attempt failed.  The message holds the event id and a short code only (RQ keeps
    it with the traceback in Redis)."""


# --- the jobs ----------------------------------------------------------------------------------

@job
def deliver_event(event_id: str) -> str:
    """RQ job: deliver one outbox event (idempotent).  Raises on failure so that RQ retries.

    In a worker's work horse it then delivers whatever else is due (``drain``), so a burst of
    events costs a few forks rather than one each."""
    outcome = deliver(event_id)
    if os.environ.get("TEICHAKU_WORK_HORSE") == "1":
        drain()
    return outcome


@job
def sweep_outbox(older_than_seconds: float | None = None) -> int:
    """RQ job (every minute): re-enqueue undelivered events older than the sweep's age."""
    return sweep(older_than_seconds)


# --- delivery ----------------------------------------------------------------------------------

def _error_code(exc: BaseException) -> str:
    """A short code for ``last_error``: the exception's class name, never its message."""
    if isinstance(exc, DeliveryFailed):
        return str(exc.args[1]) if len(exc.args) > 1 else "delivery_failed"
    if isinstance(exc, (smtplib.SMTPException, OSError)) and not isinstance(exc, SQLAlchemyError):
        return f"smtp:{type(exc).__name__}"[:64]
    return type(exc).__name__[:64]


def deliver(event_id) -> str:
    """Deliver one event in the current app context; returns what happened (a code)."""
    try:
        event_id = uuid.UUID(str(event_id))
    except (ValueError, TypeError):
        return "missing"
    lock = select(OutboxEvent).where(OutboxEvent.id == event_id).with_for_update(skip_locked=True)
    return _deliver_locked(lock, event_id)[0]


def drain(max_events: int = DRAIN_MAX_EVENTS, seconds: float = DRAIN_SECONDS) -> int:
    """Deliver due, undelivered events, oldest first, one transaction each, until none is left
    or the budget is spent; each one's own queued job is taken off the queue.  Stops at the
    first failure (recorded on that event: its retries and the sweep take it from there)."""
    deadline = time.monotonic() + seconds
    delivered = 0
    while delivered < max_events and time.monotonic() < deadline:
        now = utcnow()
        lock = (select(OutboxEvent)
                .where(OutboxEvent.delivered_at.is_(None), OutboxEvent.failed_at.is_(None),
                       or_(OutboxEvent.next_attempt_at.is_(None), OutboxEvent.next_attempt_at <= now))
                .order_by(OutboxEvent.created_at).limit(1).with_for_update(skip_locked=True))
        try:
            outcome, event_id = _deliver_locked(lock, None)
        except DeliveryFailed:
            break
        if event_id is None:
            break  # nothing due (or all of it held by other workers)
        if outcome == "delivered":
            delivered += 1
            _cancel_queued_job(event_id)
    return delivered


def _deliver_locked(lock, event_id: uuid.UUID | None) -> tuple[str, uuid.UUID | None]:
    """Run ``lock`` (a ``SELECT ... FOR UPDATE SKIP LOCKED`` of one outbox row) and deliver it."""
    session = db.session
    try:
        outbox_event = session.scalar(lock)
        if outbox_event is None:
            session.rollback()
            return "busy_or_missing", None  # another worker holds it, or it was rolled back
        event_id = outbox_event.id
        if outbox_event.failed_at is not None:
            session.rollback()
            return "failed", event_id
        if outbox_event.delivered_at is not None:
            email_pending = outbox_event.email_pending
            session.rollback()
            if email_pending:
                with cross_tenant("notifications.email"):
                    _send_pending_emails(event_id)
                    session.commit()  # one event per transaction: its row lock ends here
                return "emailed", event_id
            return "already_delivered", event_id
        with cross_tenant("notifications.deliver"):
            emails = _insert_notifications(outbox_event)
            outbox_event.delivered_at = utcnow()
            outbox_event.attempts += 1
            outbox_event.last_error = None
            outbox_event.next_attempt_at = None
            outbox_event.email_pending = bool(emails)
            session.flush()
            delay = current_app.config.get("DELIVERY_TEST_DELAY") or 0
            if delay and current_app.config.get("TEICHAKU_ENV") != "production":
                time.sleep(delay)  # test hook: a worker killed here commits nothing
            session.commit()  # the notifications are committed before any e-mail about them is sent
            if emails:
                _send_pending_emails(event_id)
                session.commit()  # one event per transaction: its row lock ends here
        return "delivered", event_id
    except Exception as exc:  # noqa: BLE001 - recorded as a code, re-raised without its message
        code = _error_code(exc)
        session.rollback()
        if event_id is not None:
            _record_failure(event_id, code)
        log.warning("outbox_delivery_failed", event_id=str(event_id or ""), error=code)
        raise DeliveryFailed(f"outbox event {event_id}: {code}", code) from None


def _cancel_queued_job(event_id: uuid.UUID) -> None:
    """Take the event's commit-time job off the queue: the event is delivered already."""
    try:
        queue = get_queue()
        if not queue.is_async:
            return
        job_id = commit_job_id(event_id)
        if queue.connection.lrem(queue.key, 1, job_id):
            queue.connection.delete(f"rq:job:{job_id}")
    except Exception as exc:  # noqa: BLE001 - the job then runs and finds the event delivered
        log.info("outbox_job_not_cancelled", event_id=str(event_id), error=type(exc).__name__)


def commit_job_id(event_id) -> str:
    """The id of the job enqueued when the event was committed."""
    return f"outbox-{event_id}"


def _recipients(outbox_event: OutboxEvent):
    """(id, center_id, email, wants e-mail) of every active recipient of the event."""
    who = []
    if outbox_event.to_center_id is not None:
        who.append(and_(User.center_id == outbox_event.to_center_id, User.role.in_(center_recipient_roles(outbox_event.kind))))
    if outbox_event.to_association:
        who.append(User.role.in_(ASSOCIATION_RECIPIENT_ROLES))
    if outbox_event.to_user_id is not None:
        who.append(User.id == outbox_event.to_user_id)
    with account_lookup():  # an account still waiting for the association's confirmation gets nothing
        return db.session.execute(
            select(User.id, User.center_id, User.email, User.email_notifications)
            .where(User.active.is_(True), User.awaiting_confirmation.is_(False), or_(*who)).order_by(User.id)).all()


def _insert_notifications(outbox_event: OutboxEvent) -> int:
    """One notification per recipient (a second insert for the same pair is a no-op); returns
    how many wait for an e-mail."""
    smtp_on = bool(current_app.config.get("SMTP_HOST"))
    now = utcnow()
    rows = [{
        "id": uuid.uuid4(), "center_id": r.center_id, "recipient_user_id": r.id, "event_id": outbox_event.id,
        "kind": outbox_event.kind, "transfer_id": outbox_event.transfer_id, "pull_id": outbox_event.pull_id,
        "case_study_id": outbox_event.case_study_id,
        "created_at": outbox_event.created_at,
        "delivered_at": now, "read_at": None, "email_status": "pending" if smtp_on and r.email_notifications else None,
        "email_sent_at": None,
    } for r in _recipients(outbox_event)]
    if not rows:
        return 0
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Notification).on_conflict_do_nothing(index_elements=["event_id", "recipient_user_id"])
    db.session.execute(stmt, rows)  # executemany: one cached statement whatever the number of recipients
    return sum(1 for r in rows if r["email_status"] == "pending")


def _record_failure(event_id: uuid.UUID, code: str) -> None:
    """Count the failed attempt, keep the code, schedule the next try; give up after the maximum."""
    session = db.session
    try:
        outbox_event = session.scalar(select(OutboxEvent).where(OutboxEvent.id == event_id).with_for_update())
        if outbox_event is None:
            session.rollback()
            return
        now = utcnow()
        outbox_event.attempts += 1
        outbox_event.last_error = code[:64]
        delay = min(RETRY_BASE_SECONDS * 2 ** max(outbox_event.attempts - 1, 0), RETRY_MAX_SECONDS)
        outbox_event.next_attempt_at = now + timedelta(seconds=delay)
        if outbox_event.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
            outbox_event.failed_at = now
        session.commit()  # the failed attempt is recorded in a transaction of its own, before the job raises
    except Exception as exc:  # noqa: BLE001 - the database itself may be what failed
        session.rollback()
        log.error("outbox_failure_not_recorded", event_id=str(event_id), error=type(exc).__name__)


# --- e-mail ------------------------------------------------------------------------------------

def email_message(to_address: str) -> EmailMessage:
    """The one e-mail text: Japanese, a link to the inbox, nothing about the event or a person."""
    cfg = current_app.config
    return fixed_message(to_address, EMAIL_SUBJECT, EMAIL_BODY.format(link=f"{cfg['PUBLIC_BASE_URL']}/notifications"))


def _send_pending_emails(event_id: uuid.UUID) -> int:
    """Send the event's pending e-mails (inside a cross-tenant scope), marking each one sent."""
    cfg = current_app.config
    session = db.session
    with account_lookup():
        pending = session.execute(
            select(Notification.id, User.email)
            .join(User, User.id == Notification.recipient_user_id)
            .where(Notification.event_id == event_id, Notification.email_status == "pending")
            .order_by(Notification.id)).all()
    sent = 0
    if pending and cfg.get("SMTP_HOST"):
        with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=10) as smtp:
            for notification_id, address in pending:
                smtp.send_message(email_message(address))
                session.execute(update(Notification).where(Notification.id == notification_id)
                                .values(email_status="sent", email_sent_at=utcnow()))
                session.commit()  # sent, then marked: a crash in between sends it again
                sent += 1
    elif pending:
        # SMTP was switched off since: nothing will send these.
        session.execute(update(Notification).where(Notification.event_id == event_id,
                                                   Notification.email_status == "pending").values(email_status=None))
    session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id).values(email_pending=False))
    session.flush()
    return sent


# --- the sweep ---------------------------------------------------------------------------------

def sweep(older_than_seconds: float | None = None) -> int:
    """Re-enqueue every event not delivered (or with e-mail pending) ``older_than_seconds`` after
    it was written (default ``OUTBOX_SWEEP_AFTER_SECONDS``), not failed and due.

    The job id is deterministic per event, attempt count and time window
    (``OUTBOX_SWEEP_WINDOW_SECONDS``): while that job exists in Redis the event is not enqueued
    again, so a backed-up queue is not flooded with copies; a lost job (Redis restarted without
    persistence, worker killed) is replaced in the next window at the latest.
    """
    cfg = current_app.config
    now = utcnow()
    age = cfg["OUTBOX_SWEEP_AFTER_SECONDS"] if older_than_seconds is None else older_than_seconds
    cutoff = now - timedelta(seconds=float(age))
    rows = db.session.execute(
        select(OutboxEvent.id, OutboxEvent.attempts)
        .where(OutboxEvent.failed_at.is_(None),
               or_(and_(OutboxEvent.delivered_at.is_(None), OutboxEvent.created_at <= cutoff),
                   and_(OutboxEvent.email_pending.is_(True), OutboxEvent.delivered_at <= cutoff)),
               or_(OutboxEvent.next_attempt_at.is_(None), OutboxEvent.next_attempt_at <= now))
        .order_by(OutboxEvent.created_at).limit(SWEEP_BATCH)).all()
    db.session.rollback()  # end the read: nothing below touches the database
    window = int(time.time() // max(cfg["OUTBOX_SWEEP_WINDOW_SECONDS"], 1))
    queue = get_queue()
    enqueued = 0
    for event_id, attempts in rows:
        job_id = f"outbox-{event_id}-{attempts}-{window}"
        if queue.is_async and Job.exists(job_id, connection=queue.connection):
            continue
        enqueue(deliver_event, str(event_id), job_id=job_id, ttl=24 * 3600)
        enqueued += 1
    if rows:
        log.info("outbox_sweep", due=len(rows), enqueued=enqueued)
    return enqueued
