"""Case actions: the only way to create, read (audited) and change a case."""
from __future__ import annotations

import base64
import uuid
from datetime import date, datetime

from sqlalchemy import and_, or_, select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record
from ...platform.errors import PreconditionRequired, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.i18n import today_jst
from ...platform.models import utcnow
from ...platform.tenancy import get_owned
from ..persons.models import Person
from ..persons.services import create_person, update_person
from .lifecycle import INITIAL_STATUS, NUMBER_PREFIX
from .models import Case, CaseNumberCounter

CASE_FIELDS = ("release_date", "destination_prefecture_code", "requested_on")


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


def _check_dates(case_type: str, requested_on: date, release_date: date | None) -> None:
    if release_date and case_type in ("coordination", "suspect_support") and release_date < requested_on:
        raise ValidationFailed("釈放日・出所日が依頼日より前になっています。",
                               fields={"release_date": ["依頼日以降の日付を入力してください。"]})


def create_case(data: dict, *, created_by=None) -> Case:
    """Open a case for a new person (``person``) or an existing one (``person_id``)."""
    if data.get("person_id") is not None:
        person = get_owned(Person, data["person_id"])
        if person is None:
            raise NotFound()  # another center's person answers exactly like a missing one
    elif data.get("person"):
        person = create_person(data["person"])
    else:
        raise ValidationFailed("対象者を指定してください。", fields={"person": ["person または person_id が必要です。"]})
    requested_on = data.get("requested_on") or today_jst()
    _check_dates(data["case_type"], requested_on, data.get("release_date"))
    case = Case(
        person_id=person.id,
        case_type=data["case_type"],
        status=INITIAL_STATUS[data["case_type"]],
        requested_on=requested_on,
        release_date=data.get("release_date"),
        destination_prefecture_code=data.get("destination_prefecture_code"),
        case_number=_next_case_number(data["case_type"], requested_on),
        assigned_user_id=getattr(created_by, "id", None),
    )
    db.session.add(case)
    db.session.flush()
    record("case.create", object_type="case", object_id=case.id, person_id=person.id,
           details={"case_type": case.case_type, **{k: data.get(k) for k in CASE_FIELDS}})
    db.session.refresh(case)
    return case


def read_case(case_id) -> Case | None:
    """Load a case of the current center and audit the read (it shows a person's record)."""
    case = get_owned(Case, case_id)
    if case is not None:
        record("case.read", object_type="case", object_id=case.id, person_id=case.person_id)
    return case


def update_case(case: Case, changes: dict, *, expected_version: int | None) -> Case:
    """Apply changes to a case (and its person) if the caller saw the current version."""
    if expected_version is None:
        raise PreconditionRequired("If-Match ヘッダーで版番号を指定してください。")
    if expected_version != case.version:
        raise VersionConflict("他の職員が先に更新しました。最新の内容を確認してから再度保存してください。",
                              details={"current_version": case.version})
    diff = {}
    for field in CASE_FIELDS:
        if field in changes and getattr(case, field) != changes[field]:
            diff[field] = [getattr(case, field), changes[field]]
            setattr(case, field, changes[field])
    _check_dates(case.case_type, case.requested_on, case.release_date)
    if changes.get("person"):
        person_diff = update_person(case.person, changes["person"])
        if person_diff:
            diff["person"] = sorted(person_diff)
    if diff:
        case.updated_at = utcnow()  # bumps the case's version even when only the person changed
        record("case.update", object_type="case", object_id=case.id, person_id=case.person_id, details=diff)
        db.session.flush()
    return case


def _encode_cursor(case: Case) -> str:
    raw = f"{case.created_at.isoformat()}|{case.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, ident = raw.split("|")
        return datetime.fromisoformat(created), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor が正しくありません。", fields={"cursor": ["不正な値です。"]}) from exc


def list_cases(*, limit: int = 50, cursor: str | None = None, case_type: str | None = None,
               status: str | None = None) -> tuple[list[Case], str | None]:
    """A page of the current center's cases, newest first, and the cursor of the next page."""
    stmt = select(Case).order_by(Case.created_at.desc(), Case.id.desc()).limit(limit + 1)
    if case_type:
        stmt = stmt.where(Case.case_type == case_type)
    if status:
        stmt = stmt.where(Case.status == status)
    if cursor:
        created, ident = _decode_cursor(cursor)
        stmt = stmt.where(or_(Case.created_at < created, and_(Case.created_at == created, Case.id < ident)))
    rows = list(db.session.scalars(stmt))
    record("case.list", object_type="case")
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor
