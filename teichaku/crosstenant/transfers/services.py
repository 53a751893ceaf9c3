"""Transfers between centers (広域調整): the only way to request, approve, withdraw, accept,
decline, complete, reassign and discuss a transfer, and the association's view of them.

A transfer keeps one row per side (``models.Transfer``).  A center's own row is loaded with the
access helper (``get_transfer``: another center's row answers like a missing one); the
counterpart's row is touched only inside ``tenancy.cross_tenant("transfers.<verb>")`` (audited).
Every state change first locks both rows with ``SELECT ... FOR UPDATE`` in a fixed order (the
sending row, then the receiving row), re-reads them and asks ``lifecycle.next_status``, so a
withdrawal and an acceptance arriving together leave exactly one outcome (the other gets
``InvalidState``).  Notifications are written to the outbox in the same transaction
(``notifications.services.emit``).  Everything is audited in the acting center's chain (the
platform chain for the association and jobs), except what changes the other center's own records
(a shared update's progress note, the erasure of its copy of the identity: ``erase_identity``): that runs as that
center (``as_center``) and is audited in its chain, which is opened before any row is locked
(``open_chain``: the lock order).  Files of the thread are kept per side by ``attachments``.
Nothing here commits: the view or job does.

Raises ``ValidationFailed`` (422), ``InvalidState`` (409), ``NotYourSide`` (403) and
``werkzeug.exceptions.NotFound`` (a transfer, case or package item that is not the caller's).
"""
from __future__ import annotations

import io
import statistics
import uuid
from datetime import date, datetime
from typing import Sequence

from flask import current_app
from sqlalchemy import and_, select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.csv_export import csv_bytes
from ...platform.centers import Center
from ...platform.errors import InvalidState, ValidationFailed
from ...platform.extensions import db
from ...platform import storage
from ...platform.i18n import fiscal_year_label, jst_date, today_jst
from ...platform.models import utcnow
from ...platform.pagination import keyset_page
from ...platform.tenancy import cross_tenant, get_owned
from ...tenants.cases.lifecycle import FINAL_STATUSES as CASE_FINAL_STATUSES
from ...tenants.cases.models import Case
from ...tenants.persons.models import Person
from ...tenants.persons.names import normalize as normalize_name
from ...tenants.records.models import CaseDocument, CaseRecord, CoordinationPlan, PlanRevision
from ..aggregates import rules as count_rules
from . import attachments as thread_files
from . import lifecycle as lc
from . import pulls
from .models import ProvisionRecord, Transfer, TransferMessage, TransferMessageAttachment
from .sides import (DUPLICATE_MESSAGE, NotYourSide, actor_id, as_center, center_of, check_receiver, clean_consent,
                    erase_identity, flush_refusing_duplicates, open_chain, own_case, own_center, years_later)

RECORD_LABELS = {"assessment": "フェイスシート・アセスメント", "interview": "面談記録", "progress": "支援経過"}
DOCUMENT_LABELS = {"request_letter": "特別調整協力等依頼書", "assessment": "アセスメント", "plan": "調整計画", "other": "その他"}


# --- small helpers -------------------------------------------------------------------------------

def answer_days() -> int:
    return int(current_app.config.get("TRANSFER_ANSWER_DAYS", lc.ANSWER_DAYS))


def release_warning_days() -> int:
    return int(current_app.config.get("TRANSFER_RELEASE_WARNING_DAYS", lc.RELEASE_WARNING_DAYS))


def _actor_name(actor) -> str:
    """How a message's author is shown to both centers: the display name, never the e-mail."""
    name = (getattr(actor, "display_name", "") or "").strip()
    return name[:100] if name else "職員"


def _check_side(row: Transfer, action: str) -> None:
    side = lc.ACTOR_SIDE[action]
    if row.side != side:
        raise NotYourSide("この操作は相手側のセンターが行うものです。" if side == "receiving"
                          else "この操作は依頼したセンターが行うものです。")


def _audit(action: str, row: Transfer, *, person_id=None, details: dict | None = None) -> None:
    audit(action, object_type="transfer", object_id=row.id, person_id=person_id,
          details={"side": row.side, "status": row.status, **(details or {})})


def _notify(kind: str, *, to_center_id=None, to_association: bool = False, transfer_id=None) -> None:
    """An outbox row in this transaction (the notifications module delivers it after the commit).

    ``transfer_id`` is always the recipient's own handle: its own row's id for a center, the
    sending row's id for the association."""
    from ..notifications.services import emit

    emit(kind, to_center_id=to_center_id, to_association=to_association, transfer_id=transfer_id)


# --- loading -----------------------------------------------------------------------------------

def get_transfer(transfer_id) -> Transfer | None:
    """The current center's own row (either side); None for another center's or a missing one."""
    return get_owned(Transfer, transfer_id)


def get_transfer_or_404(transfer_id) -> Transfer:
    row = get_transfer(transfer_id)
    if row is None:
        raise NotFound()
    return row


def read_transfer(transfer_id) -> Transfer:
    """The current center's row, and the audited read of it (it shows a person's data)."""
    row = get_transfer_or_404(transfer_id)
    case = own_case(row)
    _audit("transfer.read", row, person_id=case.person_id if case else None)
    return row


def _lock_group(group_id) -> tuple[Transfer, Transfer | None]:
    """Lock the sending row, then the group's receiving rows (always in this order), re-read.

    Returns the sending row and the current receiving row (the one not reassigned; None while
    the request awaits approval).  Must run inside ``cross_tenant``.
    """
    sending = db.session.execute(
        select(Transfer).where(Transfer.group_id == group_id, Transfer.side == "sending")
        .with_for_update().execution_options(populate_existing=True)).scalar_one()
    receiving = list(db.session.scalars(
        select(Transfer).where(Transfer.group_id == group_id, Transfer.side == "receiving")
        .order_by(Transfer.created_at, Transfer.id).with_for_update().execution_options(populate_existing=True)))
    return sending, next((r for r in receiving if r.status != "reassigned"), None)


def _receiving_rows(group_id) -> list[Transfer]:
    """Every receiving row of a group, oldest first (inside ``cross_tenant``)."""
    return list(db.session.scalars(select(Transfer).where(Transfer.group_id == group_id, Transfer.side == "receiving")
                                   .order_by(Transfer.created_at, Transfer.id)))


def _current_receiving(group_id) -> Transfer | None:
    return next((r for r in _receiving_rows(group_id) if r.status != "reassigned"), None)


def counterpart(row: Transfer) -> Transfer | None:
    """The other side's current row (read inside the audited cross-tenant scope)."""
    with cross_tenant("transfers.counterpart"):
        if row.side == "sending":
            return _current_receiving(row.group_id)
        return db.session.execute(select(Transfer).where(Transfer.group_id == row.group_id,
                                                         Transfer.side == "sending")).scalar_one_or_none()


# --- the package: what a request may carry --------------------------------------------------------

def package_choices(case: Case) -> list[dict]:
    """Items of a case that a request may carry, with their labels (nothing is chosen by default).

    Face sheets (assessments), interview records and progress notes, each plan at its latest
    revision, documents.
    """
    choices = []
    records = db.session.scalars(select(CaseRecord).where(CaseRecord.case_id == case.id)
                                 .order_by(CaseRecord.recorded_on, CaseRecord.created_at))
    for rec in records:
        kind = "face_sheet" if rec.kind == "assessment" else "record"
        choices.append({"kind": kind, "id": str(rec.id),
                        "label": f"{RECORD_LABELS[rec.kind]}（{rec.recorded_on.isoformat()}）"})
    for plan in db.session.scalars(select(CoordinationPlan).where(CoordinationPlan.case_id == case.id)
                                   .order_by(CoordinationPlan.created_at)):
        choices.append({"kind": "plan", "id": str(plan.id), "revision": plan.latest_revision,
                        "label": f"{plan.title}（第{plan.latest_revision}版）"})
    for doc in db.session.scalars(select(CaseDocument).where(CaseDocument.case_id == case.id)
                                  .order_by(CaseDocument.created_at)):
        choices.append({"kind": "document", "id": str(doc.id),
                        "label": f"{DOCUMENT_LABELS.get(doc.kind, doc.kind)}: {doc.filename}"})
    order = list(lc.PACKAGE_KINDS)
    return sorted(choices, key=lambda c: order.index(c["kind"]))


def _resolve_package(case: Case, package: list[dict] | None) -> list[dict]:
    """The chosen items, each checked to belong to this case (another center's or a missing item
    answers 404, like any other id)."""
    if not package:
        return []
    available = {(c["kind"], c["id"]): c for c in package_choices(case)}
    chosen, seen = [], set()
    for item in package:
        kind = item.get("kind")
        if kind not in lc.PACKAGE_KINDS:
            raise ValidationFailed("資料の種類が正しくありません。", fields={"package.kind": ["選択肢にない値です。"]})
        key = (kind, str(item.get("id")))
        if key not in available:
            raise NotFound()
        if key not in seen:
            seen.add(key)
            chosen.append(available[key])
    return chosen


def _read_package(sending: Transfer) -> list[dict]:
    """The chosen items' content from the sending center (inside ``cross_tenant``), as plain data."""
    items = []
    center_id, case_id = sending.center_id, sending.case_id
    for item in sending.package or []:
        kind, ident = item["kind"], uuid.UUID(item["id"])
        if kind in ("face_sheet", "record"):
            rec = db.session.execute(select(CaseRecord).where(
                CaseRecord.center_id == center_id, CaseRecord.case_id == case_id, CaseRecord.id == ident)).scalar_one_or_none()
            if rec is None:
                items.append({**item, "missing": True})
                continue
            data = {"kind": rec.kind, "recorded_on": rec.recorded_on}
            if rec.kind == "assessment":
                data["sections"] = dict(rec.sections or {})
            else:
                data["content"] = rec.content or ""
                if rec.kind == "interview":
                    data["place"], data["participants"] = rec.place, rec.participants
            items.append({**item, "record": data})
        elif kind == "plan":
            plan = db.session.execute(select(CoordinationPlan).where(
                CoordinationPlan.center_id == center_id, CoordinationPlan.case_id == case_id,
                CoordinationPlan.id == ident)).scalar_one_or_none()
            rev = None
            if plan is not None:
                rev = db.session.execute(select(PlanRevision).where(
                    PlanRevision.center_id == center_id, PlanRevision.plan_id == plan.id,
                    PlanRevision.revision == item.get("revision", plan.latest_revision))).scalar_one_or_none()
            if rev is None:
                items.append({**item, "missing": True})
                continue
            items.append({**item, "plan": {"title": plan.title, "revision": rev.revision, "content": dict(rev.content)}})
        elif kind == "document":
            doc = db.session.execute(select(CaseDocument).where(
                CaseDocument.center_id == center_id, CaseDocument.case_id == case_id, CaseDocument.id == ident)).scalar_one_or_none()
            data = storage.open_verified(doc.center_id, doc.id, doc.size_bytes, doc.sha256) if doc else None
            if data is None:
                items.append({**item, "missing": True})
                continue
            items.append({**item, "document": {"filename": doc.filename, "kind": doc.kind, "bytes": data}})
    return items


def _copy_package(case: Case, items: list[dict], from_center: Center, sent_on: date) -> list[dict]:
    """Copy the items into the receiving center's case (current tenant scope), each noted with
    where it came from; returns the receiving row's package (labels and the copies' ids)."""
    from ...tenants.records import services as records

    out, lines = [], []
    for item in items:
        entry = {"kind": item["kind"], "label": item["label"]}
        if item.get("missing"):
            entry["missing"] = True
            lines.append(f"・{item['label']}（送付元で見つからなかったため受領できませんでした）")
        elif "record" in item:
            rec = records.create_record(case, item["record"])
            entry["copied_id"] = str(rec.id)
            lines.append(f"・{item['label']}")
        elif "plan" in item:
            plan = item["plan"]
            title = f"{plan['title']}（{from_center.name} 第{plan['revision']}版の写し）"[:200]
            copy, _rev = records.create_plan(case, {"title": title, "content": plan["content"]})
            entry["copied_id"] = str(copy.id)
            lines.append(f"・{item['label']}")
        elif "document" in item:
            doc = item["document"]
            copy = records.upload_document(case, stream=io.BytesIO(doc["bytes"]), filename=doc["filename"],
                                           kind=doc["kind"], note=f"広域調整で{from_center.name}から受領"[:500])
            entry["copied_id"] = str(copy.id)
            lines.append(f"・{item['label']}")
        out.append(entry)
    note = [f"広域調整により{from_center.name}からの依頼（{sent_on.isoformat()}）を受け入れました。",
            "受領した資料: " + ("" if lines else "なし（本人確認のための最小限の情報のみ）"), *lines]
    records.create_record(case, {"kind": "progress", "recorded_on": today_jst(), "content": "\n".join(note)})
    return out


# --- requesting -----------------------------------------------------------------------------------


def _refuse_duplicate(center_id, case_id, to_center_id, *, except_id=None) -> None:
    stmt = select(Transfer.id).where(Transfer.center_id == center_id, Transfer.case_id == case_id,
                                     Transfer.side == "sending", Transfer.counterpart_center_id == to_center_id,
                                     Transfer.status.in_(lc.OPEN_STATUSES))
    if except_id is not None:
        stmt = stmt.where(Transfer.id != except_id)
    if db.session.scalar(stmt.limit(1)) is not None:
        raise InvalidState(DUPLICATE_MESSAGE)


def request_transfer(case: Case, to_center: Center | None, consent: dict, message: str, package: list[dict] | None,
                     actor, *, pull_id=None) -> Transfer:
    """Ask another center to take the person on (広域調整の依頼).

    The request is sent at once (``requested``), or waits for the center head's approval
    (``awaiting_approval``) where the center requires it.  Only the chosen package items travel
    with the minimum identity; the provision is recorded when the request is actually sent.
    With ``pull_id`` the request answers the receiving center's pull request (開始依頼): the pull
    is locked first and must still be open, and becomes ``confirmed`` with the request
    (``pulls.confirm_pull``); a pull that is not the caller's answers 404.
    """
    own = own_center()
    check_receiver(to_center, sending_center_id=own.id)
    pull = pulls.lock_for_confirmation(pull_id, to_center) if pull_id is not None else None
    if case.status in CASE_FINAL_STATUSES:
        raise InvalidState("終結したケースについては広域調整を依頼できません。")
    consent_fields = clean_consent(consent or {})
    message = (message or "").strip()
    if not message:
        raise ValidationFailed("依頼の内容を入力してください。", fields={"message": ["必須項目です。"]})
    items = _resolve_package(case, package)
    _refuse_duplicate(own.id, case.id, to_center.id)
    status = "awaiting_approval" if own.requires_transfer_approval else "requested"
    row = Transfer(side="sending", group_id=uuid.uuid4(), counterpart_center_id=to_center.id, case_id=case.id,
                   status=status, message=message, package=items, release_date=case.release_date,
                   requested_at=utcnow(), requested_by_id=actor_id(actor), reassign_count=0, reminder_count=0,
                   **consent_fields)
    db.session.add(row)
    flush_refusing_duplicates()
    _audit("transfer.request", row, person_id=case.person_id,
           details={"to_center": to_center.code, "package": [i["kind"] for i in items],
                    "consent_method": consent_fields["consent_method"]})
    if status == "requested":
        _send(row, case, actor, basis="consent")
    else:
        _notify("transfer_approval_needed", to_center_id=own.id, transfer_id=row.id)
    if pull is not None:
        pulls.confirm_pull(pull, row, actor)
    return row


def _send(sending: Transfer, case: Case, actor, *, basis: str) -> Transfer:
    """Hand the request to the receiving center: its row (with the minimum identity), the APPI
    provision record in the sending center, and the notification.  Runs for a new request, an
    approval and the association's reassignment."""
    person = case.person
    snapshot = {field: getattr(person, field) for field in lc.IDENTITY_FIELDS}
    snapshot["birth_date"] = person.birth_date.isoformat()
    snapshot["support_needs"] = list(person.support_needs or [])
    now = utcnow()
    with cross_tenant("transfers.send"):
        sending.sent_at = now
        sending.release_date = case.release_date
        receiving = Transfer(
            center_id=sending.counterpart_center_id, side="receiving", group_id=sending.group_id,
            counterpart_center_id=sending.center_id, case_id=None, status="requested",
            consent_obtained_on=sending.consent_obtained_on, consent_method=sending.consent_method,
            consent_witness=sending.consent_witness, consent_scope=sending.consent_scope,
            message=sending.message, package=[{"kind": i["kind"], "label": i["label"]} for i in sending.package or []],
            person_snapshot=snapshot, release_date=case.release_date,
            requested_at=sending.requested_at, requested_by_id=sending.requested_by_id,
            approved_at=sending.approved_at, approved_by_id=sending.approved_by_id, sent_at=now,
            reassign_count=sending.reassign_count, reminder_count=0,
        )
        db.session.add(receiving)
        provision = record_provision(
            sending, case, receiving.center_id,
            [{"kind": "identity", "label": lc.IDENTITY_LABEL},
             *({"kind": i["kind"], "label": i["label"]} for i in sending.package or [])], basis, actor)
        _notify("transfer_requested", to_center_id=receiving.center_id, transfer_id=receiving.id)
    audit("transfer.provide", object_type="provision_record", object_id=provision.id, person_id=case.person_id,
          details={"transfer_id": str(sending.id), "recipient_center_id": str(receiving.center_id), "basis": basis,
                   "items": [i["kind"] for i in provision.items]})
    return receiving


def approve_transfer(row: Transfer, actor) -> Transfer:
    """The center head approves a request waiting for approval: it is sent now."""
    _check_side(row, "approve")
    with cross_tenant("transfers.approve"):
        sending, _receiving = _lock_group(row.group_id)
        sending.status = lc.next_status("approve", "sending", sending.status)
        sending.approved_at, sending.approved_by_id = utcnow(), actor_id(actor)
        case = db.session.execute(select(Case).where(Case.center_id == sending.center_id,
                                                     Case.id == sending.case_id)).scalar_one()
        db.session.flush()
        _send(sending, case, actor, basis="consent")
    _audit("transfer.approve", sending, person_id=case.person_id)
    return sending


def withdraw_transfer(row: Transfer, actor) -> Transfer:
    """The requesting center withdraws a request not yet answered."""
    _check_side(row, "withdraw")
    with cross_tenant("transfers.withdraw"):
        if row.sent_at is not None:  # the receiving center has its row: its status and identity change
            open_chain(row.counterpart_center_id, "transfers.withdraw")
        sending, receiving = _lock_group(row.group_id)
        to_status = lc.next_status("withdraw", "sending", sending.status)
        if receiving is not None:
            lc.next_status("withdraw", "receiving", receiving.status)
        now = utcnow()
        for side_row in (sending, receiving):
            if side_row is not None:
                side_row.status, side_row.withdrawn_at, side_row.withdrawn_by_id = to_status, now, actor_id(actor)
        db.session.flush()
        if receiving is not None:
            erase_identity(receiving, "withdrawn")
            _notify("transfer_withdrawn", to_center_id=receiving.center_id, transfer_id=receiving.id)
    case = own_case(sending)
    _audit("transfer.withdraw", sending, person_id=case.person_id if case else None)
    return sending


def _same_identity(person: Person, snapshot: dict) -> bool:
    """The received identity names this person: the same birth date, and the same full name or
    the same kana (compared normalised: hiragana, katakana, half-width and spaces alike)."""
    if person.birth_date.isoformat() != snapshot.get("birth_date"):
        return False
    name = normalize_name(f"{snapshot.get('family_name', '')}{snapshot.get('given_name', '')}")
    kana = normalize_name(f"{snapshot.get('family_name_kana', '')}{snapshot.get('given_name_kana', '')}")
    return (bool(name) and name == normalize_name(person.family_name + person.given_name)) or \
        (bool(kana) and kana == normalize_name(person.family_name_kana + person.given_name_kana))


def person_candidates(row: Transfer) -> list[Person]:
    """People of the receiving center's own records who may be the person received (既存の対象者
    の候補), so that an acceptance links to them instead of registering the person twice.

    Only the receiving side of a request still open has an identity to compare.  Showing them
    reads the center's people, so the read is audited (with their ids) when any is found."""
    snapshot = row.person_snapshot
    if row.side != "receiving" or not snapshot or not snapshot.get("birth_date"):
        return []
    born = date.fromisoformat(snapshot["birth_date"])
    people = db.session.scalars(select(Person).where(Person.center_id == row.center_id, Person.birth_date == born)
                                .order_by(Person.family_name_kana, Person.given_name_kana, Person.id).limit(200))
    found = [p for p in people if _same_identity(p, snapshot)]
    if found:
        _audit("transfer.person_candidates", row, details={"person_ids": [str(p.id) for p in found]})
    return found


def _chosen_person(row: Transfer, person_id: uuid.UUID | str | None) -> Person | None:
    """The existing person an acceptance links to (None: register a new one).  Another center's
    person or a missing one answers 404; one of this center whose identity differs from the one
    received is refused (422 ``person_id``), so two people are never merged by mistake."""
    if person_id is None:
        return None
    person = get_owned(Person, person_id)
    if person is None:
        raise NotFound()
    if not _same_identity(person, row.person_snapshot or {}):
        message = "受け取った本人情報（生年月日と氏名またはふりがな）と一致しない対象者です。"
        raise ValidationFailed(message, fields={"person_id": [message]})
    return person


def accept_transfer(row: Transfer, actor, person_id: uuid.UUID | str | None = None) -> Transfer:
    """The receiving center takes the person on: its coordination case is made for an existing
    person of its own records (``person_id``, one of ``person_candidates``) or for a new person
    made from the identity received (the default); the chosen package items are copied into that
    case (noted with where they came from), and the receiving row is linked to it.  The sending
    center keeps its own record."""
    from ...tenants.cases.services import create_case

    _check_side(row, "accept")
    with cross_tenant("transfers.accept"):
        sending, receiving = _lock_group(row.group_id)
        if receiving is None or receiving.id != row.id:
            raise InvalidState("この依頼は他のセンターに振り替えられたため、受け入れられません。")
        lc.next_status("accept", "receiving", receiving.status)
        lc.next_status("accept", "sending", sending.status)
        items = _read_package(sending)
    existing = _chosen_person(row, person_id)
    from_center = center_of(row.counterpart_center_id)
    own = own_center()
    snapshot = row.person_snapshot or {}
    sent_on = jst_date(row.sent_at) or today_jst()
    requested_on = min(sent_on, row.release_date) if row.release_date else sent_on
    case = create_case({
        "case_type": "coordination", **_person_for_case(snapshot, existing), "release_date": row.release_date,
        "requested_on": requested_on, "destination_prefecture_code": own.prefecture_code,
        "request_source": f"広域調整（{from_center.name}）"[:100],
    }, created_by=actor)
    copies = _copy_package(case, items, from_center, sent_on)
    with cross_tenant("transfers.accept"):
        now = utcnow()
        for side_row in (sending, receiving):
            side_row.status = lc.next_status("accept", side_row.side, side_row.status)
            side_row.accepted_at, side_row.accepted_by_id = now, actor_id(actor)
        receiving.case_id = case.id
        receiving.package = copies
        db.session.flush()
        _notify("transfer_accepted", to_center_id=sending.center_id, transfer_id=sending.id)
    _audit("transfer.accept", receiving, person_id=case.person_id,
           details={"receiving_case_id": str(case.id), "copied": [c["kind"] for c in copies if c.get("copied_id")],
                    "existing_person": existing is not None})
    return receiving


def _person_for_case(snapshot: dict, existing: Person | None) -> dict:
    """``create_case``'s person: the existing one chosen, or a new one from the identity received."""
    if existing is not None:
        return {"person_id": existing.id}
    person = {field: snapshot.get(field) for field in lc.IDENTITY_FIELDS}
    person["birth_date"] = date.fromisoformat(snapshot["birth_date"])
    return {"person": person}


def decline_transfer(row: Transfer, reason: str, comment: str | None, actor) -> Transfer:
    """The receiving center declines, with a reason code (and a comment) the requester sees."""
    _check_side(row, "decline")
    if reason not in lc.DECLINE_REASONS:
        raise ValidationFailed("お断りの理由が正しくありません。", fields={"reason": ["選択肢にない値です。"]})
    comment = (comment or "").strip() or None
    with cross_tenant("transfers.decline"):
        sending, receiving = _lock_group(row.group_id)
        if receiving is None or receiving.id != row.id:
            raise InvalidState("この依頼は他のセンターに振り替えられました。")
        lc.next_status("decline", "sending", sending.status)
        now = utcnow()
        for side_row in (sending, receiving):
            side_row.status = lc.next_status("decline", side_row.side, side_row.status)
            side_row.decline_reason, side_row.decline_comment = reason, comment
            side_row.declined_at, side_row.declined_by_id = now, actor_id(actor)
        db.session.flush()
        erase_identity(receiving, "declined")
        _notify("transfer_declined", to_center_id=sending.center_id, transfer_id=sending.id)
    _audit("transfer.decline", receiving, details={"reason": reason})
    return receiving


def complete_transfer(row: Transfer, actor) -> Transfer:
    """The receiving center closes its side once the coordination is done."""
    _check_side(row, "complete")
    with cross_tenant("transfers.complete"):
        sending, receiving = _lock_group(row.group_id)
        if receiving is None or receiving.id != row.id:
            raise InvalidState("この依頼は他のセンターに振り替えられました。")
        lc.next_status("complete", "sending", sending.status)
        now = utcnow()
        for side_row in (sending, receiving):
            side_row.status = lc.next_status("complete", side_row.side, side_row.status)
            side_row.completed_at, side_row.completed_by_id = now, actor_id(actor)
        db.session.flush()
        _notify("transfer_completed", to_center_id=sending.center_id, transfer_id=sending.id)
    case = own_case(receiving)
    _audit("transfer.complete", receiving, person_id=case.person_id if case else None)
    return receiving


# --- the thread ----------------------------------------------------------------------------------

def check_thread_open(row: Transfer, *, with_files: bool = False) -> None:
    """Refuse (``InvalidState``, 409) a message or file on a thread that is closed: the request
    awaits the head's approval (the other center has nothing yet), or it ended without the
    receiving center taking the person on (``lifecycle.NOT_TAKEN_ON_STATUSES``: that center's
    copy of the identity is erased, so nothing more about the person may reach it).  Files also
    need a case of the sender's own (``files_allowed``)."""
    reason = lc.thread_closed_reason(row.status)
    if reason is not None:
        raise InvalidState(reason, details={"status": row.status})
    if with_files and not files_allowed(row):
        raise InvalidState(lc.FILES_NEED_OWN_CASE, details={"status": row.status, "side": row.side})


def files_allowed(row: Transfer) -> bool:
    """Whether this side may attach files: a file sent is a provision recorded with the sender's
    own case and person, which a receiving center has only once it accepted."""
    return row.case_id is not None


def post_message(row: Transfer, body: str, actor, files: Sequence[thread_files.Upload] = ()) -> TransferMessage:
    """A message to the other center, with files attached if any (``files``: streams and the
    names given); each side keeps its own copy of the message and of every file.

    The thread must be open on both sides (``check_thread_open``), checked again with both rows
    locked, so a message racing a decline or a withdrawal either lands before it or is refused.
    Files sent are a provision of the person's data: one provision record per message in the
    author center (``_record_attachment_provision``).  A file refused by the size or type checks
    is a 422 (``files``) and nothing is written: no message, no row, no file on disk."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("メッセージを入力してください。", fields={"body": ["必須項目です。"]})
    files = list(files or ())
    thread_files.check_count(files)
    check_thread_open(row, with_files=bool(files))
    with cross_tenant("transfers.message"):
        _lock_group(row.group_id)  # both sides locked and re-read (``row`` too: populate_existing)
        other = _thread_counterpart(row)
        check_thread_open(row, with_files=bool(files))
        check_thread_open(other)
        staged = thread_files.stage_copies(files, (row.center_id, other.center_id))
        try:
            copies = _write_message(row, other, body, actor)
        except BaseException:
            thread_files.discard(staged)
            raise
        stored = thread_files.store(staged, copies, actor_id(actor))
        _notify("transfer_message", to_center_id=other.center_id, transfer_id=other.id)
    _audit("transfer.message", row, details={"length": len(body), "attachments": len(files)})
    _audit_uploads(row, stored)
    if stored:
        _record_attachment_provision(row, other.center_id, [a for a in stored if a.center_id == row.center_id], actor)
    return copies[row.center_id]


def _record_attachment_provision(row: Transfer, recipient_center_id, own_copies: list[TransferMessageAttachment],
                                 actor) -> ProvisionRecord:
    """第三者提供記録 of the files of one message sent to the other center (APPI), like the
    request's own provision (``_send``): what (each file), to whom, when, on which basis (the
    person's consent recorded with the request), in the author center with its own case."""
    case = own_case(row)
    basis = "consent_reassigned" if row.side == "sending" and row.reassign_count else "consent"
    items = [{"kind": "attachment", "label": f"{lc.ATTACHMENT_ITEM_LABEL}: {a.filename}"} for a in own_copies]
    provision = record_provision(row, case, recipient_center_id, items, basis, actor)
    audit("transfer.provide", object_type="provision_record", object_id=provision.id, person_id=case.person_id,
          details={"transfer_id": str(row.id), "recipient_center_id": str(recipient_center_id), "basis": basis,
                   "items": [i["kind"] for i in items], "attachment_ids": [str(a.id) for a in own_copies]})
    return provision


def record_provision(row: Transfer, case: Case, recipient_center_id, items: list[dict], basis: str,
                     actor) -> ProvisionRecord:
    """One provision record in ``row``'s center (the provider's): the items provided, the
    recipient, today, the consent recorded with the transfer and the basis; kept
    ``PROVISION_RETENTION_YEARS`` years.  Flushed."""
    provided_on = today_jst()
    provision = ProvisionRecord(
        center_id=row.center_id, provided_on=provided_on, recipient_center_id=recipient_center_id,
        person_id=case.person_id, case_id=case.id, transfer_id=row.id, items=items,
        consent_obtained_on=row.consent_obtained_on, consent_method=row.consent_method,
        consent_witness=row.consent_witness, consent_scope=row.consent_scope, basis=basis,
        recorded_by_id=actor_id(actor), retain_until=years_later(provided_on, lc.PROVISION_RETENTION_YEARS))
    db.session.add(provision)
    db.session.flush()
    return provision


def _thread_counterpart(row: Transfer) -> Transfer:
    """The other side's current row, which gets the other copy of a message (inside ``cross_tenant``)."""
    if row.side == "sending":
        other = _current_receiving(row.group_id)
    else:
        other = db.session.execute(select(Transfer).where(Transfer.group_id == row.group_id,
                                                          Transfer.side == "sending")).scalar_one()
    if other is None:
        raise InvalidState("相手のセンターがまだ決まっていません。")
    return other


def _write_message(row: Transfer, other: Transfer, body: str, actor, *, kind: str = "message") -> dict:
    """One copy of a message on each side (joined by ``pair_id``), by center id; flushed."""
    pair_id, now, copies = uuid.uuid4(), utcnow(), {}
    for target in (row, other):
        message = TransferMessage(center_id=target.center_id, transfer_id=target.id, group_id=row.group_id,
                                  pair_id=pair_id, author_center_id=row.center_id, author_id=actor_id(actor),
                                  author_name=_actor_name(actor), body=body, kind=kind, created_at=now)
        db.session.add(message)
        copies[target.center_id] = message
    db.session.flush()
    return copies


def _audit_uploads(row: Transfer, stored: list[TransferMessageAttachment]) -> None:
    """One ``transfer.attachment_upload`` entry per file, in the author's chain, naming both copies."""
    own = [a for a in stored if a.center_id == row.center_id]
    if not own:
        return
    case = own_case(row)
    other_copy = {a.pair_id: a.id for a in stored if a.center_id != row.center_id}
    for attachment in own:
        audit("transfer.attachment_upload", object_type="transfer_message_attachment", object_id=attachment.id,
              person_id=case.person_id if case else None,
              details={"transfer_id": str(row.id), "message_id": str(attachment.message_id),
                       "filename": attachment.filename, "size_bytes": attachment.size_bytes,
                       "sha256": attachment.sha256, "counterpart_copy_id": str(other_copy.get(attachment.pair_id))})


def download_attachment(row: Transfer, attachment_id: uuid.UUID | str) -> tuple[TransferMessageAttachment, bytes]:
    """The current center's own copy of a file of the thread, and its bytes; the download is
    audited.  Another center's copy answers 404 like a missing one."""
    attachment = thread_files.load(row, attachment_id)
    data = thread_files.read_bytes(attachment)
    case = own_case(row)
    audit("transfer.attachment_download", object_type="transfer_message_attachment", object_id=attachment.id,
          person_id=case.person_id if case else None,
          details={"transfer_id": str(row.id), "filename": attachment.filename, "sha256": attachment.sha256})
    return attachment, data


def share_update(row: Transfer, body: str, actor) -> TransferMessage:
    """After acceptance, an update the sending center shares: written on both sides of the thread
    (``kind = 'shared_update'``), copied as a progress note into the receiving center's case
    (noted with where it came from), and the receiving center is notified.

    The note is written by the receiving center's own records service, run as that center
    (``as_center``): its audit chain gets the ``record.create`` entry with its case's person,
    like any change to its person's record."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("共有する内容を入力してください。", fields={"body": ["必須項目です。"]})
    if row.side != "sending":
        raise InvalidState("共有する更新は依頼したセンターが送るものです。", details={"side": row.side})
    if row.status != "accepted":
        raise InvalidState("受入れが決まった依頼にだけ、更新を共有できます。", details={"status": row.status})
    from_center = own_center()
    with cross_tenant("transfers.share_update"):
        open_chain(row.counterpart_center_id, "transfers.share_update")
        sending, receiving = _lock_group(row.group_id)
        if sending.id != row.id or sending.status != "accepted" or receiving is None \
                or receiving.status != "accepted" or receiving.case_id is None:
            raise InvalidState("受入れが決まった依頼にだけ、更新を共有できます。", details={"status": sending.status})
        copies = _write_message(sending, receiving, body, actor, kind="shared_update")
        mine = copies[sending.center_id]
        with as_center(receiving.center_id, "transfers.share_update"):
            _note_in_receiving_case(receiving, f"広域調整により{from_center.name}から共有された更新"
                                               f"（{jst_date(mine.created_at).isoformat()}）:\n{body}")
        _notify("transfer_update_shared", to_center_id=receiving.center_id, transfer_id=receiving.id)
    case = own_case(row)
    _audit("transfer.share_update", row, person_id=case.person_id if case else None,
           details={"length": len(body), "pair_id": str(mine.pair_id)})
    return mine


def _note_in_receiving_case(receiving: Transfer, content: str) -> CaseRecord:
    """A progress note in the receiving center's case, through its records service (run as the
    receiving center: the case is loaded by that center and id, the note audited in its chain)."""
    from ...tenants.records import services as records

    case = db.session.execute(select(Case).where(Case.center_id == receiving.center_id,
                                                 Case.id == receiving.case_id)).scalar_one()
    return records.create_record(case, {"kind": "progress", "recorded_on": today_jst(), "content": content})


def list_messages(row: Transfer, *, limit: int = 50, cursor: str | None = None, oldest_first: bool = False):
    """The current center's copy of the thread (newest first for the API, oldest first for pages)."""
    stmt = select(TransferMessage).where(TransferMessage.transfer_id == row.id)
    if oldest_first:
        rows = list(db.session.scalars(stmt.order_by(TransferMessage.created_at, TransferMessage.id).limit(500)))
        _audit("transfer.messages_read", row)
        return rows, None
    rows, next_cursor = keyset_page(stmt, (TransferMessage.created_at, TransferMessage.id), limit, cursor)
    _audit("transfer.messages_read", row)
    return rows, next_cursor


# --- a center's lists ------------------------------------------------------------------------------

def list_transfers(*, limit: int = 50, cursor: str | None = None, side: str | None = None,
                   status: str | None = None, case_id=None) -> tuple[list[Transfer], str | None]:
    """The current center's own rows (both sides), newest first."""
    stmt = select(Transfer)
    if side:
        stmt = stmt.where(Transfer.side == side)
    if status:
        stmt = stmt.where(Transfer.status == status)
    if case_id:
        stmt = stmt.where(Transfer.case_id == case_id)
    rows, next_cursor = keyset_page(stmt, (Transfer.created_at, Transfer.id), limit, cursor)
    audit("transfer.list", object_type="transfer", details={"side": side, "status": status})
    return rows, next_cursor


def transfers_of_case(case: Case) -> list[Transfer]:
    """A case's transfers in this center (the case page): requests sent for it and the accepted
    request it came from."""
    return list(db.session.scalars(select(Transfer).where(Transfer.case_id == case.id)
                                   .order_by(Transfer.created_at.desc())))


def own_cases(rows) -> dict:
    """The current center's own cases behind its rows (case numbers and names for its pages)."""
    ids = {r.case_id for r in rows if r.case_id}
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids)))}


def _actions_for_caller(row: Transfer) -> list[str]:
    """The side's possible actions that the caller's role may take (approval is the head's)."""
    from flask_login import current_user

    from ...platform.permissions import can

    role = getattr(current_user, "role", None)
    return [a for a in lc.actions_for(row.side, row.status)
            if can(role, "transfer.approve" if a == "approve" else "transfer.write")]


def center_view(row: Transfer) -> dict:
    """A center's own side as the API shows it: ``case_id`` is the own side's case only;
    ``receiving_case_id`` and the person's minimum identity only on the receiving side."""
    own, other = center_of(row.center_id), center_of(row.counterpart_center_id)
    sender, receiver = (own, other) if row.side == "sending" else (other, own)
    view = {
        "id": row.id, "side": row.side, "status": row.status, "version": row.version,
        "from_center": sender.code, "from_center_name": sender.name,
        "to_center": receiver.code, "to_center_name": receiver.name,
        "case_id": row.case_id, "release_date": row.release_date,
        "consent": {"obtained_on": row.consent_obtained_on, "method": row.consent_method,
                    "witness": row.consent_witness, "scope": row.consent_scope},
        "message": row.message, "package": row.package or [],
        "decline_reason": row.decline_reason, "decline_comment": row.decline_comment,
        "created_at": row.created_at, "updated_at": row.updated_at, "requested_at": row.requested_at,
        "approved_at": row.approved_at, "sent_at": row.sent_at, "accepted_at": row.accepted_at,
        "declined_at": row.declined_at, "withdrawn_at": row.withdrawn_at, "completed_at": row.completed_at,
        "reassigned_at": row.reassigned_at, "allowed_actions": _actions_for_caller(row),
    }
    if row.side == "receiving":
        view["receiving_case_id"] = row.case_id
        view["person"] = row.person_snapshot
        view["snapshot_erased_at"] = row.snapshot_erased_at
    return view


# --- the association: reassignment, reminders, metadata and the compliance report -------------------

def _sending_by_id(transfer_id) -> Transfer | None:
    """A sent request's sending row by its id (inside ``cross_tenant``): the association's handle."""
    try:
        ident = transfer_id if isinstance(transfer_id, uuid.UUID) else uuid.UUID(str(transfer_id))
    except (TypeError, ValueError):
        return None
    return db.session.execute(select(Transfer).where(Transfer.id == ident, Transfer.side == "sending",
                                                     Transfer.sent_at.is_not(None))).scalar_one_or_none()


def reassign_transfer(transfer_id, new_center: Center | None, actor) -> Transfer:
    """The association moves an unanswered or declined request to another center: the old
    receiving row is marked ``reassigned``, the sending row is ``requested`` again of the new
    center, which gets its own receiving row (a new provision, recorded in the sending center)."""
    with cross_tenant("transfers.reassign"):
        found = _sending_by_id(transfer_id)
        if found is None:
            raise NotFound()
        open_chain(found.counterpart_center_id, "transfers.reassign")  # its row is reassigned away
        sending, receiving = _lock_group(found.group_id)
        check_receiver(new_center, sending_center_id=sending.center_id)
        if receiving is not None and receiving.center_id == new_center.id:
            raise ValidationFailed("現在の依頼先と同じセンターです。", fields={"to_center": ["別のセンターを指定してください。"]})
        lc.next_status("reassign", "sending", sending.status)
        if receiving is not None:
            lc.next_status("reassign", "receiving", receiving.status)
        _refuse_duplicate(sending.center_id, sending.case_id, new_center.id, except_id=sending.id)
        case = db.session.execute(select(Case).where(Case.center_id == sending.center_id,
                                                     Case.id == sending.case_id)).scalar_one()
        now, old_center_id = utcnow(), sending.counterpart_center_id
        if receiving is not None:
            receiving.status = lc.next_status("reassign", "receiving", receiving.status)
            receiving.reassigned_at, receiving.reassigned_by_id = now, actor_id(actor)
            erase_identity(receiving, "reassigned")
        sending.status = lc.next_status("reassign", "sending", sending.status)
        sending.counterpart_center_id = new_center.id
        sending.decline_reason = sending.decline_comment = sending.declined_at = sending.declined_by_id = None
        sending.reassigned_at, sending.reassigned_by_id = now, actor_id(actor)
        sending.reassign_count = (sending.reassign_count or 0) + 1
        sending.reminded_at, sending.reminder_count, sending.flagged_at = None, 0, None
        flush_refusing_duplicates()
        _send(sending, case, actor, basis="consent_reassigned")
        _notify("transfer_reassigned", to_center_id=sending.center_id, transfer_id=sending.id)
        if receiving is not None:
            _notify("transfer_reassigned", to_center_id=receiving.center_id, transfer_id=receiving.id)
    audit("transfer.reassign", object_type="transfer", object_id=sending.id,
          details={"from_center_id": str(old_center_id), "to_center_id": str(new_center.id)})
    return sending


def remind_transfer(transfer_id, actor) -> Transfer:
    """The association reminds the receiving center of a request still unanswered."""
    with cross_tenant("transfers.remind"):
        found = _sending_by_id(transfer_id)
        if found is None:
            raise NotFound()
        sending, receiving = _lock_group(found.group_id)
        if receiving is None or receiving.status != "requested":
            raise InvalidState("回答待ちの依頼ではないため、催促できません。", details={"status": sending.status})
        _remind(receiving)
        db.session.flush()
    audit("transfer.remind", object_type="transfer", object_id=sending.id, details={"reminder_count": receiving.reminder_count})
    return sending


def _remind(receiving: Transfer) -> None:
    receiving.reminded_at = utcnow()
    receiving.reminder_count = (receiving.reminder_count or 0) + 1
    _notify("transfer_reminder", to_center_id=receiving.center_id, transfer_id=receiving.id)


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
                sending_id = db.session.scalar(select(Transfer.id).where(Transfer.group_id == receiving.group_id,
                                                                         Transfer.side == "sending"))
                _notify("transfer_overdue", to_association=True, transfer_id=sending_id)
        db.session.flush()
    audit("transfer.reminders", object_type="transfer", details={"sent": sent, "on": today.isoformat()})
    return sent


def _metadata(sending: Transfer, receiving_rows: list[Transfer], today: date) -> dict:
    """What the association may see of a transfer: centers, status, dates, deadlines; never the
    person's name, kana or birth date, the message, the package or the sending side's case."""
    current = next((r for r in receiving_rows if r.status != "reassigned"), None)
    sent_on = jst_date(current.sent_at if current else sending.sent_at)
    answered = jst_date(sending.accepted_at or sending.declined_at)
    end = answered or jst_date(sending.withdrawn_at) or today
    days_waiting = (end - sent_on).days if sent_on else None
    release = sending.release_date
    days_to_release = (release - today).days if release else None
    is_open = sending.status == "requested"
    overdue = is_open and ((days_waiting or 0) >= answer_days()
                           or (days_to_release is not None and days_to_release <= release_warning_days()))
    sender, receiver = center_of(sending.center_id), center_of(sending.counterpart_center_id)
    return {
        "id": sending.id, "status": sending.status,
        "from_center": sender.code, "from_center_name": sender.name,
        "to_center": receiver.code, "to_center_name": receiver.name,
        "receiving_case_id": current.case_id if current is not None and sending.status in ("accepted", "completed") else None,
        "created_at": sending.created_at, "requested_at": sending.requested_at, "sent_at": current.sent_at if current else sending.sent_at,
        "accepted_at": sending.accepted_at, "declined_at": sending.declined_at, "withdrawn_at": sending.withdrawn_at,
        "completed_at": sending.completed_at, "decline_reason": sending.decline_reason,
        "days_waiting": days_waiting, "release_date": release, "days_to_release": days_to_release,
        "overdue": overdue, "past_release": bool(is_open and release is not None and release < today),
        "flagged_at": current.flagged_at if current else None,
        "reminder_count": current.reminder_count if current else 0,
        "reminded_at": current.reminded_at if current else None,
        "reassign_count": sending.reassign_count,
        "history": [{"to_center": center_of(r.center_id).code, "to_center_name": center_of(r.center_id).name,
                     "status": r.status, "sent_at": r.sent_at, "answered_at": r.answered_at,
                     "reassigned_at": r.reassigned_at} for r in receiving_rows],
    }


def oversight_list(*, limit: int = 50, cursor: str | None = None, status: str | None = None,
                   overdue_only: bool = False) -> tuple[list[dict], str | None]:
    """Every sent request of every center, newest first, as metadata (the association)."""
    today = today_jst()
    with cross_tenant("transfers.oversee"):
        stmt = select(Transfer).where(Transfer.side == "sending", Transfer.sent_at.is_not(None))
        if status:
            stmt = stmt.where(Transfer.status == status)
        if overdue_only:
            stmt = stmt.where(Transfer.status == "requested")
        # Overdue requests are picked from the 500 newest after the cursor, in one page.
        rows, next_cursor = keyset_page(stmt, (Transfer.created_at, Transfer.id), 500 if overdue_only else limit, cursor)
        receiving = _receiving_by_group([r.group_id for r in rows])
        items = [_metadata(row, receiving.get(row.group_id, []), today) for row in rows]
    audit("transfer.oversee_list", object_type="transfer", details={"status": status, "overdue_only": overdue_only})
    if overdue_only:
        return [i for i in items if i["overdue"]][:limit], None
    return items, next_cursor


def _receiving_by_group(group_ids) -> dict:
    out: dict = {}
    if not group_ids:
        return out
    for r in db.session.scalars(select(Transfer).where(Transfer.side == "receiving", Transfer.group_id.in_(group_ids))
                                .order_by(Transfer.created_at, Transfer.id)):
        out.setdefault(r.group_id, []).append(r)
    return out


def oversight_detail(transfer_id) -> dict:
    """One sent request's metadata by its id (the sending row's), for the association."""
    with cross_tenant("transfers.oversee"):
        sending = _sending_by_id(transfer_id)
        if sending is None:
            raise NotFound()
        meta = _metadata(sending, _receiving_rows(sending.group_id), today_jst())
    audit("transfer.oversee_read", object_type="transfer", object_id=sending.id)
    return meta


def compliance_report(fiscal_year: int) -> dict:
    """Per center and fiscal year (requests counted in the year they reached the center):
    requests received, answered, answered within ``TRANSFER_ANSWER_DAYS`` days, the median days
    to answer, still unanswered, requests left open past the release date (unanswered with the
    release passed, or answered only after it), reassigned away; and requests sent."""
    today, limit_days = today_jst(), answer_days()
    start, end = count_rules.fiscal_year_moments(fiscal_year)
    with cross_tenant("transfers.report"):
        rows = list(db.session.scalars(select(Transfer).where(Transfer.sent_at >= start, Transfer.sent_at < end)))
        centers = {c.id: c for c in db.session.scalars(select(Center))}
    stats: dict = {}

    def line(center_id):
        return stats.setdefault(center_id, {"received": 0, "answered": 0, "answered_within_deadline": 0, "days": [],
                                            "unanswered": 0, "open_past_release": 0, "reassigned_away": 0,
                                            "withdrawn_before_answer": 0, "sent": 0})

    for r in rows:
        if r.side == "sending":
            line(r.center_id)["sent"] += 1
            continue
        s = line(r.center_id)
        s["received"] += 1
        counted = count_rules.transfer_row(r.side, r.sent_at, r.accepted_at, r.declined_at)
        answered_on, days = count_rules.answered_on(counted), count_rules.days_to_answer(counted)
        if days is not None:
            s["answered"] += 1
            s["days"].append(days)
            s["answered_within_deadline"] += int(days <= limit_days)
            if r.release_date is not None and answered_on > r.release_date:
                s["open_past_release"] += 1
        elif r.status == "requested":
            s["unanswered"] += 1
            if r.release_date is not None and r.release_date < today:
                s["open_past_release"] += 1
        elif r.status == "reassigned":
            s["reassigned_away"] += 1
        elif r.status == "withdrawn":
            s["withdrawn_before_answer"] += 1
    all_days = [day for s in stats.values() for day in s["days"]]
    out_rows = []
    for center_id, s in sorted(stats.items(), key=lambda kv: (centers[kv[0]].prefecture_code, centers[kv[0]].code)):
        days = s.pop("days")
        out_rows.append({"center": centers[center_id].code, "center_name": centers[center_id].name, **s,
                         "median_days_to_answer": statistics.median(days) if days else None})
    totals = {k: sum(r[k] for r in out_rows) for k in ("received", "answered", "answered_within_deadline", "unanswered",
                                                        "open_past_release", "reassigned_away", "withdrawn_before_answer", "sent")}
    totals.update(center=None, center_name=None, median_days_to_answer=statistics.median(all_days) if all_days else None)
    audit("transfer.compliance_report", object_type="transfer", object_id=str(fiscal_year))
    return {"fiscal_year": fiscal_year, "fiscal_year_label": fiscal_year_label(fiscal_year), "answer_days": limit_days,
            "as_of": today, "rows": out_rows, "total": totals}


REPORT_COLUMNS = ("center", "center_name", "received", "answered", "answered_within_deadline", "median_days_to_answer",
                  "unanswered", "open_past_release", "reassigned_away", "withdrawn_before_answer", "sent")


def compliance_report_csv(report: dict) -> bytes:
    return csv_bytes(REPORT_COLUMNS, [[r[c] for c in REPORT_COLUMNS] for r in [*report["rows"], report["total"]]])


# --- provision records (APPI 第三者提供記録) ---------------------------------------------------------

def provision_records(*, limit: int = 200, cursor: str | None = None) -> tuple[list[dict], str | None]:
    """The current center's provision records, newest first, with the person and recipient named
    (the center admin's own data).  Audited."""
    stmt = (select(ProvisionRecord, Person, Case)
            .join(Person, and_(Person.center_id == ProvisionRecord.center_id, Person.id == ProvisionRecord.person_id))
            .join(Case, and_(Case.center_id == ProvisionRecord.center_id, Case.id == ProvisionRecord.case_id)))
    rows, next_cursor = keyset_page(stmt, (ProvisionRecord.created_at, ProvisionRecord.id), limit, cursor)
    items = []
    for rec, person, case in rows:
        recipient = center_of(rec.recipient_center_id)
        items.append({
            "id": rec.id, "provided_on": rec.provided_on, "recipient_center": recipient.code,
            "recipient_center_name": recipient.name, "person_id": rec.person_id,
            "person_name": person.full_name, "case_id": rec.case_id, "case_number": case.case_number,
            "transfer_id": rec.transfer_id, "pull_id": rec.pull_id, "items": rec.items,
            "consent_obtained_on": rec.consent_obtained_on,
            "consent_method": rec.consent_method, "consent_witness": rec.consent_witness,
            "consent_scope": rec.consent_scope, "basis": rec.basis, "retain_until": rec.retain_until,
            "created_at": rec.created_at,
        })
    audit("transfer.provision_records_read", object_type="provision_record", details={"count": len(items)})
    return items, next_cursor


PROVISION_COLUMNS = ("provided_on", "recipient_center", "recipient_center_name", "person_id", "person_name",
                     "case_number", "items", "consent_obtained_on", "consent_method", "consent_witness",
                     "consent_scope", "basis", "retain_until", "transfer_id", "pull_id")


def export_provision_records() -> bytes:
    """Every provision record of the current center as CSV (the export is audited)."""
    items, cursor, everything = [], None, []
    while True:
        items, cursor = provision_records(limit=200, cursor=cursor)
        everything.extend(items)
        if not cursor:
            break
    audit("transfer.provision_records_export", object_type="provision_record", details={"count": len(everything)})

    def cell(item, column):
        value = item[column]
        if column == "items":
            return " / ".join(i["label"] for i in value)
        if column == "consent_method":
            return lc.CONSENT_METHODS.get(value, value)
        if column == "basis":
            return lc.PROVISION_BASES.get(value, value)
        return value.isoformat() if isinstance(value, (date, datetime)) else (str(value) if isinstance(value, uuid.UUID) else value)

    return csv_bytes(PROVISION_COLUMNS, [[cell(item, c) for c in PROVISION_COLUMNS] for item in everything])


def message_attachments(messages: Sequence[TransferMessage]) -> dict:
    """The current center's copies of the files attached to these messages, by message id."""
    return thread_files.of_messages(m.id for m in messages)


def message_view(message: TransferMessage, attachments: list[TransferMessageAttachment] | None = None) -> dict:
    """A message as both centers see it: which center wrote it and who (display name only), and
    the files attached (this center's copies; looked up when not given)."""
    author = center_of(message.author_center_id)
    if attachments is None:
        attachments = message_attachments([message])[message.id]
    return {"id": message.id, "author_center": author.code, "author_center_name": author.name,
            "author_name": message.author_name, "mine": message.author_center_id == message.center_id,
            "body": message.body, "kind": message.kind, "created_at": message.created_at,
            "attachments": [thread_files.view(a) for a in attachments]}
