"""The person's disclosure request (開示請求, APPI art. 33): everything one center holds about one person.

A person may ask a center for all the personal data it holds about them, including to whom it
was provided (第三者提供記録, art. 33(5)) and, as the center's own practice, who read or changed
it.  ``build_disclosure`` answers with one ZIP:

* ``data.json``: the complete data, serialised generically from the table columns (a column
  added later is disclosed without touching this module); only the internal search columns of
  ``persons`` are left out, since they merely repeat the name in another form;
* ``index.html``: the same data readable in Japanese, standalone (the file leaves the office:
  no external asset, every value escaped by the template's autoescaping);
* ``files/``: the bytes of the person's documents and of the files attached to the transfer
  threads, each checked against its stored hash.

Everything is read inside the current tenant scope (the global ORM filter and row-level
security keep it to the center's own rows; ``cross_tenant`` is never used), so a transfer
contributes only this center's side of it.  The audit log is disclosed as who did what and when,
never its ``details`` (they hold other values, possibly of other people) nor the IP address.
The export itself is audited in the caller's transaction; nothing here commits.
"""
from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable

from flask import current_app
from sqlalchemy import inspect, or_, select

from ...crosstenant.exchange.lifecycle import CASE_TYPE_LABELS, SUPPORT_NEED_LABELS
from ...crosstenant.transfers import attachments as thread_files
from ...crosstenant.transfers import lifecycle as transfer_lc
from ...crosstenant.transfers.models import (ProvisionRecord, Transfer, TransferMessage, TransferMessageAttachment,
                                             TransferPull)
from ...platform.audit.models import AuditEntry
from ...platform.audit.services import record as audit_record
from ...platform.auth.models import User
from ...platform.centers import Center
from ...platform.extensions import db
from ...platform.i18n import jst_datetime, today_jst, wareki
from ...platform.models import utcnow
from ...platform.permissions import ROLE_LABELS
from ...platform.tenancy import current_center_id, get_owned
from ...tenants.cases import lifecycle as case_lc
from ...tenants.cases.models import Case, CaseNeed, Reminder
from ...tenants.committees.models import CommitteeAgendaItem, CommitteeMeeting
from ...tenants.persons.models import Person
from ...platform import storage
from ...tenants.records.models import CaseDocument, CaseRecord, CoordinationPlan, PlanRevision
from ...tenants.records.lifecycle import AREA_LABELS, DOCUMENT_LABELS, RECORD_LABELS, SECTION_LABELS
from ...tenants.records.services import DocumentUnavailable

AUDIT_ACTION = "person.disclosure_export"
TEMPLATE = "retention/disclosure_export.html"
# Search helpers derived from the name (normalised text and bigrams): not data about the person.
PERSON_INTERNAL_COLUMNS = frozenset({"name_search", "name_grams"})
# The access log tells who did what and when; never the details (other values) nor the IP.
ACCESS_LOG_COLUMNS = ("occurred_at", "action", "object_type", "object_id", "actor_role", "actor_name")


@dataclass
class DisclosurePackage:
    """What the page hands to staff: the ZIP to give the person, its name, and what it holds."""

    filename: str   # ASCII-safe: "disclosure-<person_id>-<YYYYMMDD>.zip"
    content: bytes  # a ZIP
    counts: dict[str, int]  # rows exported per section


@dataclass
class _Files:
    """The files going into the ZIP, by path, and how many could not be read."""

    contents: dict[str, bytes] = field(default_factory=dict)
    missing: int = 0

    def add(self, folder: str, object_id: uuid.UUID, filename: str, data: bytes | None) -> dict:
        """Place one file under ``files/<folder>/`` and say where it is (or that it is missing),
        so that a lost or altered file is disclosed as such instead of failing the whole request."""
        if data is None:
            self.missing += 1
            return {"file": None, "file_missing": True}
        path = f"files/{folder}/{object_id}-{storage.sanitize_filename(filename)}"
        self.contents[path] = data
        return {"file": path, "file_missing": False}


# --- the public entry point ----------------------------------------------------------------------

def build_disclosure(person_id: uuid.UUID) -> DisclosurePackage:
    """Everything the current center holds about one person, for the person's disclosure request."""
    person = get_owned(Person, person_id)
    if person is None:
        raise LookupError("no such person in this center")
    files = _Files()
    data = collect(person, files)
    counts = count_rows(data, files)
    content = _zip(data, render_html(data), files)
    audit_record(AUDIT_ACTION, object_type="person", object_id=person.id, person_id=person.id,
                 details={"counts": counts})
    return DisclosurePackage(filename=f"disclosure-{person.id}-{today_jst():%Y%m%d}.zip", content=content,
                             counts=counts)


def collect(person: Person, files: _Files) -> dict[str, Any]:
    """The data of ``data.json``, section by section (the files are gathered into ``files``)."""
    cases = _rows(Case, Case.person_id == person.id, order_by=(Case.requested_on, Case.created_at))
    case_ids = [c.id for c in cases]
    data: dict[str, Any] = {
        "export": _export_header(person),
        "person": columns(person, exclude=PERSON_INTERNAL_COLUMNS),
        "cases": case_section(cases),
        "records": [columns(r) for r in _rows(CaseRecord, CaseRecord.case_id.in_(case_ids),
                                               order_by=(CaseRecord.recorded_on, CaseRecord.created_at))],
        "plans": plan_section(case_ids),
        "documents": document_section(case_ids, files),
        "committee_agenda_items": agenda_section(case_ids),
        "transfers": transfer_section(case_ids, files),
        "transfer_pulls": [columns(p) for p in _rows(TransferPull, TransferPull.case_id.in_(case_ids),
                                                      order_by=(TransferPull.requested_at,))],
        "provision_records": [columns(p) for p in _rows(ProvisionRecord, ProvisionRecord.person_id == person.id,
                                                         order_by=(ProvisionRecord.provided_on, ProvisionRecord.created_at))],
    }
    data["access_log"] = access_log(person.id, _object_ids(data))
    data["centers"] = _centers_named_in(data)
    data["staff"] = {str(k): v for k, v in staff_names({uuid.UUID(i) for i in _staff_ids(data)}).items()}
    return data


def count_rows(data: dict[str, Any], files: _Files) -> dict[str, int]:
    """Rows per section (and per nested list), recorded in the audit entry and shown to staff, so
    that what was handed over can be told later without keeping a copy of it."""
    counts = {"person": 1}
    for section in ("cases", "records", "plans", "documents", "committee_agenda_items", "transfers",
                    "transfer_pulls", "provision_records", "access_log"):
        counts[section] = len(data[section])
    counts["case_needs"] = sum(len(c["needs"]) for c in data["cases"])
    counts["reminders"] = sum(len(c["reminders"]) for c in data["cases"])
    counts["plan_revisions"] = sum(len(p["revisions"]) for p in data["plans"])
    counts["transfer_messages"] = sum(len(t["messages"]) for t in data["transfers"])
    counts["transfer_attachments"] = sum(len(t["attachments"]) for t in data["transfers"])
    counts["files"] = len(files.contents)
    counts["files_missing"] = files.missing
    return counts


# --- generic serialisation --------------------------------------------------------------------------

def columns(row: Any, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every column of the row's table as plain JSON values (UUIDs as strings, dates ISO), so a
    column added to a model is disclosed without changing this module."""
    mapper = inspect(type(row))
    skip = set(exclude)
    return {c.name: plain(getattr(row, mapper.get_property_by_column(c).key))
            for c in type(row).__table__.columns if c.name not in skip}


def plain(value: Any) -> Any:
    """A value as JSON can hold it; JSON columns are walked (a row still in the session may hold
    dates or UUIDs inside them)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return value


def _rows(model: type, *where, order_by: tuple = ()) -> list:
    """The current center's rows of ``model`` (the global tenant filter applies to every select)."""
    return list(db.session.scalars(select(model).where(*where).order_by(*order_by, model.id)))


def _grouped(model: type, key: str, ids: list, order_by: tuple = ()) -> dict[Any, list]:
    """Child rows by their parent's id (one query for all parents)."""
    out: dict[Any, list] = defaultdict(list)
    for row in _rows(model, getattr(model, key).in_(ids), order_by=order_by):
        out[getattr(row, key)].append(row)
    return out


# --- the sections -------------------------------------------------------------------------------------

def _export_header(person: Person) -> dict[str, Any]:
    """Which center answered, when, about whom: the person must be able to tell what this is."""
    center = db.session.get(Center, current_center_id())
    return {"person_id": str(person.id), "exported_at": utcnow().isoformat(),
            "center_code": center.code if center else None, "center_name": center.name if center else None}


def case_section(cases: list[Case]) -> list[dict]:
    """Each case with its needs by life area and its deadline reminders."""
    ids = [c.id for c in cases]
    needs = _grouped(CaseNeed, "case_id", ids, order_by=(CaseNeed.sort_order,))
    reminders = _grouped(Reminder, "case_id", ids, order_by=(Reminder.due_on, Reminder.days_before))
    return [{**columns(c), "needs": [columns(n) for n in needs[c.id]],
             "reminders": [columns(r) for r in reminders[c.id]]} for c in cases]


def plan_section(case_ids: list) -> list[dict]:
    """Each coordination plan with every revision (revisions are the plan's content)."""
    plans = _rows(CoordinationPlan, CoordinationPlan.case_id.in_(case_ids), order_by=(CoordinationPlan.created_at,))
    revisions = _grouped(PlanRevision, "plan_id", [p.id for p in plans], order_by=(PlanRevision.revision,))
    return [{**columns(p), "revisions": [columns(r) for r in revisions[p.id]]} for p in plans]


def document_section(case_ids: list, files: _Files) -> list[dict]:
    """Each document's metadata and its bytes in the ZIP, verified against the stored hash (a
    missing or altered file is listed as missing: the rest of the answer is still owed)."""
    out = []
    for doc in _rows(CaseDocument, CaseDocument.case_id.in_(case_ids), order_by=(CaseDocument.created_at,)):
        data = storage.open_verified(doc.center_id, doc.id, doc.size_bytes, doc.sha256)
        out.append({**columns(doc), **files.add("documents", doc.id, doc.filename, data)})
    return out


def agenda_section(case_ids: list) -> list[dict]:
    """Each time a case was put before the review committee, with the meeting's date and place
    (not the meeting's minutes: they cover other people's cases too)."""
    items = _rows(CommitteeAgendaItem, CommitteeAgendaItem.case_id.in_(case_ids),
                  order_by=(CommitteeAgendaItem.created_at,))
    meetings = {m.id: m for m in _rows(CommitteeMeeting, CommitteeMeeting.id.in_(list({i.meeting_id for i in items})))}
    out = [{**columns(i), "meeting": _meeting(meetings.get(i.meeting_id))} for i in items]
    return sorted(out, key=lambda i: (i["meeting"]["held_on"] or "", i["created_at"] or ""))


def _meeting(meeting: CommitteeMeeting | None) -> dict[str, Any]:
    if meeting is None:
        return {"id": None, "held_on": None, "place": None}
    return {"id": str(meeting.id), "held_on": plain(meeting.held_on), "place": meeting.place}


def transfer_section(case_ids: list, files: _Files) -> list[dict]:
    """This center's own side of each transfer of the person's cases, with its copy of the thread
    and of the files attached to it (the other center's side is that center's to disclose)."""
    transfers = _rows(Transfer, Transfer.case_id.in_(case_ids), order_by=(Transfer.requested_at,))
    ids = [t.id for t in transfers]
    messages = _grouped(TransferMessage, "transfer_id", ids, order_by=(TransferMessage.created_at,))
    attached = _grouped(TransferMessageAttachment, "transfer_id", ids,
                        order_by=(TransferMessageAttachment.created_at, TransferMessageAttachment.filename))
    return [{**columns(t), "messages": [columns(m) for m in messages[t.id]],
             "attachments": [_attachment(a, files) for a in attached[t.id]]} for t in transfers]


def _attachment(row: TransferMessageAttachment, files: _Files) -> dict[str, Any]:
    try:
        data = thread_files.read_bytes(row)
    except DocumentUnavailable:
        data = None
    return {**columns(row), **files.add("attachments", row.id, row.filename, data)}


def _object_ids(data: dict[str, Any]) -> set[str]:
    """The ids of everything disclosed: an audit entry about one of them concerns the person even
    where it was written without the person's id."""
    ids = {data["person"]["id"]}
    for section in ("cases", "records", "plans", "documents", "committee_agenda_items", "transfers",
                    "transfer_pulls", "provision_records"):
        ids.update(row["id"] for row in data[section])
    for transfer in data["transfers"]:
        ids.update(a["id"] for a in transfer["attachments"])
        ids.update(m["id"] for m in transfer["messages"])
    for case in data["cases"]:
        ids.update(n["id"] for n in case["needs"])
        ids.update(r["id"] for r in case["reminders"])
    return ids


def access_log(person_id: uuid.UUID, object_ids: set[str]) -> list[dict[str, Any]]:
    """The center's own audit chain about the person: who did what and when (not the details,
    not the IP address).  Staff are named only from the center's own accounts."""
    entries = list(db.session.scalars(
        select(AuditEntry).where(AuditEntry.center_id == current_center_id(),
                                 or_(AuditEntry.person_id == person_id, AuditEntry.object_id.in_(sorted(object_ids))))
        .order_by(AuditEntry.seq)))
    names = staff_names({e.actor_id for e in entries})
    return [{"occurred_at": plain(e.occurred_at), "action": e.action, "object_type": e.object_type,
             "object_id": e.object_id, "actor_role": e.actor_role, "actor_name": names.get(e.actor_id)}
            for e in entries]


def staff_names(ids: set) -> dict[uuid.UUID, str]:
    """Display names of the current center's accounts (never their e-mail addresses)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = db.session.execute(select(User.id, User.display_name)
                              .where(User.id.in_(wanted), User.center_id == current_center_id())).all()
    return {r.id: r.display_name for r in rows if r.display_name}


CENTER_FIELDS = ("counterpart_center_id", "recipient_center_id", "author_center_id")


def is_staff_field(key: str) -> bool:
    """A column naming an account (who was assigned, wrote, uploaded, approved...)."""
    return key in ("assigned_user_id", "author_id") or key.endswith(("_by_id", "_by"))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _staff_ids(value: Any) -> set[str]:
    """Every account id named anywhere in the sections, so the reader sees who, not an id."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if is_staff_field(key) and isinstance(item, str) and _is_uuid(item):
                found.add(item)
            elif key not in ("export", "access_log", "centers"):
                found |= _staff_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= _staff_ids(item)
    return found


def _centers_named_in(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Code and name of each center the data refers to (centers are public reference data), so
    the person can read to whom the data went."""
    ids: set[str] = set()
    for section in ("transfers", "transfer_pulls", "provision_records"):
        for row in data[section]:
            ids.update(row.get(f) for f in CENTER_FIELDS if row.get(f))
            ids.update(m["author_center_id"] for m in row.get("messages", ()))
    if not ids:
        return {}
    rows = db.session.scalars(select(Center).where(Center.id.in_([uuid.UUID(i) for i in ids])))
    return {str(c.id): {"code": c.code, "name": c.name} for c in rows}


# --- the ZIP --------------------------------------------------------------------------------------------

def _zip(data: dict[str, Any], html: str, files: _Files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))
        archive.writestr("index.html", html.encode("utf-8"))
        for path, content in files.contents.items():
            archive.writestr(path, content)
    return buffer.getvalue()


# --- index.html: the same data, readable in Japanese ---------------------------------------------------

SECTION_HEADINGS = (
    ("person", "本人の情報"), ("cases", "ケース"), ("records", "記録"), ("plans", "調整計画"), ("documents", "書類"),
    ("committee_agenda_items", "検討委員会"), ("transfers", "広域調整"), ("transfer_pulls", "広域調整の開始依頼"),
    ("provision_records", "第三者提供記録"),
)
# Shown in the JSON, left out of the readable page: technical keys that mean nothing to a reader.
HIDDEN_IN_HTML = frozenset({"center_id", "version", "sort_order", "group_id", "pair_id", "sha256", "file_missing"})

FIELD_LABELS = {
    "id": "ID", "family_name": "姓", "given_name": "名", "family_name_kana": "せい（ふりがな）",
    "given_name_kana": "めい（ふりがな）", "birth_date": "生年月日", "sex": "性別", "support_needs": "支援の必要性",
    "certificates": "手帳・認定", "public_assistance": "生活保護", "created_at": "登録日時", "updated_at": "更新日時",
    "case_number": "ケース番号", "person_id": "本人ID", "case_type": "業務の種類", "status": "状況",
    "parent_case_id": "元のケース", "assigned_user_id": "担当職員", "requested_on": "依頼日",
    "request_source": "依頼元", "probation_office": "保護観察所", "facility_name": "矯正施設",
    "facility_type": "施設の種類", "release_date": "釈放予定日", "released_on": "釈放日",
    "destination_prefecture_code": "帰住予定地（都道府県コード）", "destination_municipality_name": "帰住予定地（市区町村）",
    "destination_municipality_code": "帰住予定地（市区町村コード）", "follow_up_on": "次回フォローアップ日",
    "eligibility": "特別調整の要件", "eligibility_override_reason": "要件確認の特例の理由",
    "eligibility_override_at": "要件確認の特例の日時", "requester_type": "相談者", "topic": "相談内容",
    "suspect_stage": "釈放の段階", "outcome_at_release": "釈放時の結果", "closed_on": "終結日",
    "closing_reason": "終結の理由", "closing_note": "終結のメモ", "outcome_placement": "帰住先",
    "outcome_municipality_name": "帰住先（市区町村）", "outcome_municipality_code": "帰住先（市区町村コード）",
    "needs": "生活の領域ごとの課題", "area": "領域", "responsible": "担当", "note": "メモ", "reminders": "期限の通知",
    "kind": "種類", "due_on": "期日", "days_before": "何日前", "dismissed_at": "確認済みの日時",
    "case_id": "ケースID", "recorded_on": "記録日", "place": "場所", "participants": "参加者", "content": "内容",
    "sections": "項目", "title": "題名", "latest_revision": "最新の版", "revisions": "版", "revision": "版",
    "filename": "ファイル名", "content_type": "ファイルの種類", "size_bytes": "大きさ（バイト）", "file": "ファイル",
    "meeting": "検討委員会", "held_on": "開催日", "question": "相談したいこと", "advice": "助言",
    "advice_recorded_at": "助言の記録日時", "follow_up": "助言を受けての対応", "side": "立場",
    "counterpart_center_id": "相手のセンター", "consent_obtained_on": "同意を得た日", "consent_method": "同意の方法",
    "consent_witness": "立会人", "consent_scope": "同意の範囲", "message": "メッセージ", "package": "提供した情報",
    "person_snapshot": "本人確認のための情報", "snapshot_erased_at": "本人確認情報の消去日時",
    "decline_reason": "お断りの理由", "decline_comment": "お断りのコメント", "requested_at": "依頼日時",
    "approved_at": "承認日時", "sent_at": "送付日時", "accepted_at": "受入日時", "declined_at": "お断りの日時",
    "withdrawn_at": "取下げ日時", "completed_at": "完了日時", "reassigned_at": "振替日時", "reminded_at": "督促日時",
    "messages": "メッセージのやりとり", "attachments": "添付ファイル", "author_name": "差出人",
    "author_center_id": "差出人のセンター", "body": "本文", "refuse_comment": "お断りのコメント",
    "confirmed_at": "確認日時", "refused_at": "お断りの日時", "cancelled_at": "取消し日時",
    "provided_on": "提供日", "recipient_center_id": "提供先", "items": "内容", "basis": "提供の根拠",
    "retain_until": "記録の保存期限", "label": "内容", "wishes": "本人の希望", "goals": "目標",
    "support": "支援の内容", "provider": "担当・提供者", "notes": "備考", "grade": "等級",
    "transfer_id": "広域調整ID", "pull_id": "開始依頼ID", "number_fiscal_year": "依頼番号の年度",
    "number_seq": "依頼番号（年度内の連番）", "message_id": "メッセージID", "plan_id": "計画ID",
    "meeting_id": "検討委員会ID", "consent_on": "同意を得た日", "reassign_count": "振替の回数", "reminder_count": "督促の回数",
    "flagged_at": "全国協議会の確認日時", "erased_at": "消去日時", "assigned_user_id": "担当職員",
    "author_id": "記入者", "updated_by_id": "更新者", "uploaded_by_id": "登録者", "created_by_id": "作成者",
    "recorded_by_id": "記録者", "requested_by_id": "依頼者", "approved_by_id": "承認者", "accepted_by_id": "受入の担当者",
    "declined_by_id": "お断りの担当者", "withdrawn_by_id": "取下げの担当者", "completed_by_id": "完了の担当者",
    "confirmed_by_id": "確認の担当者", "refused_by_id": "お断りの担当者", "cancelled_by_id": "取消しの担当者",
    "eligibility_override_by": "要件確認の特例の承認者", "advice_recorded_by": "助言の記録者",
    **SECTION_LABELS, **case_lc.ELIGIBILITY_CONDITIONS,
}
_SEXES = {"male": "男性", "female": "女性", "other": "その他"}
# Labels of coded values: "<list or section>.<field>" first, then "<field>".
VALUE_LABELS: dict[str, dict[str, str]] = {
    "sex": _SEXES, "support_needs": SUPPORT_NEED_LABELS, "public_assistance": case_lc.PUBLIC_ASSISTANCE,
    "case_type": CASE_TYPE_LABELS, "facility_type": case_lc.FACILITY_TYPES, "closing_reason": case_lc.CLOSING_REASONS,
    "outcome_placement": case_lc.PLACEMENTS, "requester_type": case_lc.REQUESTER_TYPES,
    "suspect_stage": case_lc.SUSPECT_STAGES, "consent_method": transfer_lc.CONSENT_METHODS,
    "decline_reason": transfer_lc.DECLINE_REASONS, "basis": transfer_lc.PROVISION_BASES,
    "cases.status": case_lc.STATUS_LABELS, "needs.status": case_lc.NEED_STATUSES, "needs.area": case_lc.NEED_AREAS,
    "records.kind": RECORD_LABELS, "documents.kind": DOCUMENT_LABELS,
    "reminders.kind": {"release": "釈放予定日", "follow_up": "フォローアップ予定日"},
    "certificates.kind": case_lc.CERTIFICATE_KINDS, "certificates.status": case_lc.CERTIFICATE_STATUSES,
    "items.area": AREA_LABELS, "items.kind": {**transfer_lc.PACKAGE_KINDS, "identity": "本人確認のための情報", "message": "メッセージ",
                   "attachment": "スレッドの添付ファイル"},
    "package.kind": transfer_lc.PACKAGE_KINDS,
    "transfers.status": transfer_lc.STATUS_LABELS, "transfer_pulls.status": transfer_lc.PULL_STATUS_LABELS,
    "transfers.side": {"sending": "依頼した（このセンターから）", "receiving": "依頼を受けた（このセンターへ）"},
    "transfer_pulls.side": {"asking": "開始を依頼した", "asked": "開始の依頼を受けた"},
    "messages.kind": {"message": "メッセージ", "shared_update": "共有された支援経過"},
}
OBJECT_TYPE_LABELS = {
    "person": "本人", "case": "ケース", "case_need": "課題", "reminder": "期限の通知", "case_record": "記録",
    "record": "記録", "case_document": "書類", "document": "書類", "coordination_plan": "調整計画", "plan": "調整計画",
    "committee_agenda_item": "検討委員会の議題", "transfer": "広域調整", "transfer_pull": "広域調整の開始依頼",
    "transfer_message_attachment": "添付ファイル", "provision_record": "第三者提供記録",
    "agenda_item": "検討委員会の議題", "meeting": "検討委員会",
}
ACTION_VERBS = {
    "create": "登録", "read": "閲覧", "update": "変更", "list": "一覧の閲覧", "overview": "一覧の閲覧",
    "transition": "状況の変更", "eligibility": "要件の確認", "eligibility_override": "要件確認の特例",
    "follow_up_opened": "フォローアップの開始", "need_update": "課題の変更", "dismiss": "確認",
    "upload": "登録", "download": "ダウンロード", "revise": "改訂", "compare": "版の比較",
    "request": "依頼", "provide": "第三者への提供", "approve": "承認", "accept": "受入", "decline": "お断り",
    "withdraw": "取下げ", "complete": "完了", "message": "メッセージ", "messages_read": "メッセージの閲覧",
    "attachment_upload": "添付ファイルの登録", "attachment_download": "添付ファイルのダウンロード",
    "share_update": "支援経過の共有", "reassign": "振替", "remind": "督促", "snapshot_erase": "本人確認情報の消去",
    "person_candidates": "本人の照合", "cancel": "取消し", "confirm": "確認", "refuse": "お断り", "match": "本人の照合",
    "disclosure_export": "開示請求への回答（書き出し）", "handout": "配布資料の作成",
}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def render_html(data: dict[str, Any]) -> str:
    """``index.html``: the same data for a reader, rendered by the app's Jinja environment
    (autoescaping ``.html``: a record's text can never become markup)."""
    template = current_app.jinja_env.get_template(TEMPLATE)
    return template.render(
        export=data["export"], person_name=_person_title(data["person"]),
        exported_on=wareki(datetime.fromisoformat(data["export"]["exported_at"])),
        sections=[{"heading": heading, "entries": _entries(key, data)} for key, heading in SECTION_HEADINGS],
        access_log=[_log_line(e) for e in data["access_log"]])


def _entries(section: str, data: dict[str, Any]) -> list[dict]:
    rows = [data["person"]] if section == "person" else data[section]
    refs = {"centers": data["centers"], "staff": data["staff"]}
    return [{"title": _title(section, row, refs), "fields": _fields(section, row, refs)} for row in rows]


def _fields(context: str, row: dict[str, Any], refs: dict) -> list[dict[str, Any]]:
    """``{"label", "value"}`` pairs of one row, empty values left out; ``context`` (the section
    or the list a row sits in) picks the labels of coded values."""
    out = []
    for key, value in row.items():
        if key == "file":
            out.append({"label": FIELD_LABELS["file"], "value": _file_link(value)})
            continue
        if key in HIDDEN_IN_HTML or value in (None, "", [], {}):
            continue
        shown = _shown(context, key, value, refs)
        if shown is not None:
            out.append({"label": FIELD_LABELS.get(key, key), "value": shown})
    return out


def _file_link(path: str | None) -> dict[str, str] | str:
    return {"link": path} if path else "（ファイルを読み出せなかったため、含まれていません）"


def _shown(context: str, key: str, value: Any, refs: dict) -> Any:
    """A value for a reader: codes by their Japanese label, dates in the Japanese era, centers and
    staff by name (None: an account of another center, left out); a dict as ``{"fields": [...]}``
    and a list as ``{"items": [...]}`` (nested rows and JSON columns keep their own labels)."""
    if key in CENTER_FIELDS and value in refs["centers"]:
        return refs["centers"][value]["name"]
    if is_staff_field(key):
        return refs["staff"].get(value)
    if isinstance(value, dict):
        return {"fields": _fields(key, value, refs)}
    if isinstance(value, list):
        return {"items": [_shown(key, key, v, refs) for v in value]}
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    labels = VALUE_LABELS.get(f"{context}.{key}") or VALUE_LABELS.get(key) or {}
    if isinstance(value, str) and value in labels:
        return labels[value]
    return _date_text(value) if isinstance(value, str) else str(value)


def _date_text(value: str) -> str:
    try:
        if _ISO_DATE.match(value):
            return wareki(date.fromisoformat(value))
        if _ISO_DATETIME.match(value):
            return jst_datetime(datetime.fromisoformat(value))
    except ValueError:
        pass
    return value


def _person_title(person: dict[str, Any]) -> str:
    return " ".join(p for p in (person.get("family_name"), person.get("given_name")) if p) or person["id"]


def _title(section: str, row: dict[str, Any], refs: dict) -> str:
    """A heading for one entry, from the fields a reader recognises it by."""
    def label(key: str) -> str:
        return str(_shown(section, key, row.get(key), refs)) if row.get(key) else ""

    titles = {
        "person": lambda: _person_title(row),
        "cases": lambda: f"{row['case_number']} {label('case_type')}",
        "records": lambda: f"{label('recorded_on')} {label('kind')}",
        "plans": lambda: row["title"],
        "documents": lambda: f"{row['filename']}（{label('kind')}）",
        "committee_agenda_items": lambda: f"{_date_text(row['meeting']['held_on'] or '')}の検討委員会",
        "transfers": lambda: f"{label('counterpart_center_id')}との広域調整（{label('side')}）",
        "transfer_pulls": lambda: f"{label('counterpart_center_id')}との開始依頼（{label('side')}）",
        "provision_records": lambda: f"{label('provided_on')} {label('recipient_center_id')}への提供",
    }
    return titles[section]().strip()


def _log_line(entry: dict[str, Any]) -> dict[str, str]:
    """One line of the access log for a reader: when, what (in Japanese where known), by whom."""
    *objects, verb = entry["action"].split(".")
    object_type = objects[-1] if objects else ""
    what = f"{OBJECT_TYPE_LABELS.get(object_type, '')}の{ACTION_VERBS[verb]}" if verb in ACTION_VERBS else ""
    return {"when": _date_text(entry["occurred_at"]), "action": entry["action"], "what": what.lstrip("の"),
            "object": f"{OBJECT_TYPE_LABELS.get(entry['object_type'] or '', entry['object_type'] or '')}",
            "object_id": entry["object_id"] or "",
            "role": ROLE_LABELS.get(entry["actor_role"], entry["actor_role"] or "") if entry["actor_role"] else "",
            "name": entry["actor_name"] or ""}
