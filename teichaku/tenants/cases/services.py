"""Case actions: the only way to open, read (audited), change and move a case along its lifecycle.

Services flush and audit; the caller owns the transaction.  Raises ``ValidationFailed`` (422),
``VersionConflict`` (409), ``InvalidState`` (409), ``PreconditionRequired`` (428) and
``werkzeug.exceptions.NotFound`` for a person or case that is not the current center's.
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import and_, func, select, text
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record
from ...platform.auth.services import get_center_user
from ...platform.errors import InvalidState, PreconditionRequired, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.pagination import keyset_page
from ...platform.i18n import today_jst
from ...platform.models import utcnow
from ...platform.permissions import can
from ...platform.tenancy import get_owned
from ..persons.models import Person
from ..persons.services import create_person, matching_person_ids, update_person
from ..resources.models import Resource
from .lifecycle import (
    ELIGIBILITY_CONDITIONS, FINAL_STATUSES, INITIAL_STATUS, NEED_AREAS, NUMBER_PREFIX, OPEN_NEED_STATUSES,
    OVERRIDE_REASON_MIN, PAST_ASSESSMENT, STATUS_LABELS, allowed_next,
)
from .models import Case, CaseNeed, CaseNumberCounter, Reminder

# Fields a PATCH may change (status, closing and eligibility have their own actions).
CASE_FIELDS = (
    "release_date", "destination_prefecture_code", "requested_on", "request_source", "probation_office",
    "facility_name", "facility_type", "destination_municipality_name", "destination_municipality_code",
    "follow_up_on", "assigned_user_id", "requester_type", "topic", "suspect_stage", "outcome_at_release",
)
CONFLICT_MESSAGE = "他の職員が先に更新しました。最新の内容を確認してから再度保存してください。"
TYPES_WITH_NEEDS = ("coordination", "follow_up", "suspect_support")


# --- opening a case ---------------------------------------------------------------------------

def _next_case_number(case_type: str, on: date) -> str:
    prefix = NUMBER_PREFIX[case_type]
    counter = db.session.execute(
        select(CaseNumberCounter).where(CaseNumberCounter.prefix == prefix, CaseNumberCounter.year == on.year).with_for_update()
    ).scalar_one_or_none()
    if counter is None:
        counter = CaseNumberCounter(prefix=prefix, year=on.year, last_value=0)
        db.session.add(counter)
    counter.last_value += 1
    return f"{prefix}-{on.year}-{counter.last_value:04d}"


def _check_dates(case: Case) -> None:
    if case.release_date and case.case_type in ("coordination", "suspect_support") and case.release_date < case.requested_on:
        raise ValidationFailed("釈放・出所予定日が依頼日より前になっています。",
                               fields={"release_date": ["依頼日以降の日付を入力してください。"]})
    if case.released_on and case.released_on < case.requested_on:
        raise ValidationFailed("釈放・出所日が依頼日より前になっています。",
                               fields={"released_on": ["依頼日以降の日付を入力してください。"]})


def _person_for(data: dict) -> Person:
    if data.get("person_id") is not None:
        person = get_owned(Person, data["person_id"])
        if person is None:
            raise NotFound()  # another center's person answers exactly like a missing one
        return person
    if data.get("person"):
        return create_person(data["person"])
    raise ValidationFailed("対象者を指定してください。", fields={"person": ["person または person_id が必要です。"]})


def _check_references(data: dict) -> None:
    """Ids in a body must name this center's records: another center's answers like a missing one."""
    if data.get("assigned_user_id") is not None and get_center_user(data["assigned_user_id"]) is None:
        raise NotFound()
    if data.get("placement_resource_id") is not None:
        if get_owned(Resource, data["placement_resource_id"]) is None:
            raise NotFound()


def create_case(data: dict, *, created_by=None, parent: Case | None = None) -> Case:
    """Open a case for a new person (``person``) or an existing one (``person_id``)."""
    _check_references(data)
    person = _person_for(data)
    case_type = data["case_type"]
    case = Case(
        person_id=person.id,
        case_type=case_type,
        status=INITIAL_STATUS[case_type],
        requested_on=data.get("requested_on") or today_jst(),
        assigned_user_id=getattr(created_by, "id", None),
        parent_case_id=parent.id if parent else None,
        eligibility={},
    )
    for field in CASE_FIELDS:
        if field in data and field != "requested_on":
            setattr(case, field, data[field])
    _check_dates(case)
    case.case_number = _next_case_number(case_type, case.requested_on)
    db.session.add(case)
    db.session.flush()
    if case_type in TYPES_WITH_NEEDS:
        for order, area in enumerate(NEED_AREAS):
            db.session.add(CaseNeed(case_id=case.id, area=area, sort_order=order, status="not_started", responsible="", note=""))
    record("case.create", object_type="case", object_id=case.id, person_id=person.id,
           details={"case_type": case_type, **{k: data.get(k) for k in CASE_FIELDS if k in data}})
    db.session.flush()
    db.session.refresh(case)
    return case


def read_case(case_id) -> Case | None:
    """Load a case of the current center and audit the read (it shows a person's record)."""
    case = get_owned(Case, case_id)
    if case is not None:
        record("case.read", object_type="case", object_id=case.id, person_id=case.person_id)
    return case


# --- changing a case ----------------------------------------------------------------------------

def _check_version(obj, expected_version: int | None) -> None:
    if expected_version is None:
        raise PreconditionRequired("If-Match ヘッダーで版番号を指定してください。")
    if expected_version != obj.version:
        raise VersionConflict(CONFLICT_MESSAGE, details={"current_version": obj.version})


def _touch(case: Case) -> None:
    case.updated_at = utcnow()  # bumps the version even when only a child changed


def update_case(case: Case, changes: dict, *, expected_version: int | None) -> Case:
    """Apply field changes to a case (and its person) if the caller saw the current version."""
    _check_version(case, expected_version)
    _check_references(changes)
    diff = {}
    for field in CASE_FIELDS:
        if field in changes and getattr(case, field) != changes[field]:
            diff[field] = [getattr(case, field), changes[field]]
            setattr(case, field, changes[field])
    _check_dates(case)
    if changes.get("person"):
        person_diff = update_person(case.person, changes["person"])
        if person_diff:
            diff["person"] = sorted(person_diff)
    if diff:
        _touch(case)
        record("case.update", object_type="case", object_id=case.id, person_id=case.person_id, details=diff)
        db.session.flush()
    return case


def eligibility_unmet(case: Case) -> list[str]:
    """The 特別調整 conditions not yet met (consent also needs its date and witness)."""
    checks = case.eligibility or {}
    unmet = [key for key in ELIGIBILITY_CONDITIONS if not checks.get(key)]
    if checks.get("consent_to_share") and not (checks.get("consent_on") and checks.get("consent_witness")):
        unmet.append("consent_to_share")
    return unmet


def set_eligibility(case: Case, checks: dict, *, expected_version: int | None) -> Case:
    """Record the CO eligibility checklist (with the consent's date and witness)."""
    if case.case_type != "coordination":
        raise InvalidState("特別調整の要件確認はコーディネート業務のケースだけに記録します。")
    _check_version(case, expected_version)
    new = {key: bool(checks.get(key, False)) for key in ELIGIBILITY_CONDITIONS}
    if new["consent_to_share"]:
        if not checks.get("consent_on") or not (checks.get("consent_witness") or "").strip():
            raise ValidationFailed("同意の日付と立会人を記録してください。", fields={
                "consent_on": ["同意を得た日を入力してください。"], "consent_witness": ["立会人を入力してください。"]})
        new["consent_on"] = checks["consent_on"].isoformat() if isinstance(checks["consent_on"], date) else str(checks["consent_on"])
        new["consent_witness"] = checks["consent_witness"].strip()
    old = case.eligibility or {}
    case.eligibility = new
    _touch(case)
    record("case.eligibility", object_type="case", object_id=case.id, person_id=case.person_id,
           details={"before": old, "after": new})
    db.session.flush()
    return case


def override_eligibility(case: Case, reason: str, *, actor, expected_version: int | None) -> Case:
    """A center admin lets a CO case proceed past assessment with unmet conditions, for a reason."""
    if not can(getattr(actor, "role", None), "case.override_eligibility"):
        raise InvalidState("要件の確認を省略できるのはセンター長（管理者）だけです。")
    if case.case_type != "coordination":
        raise InvalidState("特別調整の要件確認はコーディネート業務のケースだけに記録します。")
    reason = (reason or "").strip()
    if len(reason) < OVERRIDE_REASON_MIN:
        raise ValidationFailed("理由を具体的に記録してください。",
                               fields={"reason": [f"{OVERRIDE_REASON_MIN}文字以上で入力してください。"]})
    _check_version(case, expected_version)
    case.eligibility_override_reason = reason
    case.eligibility_override_by = actor.id
    case.eligibility_override_at = utcnow()
    _touch(case)
    record("case.eligibility_override", object_type="case", object_id=case.id, person_id=case.person_id,
           details={"reason": reason, "unmet": eligibility_unmet(case)})
    db.session.flush()
    return case


def transition_case(case: Case, to_status: str, *, expected_version: int | None, closing: dict | None = None,
                    released_on: date | None = None) -> Case:
    """Move a case along its lifecycle (``lifecycle.TRANSITIONS``), enforcing the guards:
    a CO case passes assessment only with every condition met or an admin override; release
    records the day; closing records the reason and, for a placement, where the person went."""
    _check_version(case, expected_version)
    if to_status not in allowed_next(case.case_type, case.status):
        raise InvalidState(f"「{STATUS_LABELS.get(case.status, case.status)}」から「{STATUS_LABELS.get(to_status, to_status)}」には変更できません。",
                           details={"status": case.status, "allowed": list(allowed_next(case.case_type, case.status))})
    if case.case_type == "coordination" and to_status in PAST_ASSESSMENT and not case.eligibility_override_reason:
        unmet = eligibility_unmet(case)
        if unmet:
            raise InvalidState("特別調整の要件が満たされていないため、アセスメントより先に進めません。",
                               details={"unmet": unmet})
    before = case.status
    if to_status == "released":
        case.released_on = released_on or case.release_date or today_jst()
        _check_dates(case)
    if to_status == "closed":
        _apply_closing(case, closing or {})
    case.status = to_status
    _touch(case)
    record("case.transition", object_type="case", object_id=case.id, person_id=case.person_id,
           details={"from": before, "to": to_status, **({"closing": closing} if closing else {})})
    db.session.flush()
    return case


def _apply_closing(case: Case, closing: dict) -> None:
    _check_references(closing)
    reason = closing.get("closing_reason")
    if not reason:
        raise ValidationFailed("終結の理由を選んでください。", fields={"closing_reason": ["必須項目です。"]})
    if reason == "placement_secured" and not closing.get("outcome_placement"):
        raise ValidationFailed("受入先の種類を選んでください。", fields={"outcome_placement": ["必須項目です。"]})
    case.closing_reason = reason
    case.closed_on = closing.get("closed_on") or today_jst()
    for field in ("closing_note", "outcome_placement", "outcome_municipality_name", "outcome_municipality_code",
                  "placement_resource_id"):
        if field in closing:
            setattr(case, field, closing[field])
    if case.closed_on < case.requested_on:
        raise ValidationFailed("終結日が依頼日より前になっています。", fields={"closed_on": ["依頼日以降の日付を入力してください。"]})


def open_follow_up(case: Case, *, expected_version: int | None, created_by=None) -> Case:
    """A released CO (or suspect-support) case opens its FU case in one step, linked to it."""
    transition_case(case, "moved_to_follow_up", expected_version=expected_version)
    follow_up = create_case({"case_type": "follow_up", "person_id": case.person_id,
                             "destination_prefecture_code": case.destination_prefecture_code,
                             "destination_municipality_name": case.destination_municipality_name,
                             "destination_municipality_code": case.destination_municipality_code,
                             "requested_on": case.released_on or today_jst()},
                            created_by=created_by, parent=case)
    for need in case.needs:  # the open needs carry over
        target = db.session.scalar(select(CaseNeed).where(CaseNeed.case_id == follow_up.id, CaseNeed.area == need.area))
        target.status, target.responsible, target.note = need.status, need.responsible, need.note
    record("case.follow_up_opened", object_type="case", object_id=follow_up.id, person_id=case.person_id,
           details={"from_case": str(case.id)})
    return follow_up


# --- needs --------------------------------------------------------------------------------------

def get_need(case: Case, need_id) -> CaseNeed | None:
    need = get_owned(CaseNeed, need_id)
    return need if need is not None and need.case_id == case.id else None


def update_need(case: Case, need: CaseNeed, changes: dict, *, expected_version: int | None) -> CaseNeed:
    _check_version(need, expected_version)
    diff = {}
    for field in ("status", "responsible", "note"):
        if field in changes and getattr(need, field) != changes[field]:
            diff[field] = [getattr(need, field), changes[field]]
            setattr(need, field, changes[field])
    if diff:
        _touch(case)
        record("case.need_update", object_type="case_need", object_id=need.id, person_id=case.person_id,
               details={"area": need.area, **diff})
        db.session.flush()
    return need


# --- lists and search -------------------------------------------------------------------------

def search_cases(*, limit: int = 50, cursor: str | None = None, q: str | None = None, case_number: str | None = None,
                 case_type: str | None = None, status: str | None = None, assigned_user_id=None,
                 requested_from: date | None = None, requested_to: date | None = None,
                 release_from: date | None = None, release_to: date | None = None,
                 include_closed: bool = True) -> tuple[list[Case], str | None]:
    """A page of the current center's cases, newest first, matching every criterion given.

    The name term matches kanji, hiragana and katakana alike (two-character names included).
    Criteria arrive in request bodies, never URLs; only the fact of a search is audited.
    """
    # The page of ids first (cases alone, newest first, on the (center_id, created_at, id) index),
    # then those cases with their people.
    stmt = select(Case.id, Case.created_at)
    if q and q.strip():
        stmt = stmt.where(Case.person_id.in_(matching_person_ids(q.strip())))
    if case_number:
        stmt = stmt.where(Case.case_number == case_number.strip().upper())
    if case_type:
        stmt = stmt.where(Case.case_type == case_type)
    if status:
        stmt = stmt.where(Case.status == status)
    elif not include_closed:
        stmt = stmt.where(Case.status.notin_(FINAL_STATUSES))
    if assigned_user_id:
        try:
            assigned_user_id = uuid.UUID(str(assigned_user_id))
        except ValueError as exc:
            raise ValidationFailed("担当者の指定が正しくありません。", fields={"assigned_user_id": ["不正な値です。"]}) from exc
        stmt = stmt.where(Case.assigned_user_id == assigned_user_id)
    for column, low, high in ((Case.requested_on, requested_from, requested_to), (Case.release_date, release_from, release_to)):
        if low:
            stmt = stmt.where(column >= low)
        if high:
            stmt = stmt.where(column <= high)
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))  # JIT costs more than these short queries
    keys, next_cursor = keyset_page(stmt, (Case.created_at, Case.id), limit, cursor)
    ids = [key.id for key in keys]
    rows = []
    if ids:
        by_id = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids)))}
        rows = [by_id[i] for i in ids if i in by_id]
    record("case.search" if (q or case_number) else "case.list", object_type="case")
    return rows, next_cursor


def list_cases(*, limit: int = 50, cursor: str | None = None, case_type: str | None = None,
               status: str | None = None) -> tuple[list[Case], str | None]:
    return search_cases(limit=limit, cursor=cursor, case_type=case_type, status=status)


def pre_release(within_days: int = 30) -> list[dict]:
    """Open CO / suspect-support cases releasing within N days, with their open needs."""
    today = today_jst()
    cases = list(db.session.scalars(
        select(Case).where(Case.case_type.in_(("coordination", "suspect_support")), Case.status.notin_(FINAL_STATUSES + ("released",)),
                           Case.release_date.is_not(None), Case.release_date <= today + timedelta(days=within_days))
        .order_by(Case.release_date, Case.case_number).limit(500)))
    open_needs = {}
    if cases:
        rows = db.session.execute(select(CaseNeed.case_id, CaseNeed.area).where(
            CaseNeed.case_id.in_([c.id for c in cases]), CaseNeed.status.in_(OPEN_NEED_STATUSES))).all()
        for case_id, area in rows:
            open_needs.setdefault(case_id, []).append(area)
    record("case.pre_release_view", object_type="case")
    return [{"case": c, "days_to_release": (c.release_date - today).days, "open_needs": open_needs.get(c.id, [])} for c in cases]


# --- deadlines ----------------------------------------------------------------------------------

def reminder_offsets() -> tuple[int, ...]:
    raw = str(current_app.config.get("REMINDER_DAYS", "3,1"))
    return tuple(sorted({int(x) for x in raw.split(",") if x.strip()}, reverse=True))


def raise_reminders(today: date | None = None) -> int:
    """Raise the reminders due today for the current center (idempotent: one per deadline and offset)."""
    today = today or today_jst()
    created = 0
    for days in reminder_offsets():
        target = today + timedelta(days=days)
        for kind, column in (("release", Case.release_date), ("follow_up", Case.follow_up_on)):
            ids = db.session.scalars(select(Case.id).where(column == target, Case.status.notin_(FINAL_STATUSES))).all()
            for case_id in ids:
                exists = db.session.scalar(select(func.count()).select_from(Reminder).where(
                    Reminder.case_id == case_id, Reminder.kind == kind, Reminder.due_on == target, Reminder.days_before == days))
                if not exists:
                    db.session.add(Reminder(case_id=case_id, kind=kind, due_on=target, days_before=days, created_at=utcnow()))
                    created += 1
    db.session.flush()
    return created


def open_reminders(limit: int = 50) -> list[tuple[Reminder, Case]]:
    today = today_jst()
    return list(db.session.execute(
        select(Reminder, Case).join(Case, and_(Case.center_id == Reminder.center_id, Case.id == Reminder.case_id))
        .where(Reminder.dismissed_at.is_(None), Reminder.due_on >= today).order_by(Reminder.due_on).limit(limit)).all())


def dismiss_reminder(reminder_id) -> None:
    reminder = get_owned(Reminder, reminder_id)
    if reminder is None:
        raise NotFound()
    reminder.dismissed_at = utcnow()
    record("reminder.dismiss", object_type="reminder", object_id=reminder.id)


