"""Rollups from the rows: recomputing one (center, fiscal year) slice, and rebuilding a center.

Both run inside the center's own tenant scope (the caller sets it: ``set_tenant(center_id)``)
and read that center's rows only: its cases with their people's support needs, its side of
each transfer, its activities.  Both apply exactly the same counting rules (``rules``), so the
nightly rebuild reproduces what the slice jobs wrote unless something went wrong.

Concurrency: every recomputation takes a transaction-level lock on its center first
(``pg_advisory_xact_lock``; SQLite serialises writers anyway), then reads the marks of the
slices it is going to recompute, *then* reads the rows.  Every mark it read belongs to a
change committed before the rows were read, so deleting exactly those marks loses nothing; a
change that commits meanwhile keeps its own mark and gets its own recomputation.  Writing is a
delete and an insert of the slice's rows, in the caller's transaction; a slice whose rows
already match is left alone.  Nothing here commits: the job or command does.
"""
from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Text, and_, cast, delete, func, or_, select, text, union
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ...crosstenant.transfers.models import Transfer
from ...platform.centers import Center
from ...platform.extensions import db
from ...platform.i18n import fiscal_year_bounds
from ...platform.models import utcnow
from ...platform.tenancy import current_center_id
from ...tenants.activities.models import ActivityParticipants, NetworkActivity
from ...tenants.cases.models import Case
from ...tenants.persons.models import Person
from . import rules
from .models import DirtySlice, RollupCount, RollupDayCount, RollupSlice

LOCK_NAMESPACE = 0x61676772  # "aggr": the first key of this module's advisory locks

CountKey = tuple[str, str, str, str, str]  # family, dim1, dim2, dim3, role
DayKey = tuple[str, str, str, int]  # measure, dim1, role, days


@dataclass
class SliceFigures:
    """The rollup rows of one (center, fiscal year): counts and day histograms."""

    counts: Counter[CountKey] = field(default_factory=Counter)  # -> value
    days: Counter[DayKey] = field(default_factory=Counter)  # -> how many

    def cells(self) -> set:
        return {("c", *k) for k in self.counts} | {("d", *k) for k in self.days}

    def differences(self, other: "SliceFigures") -> dict[tuple, tuple[int, int]]:
        """Cells whose value differs: key -> (this value, the other's); a missing cell is 0."""
        out = {}
        for mine, theirs, tag in ((self.counts, other.counts, "c"), (self.days, other.days, "d")):
            for key in set(mine) | set(theirs):
                if mine.get(key, 0) != theirs.get(key, 0):
                    out[(tag, *key)] = (mine.get(key, 0), theirs.get(key, 0))
        return out


def _require_scope(center_id: uuid.UUID) -> None:
    if current_center_id() != center_id:
        raise RuntimeError("rollups of a center are computed in that center's tenant scope (set_tenant)")


# --- reading the rows ---------------------------------------------------------------------------

def _centers() -> dict[uuid.UUID, Center]:
    return {c.id: c for c in db.session.scalars(select(Center))}


def _case_links() -> dict[uuid.UUID, tuple[bool, bool, uuid.UUID | None]]:
    """Case id -> (made by accepting a transfer, handed on by one, the sending center's id)."""
    links: dict[uuid.UUID, tuple[bool, bool, uuid.UUID | None]] = {}
    rows = db.session.execute(select(Transfer.case_id, Transfer.side, Transfer.counterpart_center_id).where(
        Transfer.status.in_(rules.LINKED_STATUSES), Transfer.case_id.is_not(None)))
    for case_id, side, other in rows:
        receiving, sending, sender = links.get(case_id, (False, False, None))
        if side == "receiving":
            receiving, sender = True, other
        else:
            sending = True
        links[case_id] = (receiving, sending, sender)
    return links


def _within(column, years: set[int] | None):
    if years is None:
        return None
    first, _ = fiscal_year_bounds(min(years))
    _, last = fiscal_year_bounds(max(years))
    return and_(column >= first, column <= last)


# The columns of ``rules.CaseRow``, in its order (the rows are built positionally: millions of them).
CASE_COLUMNS = (Case.case_type, Case.status, Case.requested_on, Case.released_on, Case.closed_on, Case.closing_reason,
                Case.outcome_placement, Case.destination_prefecture_code, Case.facility_type, Case.requester_type,
                Case.suspect_stage)


def _case_rows(years: set[int] | None):
    """(case id, ``rules.CaseRow``) of the center's cases that count in ``years`` (all: None)."""
    # The needs as their JSON text, parsed once per distinct list (a few dozen lists, millions of rows).
    stmt = (select(Case.id, *CASE_COLUMNS, cast(Person.support_needs, Text))
            .join(Person, and_(Person.center_id == Case.center_id, Person.id == Case.person_id)))
    if years is not None:
        stmt = stmt.where(or_(*(_within(c, years) for c in (Case.requested_on, Case.released_on, Case.closed_on))))
    case_row, needs = rules.CaseRow, {}
    for row in db.session.execute(stmt):
        raw = row[-1]
        parsed = needs.get(raw)
        if parsed is None:
            parsed = needs[raw] = tuple(json.loads(raw) or ()) if raw else ()
        yield row[0], case_row(*row[1:-1], parsed)


def _transfer_rows(years: set[int] | None, centers: dict):
    stmt = select(Transfer.side, Transfer.sent_at, Transfer.accepted_at, Transfer.declined_at,
                  Transfer.counterpart_center_id).where(Transfer.sent_at.is_not(None))
    if years is not None:
        start, _ = rules.fiscal_year_moments(min(years))
        _, end = rules.fiscal_year_moments(max(years))
        stmt = stmt.where(Transfer.sent_at >= start, Transfer.sent_at < end)
    for row in db.session.execute(stmt):
        yield rules.transfer_row(row.side, row.sent_at, row.accepted_at, row.declined_at,
                                 centers[row.counterpart_center_id].code)


def _activity_rows(years: set[int] | None):
    stmt = select(NetworkActivity.id, NetworkActivity.held_on, NetworkActivity.activity_type)
    if years is not None:
        stmt = stmt.where(_within(NetworkActivity.held_on, years))
    activities = {row.id: row for row in db.session.execute(stmt)}
    people: dict[uuid.UUID, dict[str, int]] = {}
    if activities:
        parts = select(ActivityParticipants.activity_id, ActivityParticipants.sector, ActivityParticipants.participants)
        if years is not None:
            parts = parts.where(ActivityParticipants.activity_id.in_(select(NetworkActivity.id).where(
                _within(NetworkActivity.held_on, years))))
        for activity_id, sector, count in db.session.execute(parts):
            people.setdefault(activity_id, {})[sector] = count
    for activity_id, row in activities.items():
        yield rules.ActivityRow(held_on=row.held_on, activity_type=row.activity_type,
                                participants=people.get(activity_id, {}))


def compute(center_id: uuid.UUID, years: set[int] | None = None) -> dict[int, SliceFigures]:
    """The rollups of a center computed from its rows: fiscal year -> figures.

    ``years``: only these fiscal years (None: every year that has anything)."""
    _require_scope(center_id)
    centers = _centers()
    own_prefecture = centers[center_id].prefecture_code
    links = _case_links()
    out: dict[int, SliceFigures] = {}

    def slot(year: int) -> SliceFigures | None:
        figures = out.get(year)
        if figures is None and (years is None or year in years):
            figures = out[year] = SliceFigures()
        return figures

    def add(contributions) -> None:
        for year, family, (d1, d2, d3), role, value in contributions:
            figures = out.get(year) or slot(year)
            if figures is not None:
                figures.counts[(family, d1, d2, d3, role)] += value

    def add_days(observations) -> None:
        for year, measure, dim, role, days in observations:
            figures = out.get(year) or slot(year)
            if figures is not None:
                figures.days[(measure, dim, role, days)] += 1

    for case_id, case in _case_rows(years):
        receiving, sending, sender = links.get(case_id, (False, False, None))
        role = rules.case_role(receiving, sending)
        first_prefecture = centers[sender].prefecture_code if role == rules.RECEIVING else own_prefecture
        add(rules.case_contributions(case, role, first_prefecture))
        add_days(rules.case_days(case, role))
    for row in _transfer_rows(years, centers):
        add(rules.transfer_contributions(row))
        add_days(rules.transfer_days(row))
    for row in _activity_rows(years):
        add(rules.activity_contributions(row))
    return out


# --- the stored rollups ------------------------------------------------------------------------

def stored(center_id: uuid.UUID, years: set[int] | None = None) -> dict[int, SliceFigures]:
    """The rollups as they are stored now: fiscal year -> figures."""
    out: dict[int, SliceFigures] = {}

    def slot(year: int) -> SliceFigures:
        figures = out.get(year)
        if figures is None:
            figures = out[year] = SliceFigures()
        return figures

    counts = select(RollupCount.fiscal_year, RollupCount.family, RollupCount.dim1, RollupCount.dim2,
                    RollupCount.dim3, RollupCount.role, RollupCount.value).where(RollupCount.center_id == center_id)
    days = select(RollupDayCount.fiscal_year, RollupDayCount.measure, RollupDayCount.dim1, RollupDayCount.role,
                  RollupDayCount.days, RollupDayCount.count).where(RollupDayCount.center_id == center_id)
    if years is not None:
        counts = counts.where(RollupCount.fiscal_year.in_(years))
        days = days.where(RollupDayCount.fiscal_year.in_(years))
    for year, *key, value in db.session.execute(counts):
        slot(year).counts[tuple(key)] = value
    for year, *key, count in db.session.execute(days):
        slot(year).days[tuple(key)] = count
    return out


def _write(center_id: uuid.UUID, year: int, figures: SliceFigures) -> None:
    """Replace the slice's rows (delete, then insert what is not zero)."""
    db.session.execute(delete(RollupCount).where(RollupCount.center_id == center_id, RollupCount.fiscal_year == year))
    db.session.execute(delete(RollupDayCount).where(RollupDayCount.center_id == center_id,
                                                    RollupDayCount.fiscal_year == year))
    counts = [{"center_id": center_id, "fiscal_year": year, "family": family, "dim1": d1, "dim2": d2, "dim3": d3,
               "role": role, "value": value}
              for (family, d1, d2, d3, role), value in sorted(figures.counts.items()) if value]
    days = [{"center_id": center_id, "fiscal_year": year, "measure": measure, "dim1": dim, "role": role,
             "days": n, "count": count}
            for (measure, dim, role, n), count in sorted(figures.days.items()) if count]
    if counts:
        db.session.execute(RollupCount.__table__.insert(), counts)
    if days:
        db.session.execute(RollupDayCount.__table__.insert(), days)


def _stamp_slices(center_id: uuid.UUID, years: set[int], at: datetime) -> None:
    """Record when the slices were computed (creating their rows the first time)."""
    if not years:
        return
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(RollupSlice.__table__).values(
        [{"center_id": center_id, "fiscal_year": y, "computed_at": at} for y in sorted(years)])
    db.session.execute(stmt.on_conflict_do_update(index_elements=["center_id", "fiscal_year"],
                                                  set_={"computed_at": stmt.excluded.computed_at}))


# --- marks and the center lock -------------------------------------------------------------------

def lock_center(center_id: uuid.UUID) -> None:
    """Serialise recomputations of one center until the end of the transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(center_id.bytes[:4], "big", signed=True)
        db.session.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": LOCK_NAMESPACE, "key": key})


def marks(center_id: uuid.UUID, years: set[int] | None = None) -> dict[int, list[uuid.UUID]]:
    """The marks of a center's dirty slices: fiscal year -> mark ids."""
    stmt = select(DirtySlice.fiscal_year, DirtySlice.id).where(DirtySlice.center_id == center_id)
    if years is not None:
        stmt = stmt.where(DirtySlice.fiscal_year.in_(years))
    out: dict[int, list[uuid.UUID]] = {}
    for year, mark_id in db.session.execute(stmt):
        out.setdefault(year, []).append(mark_id)
    return out


def _clear(center_id: uuid.UUID, mark_ids: list[uuid.UUID]) -> None:
    for start in range(0, len(mark_ids), 1000):
        db.session.execute(delete(DirtySlice).where(DirtySlice.center_id == center_id,
                                                    DirtySlice.id.in_(mark_ids[start:start + 1000])))


# --- the two operations -------------------------------------------------------------------------

@dataclass(frozen=True)
class SliceOutcome:
    """What a slice recomputation did: ``clean`` (nothing to do), ``unchanged`` or ``written``."""

    status: str
    cells: int = 0
    changed: int = 0


def refresh_slice(center_id: uuid.UUID, fiscal_year: int, *, only_if_dirty: bool = True) -> SliceOutcome:
    """Recompute one (center, fiscal year) from the rows and store it (in the caller's transaction).

    With ``only_if_dirty`` a slice without marks is left alone: several jobs for one slice cost
    one recomputation.  Idempotent: a second run finds the slice clean (or rewrites equal rows)."""
    _require_scope(center_id)
    lock_center(center_id)
    seen = marks(center_id, {fiscal_year}).get(fiscal_year, [])
    if only_if_dirty and not seen:
        return SliceOutcome("clean")
    fresh = compute(center_id, {fiscal_year}).get(fiscal_year, SliceFigures())
    current = stored(center_id, {fiscal_year}).get(fiscal_year, SliceFigures())
    changed = current.differences(fresh)
    if changed:
        _write(center_id, fiscal_year, fresh)
    _clear(center_id, seen)
    _stamp_slices(center_id, {fiscal_year}, utcnow())
    db.session.flush()
    return SliceOutcome("written" if changed else "unchanged", cells=len(fresh.cells()), changed=len(changed))


@dataclass
class CenterRebuild:
    """A center's rebuild: slices compared, cells compared, mismatches in clean slices, and the
    slices that changed while it ran (their differences are expected, not mismatches)."""

    center_code: str
    slices: int = 0
    cells: int = 0
    mismatches: int = 0
    pending_slices: int = 0
    mismatched: dict[int, dict[str, int]] = field(default_factory=dict)  # year -> family -> cells


def _years_on_record(center_id: uuid.UUID) -> set[int]:
    """Fiscal years the center has rollups, slices or marks for (a stale one must be emptied)."""
    stmt = union(select(RollupCount.fiscal_year).where(RollupCount.center_id == center_id),
                 select(RollupDayCount.fiscal_year).where(RollupDayCount.center_id == center_id),
                 select(RollupSlice.fiscal_year).where(RollupSlice.center_id == center_id),
                 select(DirtySlice.fiscal_year).where(DirtySlice.center_id == center_id))
    return set(db.session.scalars(stmt))


def rebuild_center(center_id: uuid.UUID, fiscal_year: int | None = None) -> CenterRebuild:
    """Recompute every slice of a center (or one fiscal year of it) from the rows, compare with the
    stored rollups, and store the result (in the caller's transaction)."""
    _require_scope(center_id)
    lock_center(center_id)
    years = {fiscal_year} if fiscal_year is not None else None
    seen = marks(center_id, years)
    fresh = compute(center_id, years)
    current = stored(center_id, years)
    later = marks(center_id, years)  # changes committed while the rows were read
    scope = (years if years is not None else set(fresh) | _years_on_record(center_id))
    report = CenterRebuild(center_code=db.session.get(Center, center_id).code)
    for year in sorted(scope):
        new, old = fresh.get(year, SliceFigures()), current.get(year, SliceFigures())
        report.slices += 1
        report.cells += len(new.cells() | old.cells())
        changed = old.differences(new)
        if seen.get(year) or set(later.get(year, [])) - set(seen.get(year, [])):
            report.pending_slices += 1
        elif changed:
            report.mismatches += len(changed)
            report.mismatched[year] = dict(Counter(str(key[1]) for key in changed))
        if changed:
            _write(center_id, year, new)
        _clear(center_id, seen.get(year, []))
    _stamp_slices(center_id, scope, utcnow())
    db.session.flush()
    return report


def dirty_slices(center_id: uuid.UUID, older_than: datetime | None = None) -> list[tuple[int, datetime]]:
    """A center's dirty slices (fiscal year, last mark), oldest first; with ``older_than``, only
    those whose last mark is older (its own job should have run by then)."""
    stmt = (select(DirtySlice.fiscal_year, func.max(DirtySlice.marked_at).label("last"))
            .where(DirtySlice.center_id == center_id).group_by(DirtySlice.fiscal_year))
    rows = [(year, last) for year, last in db.session.execute(stmt)]
    if older_than is not None:
        rows = [(year, last) for year, last in rows if _aware(last) < older_than]
    return sorted(rows, key=lambda r: _aware(r[1]))


def _aware(moment: datetime) -> datetime:
    """SQLite hands a timestamp back without its zone (always UTC here)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
