"""Reporting (集計の公表): the one place where figures become what a viewer may see.

Pages, charts, the API, CSV and XLSX all call this service and receive tables that are already
suppressed; none of them sees a count that this module did not let through.

Who sees what (``Viewer``)
--------------------------
* ``ministry`` and ``association`` (国・全国協議会): every table with the common pattern, no
  exemption.
* ``center_admin`` (センター長): its own center's cells exactly (``Exemption(center=...)``), every
  national row with the common pattern; rows of other centers, prefectures and regions are
  left out (the contract: "their own center exactly, plus national rows").  Its own reports
  (``own_report``) are exact and counted as the center's own report (rule 5 of ``rules``).
* ``prefecture`` (都道府県の担当者): the same for every center of its prefecture
  (``Exemption(prefecture=...)``): Hokkaido's viewer sees both Hokkaido centers.

The contract cube and its pattern
---------------------------------
The pattern is computed once per fiscal year from the nationally counted cube (a person handed
between centers counted once: ``figures.Scope.national()``), with ``disclosure.compute_pattern``
over every offered breakdown together, and every contract table is cut from it by
``disclosure.publish``.  The threshold is ``DISCLOSURE_THRESHOLD`` (default 10).

Caching.  Computing a pattern takes 0.15-0.75 s, reading the rollups a few milliseconds, so each
process keeps one ``YearBundle`` (pattern, suppressed family tables, headline cells) per (fiscal
year, threshold) together with the *rollup version* it was computed from: a digest of every
``(center, computed_at)`` of that year's ``rollup_slices``.  Every write of a year's rollups
(a slice job, the sweep, the nightly rebuild) stamps its slice, so a new version means changed
figures and the bundle is recomputed; an unchanged version means the same rollups.  ``as_of``
(``figures.as_of``) is not the key: with nothing pending it is the moment of reading and moves on
every call, while the figures do not.  Each answer carries the ``as_of`` of its own read.  The
dashboard (headlines, year over year, trend) is cached the same way on the versions of every
year up to its own.  A warm answer costs four small reads (the audit entry of the cross-tenant
read, the slices' stamps, the centers, ``as_of``): ``make bench`` (``aggregates-api``) measures
it over HTTP at 2,000,000 cases.

Tables beyond the cube (``FAMILY_VIEWS``)
-----------------------------------------
Each family table is suppressed by ``family_tables.suppress`` (primary suppression plus exact
complementary suppression, anchored to the cube where a cell is also a cube cell):

* CO requests by requester x facility, 被疑者等支援 requests by stage, 相談支援 by who asked:
  national level only (their grand totals are cube cells: see ``family_tables``, "Anchors").
* CO endings, placements, return area, FU closings, 被疑者等支援 supported, network
  activities: by regional block, one pattern per family and year over the region table; the
  national table is its total row.
* 被疑者等支援 outcomes (reason x placement) and activity participants (sector x type, with the
  add-on subtotal): national level only, as two-way tables with their margins.
* Transfers by pair of regional blocks (received, accepted, declined), each a two-way table with
  margins; the viewer of Hokkaido knows the 北海道 row and column.  Prefecture pairs are not
  published to anyone but the two centers' own reports.  Transfers sent: the national total,
  primary suppression only (no published table shares a relation with it).
* Day statistics: the national median and mean of each measure, published only when the count
  underneath is at least the threshold (never the count itself, nor the minimum or maximum: one
  person's value).
* FU cases open during the year (``fu_open``) are a running balance: the FU cases started up to
  the year minus those closed before it, so the started and closed totals of every earlier year
  determine it.  It is published only when all of those are published (it then adds nothing)
  and it is not itself a small count.
* Headlines, year over year and the 5-year trend are cells of the tables above, each year with
  that year's pattern: a suppressed cell stays suppressed in every chart.

Nobody gets row-level data: every number here is a count, a sum of participants or a median.
"""
from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from ...platform.centers import Center
from ...platform.extensions import db
from ...platform.i18n import fiscal_year_label, fiscal_year_of, today_jst
from ...platform.permissions import Role
from ...platform.tenancy import cross_tenant
from ...tenants.activities.models import ADDON_TYPES
from ...tenants.cases.lifecycle import CASE_TYPES
from . import figures, rules
from .disclosure import (
    BREAKDOWNS, DEFAULT_THRESHOLD, GEOGRAPHIC, REGIONS, CenterPlace, DisclosurePolicy, Exemption, Geography,
    SuppressionPattern, YearCounts, compute_pattern, parse_breakdown, publish,
)
from .family_tables import Grid, PublishedGrid, suppress
from .models import RollupSlice

PURPOSE = "aggregates.reporting"
FIRST_FISCAL_YEAR = 2009  # the first centers opened in FY2009 (平成21年度)
TREND_YEARS = 5
SUPPORT_NEEDS = tuple(rules.FAMILIES["cases_by_need"].values["support_need"])
NATIONAL_ROLES = frozenset({Role.MINISTRY, Role.ASSOCIATION})
EXEMPT_ROLES = frozenset({Role.CENTER_ADMIN, Role.PREFECTURE})
TRANSFER_MEASURES = ("received", "accepted", "declined")
CUBE_HEADLINES = {"co_requests": "coordination", "fu_started": "follow_up", "ss_requests": "suspect_support",
                  "consultations": "consultation"}


class NotVisible(LookupError):
    """A center the viewer has no report of (another center, or an unknown code): callers answer
    it as "not found", the same for both."""


# --- viewers -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Viewer:
    """Who is looking, as far as disclosure is concerned: the role, and for the exempt roles the
    center admin's center and that center's prefecture (JIS code), or the prefecture official's
    prefecture (its account's own ``prefecture_code``: it belongs to no center)."""

    role: Role
    center_code: str | None = None
    prefecture_code: str | None = None

    @classmethod
    def of(cls, user) -> "Viewer":
        """The viewer of a signed-in account; ``PermissionError`` for roles that see no figures."""
        role = Role(user.role)
        if role in NATIONAL_ROLES:
            return cls(role)
        if role == Role.CENTER_ADMIN and user.center is not None:
            return cls(role, user.center.code, user.center.prefecture_code)
        if role == Role.PREFECTURE and user.prefecture_code:
            return cls(role, None, user.prefecture_code)  # a prefecture official has no center
        raise PermissionError("this role sees no aggregate figures")

    @property
    def national(self) -> bool:
        return self.role in NATIONAL_ROLES

    def exemption(self) -> Exemption | None:
        """The exact cells this viewer is entitled to (None: the common pattern only)."""
        if self.role == Role.CENTER_ADMIN:
            return Exemption(center=self.center_code)
        if self.role == Role.PREFECTURE:
            return Exemption(prefecture=self.prefecture_code)
        return None

    def own_centers(self, geography: Geography) -> frozenset[str]:
        exemption = self.exemption()
        return exemption.centers(geography) if exemption else frozenset()


def threshold() -> int:
    """``DISCLOSURE_THRESHOLD``, refused below 2 (1 would switch suppression off)."""
    return DisclosurePolicy(int(current_app.config.get("DISCLOSURE_THRESHOLD", DEFAULT_THRESHOLD))).threshold


def fiscal_year_error(fiscal_year) -> str | None:
    """The Japanese message for a fiscal year outside FY2009 .. this fiscal year, or None."""
    low, high = FIRST_FISCAL_YEAR, fiscal_year_of(today_jst())
    if isinstance(fiscal_year, bool) or not isinstance(fiscal_year, int) or not low <= fiscal_year <= high:
        return (f"年度は{low}（{fiscal_year_label(low)}）から{high}（{fiscal_year_label(high)}）"
                "までの西暦で指定してください。")
    return None


def current_fiscal_year() -> int:
    return fiscal_year_of(today_jst())


# --- the family tables on offer ----------------------------------------------------------------

@dataclass(frozen=True)
class FamilyView:
    """How one family is published: its column dimension, a second (row) dimension for two-way
    families, whether a table by regional block is offered, and the case type whose national
    cube cell its grand total is (an anchor)."""

    family: str
    column: str
    row: str | None = None
    regional: bool = False
    anchor_case_type: str | None = None
    subtotals: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return rules.FAMILIES[self.family].label

    @property
    def unit(self) -> str:
        return rules.FAMILIES[self.family].unit

    def values(self, dimension: str) -> tuple:
        return tuple(rules.FAMILIES[self.family].values[dimension])


FAMILY_VIEWS: dict[str, FamilyView] = {v.family: v for v in (
    FamilyView("co_requests", column="facility_type", row="requester", anchor_case_type="coordination"),
    FamilyView("co_ended", column="reason", regional=True),
    FamilyView("co_placements", column="placement", regional=True),
    FamilyView("co_return", column="area", regional=True),
    FamilyView("fu_closed", column="reason", regional=True),
    FamilyView("ss_requests", column="suspect_stage", anchor_case_type="suspect_support"),
    FamilyView("ss_supported", column="suspect_stage", regional=True),
    FamilyView("ss_outcomes", column="placement", row="reason"),
    FamilyView("consultations", column="requester_type", anchor_case_type="consultation"),
    FamilyView("activities", column="activity_type", regional=True, subtotals={"addon": ADDON_TYPES}),
    FamilyView("activity_participants", column="activity_type", row="sector", subtotals={"addon": ADDON_TYPES}),
)}
LEVELS = ("national", "region")


def family_grid(view: FamilyView, table: figures.FigureTable, places: dict[str, CenterPlace], level: str) -> Grid:
    """A family's counts as a two-way table: by region (``level="region"``) or by the family's
    second dimension, or a single national row."""
    spec = rules.FAMILIES[view.family]
    counts: dict[tuple, int] = defaultdict(int)
    column_at = spec.dimensions.index(view.column) + 1
    row_at = spec.dimensions.index(view.row) + 1 if view.row else None
    for key, value in table.rows.items():
        if level == "region":
            row = places[key[0]].region
        else:
            row = key[row_at] if row_at else None
        counts[(row, key[column_at])] += value
    return _grid(view, counts, "region" if level == "region" else view.row, tuple(_regions(places)))


def _grid(view: FamilyView, counts: dict[tuple, int], row_dimension: str | None, regions: tuple = ()) -> Grid:
    """The grid of a view: its listed values first, then any other value the counts hold (a
    closing reason left empty counts as ``unknown``), so that no count falls outside the table."""
    columns = _with_observed(view.values(view.column), (c for _, c in counts))
    if row_dimension == "region":
        rows = regions
    else:
        rows = _with_observed(view.values(view.row), (r for r, _ in counts)) if row_dimension else ()
    return Grid(row_dimension, view.column, rows, columns, counts, view.subtotals)


def _with_observed(listed: tuple, observed) -> tuple:
    extra = sorted({str(v) for v in observed if v is not None} - set(listed))
    return (*listed, *extra)


def _regions(places: dict[str, CenterPlace]) -> list[str]:
    present = {p.region for p in places.values()}
    return [r for r in REGIONS if r in present]


def _known_regions(places: dict[str, CenterPlace]) -> list[set[str]]:
    """For each prefecture viewer who knows a whole regional block (Hokkaido's: 北海道), the
    blocks it knows; a single center never knows a block (every block has several centers)."""
    by_region: dict[str, set[str]] = defaultdict(set)
    by_prefecture: dict[str, set[str]] = defaultdict(set)
    for code, place in places.items():
        by_region[place.region].add(code)
        by_prefecture[place.prefecture].add(code)
    known = []
    for centers in by_prefecture.values():
        regions = {r for r, members in by_region.items() if members <= centers}
        if regions:
            known.append(regions)
    return known


# --- one fiscal year, suppressed once ---------------------------------------------------------------

@dataclass(frozen=True)
class DayFigure:
    """A published day statistic: median and mean, or neither when too few cases underlie it."""

    median: float | None
    mean: float | None

    @property
    def suppressed(self) -> bool:
        return self.median is None


@dataclass(frozen=True)
class YearBundle:
    """One fiscal year, national, as it may be published: the cube's pattern, every family table,
    the transfer tables, the day statistics and the headline cells (except ``fu_open``)."""

    fiscal_year: int
    threshold: int
    version: str
    pattern: SuppressionPattern
    families: dict[str, PublishedGrid]
    transfers: dict[str, PublishedGrid]
    transfers_sent: dict
    days: dict[str, DayFigure]
    headlines: dict[str, dict]
    cacheable: bool = True


_CACHE: dict[tuple[int, int], YearBundle] = {}
_DASHBOARDS: dict[tuple[int, int], "Dashboard"] = {}
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class RollupState:
    """What the figures of the years up to one fiscal year are made of, read in two queries: the
    geography and each year's rollup version (a digest of its slices' ``(center, computed_at)``,
    which every rollup write stamps).  Years without slices have no rollups: all their counts are 0."""

    places: dict[str, CenterPlace]
    versions: dict[int, str]

    def version(self, fiscal_year: int) -> str:
        return self.versions.get(fiscal_year, "empty") + "|" + _places_digest(self.places)

    def versions_up_to(self, fiscal_year: int) -> str:
        listed = sorted((y, v) for y, v in self.versions.items() if y <= fiscal_year)
        return hashlib.sha256(repr(listed).encode()).hexdigest() + "|" + _places_digest(self.places)


def rollup_state(up_to: int, *, only: bool = False) -> RollupState:
    """The state of every fiscal year up to ``up_to`` (``only``: of that year alone)."""
    year = RollupSlice.fiscal_year
    rows = db.session.execute(select(year, RollupSlice.center_id, RollupSlice.computed_at)
                              .where(year == up_to if only else year <= up_to)
                              .order_by(year, RollupSlice.center_id)).all()
    digests: dict = {}
    for year, center_id, computed_at in rows:
        digest = digests.setdefault(year, hashlib.sha256())
        digest.update(f"{center_id}|{computed_at.isoformat() if computed_at else ''};".encode())
    return RollupState(_places(), {year: digest.hexdigest() for year, digest in digests.items()})


def _places() -> dict[str, CenterPlace]:
    """Every center's prefecture and regional block (reference data, read without the ORM's
    per-object cost: this runs on every request)."""
    rows = db.session.execute(select(Center.code, Center.prefecture_code, Center.region)).all()
    return {code: CenterPlace(code, prefecture, region) for code, prefecture, region in rows}


def bundle(fiscal_year: int, state: RollupState | None = None) -> YearBundle:
    """The year's published figures, from the process cache when the rollups have not changed.
    Runs inside the caller's ``cross_tenant`` scope (``reading``)."""
    limit = threshold()
    state = state or rollup_state(fiscal_year, only=True)
    version = state.version(fiscal_year)
    with _CACHE_LOCK:
        cached = _CACHE.get((fiscal_year, limit))
    if cached is not None and cached.version == version:
        return cached
    fresh = _compute_bundle(fiscal_year, limit, version, state.places)
    if fresh.cacheable:
        with _CACHE_LOCK:
            _CACHE[(fiscal_year, limit)] = fresh
    return fresh


def _places_digest(places: dict[str, CenterPlace]) -> str:
    """The geography is part of the key: a center added or moved changes every table's rows."""
    listed = sorted((p.code, p.prefecture, p.region) for p in places.values())
    return hashlib.sha256(repr(listed).encode()).hexdigest()[:16]


def clear_cache() -> None:
    """Forget every bundle and dashboard (tests change the threshold or the data under a running process)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _DASHBOARDS.clear()


def _compute_bundle(fiscal_year: int, limit: int, version: str, places: dict[str, CenterPlace]) -> YearBundle:
    geography = Geography(places.values())
    tables = {family: figures.family_table(fiscal_year, family) for family in
              ("cases", "cases_by_need", *FAMILY_VIEWS)}
    counts = YearCounts(fiscal_year, tuple(CASE_TYPES), SUPPORT_NEEDS, tables["cases"].rows,
                        tables["cases_by_need"].by("center", "case_type", "support_need"))
    pattern = compute_pattern(counts, geography, DisclosurePolicy(limit))
    cube = {row["case_type"]: row for row in publish(pattern, ("case_type",)).rows if row["case_type"] is not None}
    families, consistent = {}, True
    for code, view in FAMILY_VIEWS.items():
        families[code], matches = _suppress_family(view, tables[code], places, cube, limit)
        consistent = consistent and matches
    transfers, sent = _suppress_transfers(fiscal_year, places, limit)
    days = {m: _day_figure(figures.day_statistics(fiscal_year, m), limit) for m in rules.MEASURES}
    headlines = _headline_cells(cube, families, transfers, sent)
    return YearBundle(fiscal_year, limit, version, pattern, families, transfers, sent, days, headlines,
                      cacheable=consistent)


def _suppress_family(view: FamilyView, table: figures.FigureTable, places: dict[str, CenterPlace],
                     cube: dict[str, dict], limit: int) -> tuple[PublishedGrid, bool]:
    """The family's one pattern: over the region table when offered by region, else national.
    Returns it and whether its anchor agreed with the cube (a torn read otherwise: the anchor is
    then hidden and the bundle not cached)."""
    level = "region" if view.regional else "national"
    grid = family_grid(view, table, places, level)
    anchors, matches = {}, True
    if view.anchor_case_type is not None:
        cell = cube[view.anchor_case_type]
        matches = cell["suppressed"] or cell["count"] == grid.value((None, None))
        anchors[(None, None)] = bool(cell["suppressed"]) or not matches
    known = [[(r, c) for r in regions for c in (*grid.columns, *grid.subtotals, None)]
             for regions in _known_regions(places)] if level == "region" else []
    return suppress(grid, limit, anchors=anchors, known=known), matches


def _suppress_transfers(fiscal_year: int, places: dict[str, CenterPlace], limit: int) -> tuple[dict, dict]:
    """Region-pair tables of received, accepted and declined requests; the national sent total."""
    regions = tuple(_regions(places))
    region_of = {p.prefecture: p.region for p in places.values()}
    counts = {m: defaultdict(int) for m in TRANSFER_MEASURES}
    sent = 0
    for (sending, receiving), values in figures.transfer_pairs(fiscal_year).items():
        for measure in TRANSFER_MEASURES:
            counts[measure][(region_of[sending], region_of[receiving])] += values[measure]
        sent += values["sent"]
    known = []
    for known_regions in _known_regions(places):
        cells = [(r, c) for r in (*regions, None) for c in (*regions, None) if r in known_regions or c in known_regions]
        known.append(cells)
    tables = {m: suppress(Grid("sending_region", "receiving_region", regions, regions, counts[m]), limit, known=known)
              for m in TRANSFER_MEASURES}
    hidden = 1 <= sent < limit
    return tables, {"count": None if hidden else sent, "suppressed": hidden}


def _day_figure(stats: figures.DayStatistics, limit: int) -> DayFigure:
    if stats.count < limit:
        return DayFigure(None, None)
    return DayFigure(stats.median, round(stats.mean, 1) if stats.mean is not None else None)


def _cell(count, suppressed) -> dict:
    return {"count": None if suppressed else count, "suppressed": bool(suppressed)}


def _headline_cells(cube: dict, families: dict[str, PublishedGrid], transfers: dict[str, PublishedGrid],
                    sent: dict) -> dict[str, dict]:
    """Each headline of ``rules.HEADLINES`` as the published cell it is (see the module docstring)."""
    def total(family: str, column=None) -> dict:
        entry = families[family].national().cell(None, column)
        return _cell(entry["count"], entry["suppressed"])

    accepted = transfers["accepted"].cell(None, None)

    cells = {code: _cell(cube[t]["count"], cube[t]["suppressed"]) for code, t in CUBE_HEADLINES.items()}
    cells.update({
        "co_released": total("co_return"), "co_ended": total("co_ended"), "fu_closed": total("fu_closed"),
        "ss_supported": total("ss_supported"), "transfers_sent": dict(sent),
        "transfers_accepted": _cell(accepted["count"], accepted["suppressed"]),
        "addon_activities": total("activities", "addon"), "addon_participants": total("activity_participants", "addon"),
    })
    missing = set(rules.HEADLINES) - set(cells)
    if missing:
        raise RuntimeError(f"headlines without a published cell: {sorted(missing)}")
    return cells


# --- reading scope ------------------------------------------------------------------------------------

def reading():
    """One audited cross-tenant read for a whole answer: the figures and submissions calls made
    inside it share its one audit entry (a nested ``cross_tenant`` keeps the outer purpose)."""
    return cross_tenant(PURPOSE)


# --- the contract's table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ContractTable:
    """The answer of ``GET /api/v1/aggregates/cases``: rows already suppressed for the viewer."""

    fiscal_year: int
    by: tuple[str, ...]
    rows: list[dict]
    suppression_threshold: int
    as_of: datetime

    def as_json(self) -> dict:
        return {"fiscal_year": self.fiscal_year, "by": list(self.by),
                "suppression_threshold": self.suppression_threshold, "as_of": self.as_of.isoformat(), "rows": self.rows}

    @property
    def columns(self) -> list[str]:
        """The keys of every row, in order (the CSV header)."""
        return [*self.by, "count", "suppressed"]


BREAKDOWN_CHOICES = tuple(",".join(b) for b in BREAKDOWNS)  # "" (the national total), "region", ...


def parse_by(text: str | None) -> tuple[str, ...]:
    """``"region,case_type"`` -> ``("region", "case_type")``; ``ValueError`` outside ``BREAKDOWNS``."""
    return parse_breakdown(text or "")


def contract_table(viewer: Viewer, fiscal_year: int, by: tuple[str, ...]) -> ContractTable:
    """The cube by ``by`` for this viewer: cut from the year's one pattern; exempt viewers get their
    own cells exactly and only their own geographic rows besides the national ones."""
    with reading():
        year = bundle(fiscal_year)
        as_of = figures.as_of(fiscal_year)
    table = publish(year.pattern, by, viewer.exemption())
    rows = visible_rows(table.rows, by, viewer, year.pattern.geography)
    return ContractTable(fiscal_year, tuple(by), rows, year.threshold, as_of)


def visible_rows(rows: list[dict], by, viewer: Viewer, geography: Geography) -> list[dict]:
    """National viewers: every row.  Exempt viewers: rows whose geographic keys are all totals or
    units made only of their own centers (other centers', prefectures' and regions' rows are
    left out, not merely suppressed)."""
    if viewer.national:
        return list(rows)
    own = viewer.own_centers(geography)
    levels = [d for d in by if d in GEOGRAPHIC]
    return [row for row in rows
            if all(row[level] is None or geography.centers_of(level, row[level]) <= own for level in levels)]


# --- the national dashboard ----------------------------------------------------------------------

@dataclass(frozen=True)
class Headline:
    code: str
    label: str
    current: dict
    previous: dict

    @property
    def change(self) -> int | None:
        """Change from the previous year, only when both years are published."""
        if self.current["suppressed"] or self.previous["suppressed"]:
            return None
        return self.current["count"] - self.previous["count"]


@dataclass(frozen=True)
class Dashboard:
    fiscal_year: int
    threshold: int
    as_of: datetime | None
    headlines: list[Headline]
    trend: dict[str, list[tuple[int, int | None]]]
    bundle: YearBundle
    version: str = ""


def dashboard(fiscal_year: int) -> Dashboard:
    """Headlines with last year's, the 5-year trend of every headline, and the year's bundle.
    Cached like the bundles, on the versions of every year up to ``fiscal_year`` (the FU-open rule
    and the trend read them all); ``as_of`` is read on every call."""
    limit = threshold()
    with reading():
        state = rollup_state(fiscal_year)
        key = state.versions_up_to(fiscal_year)
        with _CACHE_LOCK:
            cached = _DASHBOARDS.get((fiscal_year, limit))
        board = cached if cached is not None and cached.version == key else _compute_dashboard(fiscal_year, state, key)
        as_of = figures.as_of(fiscal_year)
    return replace(board, as_of=as_of)


def _compute_dashboard(fiscal_year: int, state: RollupState, key: str) -> Dashboard:
    first = max(FIRST_FISCAL_YEAR, fiscal_year - TREND_YEARS + 1)
    years = sorted({y for y in state.versions if y >= FIRST_FISCAL_YEAR} | {fiscal_year})
    bundles = {y: bundle(y, state) for y in years}
    raw = figures.trend(fiscal_year, years=fiscal_year - FIRST_FISCAL_YEAR + 1)
    cells = _yearly_cells(bundles, raw, range(first - 1, fiscal_year + 1))
    codes = [*rules.HEADLINES, rules.FU_OPEN]
    headlines = [Headline(code, headline_label(code), cells[fiscal_year][code], cells[fiscal_year - 1][code])
                 for code in codes]
    trend = {code: [(y, cells[y][code]["count"]) for y in range(first, fiscal_year + 1)] for code in codes}
    board = Dashboard(fiscal_year, bundles[fiscal_year].threshold, None, headlines, trend, bundles[fiscal_year], key)
    if all(b.cacheable for b in bundles.values()):
        with _CACHE_LOCK:
            _DASHBOARDS[(fiscal_year, board.threshold)] = board
    return board


def headline_label(code: str) -> str:
    return rules.FU_OPEN_LABEL if code == rules.FU_OPEN else rules.HEADLINES[code].label


def _yearly_cells(bundles: dict[int, YearBundle], raw: dict[str, list[tuple[int, int]]], years) -> dict[int, dict]:
    """Year -> headline code -> published cell, ``fu_open`` by its rule (module docstring).  A
    year without rollups has only zeros: nothing in it is suppressed."""
    limit = next(iter(bundles.values())).threshold
    values = {code: dict(series) for code, series in raw.items()}

    def published(year: int, code: str) -> dict:
        if year in bundles:
            return bundles[year].headlines[code]
        return _cell(values.get(code, {}).get(year, 0), False)

    out: dict[int, dict] = {}
    history_clear = True
    for year in range(FIRST_FISCAL_YEAR, max(years) + 1):
        history_clear = history_clear and not published(year, "fu_started")["suppressed"]
        open_count = values[rules.FU_OPEN].get(year, 0)
        cells = {code: published(year, code) for code in rules.HEADLINES}
        cells[rules.FU_OPEN] = _cell(open_count, not history_clear or 1 <= open_count < limit)
        history_clear = history_clear and not cells["fu_closed"]["suppressed"]
        out[year] = cells
    return {y: out.get(y) or {code: _cell(0, False) for code in (*rules.HEADLINES, rules.FU_OPEN)} for y in years}


def national_family(fiscal_year: int, family: str, level: str = "national") -> PublishedGrid:
    """A family table as published: by region (when offered) or national; ``ValueError`` otherwise."""
    view = FAMILY_VIEWS.get(family)
    if view is None or level not in LEVELS or (level == "region" and not view.regional):
        raise ValueError(f"no such table: {family} by {level}")
    with reading():
        grid = bundle(fiscal_year).families[family]
    return grid if level == "region" else grid.national()


def national_transfers(fiscal_year: int) -> tuple[dict[str, PublishedGrid], dict]:
    with reading():
        year = bundle(fiscal_year)
    return year.transfers, year.transfers_sent


def ranking(fiscal_year: int, case_type: str | None = None) -> list[dict]:
    """Prefectures by their published count (of one case type, or all), largest first; suppressed
    prefectures last (their order says nothing: by code)."""
    with reading():
        year = bundle(fiscal_year)
    by = ("prefecture", "case_type") if case_type else ("prefecture",)
    rows = [r for r in publish(year.pattern, by).rows
            if r["prefecture"] is not None and (not case_type or r["case_type"] == case_type)]
    return sorted(rows, key=lambda r: (r["suppressed"], -(r["count"] or 0), r["prefecture"]))


def as_of(fiscal_year: int) -> datetime:
    with reading():
        return figures.as_of(fiscal_year)


# --- a center's own report ---------------------------------------------------------------------------

def visible_centers(viewer: Viewer) -> list[figures.Geography]:
    """The centers whose own reports the viewer may read: its center, or its prefecture's."""
    places = figures.geography()
    if viewer.role == Role.CENTER_ADMIN:
        return [places[viewer.center_code]]
    if viewer.role == Role.PREFECTURE:
        return [g for g in places.values() if g.prefecture_code == viewer.prefecture_code]
    return []


def own_report(viewer: Viewer, fiscal_year: int, center_code: str) -> dict:
    """業務実績報告 of one of the viewer's own centers, exact (``report_figures``); ``NotVisible``
    for any other center."""
    if center_code not in {g.code for g in visible_centers(viewer)}:
        raise NotVisible(center_code)
    with reading():
        return report_figures(figures.annual_report(fiscal_year, center_code))


def report_figures(report: figures.AnnualReport) -> dict:
    """An annual report as plain JSON values: what a submission stores and every view reads."""
    tables = {}
    for family, table in report.tables.items():
        rows = [[*key[1:], value] for key, value in table.rows.items()]
        tables[family] = sorted(rows, key=lambda r: [str(v) for v in r])
    return {
        "center": report.center.code, "fiscal_year": report.fiscal_year, "as_of": report.as_of.isoformat(),
        "headlines": dict(report.headlines), "fu_open": report.fu_open, "tables": tables,
        "day_statistics": {m: {"count": s.count, "median": s.median,
                               "mean": None if s.mean is None else round(s.mean, 1)}
                           for m, s in report.day_statistics.items()},
        "cases_by_role": report.cases_by_role,
    }


def report_value(report: dict, family: str, *key) -> int:
    """One cell of a report's family table (keys without the center; missing: 0), summed over
    the dimensions not given."""
    return sum(row[-1] for row in report["tables"].get(family, []) if list(row[:len(key)]) == list(key))


@dataclass(frozen=True)
class OwnSection:
    """One family table of a center's own report, laid out for display (rows x columns, exact)."""

    family: str
    label: str
    row_dimension: str | None
    column_dimension: str
    rows: tuple
    columns: tuple
    cells: dict  # (row, column) -> count, with None for totals


def own_sections(report: dict) -> list[OwnSection]:
    """The report's family tables in the order of ``FAMILY_VIEWS`` (exact: the viewer's own)."""
    sections = []
    for code, view in FAMILY_VIEWS.items():
        spec = rules.FAMILIES[code]
        column_at = spec.dimensions.index(view.column)
        row_at = spec.dimensions.index(view.row) if view.row else None
        counts: dict[tuple, int] = defaultdict(int)
        for *key, value in report["tables"].get(code, []):
            counts[(key[row_at] if row_at is not None else None, key[column_at])] += value
        grid = _grid(view, counts, view.row)
        cells = {cell: grid.value(cell) for cell in grid.cells()}
        sections.append(OwnSection(code, view.label, view.row, view.column, grid.rows,
                                   (*grid.columns, *grid.subtotals, None), cells))
    return sections


def own_case_cube(report: dict) -> dict:
    """(case type or None, quarter or None) -> cases, exact, from a report's ``cases`` table."""
    out: dict[tuple, int] = defaultdict(int)
    for case_type, quarter, value in report["tables"].get("cases", []):
        for t in (case_type, None):
            for q in (int(quarter), None):
                out[(t, q)] += value
    return dict(out)


def own_needs(report: dict) -> dict:
    """(case type or None, support need) -> cases under that need (延べ), exact."""
    out: dict[tuple, int] = defaultdict(int)
    for case_type, _quarter, need, value in report["tables"].get("cases_by_need", []):
        out[(case_type, need)] += value
        out[(None, need)] += value
    return dict(out)


def own_transfers(report: dict) -> list[dict]:
    """Per other center: sent, received, accepted, declined (the center's own transfers)."""
    out: dict[str, dict] = {}
    for measure in ("sent", "received", "accepted", "declined"):
        for other, value in report["tables"].get(f"transfers_{measure}", []):
            out.setdefault(other, {"sent": 0, "received": 0, "accepted": 0, "declined": 0})[measure] += value
    return [{"center": code, **values} for code, values in sorted(out.items())]

