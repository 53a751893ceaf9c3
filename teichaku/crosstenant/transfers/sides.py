"""What a transfer (``Transfer``) and a pull request (``TransferPull``) share: one row per side
(``models.SideRow``), loaded, locked, listed, shown and audited the same way; the acting center
and actor, the other center's audit chain, the identity erasure, the consent record, the receiver
check, the duplicate refusal and the provision record.

Why a module of its own: the transfer workflow (``workflow``, ``threads``, ``oversight``, ...) and
the pull requests (``pulls``) both use these rules; here they have a public home, so neither
imports the other's private helpers and ``workflow`` may import ``pulls`` (to confirm a pull with
its request) without a cycle.  Each function takes the model or a row of either kind and reads
what differs from the model (``SIDES``, ``OBJECT_TYPE``, ``ACTOR_SIDE``, ...).  Nothing here commits.

Raises ``ValidationFailed`` (422), ``InvalidState`` (409), ``NotYourSide`` (403) and
``werkzeug.exceptions.NotFound``.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import date
from typing import Iterator

from sqlalchemy import case as sql_case, select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.centers import Center
from ...platform.errors import DomainError, InvalidState, ValidationFailed
from ...platform.extensions import db
from ...platform.i18n import today_jst
from ...platform.models import utcnow
from ...platform.pagination import keyset_page
from ...platform.tenancy import cross_tenant, current_center_id, get_owned, set_tenant
from ...platform.validation import choice_message
from ...tenants.cases.models import Case
from ...tenants.persons.models import Person
from . import lifecycle as lc
from .models import ProvisionRecord, SideRow, TransferPull

# the model's OBJECT_TYPE -> the refusal of a second open request for one case and answering center
DUPLICATE_MESSAGES = {
    "transfer": "このケースについて同じセンターへの依頼が既に進行中です。",
    "transfer_pull": "このケースについて同じセンターへの開始依頼が既に進行中です。",
}
# the side an action belongs to -> why the other side may not take it
NOT_YOUR_SIDE = {
    "sending": "この操作は依頼したセンターが行うものです。",
    "receiving": "この操作は相手側のセンターが行うものです。",
    "asking": "この操作は開始依頼をしたセンターが行うものです。",
    "asked": "この操作は開始依頼を受けたセンターが行うものです。",
}


class NotYourSide(DomainError):
    """The action belongs to the other side of the transfer (e.g. the sender accepting)."""

    status, code = 403, "forbidden"


def center_of(center_id) -> Center | None:
    """A center (reference data, readable by everyone)."""
    return db.session.get(Center, center_id) if center_id else None


def actor_id(actor):
    return getattr(actor, "id", None)


def own_center() -> Center:
    center = center_of(current_center_id())
    if center is None:  # pragma: no cover - center roles always have a tenant
        raise NotFound()
    return center


def own_case(row: SideRow) -> Case | None:
    return get_owned(Case, row.case_id) if row.case_id else None


def case_in_its_center(row: SideRow) -> Case:
    """The case of a row of any center, loaded by that center and id (inside ``cross_tenant``,
    where the access helper does not filter by center)."""
    return db.session.execute(select(Case).where(Case.center_id == row.center_id, Case.id == row.case_id)).scalar_one()


def own_person_id(row: SideRow):
    """The person of the own side's case (None before the receiving side has one), for the audit."""
    case = own_case(row)
    return case.person_id if case else None


def audit_row(action: str, row: SideRow, *, person_id=None, details: dict | None = None) -> None:
    """An audit entry about one side, in the acting center's chain, naming its side and status."""
    audit(action, object_type=row.OBJECT_TYPE, object_id=row.id, person_id=person_id,
          details={"side": row.side, "status": row.status, **(details or {})})


def check_side(row: SideRow, action: str) -> None:
    """Refuse (403) an action that belongs to the other side (``ACTOR_SIDE`` of the model)."""
    side = row.ACTOR_SIDE[action]
    if row.side != side:
        raise NotYourSide(NOT_YOUR_SIDE[side])


# --- loading, locking, listing -------------------------------------------------------------------

def get_own(model: type[SideRow], public_id) -> SideRow | None:
    """The current center's own row of the request whose public id (``SideRow.public_id``, the
    group's) is ``public_id``; None for a request this center has no side of, a missing one, or a
    row's internal id (a request has exactly one id outside).

    A center has one row per request, except a receiving center a request was reassigned away
    from and back to: then the row it is with now (not ``reassigned``), else the newest.  The
    center a request was reassigned away from keeps its own closed row under the same id.
    Filtered by the current center explicitly, so it holds inside ``cross_tenant`` too."""
    center_id = current_center_id()
    if center_id is None:
        return None
    try:
        group_id = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except (TypeError, ValueError):
        return None
    stmt = (select(model).where(model.center_id == center_id, model.group_id == group_id)
            .order_by(sql_case((model.status == "reassigned", 1), else_=0), model.created_at.desc(), model.id.desc())
            .limit(1))
    return db.session.scalars(stmt).first()


def get_own_or_404(model: type[SideRow], public_id) -> SideRow:
    row = get_own(model, public_id)
    if row is None:
        raise NotFound()
    return row


def read_own(model: type[SideRow], public_id) -> SideRow:
    """The current center's row, and the audited read of it (it shows a person's data)."""
    row = get_own_or_404(model, public_id)
    audit_row(f"{model.OBJECT_TYPE}.read", row, person_id=own_person_id(row))
    return row


def lock_group(model: type[SideRow], group_id) -> tuple[SideRow, list[SideRow]]:
    """Lock the asking row, then the group's answering rows, oldest first (always in this order:
    two requests working on one group never wait for each other crosswise), and re-read them.
    Must run inside ``cross_tenant``."""
    asking_side, answering_side = model.SIDES
    asking = db.session.execute(
        select(model).where(model.group_id == group_id, model.side == asking_side)
        .with_for_update().execution_options(populate_existing=True)).scalar_one()
    answering = list(db.session.scalars(
        select(model).where(model.group_id == group_id, model.side == answering_side)
        .order_by(model.created_at, model.id).with_for_update().execution_options(populate_existing=True)))
    return asking, answering


def list_own(model: type[SideRow], *, limit: int = 50, cursor: str | None = None, side: str | None = None,
             status: str | None = None, case_id=None) -> tuple[list[SideRow], str | None]:
    """The current center's own rows (both sides), newest first; the list is audited."""
    stmt = select(model)
    if side:
        stmt = stmt.where(model.side == side)
    if status:
        stmt = stmt.where(model.status == status)
    if case_id:
        stmt = stmt.where(model.case_id == case_id)
    rows, next_cursor = keyset_page(stmt, (model.created_at, model.id), limit, cursor)
    audit(f"{model.OBJECT_TYPE}.list", object_type=model.OBJECT_TYPE, details={"side": side, "status": status})
    return rows, next_cursor


def rows_of_case(model: type[SideRow], case: Case) -> list[SideRow]:
    """A case's rows in this center (the case page), newest first."""
    return list(db.session.scalars(select(model).where(model.case_id == case.id).order_by(model.created_at.desc())))


def own_cases(rows: list[SideRow]) -> dict:
    """The current center's own cases behind its rows (case numbers and names for its pages)."""
    ids = {r.case_id for r in rows if r.case_id}
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(ids)))}


def side_view(row: SideRow) -> dict:
    """What the API shows of a center's own side of either kind: its one public ``id`` (the
    group's: the same for both centers), the two centers (the asking one is ``from``), the own
    side's case only, the consent, the message and the times; the person's minimum identity only
    on the side that holds it.  Each kind adds its own fields."""
    own, other = center_of(row.center_id), center_of(row.counterpart_center_id)
    asker, answerer = (own, other) if row.asking else (other, own)
    view = {
        "id": row.public_id, "side": row.side, "status": row.status, "version": row.version,
        "from_center": asker.code, "from_center_name": asker.name,
        "to_center": answerer.code, "to_center_name": answerer.name,
        "case_id": row.case_id, "release_date": row.release_date, "consent": row.consent_view(),
        "message": row.message, "created_at": row.created_at, "updated_at": row.updated_at,
        "requested_at": row.requested_at,
    }
    if row.side == row.IDENTITY_HOLDER:
        view["person"] = row.person_snapshot
        view["snapshot_erased_at"] = row.snapshot_erased_at
    return view


@contextmanager
def as_center(center_id: uuid.UUID, purpose: str) -> Iterator[None]:
    """Run a block as another center (the counterpart of a transfer), inside ``cross_tenant``.

    Why: a change to the other center's own records (a shared update's progress note in the
    receiving case, the erasure of the receiving side's copy of the identity) must follow that
    center's own rules, so it goes through the same services the center itself uses and its
    audit entries land in *that* center's chain, not in the acting one's.  The block runs with
    the tenant switched to ``center_id``; the previous tenant is restored whatever happens.
    Callers open that center's chain first (``open_chain``).  Only the named services of this
    module use it, for one small write each.
    """
    acting = current_center_id()
    with cross_tenant(purpose):
        set_tenant(center_id)
        try:
            yield
        finally:
            set_tenant(acting)


def open_chain(center_id: uuid.UUID, purpose: str) -> None:
    """Record in another center's own audit chain that this center (or the association) is
    about to act on that center's side of a transfer (``cross_tenant.act_as``, with the purpose).

    Called *before* the transfer's rows are locked.  Why: every request takes its own chain's
    head lock with its first audit entry and only then locks transfer rows; writing into the
    other center's chain after locking the rows would take the two locks in the opposite order
    and deadlock with a request of that center working on the same transfer (a withdrawal
    meeting an acceptance).  A rollback removes the entry with everything else."""
    acting = current_center_id()
    if center_id == acting:
        return
    with as_center(center_id, purpose):
        audit("cross_tenant.act_as", object_type="purpose", object_id=purpose,
              details={"acting_center_id": str(acting) if acting else None})


def erase_identity(row: SideRow, reason: str) -> None:
    """Data minimisation, one rule for transfers and pull requests: a center that will not take
    the person on no longer needs the identity it was sent, so its copy is erased
    (``person_snapshot`` NULL, ``snapshot_erased_at`` set), audited in that center's own chain
    (which a caller acting for another center opened first: ``open_chain``).

    The holders are a transfer's receiving row (declined, withdrawn or reassigned away:
    ``lifecycle.NOT_TAKEN_ON_STATUSES``) and a pull request's asked row (refused or cancelled:
    ``lifecycle.PULL_NOT_TAKEN_ON_STATUSES``).  The release date and the metadata stay (the
    association's view and the compliance report count them).  Runs inside the caller's lock of
    the row; a row of the other side, or one erased already, is left as it is."""
    object_type = row.OBJECT_TYPE
    if row.side != row.IDENTITY_HOLDER or row.person_snapshot is None:
        return
    if row.status not in row.NOT_TAKEN_ON_STATUSES:  # pragma: no cover - a programming error, never input
        raise InvalidState("受け入れる可能性のある依頼の本人情報は消去できません。", details={"status": row.status})
    row.person_snapshot = None
    row.snapshot_erased_at = utcnow()
    db.session.flush()
    with as_center(row.center_id, f"{object_type}s.erase_snapshot"):
        audit(f"{object_type}.snapshot_erase", object_type=object_type, object_id=row.id,
              details={"side": row.side, "status": row.status, "reason": reason})


def refuse_duplicate(model: type[SideRow], center_id, case_id, to_center_id, *, except_id=None) -> None:
    """At most one open request (``OPEN_STATUSES``) per asking case and answering center (409)."""
    stmt = select(model.id).where(model.center_id == center_id, model.case_id == case_id,
                                  model.side == model.SIDES[0], model.counterpart_center_id == to_center_id,
                                  model.status.in_(model.OPEN_STATUSES))
    if except_id is not None:
        stmt = stmt.where(model.id != except_id)
    if db.session.scalar(stmt.limit(1)) is not None:
        raise InvalidState(DUPLICATE_MESSAGES[model.OBJECT_TYPE])


def flush_refusing_duplicates(model: type[SideRow]) -> None:
    """Flush; the model's partial unique index refuses a second open request that raced past
    ``refuse_duplicate``: the loser gets the same 409 as if it had come second."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        if f"uq_{model.__tablename__}_open_request" in str(exc.orig) or "UNIQUE" in str(exc.orig).upper():
            raise InvalidState(DUPLICATE_MESSAGES[model.OBJECT_TYPE]) from None
        raise


def identity_snapshot(person: Person, fields: tuple[str, ...]) -> dict:
    """The minimum identity a request carries to the answering center, as plain JSON values (the
    fields are the kind's: ``lifecycle.IDENTITY_FIELDS``, ``PULL_IDENTITY_FIELDS``)."""
    snapshot = {field: getattr(person, field) for field in fields}
    snapshot["birth_date"] = person.birth_date.isoformat()
    if "support_needs" in fields:
        snapshot["support_needs"] = list(person.support_needs or [])
    return snapshot


def required_message(message: str | None) -> str:
    """A request's message, which either kind must carry (422 ``message`` when empty)."""
    message = (message or "").strip()
    if not message:
        raise ValidationFailed("依頼の内容を入力してください。", fields={"message": ["必須項目です。"]})
    return message


def clean_consent(consent: dict) -> dict:
    obtained_on = consent.get("obtained_on")
    method = consent.get("method")
    witness = (consent.get("witness") or "").strip() or None
    scope = (consent.get("scope") or "").strip() or None
    errors = {}
    if not isinstance(obtained_on, date):
        errors["consent.obtained_on"] = ["同意を得た日を入力してください。"]
    elif obtained_on > today_jst():
        errors["consent.obtained_on"] = ["今日以前の日付を入力してください。"]
    if method not in lc.CONSENT_METHODS:
        errors["consent.method"] = [choice_message(lc.CONSENT_METHODS)]
    if lc.consent_lacks_witness(method, witness):
        errors["consent.witness"] = [lc.CONSENT_WITNESS_MISSING]
    if errors:
        raise ValidationFailed("本人の同意の記録に誤りがあります。", fields=errors)
    return {"consent_obtained_on": obtained_on, "consent_method": method, "consent_witness": witness,
            "consent_scope": scope}


def check_receiver(to_center: Center | None, *, sending_center_id, field: str = "to_center") -> Center:
    if to_center is None or not to_center.active:
        raise ValidationFailed("依頼先のセンターが正しくありません。", fields={field: ["有効なセンターのコードを指定してください。"]})
    if to_center.id == sending_center_id:
        raise ValidationFailed("自分のセンターには依頼できません。", fields={field: ["他のセンターを指定してください。"]})
    return to_center


def years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def record_provision(row: SideRow, case: Case, recipient_center_id, items: list[dict], basis: str,
                     actor) -> ProvisionRecord:
    """One provision record (第三者提供記録, APPI) in ``row``'s center (the provider's): the items
    provided, the recipient, today, the consent recorded with the request and the basis, for the
    transfer or the pull request ``row`` is a side of; kept ``PROVISION_RETENTION_YEARS`` years.
    Flushed."""
    provided_on = today_jst()
    transfer_id, pull_id = (None, row.id) if isinstance(row, TransferPull) else (row.id, None)
    provision = ProvisionRecord(
        center_id=row.center_id, provided_on=provided_on, recipient_center_id=recipient_center_id,
        person_id=case.person_id, case_id=case.id, transfer_id=transfer_id, pull_id=pull_id, items=items,
        **row.consent_fields(), basis=basis, recorded_by_id=actor_id(actor),
        retain_until=years_later(provided_on, lc.PROVISION_RETENTION_YEARS))
    db.session.add(provision)
    db.session.flush()
    return provision


def audit_provision(row: SideRow, provision: ProvisionRecord, **details) -> None:
    """The ``<kind>.provide`` entry of a provision, in the provider's chain, with its person."""
    source = "pull_id" if isinstance(row, TransferPull) else "transfer_id"
    audit(f"{row.OBJECT_TYPE}.provide", object_type="provision_record", object_id=provision.id,
          person_id=provision.person_id,
          details={source: str(row.id), "recipient_center_id": str(provision.recipient_center_id),
                   "basis": provision.basis, "items": [i["kind"] for i in provision.items], **details})
