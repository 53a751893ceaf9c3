"""The destination center's pull request (広域調整の開始依頼): the only way to send, refuse, cancel
and confirm one.

A transfer is started by the facility's center (施設所在地, "A").  When the center where the
person will live (帰住予定地, "B") learns of the person first (a consultation from family or a
municipality), B asks A to start one: the person's consent to telling A, a message, and the
minimum identity A needs to find the person among its own cases.  A refuses with a comment, or
confirms by sending an ordinary transfer request to B from one of its cases
(``workflow.request_transfer(..., pull_id=...)``, which calls ``lock_for_confirmation`` and
``confirm_pull`` here).  B may cancel while the pull is open.

A pull keeps one row per side (``models.TransferPull``: ``asking`` in B, ``asked`` in A) joined by
``group_id``, and is loaded, locked, listed and shown like a transfer (``sides``).  The other
side's row is touched only inside ``tenancy.cross_tenant(...)``; every state change first locks
both rows (asking, then asked) and re-reads them, so a cancellation and a confirmation arriving
together leave exactly one outcome.  Sending the identity is a provision
of personal data: a ``ProvisionRecord`` is written in B.  Notifications go to the outbox in the
same transaction; everything is audited in the acting center's chain (the erasure of the asked
center's copy of the identity in that center's: ``sides.erase_identity``); nothing here commits.

Raises ``ValidationFailed`` (422), ``InvalidState`` (409), ``sides.NotYourSide`` (403) and
``werkzeug.exceptions.NotFound`` (a pull or case that is not the caller's).
"""
from __future__ import annotations

import uuid
from datetime import date

from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.centers import Center
from ...platform.errors import InvalidState, ValidationFailed
from ...platform.extensions import db
from ...platform.models import utcnow
from ...platform.permissions import can
from ...platform.tenancy import cross_tenant
from ...tenants.cases.lifecycle import FINAL_STATUSES as CASE_FINAL_STATUSES
from ...tenants.cases.models import Case
from ...tenants.persons.models import Person
from ...tenants.persons.names import normalize
from ...tenants.persons.services import matching_person_ids
from ..notifications.services import emit
from . import lifecycle as lc
from .models import ProvisionRecord, Transfer, TransferPull
from .sides import (actor_id, audit_provision, audit_row, check_receiver, check_side, clean_consent, erase_identity,
                    flush_refusing_duplicates, get_own, get_own_or_404, list_own, lock_group as lock_sides, open_chain,
                    identity_snapshot, own_center, own_person_id, read_own, record_provision, refuse_duplicate,
                    required_message, rows_of_case, side_view)

# action -> the prefix of the row's "<prefix>_at" / "<prefix>_by_id" columns
STAMPS = {"confirm": "confirmed", "refuse": "refused", "cancel": "cancelled"}
CANDIDATE_LIMIT = 20


# --- loading -------------------------------------------------------------------------------------

def get_pull(pull_id) -> TransferPull | None:
    """The current center's own row (either side) of the pull whose public id (the group's, the
    same for both centers) is ``pull_id``; None for a pull it has no side of or a missing one."""
    return get_own(TransferPull, pull_id)


def get_pull_or_404(pull_id) -> TransferPull:
    return get_own_or_404(TransferPull, pull_id)


def read_pull(pull_id) -> TransferPull:
    """The current center's row, and the audited read of it (it shows a person's data)."""
    return read_own(TransferPull, pull_id)


def _lock_group(group_id) -> tuple[TransferPull, TransferPull]:
    """Lock the asking row, then the asked row (always in this order), and re-read both.
    Must run inside ``cross_tenant``."""
    asking, (asked,) = lock_sides(TransferPull, group_id)
    return asking, asked


def _move(action: str, rows: tuple[TransferPull, ...], actor) -> None:
    """Both sides move together: every row is checked before any changes."""
    targets = [lc.pull_next_status(action, row.side, row.status) for row in rows]
    now, stamp = utcnow(), STAMPS[action]
    for row, status in zip(rows, targets):
        row.status = status
        setattr(row, f"{stamp}_at", now)
        setattr(row, f"{stamp}_by_id", actor_id(actor))


# --- sending a pull (the destination center, B) --------------------------------------------------

def identity_of(case: Case) -> dict:
    """The minimum identity a pull carries (``lifecycle.PULL_IDENTITY_FIELDS``): enough for the
    asked center to find the person, nothing about needs, history or offences."""
    return identity_snapshot(case.person, lc.PULL_IDENTITY_FIELDS)


def request_pull(case: Case, to_center: Center | None, consent: dict, message: str, actor) -> TransferPull:
    """Ask the facility's center to start a transfer for the person of ``case`` (開始依頼).

    Consent is checked like a transfer's; one open pull per case and asked center (409).  The
    asked center gets its own row with the minimum identity, the provision is recorded here, and
    the asked center is notified.  Returns the asking row.
    """
    own = own_center()
    check_receiver(to_center, sending_center_id=own.id)
    if case.status in CASE_FINAL_STATUSES:
        raise InvalidState("終結したケースについては開始依頼を送れません。")
    consent_fields = clean_consent(consent or {})
    message = required_message(message)
    refuse_duplicate(TransferPull, own.id, case.id, to_center.id)
    asking = TransferPull(side="asking", group_id=uuid.uuid4(), counterpart_center_id=to_center.id, case_id=case.id,
                          status="open", message=message, facility_name=case.facility_name,
                          release_date=case.release_date, requested_at=utcnow(), requested_by_id=actor_id(actor),
                          **consent_fields)
    db.session.add(asking)
    flush_refusing_duplicates(TransferPull)
    audit_row("transfer_pull.request", asking, person_id=case.person_id,
              details={"to_center": to_center.code, "consent_method": consent_fields["consent_method"]})
    _send(asking, case, actor)
    return asking


def _send(asking: TransferPull, case: Case, actor) -> TransferPull:
    """The asked center's row (with the minimum identity), its notification, and the provision
    record in the asking center."""
    with cross_tenant("transfer_pulls.send"):
        asked = asking.answering_row(status="open", person_snapshot=identity_of(case),
                                     facility_name=asking.facility_name, release_date=asking.release_date)
        db.session.add(asked)
        db.session.flush()
        emit("transfer_pull_requested", to_center_id=asked.center_id, pull_id=asked.public_id)
    provision = _record_provision(asking, case, actor)
    audit_provision(asking, provision)
    return asked


def _record_provision(asking: TransferPull, case: Case, actor) -> ProvisionRecord:
    """第三者提供記録 of the identity and the message sent to the asked center (APPI)."""
    items = [{"kind": "identity", "label": lc.PULL_IDENTITY_LABEL}, {"kind": "message", "label": lc.PULL_MESSAGE_LABEL}]
    return record_provision(asking, case, asking.counterpart_center_id, items, "consent", actor)


def cancel_pull(row: TransferPull, actor) -> TransferPull:
    """The asking center cancels a pull still open: the asked center's copy of the identity is
    erased (``sides.erase_identity``, audited in its chain) and it is notified."""
    check_side(row, "cancel")
    with cross_tenant("transfer_pulls.cancel"):
        open_chain(row.counterpart_center_id, "transfer_pulls.cancel")  # its identity is erased
        asking, asked = _lock_group(row.group_id)
        _move("cancel", (asking, asked), actor)
        db.session.flush()
        erase_identity(asked, "cancelled")
        emit("transfer_pull_cancelled", to_center_id=asked.center_id, pull_id=asked.public_id)
    audit_row("transfer_pull.cancel", asking, person_id=own_person_id(asking))
    return asking


# --- answering a pull (the facility's center, A) -------------------------------------------------

def refuse_pull(row: TransferPull, comment: str | None, actor) -> TransferPull:
    """The asked center refuses, with a comment the asking center reads (it is notified); its
    own copy of the identity is erased (``sides.erase_identity``): it will not need it."""
    check_side(row, "refuse")
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed("お断りの理由を入力してください。", fields={"comment": ["必須項目です。"]})
    with cross_tenant("transfer_pulls.refuse"):
        asking, asked = _lock_group(row.group_id)
        _move("refuse", (asking, asked), actor)
        asking.refuse_comment = asked.refuse_comment = comment
        db.session.flush()
        erase_identity(asked, "refused")
        emit("transfer_pull_refused", to_center_id=asking.center_id, pull_id=asking.public_id)
    audit_row("transfer_pull.refuse", asked, details={"length": len(comment)})
    return asked


def lock_for_confirmation(pull_id, to_center: Center) -> TransferPull:
    """Before ``workflow.request_transfer`` creates a transfer for a pull: the caller's own asked
    row, locked with its counterpart and still open, whose asking center is the transfer's
    receiving center.  Holding the lock, a cancellation waits for this transaction (and then finds
    the pull confirmed) or has already won (then this raises ``InvalidState``)."""
    row = get_pull(pull_id)
    if row is None:
        raise NotFound()
    check_side(row, "confirm")
    if to_center.id != row.counterpart_center_id:
        raise ValidationFailed("開始依頼をしたセンターに依頼してください。",
                               fields={"to_center": ["開始依頼をしたセンターを指定してください。"]})
    with cross_tenant("transfer_pulls.confirm"):
        asking, asked = _lock_group(row.group_id)
        for side_row in (asking, asked):
            lc.pull_next_status("confirm", side_row.side, side_row.status)
    return asked


def confirm_pull(asked: TransferPull, transfer: Transfer, actor) -> TransferPull:
    """The transfer has been requested: both sides become ``confirmed``, linked to its group (each
    center finds its own side of the transfer), and the asking center is notified."""
    with cross_tenant("transfer_pulls.confirm"):
        asking, asked = _lock_group(asked.group_id)
        _move("confirm", (asking, asked), actor)
        asking.transfer_group_id = asked.transfer_group_id = transfer.group_id
        asked.case_id = transfer.case_id
        db.session.flush()
        emit("transfer_pull_confirmed", to_center_id=asking.center_id, pull_id=asking.public_id)
    audit_row("transfer_pull.confirm", asked, person_id=own_person_id(asked), details={"transfer_id": str(transfer.id)})
    return asked


# --- finding the person in the asked center --------------------------------------------------------

def _match_reasons(snapshot: dict) -> dict:
    """person id -> the reasons it matches (``birth_date``, ``name``, ``kana``), own center only."""
    reasons: dict = {}

    def add(ids, reason):
        for person_id in ids:
            reasons.setdefault(person_id, set()).add(reason)

    birth = date.fromisoformat(snapshot["birth_date"])
    add(db.session.scalars(select(Person.id).where(Person.birth_date == birth).limit(200)), "birth_date")
    for reason, term in (("name", snapshot.get("family_name", "") + snapshot.get("given_name", "")),
                         ("kana", snapshot.get("family_name_kana", "") + snapshot.get("given_name_kana", ""))):
        if normalize(term):  # one statement per term: the matcher's bound names would collide
            add(db.session.scalars(matching_person_ids(term).limit(200)), reason)
    return reasons


def candidates(row: TransferPull) -> list[dict]:
    """The asked center's own people who may be the person of an open pull, best match first
    (birth date, name, kana), each with their cases (newest first).  Audited as a search."""
    if row.side != "asked" or row.status != "open" or not row.person_snapshot:
        return []
    reasons = _match_reasons(row.person_snapshot)
    if not reasons:
        audit("transfer_pull.match", object_type="transfer_pull", object_id=row.id, details={"found": 0})
        return []
    people = {p.id: p for p in db.session.scalars(select(Person).where(Person.id.in_(list(reasons))))}
    order = sorted(people, key=lambda pid: (-len(reasons[pid]), "birth_date" not in reasons[pid],
                                            people[pid].family_name_kana, people[pid].given_name_kana))
    chosen = order[:CANDIDATE_LIMIT]
    cases: dict = {}
    for case in db.session.scalars(select(Case).where(Case.person_id.in_(chosen))
                                   .order_by(Case.created_at.desc(), Case.id.desc())):
        cases.setdefault(case.person_id, []).append(case)
    audit("transfer_pull.match", object_type="transfer_pull", object_id=row.id, details={"found": len(chosen)})
    return [{"person": people[pid], "reasons": sorted(reasons[pid]), "cases": cases.get(pid, [])} for pid in chosen]


# --- lists and views ---------------------------------------------------------------------------------

def list_pulls(*, limit: int = 50, cursor: str | None = None, side: str | None = None,
               status: str | None = None) -> tuple[list[TransferPull], str | None]:
    """The current center's own rows (both sides), newest first."""
    return list_own(TransferPull, limit=limit, cursor=cursor, side=side, status=status)


def pulls_of_case(case: Case) -> list[TransferPull]:
    """A case's pulls in this center: those it sent, and those a transfer from it confirmed."""
    return rows_of_case(TransferPull, case)


def own_transfer(row: TransferPull) -> Transfer | None:
    """This center's own side of the transfer that confirmed the pull (the asking center's row
    appears once the transfer is actually sent: after the head's approval where required)."""
    if row.transfer_group_id is None:
        return None
    return db.session.scalars(select(Transfer).where(Transfer.group_id == row.transfer_group_id)
                              .order_by(Transfer.created_at.desc(), Transfer.id.desc()).limit(1)).first()


def allowed_actions(row: TransferPull) -> list[str]:
    """The side's possible actions, if the caller's role may write transfers."""
    if not can(getattr(current_user, "role", None), "transfer.write"):
        return []
    return list(lc.pull_actions_for(row.side, row.status))


def pull_view(row: TransferPull, *, with_candidates: bool = False) -> dict:
    """A center's own side as the API shows it (``sides.side_view``: the own side's case only, the
    person's identity only on the asked side), with the facility, the refusal, every step's time
    and ``transfer_id``, the own side of the transfer that confirmed it."""
    transfer = own_transfer(row)
    view = {
        **side_view(row), "facility_name": row.facility_name, "refuse_comment": row.refuse_comment,
        "transfer_id": transfer.public_id if transfer else None,
        "confirmed_at": row.confirmed_at, "refused_at": row.refused_at, "cancelled_at": row.cancelled_at,
        "allowed_actions": allowed_actions(row),
    }
    if with_candidates:
        view["candidates"] = [candidate_view(c) for c in candidates(row)]
    return view


def candidate_view(candidate: dict) -> dict:
    person = candidate["person"]
    return {"person_id": person.id, "name": person.full_name, "name_kana": person.full_name_kana,
            "birth_date": person.birth_date, "sex": person.sex, "reasons": candidate["reasons"],
            "cases": [{"id": c.id, "case_number": c.case_number, "case_type": c.case_type, "status": c.status,
                       "release_date": c.release_date} for c in candidate["cases"]]}
