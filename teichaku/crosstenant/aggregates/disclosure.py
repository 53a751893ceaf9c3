"""Disclosure control for the national aggregates: which counts may be shown to whom.

The rule (issue 6)
------------------
A count from 1 to ``threshold - 1`` (default 10, the ministry's rule for its NDB open data) is
suppressed; zeros are shown.  Figures that involve only one center are exact for that center's
own head and for its prefecture's viewer.  Complementary (secondary) suppression makes sure no
suppressed count can be computed back from what is published: from row, column or grand totals,
and from any number of the offered breakdowns requested one after the other.

The model
---------
One fiscal year is a "cube" of two families of counts:

* ``cases`` (実人数): ``(center, case_type, quarter) -> count``.  Additive in every dimension.
* ``needs`` (延べ): ``(center, case_type, support_need) -> count``.  A case with several support
  needs is counted once per need, so needs do not add up to the cases total: the need family is
  additive over centers and case types, never over needs, and it shares no equation with the
  cases family (its "total over needs" rows are the cases family's 実人数 totals).

Geography is hierarchical: center -> prefecture -> one of the eight regional blocks -> national.
A *cell* is one number any offered table can show: a set of centers (a center, a prefecture, a
region or all of them) with a case type or its total, a quarter or its total, and a need or
none.  Cells are identified by what they add up (two centers' Hokkaido is one cell, whether it
is asked for as the prefecture or as the region; a prefecture with one center is that center),
so the same number always has the same fate.  The cells are the union of the cells of every
breakdown in ``BREAKDOWNS`` with all their margins; this is a fixed list, and the suppression
pattern is computed once per fiscal year over all of it, so every table is cut from the same
pattern and no two requests can be played against each other.

Relations and why they are complete
-----------------------------------
A *relation* says a cell equals the sum of the cells that partition it along one dimension
(geography at a finer level, case types, quarters), when all those cells exist.  Knowing the
published cells, an observer learns a suppressed cell exactly iff its unit vector lies in the
row space of the relation matrix restricted to the suppressed cells (published cells move to the
right-hand side).  That is only the truth if the relations imply *every* linear dependency among
the cells.  They do for this list: every coarse cell has a relation down to the center level, so
all cells are functions of the most detailed tables (center x case type, center x quarter,
case type x quarter; center x need, case type x need); those are two-way margins of three-way
tables, whose only dependencies are the agreement of their shared one-way margins and grand
total (the rank of the no-three-way-interaction model), and those shared margins are cells
with relations to both tables.  The tests check this against the ground truth: they
rebuild every published cell as a vector over the finest counts and do the linear algebra there.

Who is protected against what
-----------------------------
A center knows its own counts: it keyed them in.  A prefecture's viewer knows its centers'
counts.  So the one common pattern must hold even for an observer who knows one center's (or
one prefecture's) counts exactly and subtracts them from a published total.  The pattern is
checked for the *exemption family*: nobody, each center, and each prefecture with more than one
center (Hokkaido).  For each member E the cells made only of E's centers count as known, and no
other suppressed cell may be determined.  Because the pattern already resists E's own knowledge,
showing E's viewer its own cells exactly (``publish(..., exempt=...)``) reveals nothing more.

The algorithm
-------------
1. Primary suppression: every cell with ``1 <= count < threshold``.
2. Local rules, for every member of the exemption family, to a fixpoint.  Call a cell unknown
   to a member when it is suppressed and not the member's own.  A relation with exactly one
   unknown cell gives it away; a relation whose total is known and whose unknown parts add up
   to 0 gives them away too, by non-negativity.
   Either way one more cell of that relation is suppressed (the smallest positive count, the
   total when only zeros are left: a suppressed zero is published as null like any other).
3. The exact check.  Step 2 alone is not enough: in a case type x quarter table, hidden cells
   can sit two to a row and two to a column and still be solved for by combining rows and
   columns (``tests/test_disclosure.py`` keeps such a pattern).  So: Gauss-Jordan elimination
   over the integers (fraction-free, rows kept primitive by their gcd: exact) of the relations
   restricted to the suppressed cells, once per round; for each member of the exemption family
   the cells it owns are added as unit rows to a copy.  A suppressed cell is determined iff its
   row in the reduced echelon form has no other entry.  Each determined cell gets one more
   suppressed cell: the smallest positive published count in the relations around it (breadth
   first through the suppressed cells it is tied to), unless a cell was already added next to
   it in this round (the next round sees whether that was enough).  Back to 2.
Every round adds at least one cell and suppressing everything determines nothing, so it ends.

The engine (``Echelon``, ``determined_cells``, ``zero_sum_parts``, ``nearest_cell``) is the one
exact check and nearest-cell search of the platform: ``family_tables`` suppresses its small
two-way tables with it too, so a fix to either lands in both.
For the 48 centers (895 cells) a year takes 0.15-0.75 s on one core, most for small years where
half the cells are below the threshold.

What is not guaranteed
----------------------
* Bounds.  A suppressed cell cannot be computed exactly, but the interval an observer can infer
  (from non-negativity and the sums) may be narrow: with totals 3 = x + y, x is in [0, 3].
  Non-negativity across several relations at once (what a linear programme would find) is not
  checked, only within one relation (step 2).  The two families bound each other through
  inequalities only (a need's count is at most the cases count of the same cell; with a "none"
  need the needs of a cell add up to at least its cases count); those are not checked either.
* Coalitions.  Two centers pooling their own counts are not considered; each center and each
  prefecture is.  A receiving center knows the people handed to it, whom national figures
  count at the sending center: a lower bound on the sender's cells, never their value.
* Complementary cells are chosen greedily (smallest count first), not by an optimisation, so
  the pattern is safe, not minimal.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

# The same eight blocks as ``platform.centers.REGIONS`` (which imports the database; a test keeps
# the two equal).
REGIONS = ("北海道", "東北", "関東", "中部", "近畿", "中国", "四国", "九州・沖縄")
QUARTERS = (1, 2, 3, 4)
DEFAULT_THRESHOLD = 10

GEOGRAPHIC = ("center", "prefecture", "region")
DIMENSIONS = (*GEOGRAPHIC, "case_type", "quarter", "support_need")

# The only tables on offer, each with its margins.  Fixed, so that the pattern computed over all
# of them together protects any sequence of requests.  Dimensions in ``DIMENSIONS`` order.
BREAKDOWNS: tuple[tuple[str, ...], ...] = (
    (),
    ("region",), ("prefecture",), ("center",), ("case_type",), ("quarter",), ("support_need",),
    ("region", "case_type"), ("region", "quarter"), ("region", "support_need"),
    ("prefecture", "case_type"), ("prefecture", "quarter"), ("prefecture", "support_need"),
    ("center", "case_type"), ("center", "quarter"), ("center", "support_need"),
    ("case_type", "quarter"), ("case_type", "support_need"),
)


@dataclass(frozen=True)
class DisclosurePolicy:
    """The suppression threshold: counts from 1 to ``threshold - 1`` are not shown."""

    threshold: int = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int) or self.threshold < 2:
            # 1 would suppress nothing: a configuration slip must not switch protection off.
            raise ValueError("threshold must be an integer of at least 2")

    def is_primary(self, count: int) -> bool:
        return 1 <= count < self.threshold


@dataclass(frozen=True)
class CenterPlace:
    """Where a center sits: its prefecture (code) and regional block."""

    code: str
    prefecture: str
    region: str


class Geography:
    """The centers and their hierarchy, in a fixed order (prefecture code, then center code;
    regions in the order of ``REGIONS``), so that tables come out the same every time."""

    def __init__(self, places: Iterable[CenterPlace]) -> None:
        self.places = tuple(sorted(places, key=lambda p: (p.prefecture, p.code)))
        self._validate()
        self._units = {
            "center": tuple(p.code for p in self.places),
            "prefecture": tuple(dict.fromkeys(p.prefecture for p in self.places)),
            "region": tuple(r for r in REGIONS if any(p.region == r for p in self.places)),
        }
        self._members = {
            (level, unit): frozenset(p.code for p in self.places if getattr(p, _ATTRIBUTE[level]) == unit)
            for level in GEOGRAPHIC for unit in self._units[level]
        }
        self.all_centers = frozenset(self._units["center"])

    def _validate(self) -> None:
        if not self.places:
            raise ValueError("a geography needs at least one center")
        codes = [p.code for p in self.places]
        if len(set(codes)) != len(codes):
            raise ValueError("center codes must be unique")
        regions_of = {}
        for place in self.places:
            if place.region not in REGIONS:
                raise ValueError(f"unknown regional block: {place.region}")
            if regions_of.setdefault(place.prefecture, place.region) != place.region:
                raise ValueError(f"prefecture {place.prefecture} lies in two regional blocks")

    def units(self, level: str) -> tuple[str, ...]:
        """The centers, prefectures or regions, in display order."""
        return self._units[level]

    def centers_of(self, level: str, unit: str) -> frozenset[str]:
        try:
            return self._members[(level, unit)]
        except KeyError:
            raise ValueError(f"unknown {level}: {unit}") from None

    def exemption_family(self) -> tuple[frozenset[str], ...]:
        """Every set of centers one viewer may know exactly: nobody, each center, and each
        prefecture with more than one center (a one-center prefecture is its center)."""
        centers = [frozenset({code}) for code in self._units["center"]]
        prefectures = [self._members[("prefecture", p)] for p in self._units["prefecture"]]
        return (frozenset(), *centers, *(m for m in prefectures if len(m) > 1))


_ATTRIBUTE = {"center": "code", "prefecture": "prefecture", "region": "region"}


@dataclass(frozen=True)
class YearCounts:
    """One fiscal year's counts, free of any person.  Each case is counted once in ``cases``
    (the cell of its center, type and quarter); each (case, support need) pair once in ``needs``.
    Missing keys are zeros; the category lists fix which rows every table has."""

    fiscal_year: int
    case_types: tuple[str, ...]
    support_needs: tuple[str, ...]
    cases: Mapping[tuple[str, str, int], int] = field(default_factory=dict)
    needs: Mapping[tuple[str, str, str], int] = field(default_factory=dict)

    def validate(self, geography: Geography) -> None:
        """Refuse keys outside the categories and counts that are not non-negative integers:
        a stray key would be a number no table shows and no check protects."""
        centers = geography.all_centers
        _check_keys(self.cases, (centers, set(self.case_types), set(QUARTERS)), "cases")
        _check_keys(self.needs, (centers, set(self.case_types), set(self.support_needs)), "needs")
        for categories in (self.case_types, self.support_needs):
            if not categories or len(set(categories)) != len(categories):
                raise ValueError("case_types and support_needs must be non-empty and distinct")


def _check_keys(counts: Mapping[tuple, int], allowed: tuple[set, ...], family: str) -> None:
    for key, count in counts.items():
        if len(key) != len(allowed) or any(part not in values for part, values in zip(key, allowed)):
            raise ValueError(f"{family}: key outside the geography or categories: {key!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{family}: counts must be non-negative integers: {key!r}")


@dataclass(frozen=True)
class Exemption:
    """A viewer entitled to exact figures: one center's head (``center``) or one prefecture's
    viewer (``prefecture``).  Exactly one of the two is given."""

    center: str | None = None
    prefecture: str | None = None

    def __post_init__(self) -> None:
        if (self.center is None) == (self.prefecture is None):
            raise ValueError("an exemption names either a center or a prefecture")

    def centers(self, geography: Geography) -> frozenset[str]:
        if self.center is not None:
            return geography.centers_of("center", self.center)
        return geography.centers_of("prefecture", self.prefecture)


class _Cell(NamedTuple):
    """What a published number adds up: centers x case type x quarter (cases) or x need (needs).
    ``None`` is the total over that dimension; ``need`` set means the need family."""

    centers: frozenset[str]
    case_type: str | None
    quarter: int | None
    need: str | None


class _Relation(NamedTuple):
    total: int
    parts: tuple[int, ...]


def parse_breakdown(text: str) -> tuple[str, ...]:
    """``"region,case_type"`` -> ``("region", "case_type")``, checked against ``BREAKDOWNS``."""
    by = tuple(part.strip() for part in text.split(",") if part.strip())
    canonical_breakdown(by)
    return by


def canonical_breakdown(by: Sequence[str]) -> tuple[str, ...]:
    """The breakdown in ``DIMENSIONS`` order; ``ValueError`` naming the allowed ones otherwise."""
    unknown = [d for d in by if d not in DIMENSIONS]
    canonical = tuple(sorted(set(by) - set(unknown), key=DIMENSIONS.index))
    if unknown or len(canonical) != len(by) or canonical not in BREAKDOWNS:
        allowed = "; ".join(",".join(b) or "(none)" for b in BREAKDOWNS)
        raise ValueError(f"unknown breakdown {','.join(by) or '(none)'}; allowed: {allowed}")
    return canonical


class _Layout:
    """Geography and categories: enumerates the rows of a table and names their cells."""

    def __init__(self, geography: Geography, case_types: tuple[str, ...], support_needs: tuple[str, ...]) -> None:
        self.geography = geography
        self.values_of = {
            **{level: geography.units(level) for level in GEOGRAPHIC},
            "case_type": tuple(case_types), "quarter": QUARTERS, "support_need": tuple(support_needs),
        }

    def rows(self, by: Sequence[str]) -> Iterable[dict[str, object]]:
        """Every combination of values, the total (``None``) after the values of each dimension."""
        choices = [(*self.values_of[d], None) for d in by]
        for combination in itertools.product(*choices):
            yield dict(zip(by, combination))

    def cell(self, row: Mapping[str, object]) -> _Cell:
        centers = self.geography.all_centers
        for level in GEOGRAPHIC:
            if row.get(level) is not None:
                centers = self.geography.centers_of(level, row[level])
        return _Cell(centers, row.get("case_type"), row.get("quarter"), row.get("support_need"))

    def all_cells(self) -> list[_Cell]:
        """The cells of every offered table, each once, in a fixed order."""
        seen: dict[_Cell, None] = {}
        for by in BREAKDOWNS:
            for row in self.rows(by):
                seen.setdefault(self.cell(row), None)
        return list(seen)


@dataclass(frozen=True)
class SuppressionPattern:
    """One fiscal year's cells, their true counts and which of them are suppressed.  Computed
    once per year; every table for every viewer is cut from it by ``publish``."""

    fiscal_year: int
    threshold: int
    _layout: _Layout
    _index: Mapping[_Cell, int]
    _counts: tuple[int, ...]
    _suppressed: frozenset[int]

    @property
    def geography(self) -> Geography:
        return self._layout.geography

    @property
    def cell_count(self) -> int:
        return len(self._counts)

    @property
    def suppressed_count(self) -> int:
        return len(self._suppressed)

    @property
    def primary_count(self) -> int:
        return sum(1 for i in self._suppressed if 1 <= self._counts[i] < self.threshold)


@dataclass(frozen=True)
class PublishedTable:
    """What may leave the server: rows in the API contract's shape (a key per dimension, ``None``
    on a total; ``count`` ``None`` when ``suppressed``)."""

    fiscal_year: int
    by: tuple[str, ...]
    threshold: int
    rows: list[dict[str, object]]


def compute_pattern(counts: YearCounts, geography: Geography,
                    policy: DisclosurePolicy = DisclosurePolicy()) -> SuppressionPattern:
    """Primary and complementary suppression over all offered breakdowns of one fiscal year."""
    counts.validate(geography)
    layout = _Layout(geography, counts.case_types, counts.support_needs)
    cells = layout.all_cells()
    index = {cell: i for i, cell in enumerate(cells)}
    values = [_cell_count(cell, counts) for cell in cells]
    suppressor = _Suppressor(values, _relations(cells, index, layout), _known_cells(cells, geography))
    suppressed = suppressor.run({i for i, v in enumerate(values) if policy.is_primary(v)})
    return SuppressionPattern(counts.fiscal_year, policy.threshold, layout, index, tuple(values),
                              frozenset(suppressed))


def publish(pattern: SuppressionPattern, by: Sequence[str], exempt: Exemption | None = None) -> PublishedTable:
    """The table for one request, already suppressed.  ``exempt`` shows the viewer's own
    center's (or prefecture's) cells exactly; everything else follows the common pattern."""
    by = tuple(by)
    canonical_breakdown(by)
    own = exempt.centers(pattern.geography) if exempt else frozenset()
    rows = [_published_row(pattern, row, own) for row in pattern._layout.rows(by)]
    return PublishedTable(pattern.fiscal_year, by, pattern.threshold, rows)


def _published_row(pattern: SuppressionPattern, row: dict[str, object], own: frozenset[str]) -> dict[str, object]:
    cell = pattern._layout.cell(row)
    i = pattern._index[cell]
    hidden = i in pattern._suppressed and not (own and cell.centers <= own)
    return {**row, "count": None if hidden else pattern._counts[i], "suppressed": hidden}


def _cell_count(cell: _Cell, counts: YearCounts) -> int:
    types = counts.case_types if cell.case_type is None else (cell.case_type,)
    if cell.need is not None:
        return sum(counts.needs.get((c, t, cell.need), 0) for c in cell.centers for t in types)
    quarters = QUARTERS if cell.quarter is None else (cell.quarter,)
    return sum(counts.cases.get((c, t, q), 0) for c in cell.centers for t in types for q in quarters)


def _relations(cells: list[_Cell], index: Mapping[_Cell, int], layout: _Layout) -> list[_Relation]:
    """Every "total = sum of its parts" among the cells, one dimension at a time."""
    found: dict[tuple[int, tuple[int, ...]], None] = {}
    for i, cell in enumerate(cells):
        for parts in _partitions(cell, layout):
            # A one-part split (a single case type) still ties two cells with the same count.
            if parts and parts != [cell] and all(p in index for p in parts):
                found.setdefault((i, tuple(sorted(index[p] for p in parts))), None)
    return [_Relation(total, parts) for total, parts in found]


def _partitions(cell: _Cell, layout: _Layout) -> Iterable[list[_Cell]]:
    """The ways to split a cell along one dimension.  Never over needs: they overlap (延べ)."""
    geography = layout.geography
    if len(cell.centers) > 1:
        for level in GEOGRAPHIC:
            units = [geography.centers_of(level, u) for u in geography.units(level)]
            yield [cell._replace(centers=m) for m in units if m <= cell.centers]
    if cell.case_type is None:
        yield [cell._replace(case_type=t) for t in layout.values_of["case_type"]]
    if cell.quarter is None and cell.need is None:
        yield [cell._replace(quarter=q) for q in QUARTERS]


def _known_cells(cells: list[_Cell], geography: Geography) -> list[frozenset[int]]:
    """For each member of the exemption family, the cells it knows on its own."""
    return [frozenset(i for i, cell in enumerate(cells) if own and cell.centers <= own)
            for own in geography.exemption_family()]


Row = dict[int, int]
Relation = tuple[int, tuple[int, ...]]  # (total, parts) as cell indexes; ``_Relation`` is one


class Echelon:
    """Reduced row echelon form over the integers, rows as sparse ``{column: coefficient}``.

    Fraction-free: a row is combined as ``a*row - b*pivot_row`` and divided by the gcd of its
    entries, so arithmetic is exact and numbers stay small.  Rows are never changed in place,
    so ``copy`` is shallow and cheap.  Which columns are determined does not depend on the
    order the rows come in (a unit vector lies in the row space or not), only the speed does.
    """

    def __init__(self) -> None:
        self._rows: dict[int, Row] = {}

    def copy(self) -> Echelon:
        other = Echelon()
        other._rows = dict(self._rows)
        return other

    def add(self, row: Row) -> None:
        # Pivot rows hold no other pivot column, so reducing by them adds no new pivot columns.
        for column in [c for c in row if c in self._rows]:
            row = _combine(row, self._rows[column], column)
        if not row:
            return
        pivot = max(row)
        for other_pivot, other in self._rows.items():
            if pivot in other:
                self._rows[other_pivot] = _combine(other, row, pivot)
        self._rows[pivot] = row

    def determined(self) -> set[int]:
        """Columns whose value the rows fix: a pivot row with no other entry.  (A combination
        of rows equal to a unit vector must be that pivot's row alone, by reducedness.)"""
        return {pivot for pivot, row in self._rows.items() if len(row) == 1}


def _combine(row: Row, pivot_row: Row, column: int) -> Row:
    """``row`` with ``column`` cancelled by ``pivot_row``, made primitive."""
    a, b = pivot_row[column], row[column]
    result = {c: v * a for c, v in row.items()}
    for c, v in pivot_row.items():
        w = result.get(c, 0) - v * b
        if w:
            result[c] = w
        else:
            del result[c]
    divisor = math.gcd(*result.values()) if result else 1
    return {c: v // divisor for c, v in result.items()} if divisor > 1 else result


def relation_row(relation: Relation, unknown: set[int] | frozenset[int]) -> Row:
    """"total - sum(parts) = 0" restricted to the unknown cells (the published ones move to the
    right-hand side, which does not change what is determined)."""
    total, parts = relation
    row: Row = {total: 1} if total in unknown else {}
    for part in parts:
        if part in unknown:
            row[part] = row.get(part, 0) - 1
    return {c: v for c, v in row.items() if v}


def determined_cells(relations: Iterable[Relation], unknown: set[int] | frozenset[int]) -> set[int]:
    """The unknown cells that the relations and the published cells fix exactly."""
    echelon = Echelon()
    for relation in relations:
        row = relation_row(relation, unknown)
        if row:
            echelon.add(row)
    return echelon.determined()


def zero_sum_parts(relation: Relation, unknown: set[int] | frozenset[int], values: Sequence[int]) -> list[int]:
    """The unknown parts of a relation whose total is known when they add up to 0: each of them
    is then 0, by non-negativity (the one inequality the exact check does not see)."""
    total, parts = relation
    hidden = [p for p in parts if p in unknown]
    if total in unknown or not hidden or sum(values[p] for p in hidden):
        return []
    return hidden


def relations_by_cell(cell_count: int, relations: Sequence[Relation]) -> list[list[int]]:
    """For each cell, the indexes of the relations it takes part in."""
    relations_of: list[list[int]] = [[] for _ in range(cell_count)]
    for r, (total, parts) in enumerate(relations):
        for member in (total, *parts):
            relations_of[member].append(r)
    return relations_of


def cell_cost(values: Sequence[int], cell: int) -> tuple[bool, int, int]:
    """Smallest positive count first (least information lost), zeros last, then by order."""
    return (values[cell] == 0, values[cell], cell)


def nearest_cell(cell: int, relations: Sequence[Relation], relations_of: Sequence[Sequence[int]],
                 hidden: set[int], excluded: set[int] | frozenset[int], values: Sequence[int]) -> int | None:
    """The cheapest cell that may still be hidden in the relations around ``cell`` (never one in
    ``excluded``: the viewer's own, or published elsewhere), widening breadth first through the
    hidden cells it is tied to.  None when there is none left to hide."""
    seen_cells, seen_relations, frontier = {cell}, set(), [cell]
    while frontier:
        candidates, next_frontier = [], []
        for current in frontier:
            for r in relations_of[current]:
                if r in seen_relations:
                    continue
                seen_relations.add(r)
                total, parts = relations[r]
                for m in (total, *parts):
                    if m in seen_cells or m in excluded:
                        continue
                    seen_cells.add(m)
                    (next_frontier if m in hidden else candidates).append(m)
        if candidates:
            return min(candidates, key=lambda i: cell_cost(values, i))
        frontier = next_frontier
    return None


class _Suppressor:
    """Adds complementary cells until no member of the exemption family can determine any
    suppressed cell it does not own (see the module docstring, "The algorithm")."""

    def __init__(self, values: list[int], relations: list[_Relation], known: list[frozenset[int]]) -> None:
        self.values = values
        self.relations = relations
        self.known = known
        self.relations_of = relations_by_cell(len(values), relations)
        # A relation with no cell a member knows reads the same for it as for nobody.
        self.relevant = [range(len(relations))] + [
            sorted({r for i in own for r in self.relations_of[i]}) for own in known[1:]
        ]

    def run(self, suppressed: set[int]) -> set[int]:
        while True:
            self._local_fixpoint(suppressed)
            exposed = self._determined(suppressed)
            if not exposed:
                return suppressed
            self._complement(exposed, suppressed)

    def _local_fixpoint(self, suppressed: set[int]) -> None:
        changed = True
        while changed:
            changed = False
            for member, own in enumerate(self.known):
                for r in self.relevant[member]:
                    extra = self._local_complement(self.relations[r], own, suppressed)
                    if extra is not None:
                        suppressed.add(extra)
                        changed = True

    def _local_complement(self, relation: _Relation, own: frozenset[int], suppressed: set[int]) -> int | None:
        """The cell to suppress when this one relation gives a suppressed cell away, else None."""
        members = (relation.total, *relation.parts)
        unknown = [m for m in members if m in suppressed and m not in own]
        if not unknown:
            return None
        published = [m for m in members if m not in suppressed and m not in own]
        if len(unknown) == 1:
            return min(published, key=self._cost)
        if zero_sum_parts(relation, frozenset(unknown), self.values):
            positive = [m for m in published if self.values[m] > 0 and m != relation.total]
            return min(positive, key=self._cost) if positive else relation.total
        return None

    def _determined(self, suppressed: set[int]) -> list[tuple[int, int]]:
        """(member, cell) for every suppressed cell some member can compute exactly."""
        base = Echelon()
        for relation in sorted(self.relations, key=lambda rel: len(rel.parts)):
            row = relation_row(relation, suppressed)
            if row:
                base.add(row)
        exposed = []
        for member, own in enumerate(self.known):
            echelon = base
            if own & suppressed:
                echelon = base.copy()
                for cell in sorted(own & suppressed):
                    echelon.add({cell: 1})
            exposed += [(member, cell) for cell in sorted(echelon.determined() - own)]
        return exposed

    def _complement(self, exposed: list[tuple[int, int]], suppressed: set[int]) -> None:
        """One complementary cell per determined cell, skipping cells next to one just added
        (that addition may already have covered them; the next round checks them again)."""
        touched: set[int] = set()
        before = len(suppressed)
        for member, cell in exposed:
            if touched.intersection(self.relations_of[cell]):
                continue
            extra = self._nearest_published(cell, self.known[member], suppressed)
            if extra is not None:
                suppressed.add(extra)
                touched.update(self.relations_of[extra])
        if len(suppressed) == before:
            # The first exposure was found with this very set, so it has a complement (below).
            raise AssertionError("complementary suppression made no progress")

    def _nearest_published(self, cell: int, own: frozenset[int], suppressed: set[int]) -> int | None:
        """The cheapest published cell not owned by the member around ``cell`` (``nearest_cell``).

        None means ``cell`` is no longer determined: when every cell of its connected relations
        is suppressed or owned, those relations hold for the true counts whatever the other
        centers' counts are, and ``cell`` changes with them.  That happens only to an exposure
        found before complements added earlier in the same round."""
        return nearest_cell(cell, self.relations, self.relations_of, suppressed, own, self.values)

    def _cost(self, cell: int) -> tuple[bool, int, int]:
        return cell_cost(self.values, cell)
