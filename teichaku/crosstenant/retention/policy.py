"""When a person's case file may be erased: the keeping periods and who is due.

A case *ended* on ``closed_on`` (status ``closed``) or, for a case moved on to follow-up, on
``released_on`` (the follow-up case then carries the person's file on).  A person is due when
every case of theirs has ended and its keeping period (``years_after_closing`` of its case type)
is over, no 広域調整 request or pull request of theirs is still open, and no record of a
provision to a third party (第三者提供記録, kept by law until ``retain_until``) is still running.
The due day is the latest of those end days.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from sqlalchemy import func, select

from ...crosstenant.transfers.lifecycle import OPEN_STATUSES, PULL_OPEN_STATUSES
from ...crosstenant.transfers.models import ProvisionRecord, Transfer, TransferPull
from ...platform.extensions import db
from ...tenants.cases.lifecycle import CASE_TYPES, FINAL_STATUSES
from ...tenants.cases.models import Case
from ...tenants.persons.models import Person
from .models import RetentionRule


def years_later(day: date, years: int) -> date:
    """The same day ``years`` later (28 February for 29 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def default_years() -> int:
    return int(current_app.config["RETENTION_YEARS_AFTER_CLOSING"])


def years_by_case_type() -> dict[str, int]:
    """The current center's keeping period per case type (its rule, else the installation's)."""
    years = {case_type: default_years() for case_type in CASE_TYPES}
    for rule in db.session.scalars(select(RetentionRule)):
        years[rule.case_type] = rule.years_after_closing
    return years


def ended_on(status: str, closed_on: date | None, released_on: date | None) -> date | None:
    """The day a case ended, or None while it is open."""
    if status == "closed":
        return closed_on
    if status == "moved_to_follow_up":
        return released_on or closed_on
    return None


@dataclass
class Due:
    """A person whose whole file may go, and the cases it holds."""

    person_id: uuid.UUID
    due_on: date
    case_numbers: list[str] = field(default_factory=list)


def _open_people():
    """Persons with an open case, an open transfer request or an open pull request."""
    open_case = select(Case.person_id).where(Case.status.notin_(FINAL_STATUSES))
    open_transfer = (select(Case.person_id).join(Transfer, Transfer.case_id == Case.id)
                     .where(Transfer.center_id == Case.center_id, Transfer.status.in_(OPEN_STATUSES)))
    open_pull = (select(Case.person_id).join(TransferPull, TransferPull.case_id == Case.id)
                 .where(TransferPull.center_id == Case.center_id, TransferPull.status.in_(PULL_OPEN_STATUSES)))
    return open_case.union(open_transfer, open_pull)


def persons_due(today: date, person_ids: list[uuid.UUID] | None = None) -> list[Due]:
    """Every person of the current center due for erasure on ``today`` (or only these ones)."""
    years = years_by_case_type()
    stmt = (select(Case.person_id, Case.case_number, Case.case_type, Case.status, Case.closed_on, Case.released_on)
            .join(Person, Person.id == Case.person_id)
            .where(Person.center_id == Case.center_id, Person.erased_at.is_(None),
                   Case.person_id.notin_(_open_people())))
    if person_ids is not None:
        stmt = stmt.where(Case.person_id.in_(person_ids))
    cases: dict[uuid.UUID, list] = defaultdict(list)
    for row in db.session.execute(stmt):
        cases[row.person_id].append(row)
    provisions = _provision_ends()
    due = []
    for person_id, rows in cases.items():
        ends = [years_later(ended_on(r.status, r.closed_on, r.released_on) or today, years[r.case_type]) for r in rows]
        day = max([*ends, provisions.get(person_id, date.min)])
        if day <= today:
            due.append(Due(person_id, day, sorted(r.case_number for r in rows)))
    return sorted(due, key=lambda d: (d.due_on, d.case_numbers))


def _provision_ends() -> dict[uuid.UUID, date]:
    """The last ``retain_until`` of the center's provision records, per person."""
    stmt = select(ProvisionRecord.person_id, func.max(ProvisionRecord.retain_until)).group_by(ProvisionRecord.person_id)
    return dict(db.session.execute(stmt).all())
