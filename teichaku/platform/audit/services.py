"""Writing and verifying the audit log.

``record`` is called by services inside the caller's transaction, so an action and its audit
entry commit or roll back together.  It never commits.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass


from flask import g, has_request_context, request
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import utcnow
from ..tenancy import account_lookup, current_center_id
from .models import PLATFORM_CHAIN, AuditChainHead, AuditEntry

GENESIS = "0" * 64


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def digest_details(details) -> str:
    return hashlib.sha256(_canonical(details).encode()).hexdigest()


def _entry_hash(entry: AuditEntry) -> str:
    occurred = entry.occurred_at.isoformat(timespec="microseconds")
    fields = [
        str(entry.center_id), entry.seq, occurred, str(entry.actor_id or ""), entry.actor_role or "",
        entry.action, entry.object_type or "", entry.object_id or "", str(entry.person_id or ""),
        entry.ip or "", entry.request_id or "", entry.details_digest, entry.prev_hash,
    ]
    return hashlib.sha256(_canonical(fields).encode()).hexdigest()


def _actor():
    user = getattr(g, "audit_actor", None)
    if user is None and has_request_context() and current_user and current_user.is_authenticated:
        user = current_user
    return user


def record(action: str, *, object_type: str | None = None, object_id=None, person_id=None,
           details: dict | None = None, center_id: uuid.UUID | None = None) -> AuditEntry:
    """Append an entry to the current center's chain (or the platform chain) in this transaction.

    ``details`` may hold personal values (kept apart from the hash; see module doc).
    """
    if center_id is not None and center_id != current_center_id():
        # Account events (sign-in, account changes) go to the account's own center chain even
        # before a tenant is set; the account-lookup scope opens that chain for this insert.
        with account_lookup():
            return _append(center_id, action, object_type, object_id, person_id, details)
    return _append(current_center_id() or PLATFORM_CHAIN, action, object_type, object_id, person_id, details)


def _append(chain: uuid.UUID, action: str, object_type, object_id, person_id, details) -> AuditEntry:
    if details is not None:
        details = json.loads(_canonical(details))  # dates, UUIDs -> strings, as stored
    head = db.session.execute(
        select(AuditChainHead).where(AuditChainHead.center_id == chain).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditChainHead(center_id=chain, seq=0, hash=GENESIS)
        db.session.add(head)
    actor = _actor()
    entry = AuditEntry(
        center_id=chain,
        seq=head.seq + 1,
        occurred_at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_role=getattr(actor, "role", None),
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        person_id=person_id,
        ip=request.remote_addr if has_request_context() else None,
        request_id=getattr(g, "request_id", None),
        details=details,
        details_digest=digest_details(details),
        prev_hash=head.hash,
    )
    entry.hash = _entry_hash(entry)
    head.seq, head.hash = entry.seq, entry.hash
    db.session.add(entry)
    db.session.flush()
    return entry


@dataclass
class VerifyResult:
    chains: int
    entries: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(center_id: uuid.UUID | None = None) -> VerifyResult:
    """Recompute every chain (or one); report edits, deletions, insertions and broken heads.

    Runs as the schema owner (CLI), which reads every chain.
    """
    stmt = select(AuditEntry).order_by(AuditEntry.center_id, AuditEntry.seq)
    if center_id is not None:
        stmt = stmt.where(AuditEntry.center_id == center_id)
    problems: list[str] = []
    chains: dict[uuid.UUID, tuple[int, str]] = {}
    count = 0
    for entry in db.session.execute(stmt.execution_options(yield_per=1000)).scalars():
        count += 1
        seq, prev = chains.get(entry.center_id, (0, GENESIS))
        where = f"chain {entry.center_id} seq {entry.seq}"
        if entry.seq != seq + 1:
            problems.append(f"{where}: expected seq {seq + 1} (an entry was deleted or inserted)")
        if entry.prev_hash != prev:
            problems.append(f"{where}: previous hash does not match")
        if not entry.details_blanked and digest_details(entry.details) != entry.details_digest:
            problems.append(f"{where}: details were altered")
        if _entry_hash(entry) != entry.hash:
            problems.append(f"{where}: entry was altered")
        chains[entry.center_id] = (entry.seq, entry.hash)
    heads = select(AuditChainHead)
    if center_id is not None:
        heads = heads.where(AuditChainHead.center_id == center_id)
    for head in db.session.scalars(heads):
        seq, last = chains.get(head.center_id, (0, GENESIS))
        if (head.seq, head.hash) != (seq, last):
            problems.append(f"chain {head.center_id}: head says seq {head.seq}, log ends at {seq} (entries deleted at the end)")
    return VerifyResult(chains=len(chains), entries=count, problems=problems)


def blank_personal_values(entry: AuditEntry) -> None:
    """Retention: drop the personal values of an entry; the chain still verifies."""
    entry.details = None
    entry.details_blanked = True


def entries_for_center(*, person_id=None, actor_id=None, action: str | None = None,
                       before_seq: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """The current center's log, newest first (the center admin's audit page)."""
    stmt = select(AuditEntry).where(AuditEntry.center_id == current_center_id())
    if person_id:
        stmt = stmt.where(AuditEntry.person_id == person_id)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if before_seq:
        stmt = stmt.where(AuditEntry.seq < before_seq)
    return list(db.session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit)))


