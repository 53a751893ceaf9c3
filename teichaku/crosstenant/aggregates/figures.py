"""Figures for reporting, read from the rollups only (never a case, a person or a transfer).

The rollup reads go through ``platform.reporting_reads``: a PostgreSQL read replica when
``REPORTING_DATABASE_URL`` is set (and it is up and close behind), else the primary.

The service the pages, the API and the exports call.  Every function reads the rollup tables
of many centers, so it runs inside ``cross_tenant("aggregates.figures")`` (audited once per
call, in the caller's transaction: the view or command commits).  It returns pure counts:
suppression of small cells is the caller's, with ``disclosure``, over these tables.

Scopes and counting (``rules``, rule 5):

* ``Scope.national()``: every center, a person handed between centers counted once (the
  ``receiving`` case left out): the counts add up across centers, prefectures and regions, so
  this is what a cube for national tables takes.
* ``Scope.center(code)`` / ``Scope.prefecture(code)``: those centers' own reports: each center
  counts its own case whatever its role (so two centers of one prefecture may both count a
  person handed between them).

Every answer carries ``as_of``: every change committed before that moment is in the figures
(the oldest pending mark of the slices read, or the moment of reading when none is pending).
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import BigInteger, and_, cast, func, select

from ...platform import reporting_reads
from ...platform.centers import Center
from ...platform.extensions import db
from ...platform.i18n import fiscal_year_label
from ...platform.models import utcnow
from ...platform.tenancy import cross_tenant
from . import rules
from .jobs import run_summary
from .models import DirtySlice, RollupCount, RollupDayCount, RollupRun

PURPOSE = "aggregates.figures"
NATIONAL, OWN = "national", "own"
TREND_YEARS = 5


@dataclass(frozen=True)
class Scope:
    """Which centers' rollups are read (None: all), and how a handed-over person counts."""

    centers: tuple[str, ...] | None = None
    counting: str = NATIONAL

    @classmethod
    def national(cls) -> "Scope":
        return cls(None, NATIONAL)

    @classmethod
    def center(cls, code: str) -> "Scope":
        return cls((code,), OWN)

    @classmethod
    def prefecture(cls, prefecture_code: str) -> "Scope":
        codes = tuple(c.code for c in _centers().values() if c.prefecture_code == prefecture_code)
        return cls(codes, OWN)

    @property
    def roles(self) -> tuple[str, ...]:
        return rules.NATIONAL_ROLES if self.counting == NATIONAL else rules.CENTER_ROLES


@dataclass(frozen=True)
class Geography:
    """Where a center sits: its prefecture and regional block (for coarser breakdowns)."""

    code: str
    name: str
    prefecture_code: str
    prefecture_name: str
    region: str


@dataclass(frozen=True)
class FigureTable:
    """One family of one fiscal year: key ``(center code, *family dimensions)`` -> value.

    Zeros are left out (a missing key is 0).  ``unit`` says what a value is (``cases``: 実人数,
    ``needs``: 延べ, ...)."""

    family: str
    label: str
    fiscal_year: int
    dimensions: tuple[str, ...]
    unit: str
    rows: dict[tuple, int]
    as_of: datetime

    def total(self) -> int:
        return sum(self.rows.values())

    def by(self, *dimensions: str) -> dict[tuple, int]:
        """The table summed down to the named dimensions (in that order)."""
        positions = [self.dimensions.index(d) for d in dimensions]
        out: dict[tuple, int] = defaultdict(int)
        for key, value in self.rows.items():
            out[tuple(key[p] for p in positions)] += value
        return dict(out)


@dataclass(frozen=True)
class DayStatistics:
    """Exact statistics of a day count, from its histogram (median as ``statistics.median``)."""

    count: int
    median: float | None
    mean: float | None
    minimum: int | None
    maximum: int | None

    @classmethod
    def of(cls, histogram: dict[int, int]) -> "DayStatistics":
        items = sorted((d, n) for d, n in histogram.items() if n)
        count = sum(n for _, n in items)
        if not count:
            return cls(0, None, None, None, None)
        total = sum(d * n for d, n in items)
        middle = (_nth(items, (count - 1) // 2) + _nth(items, count // 2)) / 2
        return cls(count, float(middle), float(Fraction(total, count)), items[0][0], items[-1][0])


def _nth(items: list[tuple[int, int]], index: int) -> int:
    """The ``index``-th value (0-based) of the sorted multiset a histogram describes."""
    seen = 0
    for days, n in items:
        seen += n
        if index < seen:
            return days
    raise IndexError(index)


@dataclass(frozen=True)
class YearOverYear:
    current: int
    previous: int

    @property
    def change(self) -> int:
        return self.current - self.previous

    @property
    def ratio(self) -> float | None:
        """Change relative to the previous year (None when it was 0)."""
        return self.change / self.previous if self.previous else None


@dataclass
class AnnualReport:
    """業務実績報告: one center's figures of one fiscal year, its own role counted."""

    center: Geography
    fiscal_year: int
    fiscal_year_label: str
    as_of: datetime
    headlines: dict[str, int]
    tables: dict[str, FigureTable]
    day_statistics: dict[str, DayStatistics]
    fu_open: int
    # case type -> role -> cases: how many were handed on (施設所在地) or received (帰住予定地)
    cases_by_role: dict[str, dict[str, int]] = field(default_factory=dict)


# --- reading ----------------------------------------------------------------------------------------

def _centers() -> dict[uuid.UUID, Center]:
    return {c.id: c for c in db.session.scalars(select(Center))}


def geography() -> dict[str, Geography]:
    """Center code -> prefecture and regional block, for all 48 centers (reference data)."""
    return {c.code: Geography(c.code, c.name, c.prefecture_code, c.prefecture_name, c.region)
            for c in sorted(_centers().values(), key=lambda c: (c.prefecture_code, c.code))}


def _center_ids(scope: Scope, centers: dict[uuid.UUID, Center]) -> list[uuid.UUID] | None:
    if scope.centers is None:
        return None
    wanted = set(scope.centers)
    return [i for i, c in centers.items() if c.code in wanted]


def _as_of(up_to_year: int, scope: Scope, centers: dict[uuid.UUID, Center]) -> datetime:
    """The oldest pending mark of the slices up to this year in scope, or now when none."""
    # Read from a replica, the figures miss what it has not replayed yet.
    read_at = utcnow() - timedelta(seconds=reporting_reads.lag_seconds())
    stmt = select(func.min(DirtySlice.marked_at)).where(DirtySlice.fiscal_year <= up_to_year)
    ids = _center_ids(scope, centers)
    if ids is not None:
        stmt = stmt.where(DirtySlice.center_id.in_(ids))
    oldest = reporting_reads.scalar(stmt)
    return min(oldest, read_at) if oldest is not None else read_at


def _in_scope(stmt, table, scope: Scope, centers: dict[uuid.UUID, Center]):
    """Restrict a statement over a rollup table to the scope's roles and centers."""
    stmt = stmt.where(table.role.in_(scope.roles))
    ids = _center_ids(scope, centers)
    return stmt if ids is None else stmt.where(table.center_id.in_(ids))


def _total(value):
    """A sum as an integer (PostgreSQL sums a BIGINT into a NUMERIC)."""
    return cast(func.sum(value), BigInteger)


def _counts(years: list[int], families: list[str], scope: Scope, centers: dict[uuid.UUID, Center]):
    """(fiscal year, center code, family, dim1, dim2, dim3, value), summed over the roles in scope."""
    stmt = (select(RollupCount.fiscal_year, Center.code, RollupCount.family, RollupCount.dim1, RollupCount.dim2,
                   RollupCount.dim3, _total(RollupCount.value))
            .join(Center, Center.id == RollupCount.center_id)
            .where(RollupCount.fiscal_year.in_(years), RollupCount.family.in_(families))
            .group_by(RollupCount.fiscal_year, Center.code, RollupCount.family, RollupCount.dim1,
                      RollupCount.dim2, RollupCount.dim3))
    return reporting_reads.rows(_in_scope(stmt, RollupCount, scope, centers))


def _table(fiscal_year: int, family: str, rows, as_of: datetime) -> FigureTable:
    spec = rules.FAMILIES[family]
    width = len(spec.dimensions)
    out: dict[tuple, int] = {}
    for year, code, fam, d1, d2, d3, value in rows:
        if year == fiscal_year and fam == family:
            key = (code, *(_dimension_value(name, v) for name, v in zip(spec.dimensions, (d1, d2, d3)[:width])))
            out[key] = out.get(key, 0) + value
    return FigureTable(family, spec.label, fiscal_year, ("center", *spec.dimensions), spec.unit, out, as_of)


def _dimension_value(name: str, value: str):
    return int(value) if name == "quarter" else value


def family_table(fiscal_year: int, family: str, scope: Scope | None = None) -> FigureTable:
    """One family of one fiscal year, by center and the family's dimensions."""
    scope = scope or Scope.national()
    if family not in rules.FAMILIES:
        raise ValueError(f"unknown family: {family!r}")
    with cross_tenant(PURPOSE):
        centers = _centers()
        as_of = _as_of(fiscal_year, scope, centers)
        return _table(fiscal_year, family, _counts([fiscal_year], [family], scope, centers), as_of)


def _cube(fiscal_year: int, family: str, dimensions: tuple, scope: Scope, centers) -> dict[tuple, int]:
    """(center code, *the family's dimension columns given) -> value, summed in the database (the
    dashboard's cubes: thousands of cells, so no per-row work here)."""
    stmt = (select(Center.code, *dimensions, _total(RollupCount.value))
            .join(Center, Center.id == RollupCount.center_id)
            .where(RollupCount.fiscal_year == fiscal_year, RollupCount.family == family)
            .group_by(Center.code, *dimensions))
    return {tuple(row[:-1]): row[-1] for row in reporting_reads.rows(_in_scope(stmt, RollupCount, scope, centers))}


def _case_cube(fiscal_year: int, scope: Scope, centers) -> dict[tuple[str, str, int], int]:
    cube = _cube(fiscal_year, "cases", (RollupCount.dim1, RollupCount.dim2), scope, centers)
    return {(code, case_type, int(quarter)): value for (code, case_type, quarter), value in cube.items()}


def _need_cube(fiscal_year: int, scope: Scope, centers) -> dict[tuple[str, str, str], int]:
    return _cube(fiscal_year, "cases_by_need", (RollupCount.dim1, RollupCount.dim3), scope, centers)


def case_cube(fiscal_year: int, scope: Scope | None = None) -> dict[tuple[str, str, int], int]:
    """The contract's cube: (center code, case type, quarter) -> cases (実人数), requested_on's year."""
    with cross_tenant(PURPOSE):
        return _case_cube(fiscal_year, scope or Scope.national(), _centers())


def support_need_cube(fiscal_year: int, scope: Scope | None = None) -> dict[tuple[str, str, str], int]:
    """(center code, case type, support need) -> cases under that need (延べ; ``none`` for people
    with no need recorded, so each center's rows cover every case at least once): the shape of
    ``disclosure.YearCounts.needs``.  By quarter too: ``family_table(year, "cases_by_need")``."""
    with cross_tenant(PURPOSE):
        return _need_cube(fiscal_year, scope or Scope.national(), _centers())


def _day_histograms(fiscal_year: int, measure: str, scope: Scope, centers) -> dict[tuple[str, str], dict[int, int]]:
    """(center code, dim1) -> {days: count}."""
    stmt = (select(Center.code, RollupDayCount.dim1, RollupDayCount.days, _total(RollupDayCount.count))
            .join(Center, Center.id == RollupDayCount.center_id)
            .where(RollupDayCount.fiscal_year == fiscal_year, RollupDayCount.measure == measure)
            .group_by(Center.code, RollupDayCount.dim1, RollupDayCount.days))
    out: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for code, dim, days, count in reporting_reads.rows(_in_scope(stmt, RollupDayCount, scope, centers)):
        out[(code, dim)][days] = int(count)
    return out


def _merge(histograms) -> dict[int, int]:
    total: dict[int, int] = defaultdict(int)
    for histogram in histograms:
        for days, count in histogram.items():
            total[days] += count
    return dict(total)


def day_statistics(fiscal_year: int, measure: str, scope: Scope | None = None) -> DayStatistics:
    """Count, exact median, mean, minimum and maximum of a day measure over the scope."""
    scope = scope or Scope.national()
    if measure not in rules.MEASURES:
        raise ValueError(f"unknown measure: {measure!r}")
    with cross_tenant(PURPOSE):
        return DayStatistics.of(_merge(_day_histograms(fiscal_year, measure, scope, _centers()).values()))


def day_statistics_by_center(fiscal_year: int, measure: str, scope: Scope | None = None) -> dict[str, DayStatistics]:
    scope = scope or Scope.national()
    with cross_tenant(PURPOSE):
        grouped: dict[str, list] = defaultdict(list)
        for (code, _dim), histogram in _day_histograms(fiscal_year, measure, scope, _centers()).items():
            grouped[code].append(histogram)
    return {code: DayStatistics.of(_merge(h)) for code, h in sorted(grouped.items())}


def _fu_open(fiscal_year: int, scope: Scope, centers) -> dict[str, int]:
    stmt = (select(Center.code, RollupCount.dim1, _total(RollupCount.value))
            .join(Center, Center.id == RollupCount.center_id)
            .where(RollupCount.family == "fu_span", RollupCount.fiscal_year <= fiscal_year)
            .group_by(Center.code, RollupCount.dim1))
    out: dict[str, int] = defaultdict(int)
    for code, ended, value in reporting_reads.rows(_in_scope(stmt, RollupCount, scope, centers)):
        if ended == rules.STILL_OPEN or int(ended) >= fiscal_year:
            out[code] += int(value)
    return dict(out)


def fu_open_during(fiscal_year: int, scope: Scope | None = None) -> dict[str, int]:
    """Center code -> FU cases open at some time during the fiscal year (started in or before
    it, not ended before it)."""
    scope = scope or Scope.national()
    with cross_tenant(PURPOSE):
        return _fu_open(fiscal_year, scope, _centers())


def transfer_pairs(fiscal_year: int, scope: Scope | None = None) -> dict[tuple[str, str], dict]:
    """(sending prefecture, receiving prefecture) -> received, accepted, declined and the exact
    median days to answer; ``sent`` as counted by the sending centers."""
    scope = scope or Scope.national()
    with cross_tenant(PURPOSE):
        centers = _centers()
        by_code = {c.code: c for c in centers.values()}
        families = ["transfers_sent", "transfers_received", "transfers_accepted", "transfers_declined"]
        out: dict[tuple[str, str], dict] = {}

        def pair(key):
            return out.setdefault(key, {"sent": 0, "received": 0, "accepted": 0, "declined": 0, "days": {}})

        for _year, code, family, other, _d2, _d3, value in _counts([fiscal_year], families, scope, centers):
            own, them = by_code[code].prefecture_code, by_code[other].prefecture_code
            if family == "transfers_sent":
                pair((own, them))["sent"] += value
            else:
                pair((them, own))[family.removeprefix("transfers_")] += value
        for (code, other), histogram in _day_histograms(fiscal_year, "transfer_days_to_answer", scope, centers).items():
            days = pair((by_code[other].prefecture_code, by_code[code].prefecture_code))["days"]
            for n, count in histogram.items():
                days[n] = days.get(n, 0) + count
    for figures in out.values():
        figures["median_days_to_answer"] = DayStatistics.of(figures.pop("days")).median
    return dict(sorted(out.items()))


# --- headline totals, year over year, trend -----------------------------------------------------

def _headline_column(headline: rules.Headline):
    """``sum(value) FILTER (WHERE <the headline's rows>)``: every headline in one pass."""
    condition = RollupCount.family == headline.family
    if headline.dimension is not None:
        position = rules.FAMILIES[headline.family].dimensions.index(headline.dimension)
        column = (RollupCount.dim1, RollupCount.dim2, RollupCount.dim3)[position]
        condition = and_(condition, column.in_(headline.values))
    return func.coalesce(cast(func.sum(RollupCount.value).filter(condition), BigInteger), 0).label(headline.code)


def _fu_open_totals(years: list[int], scope: Scope, centers) -> dict[int, int]:
    """Fiscal year -> FU cases open during it, over the whole scope (one read of ``fu_span``)."""
    stmt = (select(RollupCount.fiscal_year, RollupCount.dim1, _total(RollupCount.value))
            .where(RollupCount.family == "fu_span", RollupCount.fiscal_year <= max(years))
            .group_by(RollupCount.fiscal_year, RollupCount.dim1))
    spans = reporting_reads.rows(_in_scope(stmt, RollupCount, scope, centers))
    return {year: sum(value for started, ended, value in spans
                      if started <= year and (ended == rules.STILL_OPEN or int(ended) >= year))
            for year in years}


def _headline_totals(years: list[int], scope: Scope, centers) -> dict[int, dict[str, int]]:
    families = sorted({h.family for h in rules.HEADLINES.values()})
    stmt = (select(RollupCount.fiscal_year, *(_headline_column(h) for h in rules.HEADLINES.values()))
            .where(RollupCount.fiscal_year.in_(years), RollupCount.family.in_(families))
            .group_by(RollupCount.fiscal_year))
    found = {row[0]: row[1:] for row in reporting_reads.rows(_in_scope(stmt, RollupCount, scope, centers))}
    open_during = _fu_open_totals(years, scope, centers)
    totals = {}
    for year in years:
        values = found.get(year) or (0,) * len(rules.HEADLINES)
        totals[year] = {**{code: int(v) for code, v in zip(rules.HEADLINES, values)}, rules.FU_OPEN: open_during[year]}
    return totals


def headlines(fiscal_year: int, scope: Scope | None = None) -> dict[str, int]:
    """The dashboard's totals of one fiscal year (``rules.HEADLINES`` plus ``fu_open``)."""
    scope = scope or Scope.national()
    with cross_tenant(PURPOSE):
        return _headline_totals([fiscal_year], scope, _centers())[fiscal_year]


def trend(fiscal_year: int, scope: Scope | None = None, years: int = TREND_YEARS) -> dict[str, list[tuple[int, int]]]:
    """Each headline over the ``years`` fiscal years ending with ``fiscal_year``: [(year, value)]."""
    scope = scope or Scope.national()
    span = list(range(fiscal_year - years + 1, fiscal_year + 1))
    with cross_tenant(PURPOSE):
        totals = _headline_totals(span, scope, _centers())
    return {code: [(y, totals[y][code]) for y in span] for code in totals[fiscal_year]}


def year_over_year(fiscal_year: int, scope: Scope | None = None) -> dict[str, YearOverYear]:
    series = trend(fiscal_year, scope, years=2)
    return {code: YearOverYear(current=values[1][1], previous=values[0][1]) for code, values in series.items()}


def as_of(fiscal_year: int, scope: Scope | None = None) -> datetime:
    """Every change committed before this moment is in the figures of ``fiscal_year`` (and of the
    years before it, which the FU-open figure and the trend read)."""
    scope = scope or Scope.national()
    with cross_tenant(PURPOSE):
        return _as_of(fiscal_year, scope, _centers())


def last_rebuild() -> dict | None:
    """The latest finished full rebuild (when, and whether it reproduced the rollups exactly)."""
    run = db.session.scalar(select(RollupRun).where(RollupRun.status == "done")
                            .order_by(RollupRun.started_at.desc()).limit(1))
    return run_summary(run) if run is not None else None


# --- composed views ---------------------------------------------------------------------------------

def dashboard(fiscal_year: int, scope: Scope | None = None) -> dict:
    """The national dashboard: headline totals with last year's and a 5-year trend, the case cube
    (center, case type, quarter) and the support-need cube (center, case type, need), and
    ``as_of``; one cross-tenant read."""
    scope = scope or Scope.national()
    span = list(range(fiscal_year - TREND_YEARS + 1, fiscal_year + 1))
    with cross_tenant(PURPOSE):
        centers = _centers()
        as_of_moment = _as_of(fiscal_year, scope, centers)
        totals = _headline_totals(span, scope, centers)
        case_cube_now, need_cube_now = _case_cube(fiscal_year, scope, centers), _need_cube(fiscal_year, scope, centers)
    return {
        "fiscal_year": fiscal_year,
        "fiscal_year_label": fiscal_year_label(fiscal_year),
        "as_of": as_of_moment,
        "headlines": totals[fiscal_year],
        "year_over_year": {code: YearOverYear(totals[fiscal_year][code], totals[fiscal_year - 1][code])
                           for code in totals[fiscal_year]},
        "trend": {code: [(y, totals[y][code]) for y in span] for code in totals[fiscal_year]},
        "case_cube": case_cube_now,
        "support_need_cube": need_cube_now,
    }


def annual_report(fiscal_year: int, center_code: str) -> AnnualReport:
    """業務実績報告 of one center: every family, the day statistics, FU open, and its cases split
    by role (施設所在地 / 帰住予定地), all with the center's own role counted."""
    scope = Scope.center(center_code)
    with cross_tenant(PURPOSE):
        centers = _centers()
        if center_code not in {c.code for c in centers.values()}:
            raise ValueError(f"unknown center: {center_code!r}")
        as_of_moment = _as_of(fiscal_year, scope, centers)
        counts = _counts([fiscal_year], list(rules.FAMILIES), scope, centers)
        tables = {family: _table(fiscal_year, family, counts, as_of_moment) for family in rules.FAMILIES}
        days = {measure: DayStatistics.of(_merge(_day_histograms(fiscal_year, measure, scope, centers).values()))
                for measure in rules.MEASURES}
        totals = _headline_totals([fiscal_year], scope, centers)[fiscal_year]
        roles = _role_split(fiscal_year, center_code, centers)
    return AnnualReport(center=geography_of(centers, center_code), fiscal_year=fiscal_year,
                        fiscal_year_label=fiscal_year_label(fiscal_year), as_of=as_of_moment, headlines=totals,
                        tables=tables, day_statistics=days, fu_open=totals[rules.FU_OPEN], cases_by_role=roles)


def _role_split(fiscal_year: int, center_code: str, centers) -> dict[str, dict[str, int]]:
    """Case-type totals of the center by role: how many of its cases were handed on or received."""
    center_id = next(i for i, c in centers.items() if c.code == center_code)
    stmt = (select(RollupCount.dim1, RollupCount.role, func.sum(RollupCount.value))
            .where(RollupCount.center_id == center_id, RollupCount.fiscal_year == fiscal_year,
                   RollupCount.family == "cases")
            .group_by(RollupCount.dim1, RollupCount.role))
    out: dict[str, dict[str, int]] = {}
    for case_type, role, value in reporting_reads.rows(stmt):
        out.setdefault(case_type, {r: 0 for r in rules.ROLES})[role] = int(value)
    return out


def geography_of(centers: dict[uuid.UUID, Center], code: str) -> Geography:
    c = next(c for c in centers.values() if c.code == code)
    return Geography(c.code, c.name, c.prefecture_code, c.prefecture_name, c.region)
