"""A transfer's rows: the center's own row, and the group of rows one transfer keeps.

A transfer keeps one row per side (``models.Transfer``), joined by ``group_id``: the sending row
and a receiving row for each center it was sent to (the rows reassigned away stay, marked
``reassigned``; the current one is the last that is not).  Outside, a transfer has one id, the
group's (``public_id``), for both centers and the association; a center's own row of it is
loaded by that id and the center (``get_transfer``: a transfer it has no side of answers like a
missing one; a row's internal id is not an id outside); the other
rows are read only inside ``tenancy.cross_tenant(...)``.  Every state change first locks the
group (``lock_group``: the sending row, then the receiving rows) and re-reads it, so a
withdrawal and an acceptance arriving together leave exactly one outcome.  Nothing here commits.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select

from ...platform.extensions import db
from ...platform.tenancy import cross_tenant
from .models import Transfer
from .sides import get_own, get_own_or_404, lock_group as lock_sides, read_own


def get_transfer(transfer_id) -> Transfer | None:
    """The current center's own row (either side) of the transfer whose public id is
    ``transfer_id`` (``sides.get_own``); None for a transfer it has no side of or a missing one."""
    return get_own(Transfer, transfer_id)


def get_transfer_or_404(transfer_id) -> Transfer:
    return get_own_or_404(Transfer, transfer_id)


def read_transfer(transfer_id) -> Transfer:
    """The current center's row, and the audited read of it (it shows a person's data)."""
    return read_own(Transfer, transfer_id)


def current_of(receiving_rows: list[Transfer]) -> Transfer | None:
    """The receiving row the transfer is with now: the one not reassigned away (None while the
    request awaits approval)."""
    return next((r for r in receiving_rows if r.status != "reassigned"), None)


def lock_group(group_id) -> tuple[Transfer, Transfer | None]:
    """Lock the sending row, then the group's receiving rows (always in this order), re-read.

    Returns the sending row and the current receiving row (``current_of``).  Must run inside
    ``cross_tenant``.
    """
    sending, receiving = lock_sides(Transfer, group_id)
    return sending, current_of(receiving)


def receiving_rows(group_id) -> list[Transfer]:
    """Every receiving row of a group, oldest first (inside ``cross_tenant``)."""
    return list(db.session.scalars(select(Transfer).where(Transfer.group_id == group_id, Transfer.side == "receiving")
                                   .order_by(Transfer.created_at, Transfer.id)))


def current_receiving(group_id) -> Transfer | None:
    return current_of(receiving_rows(group_id))


def sending_row(group_id) -> Transfer | None:
    """A group's sending row (inside ``cross_tenant``)."""
    return db.session.execute(select(Transfer).where(Transfer.group_id == group_id,
                                                     Transfer.side == "sending")).scalar_one_or_none()


def counterpart(row: Transfer) -> Transfer | None:
    """The other side's current row (read inside the audited cross-tenant scope)."""
    with cross_tenant("transfers.counterpart"):
        return current_receiving(row.group_id) if row.side == "sending" else sending_row(row.group_id)


def sending_by_public_id(transfer_id) -> Transfer | None:
    """A sent request's sending row by the transfer's public id (the group's, ``public_id``),
    inside ``cross_tenant``: the association's handle, the same id the two centers use."""
    try:
        ident = transfer_id if isinstance(transfer_id, uuid.UUID) else uuid.UUID(str(transfer_id))
    except (TypeError, ValueError):
        return None
    return db.session.execute(select(Transfer).where(Transfer.group_id == ident, Transfer.side == "sending",
                                                     Transfer.sent_at.is_not(None))).scalar_one_or_none()
