"""Keeping the rollups current: one session hook, for every model the counting rules read.

Whatever service changes a case, a person's support needs, a transfer or a network activity,
the flush passes through ``_mark_affected_slices`` (an ``after_flush`` listener on every
session, installed by the app factory): it works out which (center, fiscal year) slices the change can move, from the old and
the new values of the dates the rules use, and inserts one mark per slice into
``rollup_dirty_slices`` on the flush's own connection.  So a change and its mark commit or roll
back together, and no service has to remember the aggregates.

After the commit, the slices are handed to ``jobs.schedule_recomputation`` (an RQ job per
slice, debounced); a rollback forgets them.  If Redis does not answer then, the marks stay and
the sweep (``jobs.sweep_dirty_slices``) recomputes the slices a minute later: the marks, not
Redis, are the source of truth.
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

from flask import has_app_context
from sqlalchemy import event, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ...crosstenant.transfers.models import Transfer
from ...platform.logs import get_logger
from ...platform.i18n import jst_date
from ...platform.models import utcnow
from ...platform.transaction import on_commit
from ...tenants.activities.models import ActivityParticipants, NetworkActivity
from ...tenants.cases.models import Case
from ...tenants.persons.models import Person
from .jobs import schedule_recomputation
from .models import DirtySlice
from .rules import LINKED_STATUSES, fiscal_years_of

log = get_logger("teichaku.aggregates")

Slice = tuple[uuid.UUID, int]

CASE_DATES = ("requested_on", "released_on", "closed_on")
# Every case column a counting rule reads: a change to another one (a note, the staff assigned)
# moves no figure and marks nothing.
CASE_FIELDS = (*CASE_DATES, "case_type", "status", "closing_reason", "outcome_placement",
               "destination_prefecture_code", "facility_type", "requester_type", "suspect_stage", "person_id")
TRANSFER_FIELDS = ("side", "status", "case_id", "counterpart_center_id", "sent_at", "accepted_at", "declined_at")
ACTIVITY_FIELDS = ("held_on", "activity_type")
PARTICIPANT_FIELDS = ("sector", "participants", "activity_id")


@dataclass
class Change:
    """One flushed object: its values before and after the flush, and whether any watched one moved."""

    obj: object
    before: dict
    after: dict
    kind: str  # "new", "changed" or "deleted"

    def values(self) -> list[dict]:
        return [v for v in (self.before, self.after) if v is not None]


def _change(obj, fields: tuple[str, ...], kind: str) -> Change | None:
    """The watched values of ``obj`` before and after this flush; None when none of them changed."""
    after = {name: getattr(obj, name) for name in fields}
    if kind == "new":
        return Change(obj, None, after, kind)
    if kind == "deleted":
        return Change(obj, after, None, kind)
    state = inspect(obj)
    before, moved = dict(after), False
    for name in fields:
        history = state.attrs[name].history
        if history.has_changes():
            moved = True
            before[name] = history.deleted[0] if history.deleted else None
    return Change(obj, before, after, kind) if moved else None


# --- which slices a change touches -------------------------------------------------------------

def _case_slices(change: Change, connection: Connection) -> set[Slice]:
    years = set()
    for values in change.values():
        years |= fiscal_years_of(*(values[d] for d in CASE_DATES))
    return {(change.obj.center_id, y) for y in years}


def _linked_case_slices(connection: Connection, center_id: uuid.UUID, case_ids: Iterable[uuid.UUID]) -> set[Slice]:
    """The slices of cases whose role (rule 5) a transfer row may have changed."""
    ids = [i for i in case_ids if i is not None]
    if not ids:
        return set()
    rows = connection.execute(select(Case.requested_on, Case.released_on, Case.closed_on)
                              .where(Case.center_id == center_id, Case.id.in_(ids))).all()
    return {(center_id, y) for row in rows for y in fiscal_years_of(*row)}


def _transfer_slices(change: Change, connection: Connection) -> set[Slice]:
    center_id = change.obj.center_id
    slices = {(center_id, y) for values in change.values() for y in fiscal_years_of(jst_date(values["sent_at"]))}
    statuses = {values["status"] for values in change.values()}
    if statuses & set(LINKED_STATUSES):
        slices |= _linked_case_slices(connection, center_id, {values["case_id"] for values in change.values()})
    return slices


def _person_slices(change: Change, connection: Connection) -> set[Slice]:
    """A person's support needs count in every one of their cases (rule 6: current needs)."""
    if change.kind != "changed":
        return set()  # a new person has no case yet; a person is deleted only after their cases
    person = change.obj
    rows = connection.execute(select(Case.requested_on).where(Case.center_id == person.center_id,
                                                              Case.person_id == person.id)).scalars()
    return {(person.center_id, y) for y in fiscal_years_of(*rows)}


def _activity_slices(change: Change, connection: Connection) -> set[Slice]:
    return {(change.obj.center_id, y) for values in change.values() for y in fiscal_years_of(values["held_on"])}


def _participant_slices(change: Change, connection: Connection) -> set[Slice]:
    row = change.obj
    held_on = connection.execute(select(NetworkActivity.held_on).where(
        NetworkActivity.center_id == row.center_id, NetworkActivity.id == row.activity_id)).scalar_one_or_none()
    # None: the activity itself went in this flush, and its own deletion marked its year.
    return {(row.center_id, y) for y in fiscal_years_of(held_on)}


# model -> (the columns whose change matters, the slices a change touches)
WATCHED: dict[type, tuple[tuple[str, ...], Callable[[Change, Connection], set[Slice]]]] = {
    Case: (CASE_FIELDS, _case_slices),
    Person: (("support_needs",), _person_slices),
    Transfer: (TRANSFER_FIELDS, _transfer_slices),
    NetworkActivity: (ACTIVITY_FIELDS, _activity_slices),
    ActivityParticipants: (PARTICIPANT_FIELDS, _participant_slices),
}


def _keep_old_value(target, value, oldvalue, initiator):
    return value


# A date set on an attribute that was not loaded would leave no old value in the history, and
# the slice of the old fiscal year would go unmarked: load the old value on every set.
for _model, (_fields, _slices) in WATCHED.items():
    for _name in _fields:
        event.listen(getattr(_model, _name), "set", _keep_old_value, active_history=True, retval=True)


def affected_slices(session: Session) -> set[Slice]:
    """Every (center, fiscal year) the objects of this flush can move."""
    connection = session.connection()
    slices: set[Slice] = set()
    for kind, objects in (("new", session.new), ("changed", session.dirty), ("deleted", session.deleted)):
        for obj in objects:
            watch = WATCHED.get(type(obj))
            if watch is None:
                continue
            change = _change(obj, watch[0], kind)
            if change is not None:
                slices |= watch[1](change, connection)
    return slices


def mark_dirty(connection: Connection, slices: Iterable[Slice]) -> int:
    """Insert one mark per slice on ``connection`` (the caller's transaction)."""
    now = utcnow()
    rows = [{"center_id": center_id, "id": uuid.uuid4(), "fiscal_year": year, "marked_at": now}
            for center_id, year in sorted(slices, key=lambda s: (str(s[0]), s[1]))]
    if rows:
        connection.execute(DirtySlice.__table__.insert(), rows)
    return len(rows)


# --- the session hook ----------------------------------------------------------------------------

def _mark_affected_slices(session: Session, _flush_context) -> None:
    """Mark the slices a flush can move, on the flush's connection; schedule their recomputation
    once the transaction commits (a rollback forgets it: the marks roll back with the change)."""
    slices = affected_slices(session)
    if slices:
        mark_dirty(session.connection(), slices)
        on_commit(functools.partial(_schedule, frozenset(slices)), session)


def _schedule(slices: frozenset[Slice]) -> None:
    if has_app_context():
        schedule_recomputation(slices)


def install() -> None:
    """Listen on every session's flush (called once by the app factory; idempotent)."""
    if not event.contains(Session, "after_flush", _mark_affected_slices):
        event.listen(Session, "after_flush", _mark_affected_slices)
