"""Retention: the center's rules, the monthly review and the center admin's decisions.

Pages, the CLI and the monthly job all come here.  Every decision is audited; erasing re-checks
that the person is still due (a new case may have been opened since the review listed it).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from ...crosstenant.notifications.services import emit
from ...platform.audit.services import record
from ...platform.errors import InvalidState, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.i18n import today_jst
from ...platform.models import utcnow
from ...platform.tenancy import current_center_id
from ...tenants.cases.lifecycle import CASE_TYPES
from ...tenants.cases.models import Case
from ...tenants.persons.models import Person
from . import erasure, policy
from .models import MAX_YEARS, MIN_YEARS, OPEN_REVIEW_STATUSES, RetentionReview, RetentionRule

MAX_HOLD_YEARS = 5
MAX_REASON_CHARS = 1000


def _actor_id(actor) -> uuid.UUID | None:
    return getattr(actor, "id", None)


def _check_version(obj, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != obj.version:
        raise VersionConflict(_("他の人が先に更新しました。画面を読み込み直してください。"),
                              details={"current_version": obj.version})


# --- rules -----------------------------------------------------------------------------------

def rules() -> dict[str, int]:
    """Years kept after closing, per case type, as they apply to the current center."""
    return policy.years_by_case_type()


def set_rules(years: dict[str, int], *, actor=None, expected: dict[str, int] | None = None) -> dict[str, int]:
    """Change the center's keeping periods (only the types given); audited with before and after.

    ``expected``: the periods the editor saw; if another admin changed any of them since, nothing
    is saved (409) rather than overwriting their change unseen.
    """
    before = rules()
    if expected is not None and any(before.get(t) != y for t, y in expected.items()):
        raise VersionConflict(_("他の人が先に保存期間を変更しました。現在の設定を確認してください。"),
                              details={"current": before})
    problems = {t: [_("%(low)s年から%(high)s年の間で入力してください。", low=MIN_YEARS, high=MAX_YEARS)]
                for t, y in years.items() if not isinstance(y, int) or not MIN_YEARS <= y <= MAX_YEARS}
    problems |= {t: [_("不明なケース種別です。")] for t in years if t not in CASE_TYPES}
    if problems:
        raise ValidationFailed(_("保存期間を確認してください。"), fields=problems)
    existing = {r.case_type: r for r in db.session.scalars(select(RetentionRule))}
    for case_type, value in years.items():
        rule = existing.get(case_type) or RetentionRule(case_type=case_type)
        rule.years_after_closing, rule.updated_by_id = value, _actor_id(actor)
        db.session.add(rule)
    db.session.flush()
    after = rules()
    if after != before:
        record("retention.rules", object_type="retention_rules", details={"before": before, "after": after})
    return after


# --- the monthly review ----------------------------------------------------------------------

@dataclass
class ReviewOutcome:
    listed: int = 0       # newly due (or due again after a hold ended)
    withdrawn: int = 0    # listed before, no longer due
    still_due: int = 0    # waiting for the center admin


def run_review(today: date | None = None) -> ReviewOutcome:
    """List the current center's persons due for erasure; the center admin is notified of new ones."""
    today = today or today_jst()
    due = {d.person_id: d for d in policy.persons_due(today)}
    open_reviews = {r.person_id: r for r in db.session.scalars(
        select(RetentionReview).where(RetentionReview.status.in_(OPEN_REVIEW_STATUSES)))}
    outcome = ReviewOutcome()
    for person_id, review in open_reviews.items():
        if person_id not in due:
            review.status = "withdrawn"
            outcome.withdrawn += 1
        elif review.status == "held" and review.hold_until <= today:
            review.status, review.listed_on, review.due_on = "due", today, due[person_id].due_on
            outcome.listed += 1
        elif review.status == "due":
            outcome.still_due += 1
    for person_id, item in due.items():
        if person_id not in open_reviews:
            db.session.add(RetentionReview(person_id=person_id, status="due", due_on=item.due_on, listed_on=today))
            outcome.listed += 1
    db.session.flush()
    if outcome.listed or outcome.withdrawn:
        record("retention.review", object_type="retention_reviews",
               details={"listed": outcome.listed, "withdrawn": outcome.withdrawn, "still_due": outcome.still_due})
    if outcome.listed:
        emit("retention_review_due", to_center_id=current_center_id())
    return outcome


def list_reviews(statuses: tuple[str, ...] = ("due",), *, limit: int = 200) -> list[RetentionReview]:
    """The center's reviews in these statuses, oldest due first."""
    stmt = (select(RetentionReview).where(RetentionReview.status.in_(statuses))
            .order_by(RetentionReview.due_on, RetentionReview.created_at).limit(limit))
    return list(db.session.scalars(stmt))


def cases_of(person_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Case]]:
    """The cases of each listed person (what the center admin checks before confirming)."""
    out: dict[uuid.UUID, list[Case]] = {pid: [] for pid in person_ids}
    if person_ids:
        for case in db.session.scalars(select(Case).where(Case.person_id.in_(person_ids)).order_by(Case.requested_on)):
            out[case.person_id].append(case)
    return out


def _load_for_decision(review_id, expected_version: int | None) -> RetentionReview:
    """The review, locked against a second admin deciding at the same moment."""
    try:
        review_id = uuid.UUID(str(review_id))
    except ValueError:
        raise LookupError(review_id) from None
    review = db.session.scalar(select(RetentionReview).where(RetentionReview.id == review_id)
                               .with_for_update().execution_options(populate_existing=True))
    if review is None:
        raise LookupError(review_id)
    _check_version(review, expected_version)
    if review.status != "due":
        raise InvalidState(_("この確認はすでに処理されています。"))
    return review


@dataclass
class ErasureOutcome:
    erased: bool                  # False: no longer due, the review was withdrawn instead
    counts: dict[str, int]        # rows removed or blanked per table (no personal data)


def confirm_erasure(review_id, *, actor, expected_version: int | None = None) -> ErasureOutcome:
    """The center admin confirms: the person's personal data is erased now (in this transaction).

    A person no longer due (a new case, an open transfer, a longer rule) is not erased: the
    review is withdrawn and the outcome says so.  Either way the caller commits.
    """
    review = _load_for_decision(review_id, expected_version)
    if not policy.persons_due(today_jst(), [review.person_id]):
        review.status = "withdrawn"
        record("retention.withdraw", object_type="retention_review", object_id=review.id, person_id=review.person_id)
        db.session.flush()
        return ErasureOutcome(False, {})
    person = db.session.scalar(select(Person).where(Person.id == review.person_id))
    counts = erasure.erase_person(person)
    review = db.session.scalar(select(RetentionReview).where(RetentionReview.id == review.id))
    review.status, review.decided_at, review.decided_by_id = "erased", utcnow(), _actor_id(actor)
    review.erased_counts = counts
    record("retention.erase", object_type="person", object_id=review.person_id, person_id=review.person_id,
           details={"review_id": str(review.id), "counts": counts})
    db.session.flush()
    return ErasureOutcome(True, counts)


def hold(review_id, *, reason: str, until: date | None, actor, expected_version: int | None = None) -> RetentionReview:
    """Keep a due file for now (e.g. a lawsuit or an inquiry): with a reason, until a date."""
    reason = (reason or "").strip()
    today = today_jst()
    problems = {}
    if not reason or len(reason) > MAX_REASON_CHARS:
        problems["reason"] = [_("保留の理由を%(n)s文字以内で入力してください。", n=MAX_REASON_CHARS)]
    if until is None or not today < until <= policy.years_later(today, MAX_HOLD_YEARS):
        problems["until"] = [_("保留の期限は明日から%(n)s年以内の日付にしてください。", n=MAX_HOLD_YEARS)]
    if problems:
        raise ValidationFailed(_("入力内容を確認してください。"), fields=problems)
    review = _load_for_decision(review_id, expected_version)
    review.status, review.hold_reason, review.hold_until = "held", reason, until
    review.decided_at, review.decided_by_id = utcnow(), _actor_id(actor)
    record("retention.hold", object_type="retention_review", object_id=review.id, person_id=review.person_id,
           details={"reason": reason, "until": until})
    db.session.flush()
    return review
