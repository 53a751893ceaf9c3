"""What a transfer (``Transfer``) and a pull request (``TransferPull``) share: one row per side,
the acting center and actor, the other center's audit chain, the identity erasure, the consent
record, the receiver check and the duplicate refusal.

Why a module of its own: the transfer workflow (``services``) and the pull requests (``pulls``)
both use these rules; here they have a public home, so neither imports the other's private
helpers and ``services`` may import ``pulls`` (to confirm a pull with its request) without a cycle.
Nothing here commits.

Raises ``ValidationFailed`` (422), ``InvalidState`` (409), ``NotYourSide`` (403) and
``werkzeug.exceptions.NotFound``.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import date
from typing import Iterator

from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.centers import Center
from ...platform.errors import DomainError, InvalidState, ValidationFailed
from ...platform.extensions import db
from ...platform.i18n import today_jst
from ...platform.models import utcnow
from ...platform.tenancy import cross_tenant, current_center_id, get_owned, set_tenant
from ...platform.validation import choice_message
from ...tenants.cases.models import Case
from . import lifecycle as lc
from .models import Transfer, TransferPull

DUPLICATE_MESSAGE = "このケースについて同じセンターへの依頼が既に進行中です。"


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


def own_case(row: Transfer) -> Case | None:
    return get_owned(Case, row.case_id) if row.case_id else None


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


def erase_identity(row: Transfer | TransferPull, reason: str) -> None:
    """Data minimisation, one rule for transfers and pull requests: a center that will not take
    the person on no longer needs the identity it was sent, so its copy is erased
    (``person_snapshot`` NULL, ``snapshot_erased_at`` set), audited in that center's own chain
    (which a caller acting for another center opened first: ``open_chain``).

    The holders are a transfer's receiving row (declined, withdrawn or reassigned away:
    ``lifecycle.NOT_TAKEN_ON_STATUSES``) and a pull request's asked row (refused or cancelled:
    ``lifecycle.PULL_NOT_TAKEN_ON_STATUSES``).  The release date and the metadata stay (the
    association's view and the compliance report count them).  Runs inside the caller's lock of
    the row; a row of the other side, or one erased already, is left as it is."""
    if isinstance(row, TransferPull):
        holder, object_type, statuses = "asked", "transfer_pull", lc.PULL_NOT_TAKEN_ON_STATUSES
    else:
        holder, object_type, statuses = "receiving", "transfer", lc.NOT_TAKEN_ON_STATUSES
    if row.side != holder or row.person_snapshot is None:
        return
    if row.status not in statuses:  # pragma: no cover - a programming error, never input
        raise InvalidState("受け入れる可能性のある依頼の本人情報は消去できません。", details={"status": row.status})
    row.person_snapshot = None
    row.snapshot_erased_at = utcnow()
    db.session.flush()
    with as_center(row.center_id, f"{object_type}s.erase_snapshot"):
        audit(f"{object_type}.snapshot_erase", object_type=object_type, object_id=row.id,
              details={"side": row.side, "status": row.status, "reason": reason})


def flush_refusing_duplicates(index: str = "uq_transfers_open_request", message: str = DUPLICATE_MESSAGE) -> None:
    """Flush; the partial unique ``index`` refuses a second open request (or pull request) that
    raced past the check before it: the loser gets the same 409 as if it had come second."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        if index in str(exc.orig) or "UNIQUE" in str(exc.orig).upper():
            raise InvalidState(message) from None
        raise


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
