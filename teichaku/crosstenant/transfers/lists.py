"""A center's own transfers: its list (both sides, newest first), a case's transfers, and the
API's view of one side with the actions the caller may take.  Nothing here commits.
"""
from __future__ import annotations

from flask_login import current_user

from ...platform.permissions import can
from ...tenants.cases.models import Case
from . import lifecycle as lc
from .models import Transfer
from .sides import list_own, rows_of_case, side_view


def list_transfers(*, limit: int = 50, cursor: str | None = None, side: str | None = None,
                   status: str | None = None, case_id=None) -> tuple[list[Transfer], str | None]:
    """The current center's own rows (both sides), newest first."""
    return list_own(Transfer, limit=limit, cursor=cursor, side=side, status=status, case_id=case_id)


def transfers_of_case(case: Case) -> list[Transfer]:
    """A case's transfers in this center (the case page): requests sent for it and the accepted
    request it came from."""
    return rows_of_case(Transfer, case)


def allowed_actions(row: Transfer) -> list[str]:
    """The side's possible actions that the caller's role may take (approval is the head's)."""
    role = getattr(current_user, "role", None)
    return [a for a in lc.actions_for(row.side, row.status)
            if can(role, "transfer.approve" if a == "approve" else "transfer.write")]


def center_view(row: Transfer) -> dict:
    """A center's own side as the API shows it (``sides.side_view``: the own side's case only, the
    person's minimum identity only on the receiving side), with the ``number``, the package, the answer, every
    step's time, and ``receiving_case_id`` on the receiving side."""
    view = {
        **side_view(row), "number": row.number, "package": row.package or [],
        "decline_reason": row.decline_reason, "decline_comment": row.decline_comment,
        "approved_at": row.approved_at, "sent_at": row.sent_at, "accepted_at": row.accepted_at,
        "declined_at": row.declined_at, "withdrawn_at": row.withdrawn_at, "completed_at": row.completed_at,
        "reassigned_at": row.reassigned_at, "allowed_actions": allowed_actions(row),
    }
    if row.side == "receiving":
        view["receiving_case_id"] = row.case_id
    return view
