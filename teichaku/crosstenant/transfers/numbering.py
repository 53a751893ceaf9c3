"""A transfer's human-readable number (広域-R8-0012): the sending center's counter per fiscal year.

The number is allocated when the sending center creates the request (awaiting approval or sent),
in the fiscal year of that day in Japan, as the center's largest number of that year plus one.
Race-free: the allocation takes a transaction-scoped advisory lock per sending center on
PostgreSQL (SQLite serialises writers anyway) before it reads the largest number, so two requests
of one center committing together get consecutive numbers; the partial unique index
``uq_transfers_number`` (sending rows) is the database's guarantee behind it.  The receiving rows
carry a copy (``workflow._send``), so both centers show the same number.  Nothing here commits.
"""
from __future__ import annotations

import uuid

from sqlalchemy import func, select, text

from ...platform.extensions import db
from ...platform.i18n import fiscal_year_of, today_jst
from .models import Transfer

LOCK_NAMESPACE = 0x746E756D  # "tnum": the first key of this module's advisory locks


def lock_counter(center_id: uuid.UUID) -> None:
    """Serialise number allocations of one sending center until the end of the transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(center_id.bytes[:4], "big", signed=True)
        db.session.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": LOCK_NAMESPACE, "key": key})


def next_number(center_id: uuid.UUID) -> dict:
    """The next number of ``center_id`` (the sending center, the current one) in this fiscal year,
    as the columns of its sending row: ``number_fiscal_year`` and ``number_seq``."""
    fiscal_year = fiscal_year_of(today_jst())
    lock_counter(center_id)
    last = db.session.scalar(select(func.max(Transfer.number_seq)).where(
        Transfer.center_id == center_id, Transfer.side == "sending", Transfer.number_fiscal_year == fiscal_year))
    return {"number_fiscal_year": fiscal_year, "number_seq": (last or 0) + 1}
