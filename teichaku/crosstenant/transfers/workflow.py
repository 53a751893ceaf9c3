"""The request workflow of a transfer (広域調整): request, approve, withdraw, accept, decline,
complete, and the association's reassignment.

Each verb checks the caller's side (``sides.check_side``), locks the group (``groups.lock_group``)
inside ``tenancy.cross_tenant("transfers.<verb>")`` and asks ``lifecycle.next_status`` before it
changes both sides together.  Notifications are written to the outbox in the same transaction
(``notifications.services.emit``).  Everything is audited in the acting center's chain (the
platform chain for the association), except what changes the other center's own records (the
erasure of its copy of the identity: ``sides.erase_identity``), which is audited in that center's
chain, opened before any row is locked (``sides.open_chain``: the lock order).  Sending a request
is a provision of personal data, recorded in the sending center (``sides.record_provision``).
Nothing here commits: the view or job does.

Raises ``ValidationFailed`` (422), ``InvalidState`` (409), ``sides.NotYourSide`` (403) and
``werkzeug.exceptions.NotFound`` (a transfer, case, person or package item that is not the caller's).
"""
from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.centers import Center
from ...platform.errors import InvalidState, ValidationFailed
from ...platform.extensions import db
from ...platform.i18n import jst_date, today_jst
from ...platform.models import utcnow
from ...platform.tenancy import cross_tenant, get_owned
from ...tenants.cases.lifecycle import FINAL_STATUSES as CASE_FINAL_STATUSES
from ...tenants.cases.models import Case
from ...tenants.cases.services import create_case
from ...tenants.persons.models import Person
from ...tenants.persons.names import normalize as normalize_name
from ..notifications.services import emit
from . import lifecycle as lc
from . import pulls
from .groups import lock_group, sending_by_public_id
from .models import Transfer
from .numbering import next_number
from .package import copy_package, read_package, resolve_package
from .sides import (actor_id, audit_provision, audit_row, case_in_its_center, center_of, check_receiver, check_side,
                    clean_consent, erase_identity, flush_refusing_duplicates, identity_snapshot, open_chain,
                    own_center, own_person_id, record_provision, refuse_duplicate, required_message)


# --- requesting ---------------------------------------------------------------------------------------

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
    message = required_message(message)
    items = resolve_package(case, package)
    refuse_duplicate(Transfer, own.id, case.id, to_center.id)
    status = "awaiting_approval" if own.requires_transfer_approval else "requested"
    row = Transfer(side="sending", group_id=uuid.uuid4(), counterpart_center_id=to_center.id, case_id=case.id,
                   **next_number(own.id), status=status, message=message, package=items, release_date=case.release_date,
                   requested_at=utcnow(), requested_by_id=actor_id(actor), reassign_count=0, reminder_count=0,
                   **consent_fields)
    db.session.add(row)
    flush_refusing_duplicates(Transfer)
    audit_row("transfer.request", row, person_id=case.person_id,
               details={"to_center": to_center.code, "package": [i["kind"] for i in items],
                        "consent_method": consent_fields["consent_method"]})
    if status == "requested":
        _send(row, case, actor, basis="consent")
    else:
        emit("transfer_approval_needed", to_center_id=own.id, transfer_id=row.public_id)
    if pull is not None:
        pulls.confirm_pull(pull, row, actor)
    return row


def _send(sending: Transfer, case: Case, actor, *, basis: str) -> Transfer:
    """Hand the request to the receiving center: its row (with the minimum identity), the APPI
    provision record in the sending center, and the notification.  Runs for a new request, an
    approval and the association's reassignment."""
    now = utcnow()
    with cross_tenant("transfers.send"):
        sending.sent_at = now
        sending.release_date = case.release_date
        receiving = sending.answering_row(
            status="requested", package=[{"kind": i["kind"], "label": i["label"]} for i in sending.package or []],
            person_snapshot=identity_snapshot(case.person, lc.IDENTITY_FIELDS), release_date=case.release_date,
            approved_at=sending.approved_at, approved_by_id=sending.approved_by_id, sent_at=now,
            number_fiscal_year=sending.number_fiscal_year, number_seq=sending.number_seq,
            reassign_count=sending.reassign_count, reminder_count=0)
        db.session.add(receiving)
        provision = record_provision(
            sending, case, receiving.center_id,
            [{"kind": "identity", "label": lc.IDENTITY_LABEL},
             *({"kind": i["kind"], "label": i["label"]} for i in sending.package or [])], basis, actor)
        emit("transfer_requested", to_center_id=receiving.center_id, transfer_id=receiving.public_id)
    audit_provision(sending, provision)
    return receiving


def approve_transfer(row: Transfer, actor) -> Transfer:
    """The center head approves a request waiting for approval: it is sent now."""
    check_side(row, "approve")
    with cross_tenant("transfers.approve"):
        sending, _receiving = lock_group(row.group_id)
        sending.status = lc.next_status("approve", "sending", sending.status)
        sending.approved_at, sending.approved_by_id = utcnow(), actor_id(actor)
        case = case_in_its_center(sending)
        db.session.flush()
        _send(sending, case, actor, basis="consent")
    audit_row("transfer.approve", sending, person_id=case.person_id)
    return sending


def withdraw_transfer(row: Transfer, actor) -> Transfer:
    """The requesting center withdraws a request not yet answered."""
    check_side(row, "withdraw")
    with cross_tenant("transfers.withdraw"):
        if row.sent_at is not None:  # the receiving center has its row: its status and identity change
            open_chain(row.counterpart_center_id, "transfers.withdraw")
        sending, receiving = lock_group(row.group_id)
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
            emit("transfer_withdrawn", to_center_id=receiving.center_id, transfer_id=receiving.public_id)
    audit_row("transfer.withdraw", sending, person_id=own_person_id(sending))
    return sending


# --- answering ----------------------------------------------------------------------------------------

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
        audit_row("transfer.person_candidates", row, details={"person_ids": [str(p.id) for p in found]})
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
    check_side(row, "accept")
    with cross_tenant("transfers.accept"):
        sending, receiving = lock_group(row.group_id)
        if receiving is None or receiving.id != row.id:
            raise InvalidState("この依頼は他のセンターに振り替えられたため、受け入れられません。")
        lc.next_status("accept", "receiving", receiving.status)
        lc.next_status("accept", "sending", sending.status)
        items = read_package(sending)
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
    copies = copy_package(case, items, from_center, sent_on)
    with cross_tenant("transfers.accept"):
        now = utcnow()
        for side_row in (sending, receiving):
            side_row.status = lc.next_status("accept", side_row.side, side_row.status)
            side_row.accepted_at, side_row.accepted_by_id = now, actor_id(actor)
        receiving.case_id = case.id
        receiving.package = copies
        db.session.flush()
        emit("transfer_accepted", to_center_id=sending.center_id, transfer_id=sending.public_id)
    audit_row("transfer.accept", receiving, person_id=case.person_id,
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
    check_side(row, "decline")
    if reason not in lc.DECLINE_REASONS:
        raise ValidationFailed("お断りの理由が正しくありません。", fields={"reason": ["選択肢にない値です。"]})
    comment = (comment or "").strip() or None
    with cross_tenant("transfers.decline"):
        sending, receiving = lock_group(row.group_id)
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
        emit("transfer_declined", to_center_id=sending.center_id, transfer_id=sending.public_id)
    audit_row("transfer.decline", receiving, details={"reason": reason})
    return receiving


def complete_transfer(row: Transfer, actor) -> Transfer:
    """The receiving center closes its side once the coordination is done."""
    check_side(row, "complete")
    with cross_tenant("transfers.complete"):
        sending, receiving = lock_group(row.group_id)
        if receiving is None or receiving.id != row.id:
            raise InvalidState("この依頼は他のセンターに振り替えられました。")
        lc.next_status("complete", "sending", sending.status)
        now = utcnow()
        for side_row in (sending, receiving):
            side_row.status = lc.next_status("complete", side_row.side, side_row.status)
            side_row.completed_at, side_row.completed_by_id = now, actor_id(actor)
        db.session.flush()
        emit("transfer_completed", to_center_id=sending.center_id, transfer_id=sending.public_id)
    audit_row("transfer.complete", receiving, person_id=own_person_id(receiving))
    return receiving


# --- the association's reassignment -------------------------------------------------------------------

def reassign_transfer(transfer_id, new_center: Center | None, actor) -> Transfer:
    """The association moves an unanswered or declined request to another center: the old
    receiving row is marked ``reassigned``, the sending row is ``requested`` again of the new
    center, which gets its own receiving row (a new provision, recorded in the sending center)."""
    with cross_tenant("transfers.reassign"):
        found = sending_by_public_id(transfer_id)
        if found is None:
            raise NotFound()
        open_chain(found.counterpart_center_id, "transfers.reassign")  # its row is reassigned away
        sending, receiving = lock_group(found.group_id)
        check_receiver(new_center, sending_center_id=sending.center_id)
        if receiving is not None and receiving.center_id == new_center.id:
            raise ValidationFailed("現在の依頼先と同じセンターです。", fields={"to_center": ["別のセンターを指定してください。"]})
        lc.next_status("reassign", "sending", sending.status)
        if receiving is not None:
            lc.next_status("reassign", "receiving", receiving.status)
        refuse_duplicate(Transfer, sending.center_id, sending.case_id, new_center.id, except_id=sending.id)
        case = case_in_its_center(sending)
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
        flush_refusing_duplicates(Transfer)
        _send(sending, case, actor, basis="consent_reassigned")
        emit("transfer_reassigned", to_center_id=sending.center_id, transfer_id=sending.public_id)
        if receiving is not None:  # the same id: that center opens its own closed row with it
            emit("transfer_reassigned", to_center_id=receiving.center_id, transfer_id=receiving.public_id)
    audit("transfer.reassign", object_type="transfer", object_id=sending.id,
          details={"from_center_id": str(old_center_id), "to_center_id": str(new_center.id)})
    return sending
