"""Review committee actions: the only way to change members, meetings and agenda items.

Every change is flushed and audited here (with the person's id where a case is involved); the
view, command or job commits.  Edits carry the version the caller saw: a stale one raises
``VersionConflict`` instead of overwriting, a missing one ``PreconditionRequired``.  Rows are
loaded only through ``tenancy.get_owned``: another center's member, meeting, agenda item or case
answers exactly like a missing one (``NotFound``).

Raises: ``ValidationFailed`` (bad input, with field errors), ``VersionConflict``,
``PreconditionRequired``, ``InvalidState`` (advice before the meeting, follow-up before advice,
removing an item that holds advice), ``werkzeug.exceptions.NotFound``.
"""
from __future__ import annotations

import unicodedata
import uuid
from datetime import date

from sqlalchemy import and_, delete, select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record
from ...platform.errors import InvalidState, PreconditionRequired, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.pagination import keyset_page
from ...platform.i18n import age_on, today_jst, wareki
from ...platform.models import utcnow
from ...platform.tenancy import get_owned
from ..cases.models import Case
from ..persons.names import to_hiragana
from .models import CommitteeAgendaItem, CommitteeAttendance, CommitteeMeeting, CommitteeMember

MEMBER_FIELDS = ("name", "name_kana", "profession", "affiliation", "observer", "active")
MEETING_FIELDS = ("held_on", "place", "notes")
FIRST_MEETING_DAY = date(2009, 4, 1)  # the first centers opened in FY2009
STALE = "他の職員が先に更新しました。最新の内容を確認してから再度保存してください。"


def _check_version(obj, expected_version: int | None) -> None:
    if expected_version is None:
        raise PreconditionRequired("If-Match ヘッダーで版番号を指定してください。")
    if expected_version != obj.version:
        raise VersionConflict(STALE, details={"current_version": obj.version})


def _apply(obj, changes: dict, fields: tuple[str, ...]) -> dict:
    """Set the changed fields; return ``{field: [old, new]}`` for the audit entry."""
    diff = {}
    for field in fields:
        if field in changes and getattr(obj, field) != changes[field]:
            diff[field] = [getattr(obj, field), changes[field]]
            setattr(obj, field, changes[field])
    return diff


# --- cursors (newest first) ------------------------------------------------------------------

# --- members ---------------------------------------------------------------------------------

def list_members(*, limit: int = 50, cursor: str | None = None, active: bool | None = None
                 ) -> tuple[list[CommitteeMember], str | None]:
    """A page of the center's members, newest first."""
    stmt = select(CommitteeMember)
    if active is not None:
        stmt = stmt.where(CommitteeMember.active == active)
    return keyset_page(stmt, (CommitteeMember.created_at, CommitteeMember.id), limit, cursor)


def members_by_kana(*, include_inactive: bool = True) -> list[CommitteeMember]:
    """Every member of the center in kana order (the pages' list and choices)."""
    stmt = select(CommitteeMember).order_by(CommitteeMember.active.desc(), CommitteeMember.name_kana, CommitteeMember.id)
    if not include_inactive:
        stmt = stmt.where(CommitteeMember.active.is_(True))
    return list(db.session.scalars(stmt))


def get_member(member_id) -> CommitteeMember | None:
    return get_owned(CommitteeMember, member_id)


def _check_member_names(values: dict) -> None:
    blank = {f: ["必須項目です。"] for f in ("name", "name_kana") if f in values and not (values[f] or "").strip()}
    if blank:
        raise ValidationFailed("氏名とふりがなを入力してください。", fields=blank)


def create_member(data: dict) -> CommitteeMember:
    _check_member_names({"name": data.get("name"), "name_kana": data.get("name_kana")})
    member = CommitteeMember(
        name=data["name"].strip(), name_kana=data["name_kana"].strip(), profession=data["profession"],
        affiliation=(data.get("affiliation") or "").strip(), observer=bool(data.get("observer", False)),
        active=bool(data.get("active", True)),
    )
    db.session.add(member)
    db.session.flush()
    record("committee.member.create", object_type="committee_member", object_id=member.id,
           details={f: getattr(member, f) for f in MEMBER_FIELDS})
    return member


def update_member(member: CommitteeMember, changes: dict, *, expected_version: int | None) -> CommitteeMember:
    _check_version(member, expected_version)
    _check_member_names(changes)
    changes = {k: (v.strip() if isinstance(v, str) else v) for k, v in changes.items()}
    diff = _apply(member, changes, MEMBER_FIELDS)
    if diff:
        db.session.flush()
        record("committee.member.update", object_type="committee_member", object_id=member.id, details=diff)
    return member


# --- meetings --------------------------------------------------------------------------------

def _check_meeting_date(held_on: date) -> None:
    if held_on < FIRST_MEETING_DAY:
        raise ValidationFailed("開催日が正しくありません。",
                               fields={"held_on": ["2009年4月1日以降の日付を入力してください。"]})


def _members_for_attendance(member_ids, *, already: set[uuid.UUID]) -> list[CommitteeMember]:
    """The center's members for these ids; another center's member is a missing one (404).
    A member who no longer serves can stay on a meeting but not be added to one."""
    members = []
    for member_id in dict.fromkeys(member_ids):
        member = get_owned(CommitteeMember, member_id)
        if member is None:
            raise NotFound()
        if not member.active and member.id not in already:
            raise ValidationFailed("退任した委員は出席者に加えられません。",
                                   fields={"attendee_ids": [f"{member.name} さんは退任しています。"]})
        members.append(member)
    return members


def attendees(meeting: CommitteeMeeting) -> list[CommitteeMember]:
    stmt = (select(CommitteeMember)
            .join(CommitteeAttendance, and_(CommitteeAttendance.center_id == CommitteeMember.center_id,
                                            CommitteeAttendance.member_id == CommitteeMember.id))
            .where(CommitteeAttendance.meeting_id == meeting.id)
            .order_by(CommitteeMember.observer, CommitteeMember.name_kana, CommitteeMember.id))
    return list(db.session.scalars(stmt))


def _set_attendees(meeting: CommitteeMeeting, member_ids) -> list[str] | None:
    """Replace the attendance; returns the sorted member ids when it changed, else None."""
    current = {m.id for m in attendees(meeting)}
    members = _members_for_attendance(member_ids, already=current)
    wanted = {m.id for m in members}
    if wanted == current:
        return None
    gone = current - wanted
    if gone:
        db.session.execute(delete(CommitteeAttendance).where(
            CommitteeAttendance.center_id == meeting.center_id, CommitteeAttendance.meeting_id == meeting.id,
            CommitteeAttendance.member_id.in_(gone)))
    for member_id in wanted - current:
        db.session.add(CommitteeAttendance(meeting_id=meeting.id, member_id=member_id))
    return sorted(str(i) for i in wanted)


def list_meetings(*, limit: int = 50, cursor: str | None = None) -> tuple[list[CommitteeMeeting], str | None]:
    """A page of the center's meetings, latest meeting date first."""
    return keyset_page(select(CommitteeMeeting), (CommitteeMeeting.held_on, CommitteeMeeting.id), limit, cursor)


def get_meeting(meeting_id) -> CommitteeMeeting | None:
    return get_owned(CommitteeMeeting, meeting_id)


def create_meeting(data: dict) -> CommitteeMeeting:
    _check_meeting_date(data["held_on"])
    meeting = CommitteeMeeting(held_on=data["held_on"], place=(data.get("place") or "").strip(),
                               notes=data.get("notes") or "")
    db.session.add(meeting)
    db.session.flush()
    attendee_ids = _set_attendees(meeting, data.get("attendee_ids") or []) or []
    db.session.flush()
    record("committee.meeting.create", object_type="committee_meeting", object_id=meeting.id,
           details={"held_on": meeting.held_on, "place": meeting.place, "notes": meeting.notes,
                    "attendee_ids": attendee_ids})
    return meeting


def update_meeting(meeting: CommitteeMeeting, changes: dict, *, expected_version: int | None) -> CommitteeMeeting:
    """Change the date, place, minutes or attendees (the whole list) of a meeting."""
    _check_version(meeting, expected_version)
    if "held_on" in changes:
        _check_meeting_date(changes["held_on"])
    changes = {k: (v.strip() if isinstance(v, str) and k == "place" else v) for k, v in changes.items()}
    diff = _apply(meeting, changes, MEETING_FIELDS)
    if "attendee_ids" in changes:
        new_ids = _set_attendees(meeting, changes["attendee_ids"] or [])
        if new_ids is not None:
            diff["attendee_ids"] = new_ids
    if diff:
        meeting.updated_at = utcnow()  # bumps the version when only the attendance changed
        db.session.flush()
        record("committee.meeting.update", object_type="committee_meeting", object_id=meeting.id, details=diff)
    return meeting


# --- agenda items and rounds -----------------------------------------------------------------

def _reviews(case_ids) -> list[CommitteeAgendaItem]:
    """The agenda items of these cases in review order (meeting date first), each with
    ``item.round`` set: 1 for a case's first review, 2 for its second, ..."""
    stmt = (select(CommitteeAgendaItem)
            .join(CommitteeMeeting, and_(CommitteeMeeting.center_id == CommitteeAgendaItem.center_id,
                                         CommitteeMeeting.id == CommitteeAgendaItem.meeting_id))
            .where(CommitteeAgendaItem.case_id.in_(list(case_ids)))
            .order_by(CommitteeMeeting.held_on, CommitteeMeeting.created_at, CommitteeAgendaItem.created_at,
                      CommitteeAgendaItem.id))
    items = list(db.session.scalars(stmt))
    counts: dict[uuid.UUID, int] = {}
    for item in items:
        counts[item.case_id] = item.round = counts.get(item.case_id, 0) + 1
    return items


def with_rounds(items: list[CommitteeAgendaItem]) -> list[CommitteeAgendaItem]:
    """Set ``item.round`` on each item (its place among its case's reviews)."""
    rounds = {i.id: i.round for i in _reviews({i.case_id for i in items})} if items else {}
    for item in items:
        item.round = rounds.get(item.id)
    return items


def agenda(meeting: CommitteeMeeting) -> list[CommitteeAgendaItem]:
    """The meeting's agenda items in the order they were put on it, with their rounds."""
    stmt = (select(CommitteeAgendaItem).where(CommitteeAgendaItem.meeting_id == meeting.id)
            .order_by(CommitteeAgendaItem.created_at, CommitteeAgendaItem.id))
    return with_rounds(list(db.session.scalars(stmt)))


def read_meeting(meeting_id) -> tuple[CommitteeMeeting, list[CommitteeMember], list[CommitteeAgendaItem]] | None:
    """A meeting with its attendees and agenda; the read is audited (the agenda names persons)."""
    meeting = get_owned(CommitteeMeeting, meeting_id)
    if meeting is None:
        return None
    items = agenda(meeting)
    # One entry per person on the agenda, so that a person's audit trail shows this read too.
    for item in items or [None]:
        record("committee.meeting.read", object_type="committee_meeting", object_id=meeting.id,
               person_id=item.case.person_id if item else None,
               details={"agenda_item_id": item.id} if item else None)
    return meeting, attendees(meeting), items


def get_agenda_item(item_id) -> CommitteeAgendaItem | None:
    item = get_owned(CommitteeAgendaItem, item_id)
    return with_rounds([item])[0] if item is not None else None


def read_agenda_item(item_id) -> CommitteeAgendaItem | None:
    """An agenda item (with its case and person): the read is audited."""
    item = get_agenda_item(item_id)
    if item is not None:
        record("committee.agenda_item.read", object_type="committee_agenda_item", object_id=item.id,
               person_id=item.case.person_id)
    return item


def _identifying_strings(case: Case) -> list[str]:
    """What must never reach the handout: names, kana, case number, birth date."""
    p = case.person
    kana = [p.family_name_kana, p.given_name_kana, p.family_name_kana + p.given_name_kana]
    values = [p.family_name, p.given_name, p.family_name + p.given_name, p.full_name, p.full_name_kana,
              *kana, *(to_hiragana(k) for k in kana), *(_to_katakana(k) for k in kana),
              case.case_number, p.birth_date.isoformat(), p.birth_date.strftime("%Y/%m/%d"),
              f"{p.birth_date.year}年{p.birth_date.month}月{p.birth_date.day}日", wareki(p.birth_date)]
    return sorted({v for v in values if v and v.strip()}, key=len, reverse=True)


def _to_katakana(text: str) -> str:
    return "".join(chr(ord(ch) + 0x60) if "ぁ" <= ch <= "ゖ" else ch for ch in text)


def _check_question(case: Case, question: str) -> None:
    """The question goes on the handout, which leaves the office: refuse identifying text.
    (One-character names are not checked here, they would refuse ordinary words; the handout
    masks them.)"""
    normal = unicodedata.normalize("NFKC", question)
    found = [v for v in _identifying_strings(case) if len(v) >= 2 and unicodedata.normalize("NFKC", v) in normal]
    if found:
        raise ValidationFailed(
            "相談内容は配布資料に載ります。氏名・ふりがな・ケース番号・生年月日を書かないでください。",
            fields={"question": ["氏名・ふりがな・ケース番号・生年月日は書かないでください（イニシャルと年代は配布資料に自動で載ります）。"]})


def add_agenda_item(meeting: CommitteeMeeting, data: dict) -> CommitteeAgendaItem:
    """Put a case of the center before a meeting.  Another center's case is a missing one (404)."""
    case = get_owned(Case, data["case_id"])
    if case is None:
        raise NotFound()
    question = (data.get("question") or "").strip()
    if not question:
        raise ValidationFailed("相談内容を入力してください。", fields={"question": ["必須項目です。"]})
    _check_question(case, question)
    duplicate = db.session.scalar(select(CommitteeAgendaItem.id).where(
        CommitteeAgendaItem.meeting_id == meeting.id, CommitteeAgendaItem.case_id == case.id))
    if duplicate is not None:
        raise ValidationFailed("このケースはすでにこの会議の議題になっています。",
                               fields={"case_id": ["このケースはすでにこの会議の議題です。"]})
    item = CommitteeAgendaItem(meeting_id=meeting.id, case_id=case.id, question=question)
    db.session.add(item)
    db.session.flush()
    db.session.refresh(item)  # loads the case and meeting relationships
    with_rounds([item])
    record("committee.agenda_item.create", object_type="committee_agenda_item", object_id=item.id,
           person_id=case.person_id,
           details={"meeting_id": meeting.id, "case_id": case.id, "round": item.round, "question": question})
    return item


def update_agenda_item(item: CommitteeAgendaItem, changes: dict, *, expected_version: int | None) -> CommitteeAgendaItem:
    _check_version(item, expected_version)
    if "question" in changes:
        question = (changes["question"] or "").strip()
        if not question:
            raise ValidationFailed("相談内容を入力してください。", fields={"question": ["必須項目です。"]})
        _check_question(item.case, question)
        diff = _apply(item, {"question": question}, ("question",))
        if diff:
            db.session.flush()
            record("committee.agenda_item.update", object_type="committee_agenda_item", object_id=item.id,
                   person_id=item.case.person_id, details=diff)
    return item


def remove_agenda_item(item: CommitteeAgendaItem, *, expected_version: int | None) -> None:
    """Take a case off a meeting's agenda, only while no advice is recorded on it."""
    _check_version(item, expected_version)
    if item.advice is not None:
        raise InvalidState("助言が記録された議題は取り下げられません。")
    record("committee.agenda_item.remove", object_type="committee_agenda_item", object_id=item.id,
           person_id=item.case.person_id,
           details={"meeting_id": item.meeting_id, "case_id": item.case_id, "question": item.question})
    db.session.delete(item)
    db.session.flush()


def record_advice(item: CommitteeAgendaItem, advice: str, *, expected_version: int | None,
                  recorded_by=None) -> CommitteeAgendaItem:
    """Record (or correct) the committee's advice on an agenda item (助言)."""
    _check_version(item, expected_version)
    advice = (advice or "").strip()
    if not advice:
        raise ValidationFailed("助言の内容を入力してください。", fields={"advice": ["必須項目です。"]})
    if item.meeting.held_on > today_jst():
        raise InvalidState("開催日より前に助言は記録できません。")
    if advice != item.advice:
        old = item.advice
        item.advice = advice
        item.advice_recorded_at = utcnow()
        item.advice_recorded_by = getattr(recorded_by, "id", None)
        db.session.flush()
        record("committee.advice.record", object_type="committee_agenda_item", object_id=item.id,
               person_id=item.case.person_id, details={"round": item.round, "advice": [old, advice]})
    return item


def record_follow_up(item: CommitteeAgendaItem, follow_up: str, follow_up_on: date, *,
                     expected_version: int | None) -> CommitteeAgendaItem:
    """Record (or correct) what the center did with the advice (対応), with its date."""
    _check_version(item, expected_version)
    follow_up = (follow_up or "").strip()
    if not follow_up:
        raise ValidationFailed("対応の内容を入力してください。", fields={"follow_up": ["必須項目です。"]})
    if item.advice is None:
        raise InvalidState("助言が記録されていない議題には対応を記録できません。")
    if follow_up_on < item.meeting.held_on or follow_up_on > today_jst():
        raise ValidationFailed("対応日が正しくありません。",
                               fields={"follow_up_on": ["会議の開催日から今日までの日付を入力してください。"]})
    diff = _apply(item, {"follow_up": follow_up, "follow_up_on": follow_up_on}, ("follow_up", "follow_up_on"))
    if diff:
        db.session.flush()
        record("committee.follow_up.record", object_type="committee_agenda_item", object_id=item.id,
               person_id=item.case.person_id, details={"round": item.round, **diff})
    return item


# --- a case's review history -----------------------------------------------------------------

def _history_items(case: Case) -> list[CommitteeAgendaItem]:
    return _reviews([case.id])


def review_history(case_id) -> tuple[Case, list[CommitteeAgendaItem]]:
    """Every round a case went before the committee, oldest first: the question, the advice and
    what was done.  The read is audited.  Another center's case is a missing one (404)."""
    case = get_owned(Case, case_id)
    if case is None:
        raise NotFound()
    items = _history_items(case)
    record("committee.review_history.read", object_type="case", object_id=case.id, person_id=case.person_id)
    return case, items


def history_for_case_page(case: Case) -> list[CommitteeAgendaItem]:
    """The history section shown inside a case's page, whose read the case page already audits."""
    return _history_items(case)


# --- the handout (pseudonymized) -------------------------------------------------------------

_INITIALS = {}
for _letter, _kana in (
    ("A", "あぁ"), ("I", "いぃ"), ("U", "うぅ"), ("E", "えぇ"), ("O", "おぉを"),
    ("K", "かきくけこゕゖ"), ("G", "がぎぐげご"), ("S", "さしすせそ"), ("Z", "ざずぜぞづ"), ("J", "じぢ"),
    ("T", "たつてとっ"), ("C", "ち"), ("D", "だでど"), ("N", "なにぬねのん"), ("H", "はひへほ"), ("F", "ふ"),
    ("B", "ばびぶべぼ"), ("P", "ぱぴぷぺぽ"), ("M", "まみむめも"), ("Y", "やゆよゃゅょ"), ("R", "らりるれろ"),
    ("W", "わゎ"), ("V", "ゔ"),
):
    for _ch in _kana:
        _INITIALS[_ch] = _letter


def initial(kana: str) -> str:
    """The Hepburn initial of a kana reading: やまだ → Y, しみず → S, ちば → C."""
    text = to_hiragana(unicodedata.normalize("NFKC", kana or "")).strip()
    return _INITIALS.get(text[:1], "-") if text else "-"


def initials(family_name_kana: str, given_name_kana: str) -> str:
    """やまだ たろう → "Y.T." (family name first, as the person is called in Japanese)."""
    return f"{initial(family_name_kana)}.{initial(given_name_kana)}."


def age_decade(birth_date: date, on: date) -> int:
    """The age band's decade: 73 → 70 (shown as 70代)."""
    return age_on(birth_date, on) // 10 * 10


MASK = "○○"


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def _mask(text: str | None, secrets: list[str]) -> str | None:
    """Replace every identifying string (as typed, NFKC-folded or full-width) with ○○."""
    if text is None:
        return None
    variants = {v for s in secrets for v in (s, unicodedata.normalize("NFKC", s), _fullwidth(s)) if v}
    for secret in sorted(variants, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def handout(meeting_id) -> dict | None:
    """The paper for the committee: each case pseudonymized (initials from the kana, age band on
    the meeting day, support needs, case type, the question, earlier rounds' advice and what was
    done).  Never the name, kana, birth date or case number: the template receives only this
    dictionary, and free text is masked for them besides.  Each person on it is audited."""
    meeting = get_owned(CommitteeMeeting, meeting_id)
    if meeting is None:
        return None
    entries = []
    for number, item in enumerate(agenda(meeting), start=1):
        case, person = item.case, item.case.person
        secrets = _identifying_strings(case)
        earlier = [i for i in _history_items(case) if i.round < item.round]
        entries.append({
            "number": number,
            "initials": initials(person.family_name_kana, person.given_name_kana),
            "age_decade": age_decade(person.birth_date, meeting.held_on),
            "support_needs": list(person.support_needs or []),
            "case_type": case.case_type,
            "round": item.round,
            "question": _mask(item.question, secrets),
            "earlier": [{"round": i.round, "held_on": i.meeting.held_on, "advice": _mask(i.advice, secrets),
                         "follow_up": _mask(i.follow_up, secrets), "follow_up_on": i.follow_up_on} for i in earlier],
        })
        record("committee.handout", object_type="committee_meeting", object_id=meeting.id, person_id=person.id,
               details={"agenda_item_id": item.id})
    members = [{"name": m.name, "profession": m.profession, "affiliation": m.affiliation, "observer": m.observer}
               for m in attendees(meeting)]
    return {"held_on": meeting.held_on, "place": meeting.place, "attendees": members, "entries": entries}
