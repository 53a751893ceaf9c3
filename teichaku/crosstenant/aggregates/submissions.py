"""The approval chain of a center's yearly figures (業務実績報告の提出・確認).

A center admin submits the fiscal year's figures: the center's annual report as it stands
(``reporting.report_figures``) is stored with the submission, so later changes to that year's
cases do not change what was submitted (the pages show submitted next to current).  The viewer
of the center's prefecture confirms them.  A correction reopens the year with a reason, by the
center admin or the ministry; the center then submits again.  The ministry's national view
lists every center's status.

Statuses and the actions that move them live in ``STATUS_LABELS`` / ``ACTIONS`` below, and
nowhere else; the database CHECK lists the same values.  Every action is race-safe: the row is
locked (``SELECT ... FOR UPDATE`` on PostgreSQL) and carries a version (a stale page's action is
a ``VersionConflict``); a first submission racing another one hits the unique
``(center_id, fiscal_year)`` and is refused as ``InvalidState``.  Every action writes an event
row (the history the pages show) and an audit entry in the center's own chain.

The rows belong to the center (``TenantOwned``).  A prefecture official belongs to its
prefecture, not to a center (it has no tenant scope), and confirms any center of its prefecture
(both of Hokkaido's) inside ``cross_tenant("aggregates.submissions")``, refused for any other
center; the event and the audit entry go to the confirmed center's own chain.  The ministry
reopens and the national view reads inside that scope too.
Nothing here commits: the view does.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from sqlalchemy import (
    JSON, CheckConstraint, ForeignKeyConstraint, Integer, String, Text, UniqueConstraint, Uuid, select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ...platform.audit.services import record
from ...platform.centers import Center, center_by_code
from ...platform.errors import InvalidState, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.models import AwareDateTime, TenantOwned, Timestamped, utcnow
from ...platform.permissions import Role
from ...platform.tenancy import cross_tenant, current_center_id
from . import reporting, rules
from .reporting import Viewer


def N_(text: str) -> str:
    """Marks a label for translation (extracted by pybabel ``-k N_``); shown through ``_()``."""
    return text


NOT_SUBMITTED = "not_submitted"  # no row yet: shown, never stored
STATUS_LABELS = {
    NOT_SUBMITTED: N_("未提出"),
    "submitted": N_("提出済み（確認待ち）"),
    "confirmed": N_("確認済み"),
    "reopened": N_("修正中（再提出待ち）"),
}
STORED_STATUSES = ("submitted", "confirmed", "reopened")

# action -> (statuses it may start from, the status it leads to, the roles that may take it)
ACTIONS: dict[str, tuple[tuple[str, ...], str, frozenset[Role]]] = {
    "submit": ((NOT_SUBMITTED, "reopened"), "submitted", frozenset({Role.CENTER_ADMIN})),
    "confirm": (("submitted",), "confirmed", frozenset({Role.PREFECTURE})),
    "reopen": (("submitted", "confirmed"), "reopened", frozenset({Role.CENTER_ADMIN, Role.MINISTRY})),
}
ACTION_LABELS = {"submit": N_("提出"), "confirm": N_("確認"), "reopen": N_("修正のため再開")}
REASON_MAX = 2000
PURPOSE = "aggregates.submissions"


def next_status(action: str, status: str) -> str:
    """The status ``action`` leads to from ``status``; ``InvalidState`` when it cannot be taken."""
    froms, to, _roles = ACTIONS[action]
    if status not in froms:
        raise InvalidState(f"この状態（{STATUS_LABELS[status]}）では{ACTION_LABELS[action]}できません。")
    return to


def _in_list(column: str, values) -> str:
    return f"{column} IN (" + ",".join(f"'{v}'" for v in values) + ")"


class Submission(TenantOwned, Timestamped, db.Model):
    """One center's figures of one fiscal year, as submitted (the snapshot) and where they stand."""

    __tablename__ = "aggregate_submissions"
    __table_args__ = (
        UniqueConstraint("center_id", "fiscal_year"),
        CheckConstraint(_in_list("status", STORED_STATUSES), name="status"),
        # A submitted or confirmed year always has its figures and who submitted them.
        CheckConstraint("status = 'reopened' OR (snapshot IS NOT NULL AND submitted_at IS NOT NULL)",
                        name="submitted_has_snapshot"),
        CheckConstraint("status <> 'confirmed' OR confirmed_at IS NOT NULL", name="confirmed_has_time"),
    )

    fiscal_year: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    snapshot: Mapped[dict | None] = mapped_column(JSON)
    snapshot_digest: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    submitted_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    confirmed_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    confirmed_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reopened_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    reopen_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class SubmissionEvent(TenantOwned, db.Model):
    """One step of the chain: who did what, when, and why (a reopening's reason)."""

    __tablename__ = "aggregate_submission_events"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "submission_id"],
                             ["aggregate_submissions.center_id", "aggregate_submissions.id"]),
        CheckConstraint(_in_list("action", ACTIONS), name="action"),
    )

    submission_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    from_status: Mapped[str] = mapped_column(String(16), nullable=False)
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_role: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)


# --- reading -------------------------------------------------------------------------------------

def _center(code: str) -> Center:
    center = center_by_code(code)
    if center is None:
        raise reporting.NotVisible(code)
    return center


def _load(center: Center, fiscal_year: int, *, lock: bool = False) -> Submission | None:
    stmt = select(Submission).where(Submission.center_id == center.id, Submission.fiscal_year == fiscal_year)
    if lock:  # the row as it is now, held until the commit (an object already in the session is refreshed)
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(stmt)


def status_of(submission: Submission | None) -> str:
    return submission.status if submission is not None else NOT_SUBMITTED


def for_center(viewer: Viewer, fiscal_year: int, center_code: str) -> Submission | None:
    """The submission of one of the viewer's own centers (``NotVisible`` for another center)."""
    if center_code not in {g.code for g in reporting.visible_centers(viewer)}:
        raise reporting.NotVisible(center_code)
    with cross_tenant(PURPOSE):
        return _load(_center(center_code), fiscal_year)


def history(submission: Submission | None) -> list[SubmissionEvent]:
    """The chain's steps, oldest first (the caller has already been allowed to see the submission)."""
    if submission is None:
        return []
    with cross_tenant(PURPOSE):
        return list(db.session.scalars(select(SubmissionEvent).where(
            SubmissionEvent.center_id == submission.center_id, SubmissionEvent.submission_id == submission.id)
            .order_by(SubmissionEvent.occurred_at, SubmissionEvent.id)))


def national_statuses(fiscal_year: int) -> list[dict]:
    """Every center with its status for the year (no figures: those stay with the center and its
    prefecture).  For the ministry's and the association's national view."""
    with cross_tenant(PURPOSE):
        rows = {s.center_id: s for s in db.session.scalars(select(Submission).where(
            Submission.fiscal_year == fiscal_year))}
        centers = list(db.session.scalars(select(Center).order_by(Center.prefecture_code, Center.code)))
    out = []
    for center in centers:
        row = rows.get(center.id)
        out.append({"center": center.code, "name": center.name, "prefecture_name": center.prefecture_name,
                    "status": status_of(row), "submitted_at": row.submitted_at if row else None,
                    "confirmed_at": row.confirmed_at if row else None, "version": row.version if row else None})
    return out


# --- the actions -------------------------------------------------------------------------------------

def _check_role(action: str, user) -> None:
    if Role(user.role) not in ACTIONS[action][2]:
        raise PermissionError(action)


def _check_version(submission: Submission | None, expected_version: int | None) -> None:
    if expected_version is not None and (submission is None or submission.version != expected_version):
        raise VersionConflict("ほかの操作で状態が変わりました。画面を開き直してから、もう一度操作してください。")


def _event(submission: Submission, action: str, before: str, user, reason: str | None = None) -> None:
    db.session.add(SubmissionEvent(center_id=submission.center_id, submission_id=submission.id, action=action,
                                   from_status=before, to_status=submission.status, actor_id=user.id,
                                   actor_role=str(user.role), reason=reason))
    db.session.flush()
    record(f"aggregates.submission.{action}", object_type="aggregate_submission", object_id=submission.id,
           center_id=submission.center_id,
           details={"fiscal_year": submission.fiscal_year, "from": before, "to": submission.status,
                    "snapshot_digest": submission.snapshot_digest, "reason": reason})


def snapshot_digest(snapshot: dict) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def submit(user, fiscal_year: int, *, expected_version: int | None = None) -> Submission:
    """Lock the center's figures of the year as they stand now (the center admin's own center).

    Raises ``InvalidState`` unless the year is unsubmitted or reopened, ``VersionConflict`` for a
    stale page."""
    _check_role("submit", user)
    center = user.center
    if current_center_id() != center.id:
        raise PermissionError("submit runs in the center's own scope")
    viewer = Viewer.of(user)
    snapshot = reporting.own_report(viewer, fiscal_year, center.code)
    submission = _load(center, fiscal_year, lock=True)
    before = status_of(submission)
    if submission is not None:
        _check_version(submission, expected_version)
    next_status("submit", before)
    if submission is None:
        submission = Submission(center_id=center.id, fiscal_year=fiscal_year, status="submitted")
    _fill_snapshot(submission, snapshot, user)
    _insert_or_update(submission)
    _event(submission, "submit", before, user)
    return submission


def _fill_snapshot(submission: Submission, snapshot: dict, user) -> None:
    submission.status = "submitted"
    submission.snapshot = snapshot
    submission.snapshot_digest = snapshot_digest(snapshot)
    submission.submitted_at, submission.submitted_by_id = utcnow(), user.id
    submission.confirmed_at = submission.confirmed_by_id = None


def _insert_or_update(submission: Submission) -> None:
    """Flush; a first submission that lost a race to another one is refused, not a 500."""
    if submission in db.session:
        db.session.flush()
        return
    try:
        with db.session.begin_nested():
            db.session.add(submission)
    except IntegrityError:
        raise InvalidState("この年度の集計は、すでに提出されています。画面を開き直してください。") from None


def confirm(user, fiscal_year: int, center_code: str, *, expected_version: int | None = None) -> Submission:
    """The prefecture viewer confirms a submitted year of one of its prefecture's centers.

    Raises ``reporting.NotVisible`` for another prefecture's center (answered as not found),
    ``InvalidState`` unless submitted, ``VersionConflict`` for a stale page."""
    _check_role("confirm", user)
    viewer = Viewer.of(user)
    if center_code not in {g.code for g in reporting.visible_centers(viewer)}:
        raise reporting.NotVisible(center_code)
    with cross_tenant(PURPOSE):
        submission = _load(_center(center_code), fiscal_year, lock=True)
        before = status_of(submission)
        next_status("confirm", before)
        _check_version(submission, expected_version)
        submission.status = "confirmed"
        submission.confirmed_at, submission.confirmed_by_id = utcnow(), user.id
        db.session.flush()
        _event(submission, "confirm", before, user)
    return submission


def reopen(user, fiscal_year: int, center_code: str, reason: str, *,
           expected_version: int | None = None) -> Submission:
    """Reopen a submitted or confirmed year for a correction, with the reason (audited): the
    center's own admin, or the ministry for any center.

    Raises ``ValidationFailed`` without a reason, ``reporting.NotVisible`` for a center the user
    may not reopen, ``InvalidState`` unless submitted or confirmed, ``VersionConflict``."""
    _check_role("reopen", user)
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise ValidationFailed("再開の理由を入力してください（2000文字以内）。",
                               fields={"reason": ["再開の理由を入力してください（2000文字以内）。"]})
    if Role(user.role) == Role.CENTER_ADMIN and center_code != user.center.code:
        raise reporting.NotVisible(center_code)
    with cross_tenant(PURPOSE):
        submission = _load(_center(center_code), fiscal_year, lock=True)
        before = status_of(submission)
        next_status("reopen", before)
        _check_version(submission, expected_version)
        submission.status = "reopened"
        submission.reopened_at, submission.reopen_reason = utcnow(), reason
        submission.confirmed_at = submission.confirmed_by_id = None
        db.session.flush()
        _event(submission, "reopen", before, user, reason)
    return submission


def allowed_actions(viewer: Viewer, submission: Submission | None) -> set[str]:
    """The actions this viewer may take on this submission now (the pages show only those)."""
    status = status_of(submission)
    return {action for action, (froms, _to, roles) in ACTIONS.items() if viewer.role in roles and status in froms}


def compare(snapshot: dict | None, current: dict) -> list[dict]:
    """Headline by headline: submitted, current, and whether they differ (the page's 提出時と現在)."""
    codes = [*rules.HEADLINES, rules.FU_OPEN]
    out = []
    for code in codes:
        now = current["fu_open"] if code == rules.FU_OPEN else current["headlines"].get(code, 0)
        then = None
        if snapshot is not None:
            then = snapshot["fu_open"] if code == rules.FU_OPEN else snapshot["headlines"].get(code, 0)
        out.append({"code": code, "label": reporting.headline_label(code), "submitted": then, "current": now,
                    "changed": then is not None and then != now})
    return out
