"""Disclosure control for the tables beyond the contract cube (依頼元別, 終結理由別, 受入先別,
相談者別, 広域調整の地域ブロック間, 地域ネットワークの取組み): the same rule as ``disclosure``,
applied to one small two-way table at a time.

The rule
--------
A count from 1 to ``threshold - 1`` is suppressed (primary); zeros are shown.  Complementary
cells are added until no suppressed cell can be computed exactly from what the table publishes
(and from what is published elsewhere: ``anchors``), by nobody and by any viewer who knows some
of the table's rows exactly (``known``: a prefecture's viewer knows every cell made only of its
centers; Hokkaido's two centers are the whole 北海道 block).

A table (``Grid``) is ``rows x columns`` with all its margins: each row's total, each column's
total, the grand total, and optional column subtotals (加算対象の取組み 計 = the three add-on
activity types).  A one-row table (national only) has no row dimension.  Its relations are
"a total equals the sum of its parts" along rows, along columns and for each subtotal; in a
two-way table with margins every linear dependency among the cells is a combination of those, so
the exact check below decides derivability from this table alone truthfully.

The algorithm
-------------
1. Primary suppression, plus every anchor suppressed elsewhere.
2. The exact check: ``disclosure``'s engine (``determined_cells``: Gauss-Jordan elimination over
   the integers of the relations restricted to the suppressed cells, published ones moved to the
   right-hand side), once per member of the known family with its known cells removed.  A suppressed cell is determined iff its row of the
   reduced form has no other entry.  Non-negativity is checked within each relation too: a known
   total whose suppressed parts add up to 0 gives each of them away.
3. For the first determined cell, one more suppressed cell: the smallest positive published count
   in the relations around it (``nearest_cell``: widening through the suppressed cells it is
   tied to), never an
   anchor published elsewhere and never a cell the member already knows.  Back to 2.
   If no such cell exists, every cell not published elsewhere is suppressed (safe, and it only
   happens when anchors published elsewhere already determine the cell).

Anchors, and why each family table is cut from one pattern
----------------------------------------------------------
Some cells of these tables are cells of the contract cube too: the grand total of CO requests by
requester is the national CO count.  An anchor carries the cube's decision: suppressed there,
suppressed here (and protected here); published there, never picked as a complement here.  With
exactly one shared cell, the cube and this table together determine it only if one of them
does alone (the two systems share no other unknown), so the combination leaks nothing.  That is
why ``reporting`` offers anchored families at the national level only: a regional table would
share eight region totals with the cube, and combinations of several shared cells are not
checked.  A family offered by region has a single pattern, computed on the region table; its
national row *is* the national table, so two requests cannot be played against each other.

What is not guaranteed
----------------------
Bounds (from non-negativity across relations), relations between different families that are
only inequalities (accepted + declined <= received; placements <= closings) or identities that
hold only for most rows (sent vs received, which differ by reassigned requests), and
coalitions of viewers.  Complementary cells are chosen greedily: the pattern is safe, not minimal.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .disclosure import Relation, determined_cells, nearest_cell, relations_by_cell, zero_sum_parts

Cell = tuple  # (row value or None, column value / subtotal name or None)
TOTAL = None


@dataclass(frozen=True)
class Grid:
    """A two-way table of counts and its margins, before suppression.

    ``counts`` maps ``(row, column)`` to a count (missing: 0); for a one-row table the row is
    ``None``.  ``subtotals`` names groups of columns added up in a column of their own."""

    row_dimension: str | None
    column_dimension: str
    rows: tuple[str, ...]
    columns: tuple
    counts: Mapping[tuple, int]
    subtotals: Mapping[str, tuple] = field(default_factory=dict)

    def cells(self) -> list[Cell]:
        """Every published cell, in display order: each row then the total row; in each, the
        columns, the subtotals, then the row total."""
        row_keys = (*self.rows, TOTAL) if self.row_dimension else (TOTAL,)
        column_keys = (*self.columns, *self.subtotals, TOTAL)
        return [(r, c) for r in row_keys for c in column_keys]

    def value(self, cell: Cell) -> int:
        row, column = cell
        rows = self.rows if row is TOTAL and self.row_dimension else (row,)
        columns = (self.columns if column is TOTAL else self.subtotals.get(column, (column,)))
        return sum(self.counts.get((r, c), 0) for r in rows for c in columns)

    def relations(self) -> list[tuple[Cell, tuple[Cell, ...]]]:
        """(total, parts): each row along its columns and subtotals, each column along the rows."""
        row_keys = (*self.rows, TOTAL) if self.row_dimension else (TOTAL,)
        found = []
        for r in row_keys:
            found.append(((r, TOTAL), tuple((r, c) for c in self.columns)))
            found += [((r, name), tuple((r, c) for c in members)) for name, members in self.subtotals.items()]
        if self.row_dimension:
            for c in (*self.columns, *self.subtotals, TOTAL):
                found.append(((TOTAL, c), tuple((r, c) for r in self.rows)))
        return found


@dataclass(frozen=True)
class PublishedGrid:
    """What may leave the server: rows in the contract's shape (a key per dimension, ``None`` on
    a total, ``count`` ``None`` when ``suppressed``)."""

    row_dimension: str | None
    column_dimension: str
    threshold: int
    rows: list[dict]

    def cell(self, row, column) -> dict:
        """The published row of one cell (``row`` is ignored for a one-row table)."""
        for entry in self.rows:
            if entry[self.column_dimension] == column and (
                    self.row_dimension is None or entry[self.row_dimension] == row):
                return entry
        raise KeyError((row, column))

    def national(self) -> "PublishedGrid":
        """The total row alone: the national table of a table by region."""
        if self.row_dimension is None:
            return self
        rows = [{self.column_dimension: r[self.column_dimension], "count": r["count"], "suppressed": r["suppressed"]}
                for r in self.rows if r[self.row_dimension] is None]
        return PublishedGrid(None, self.column_dimension, self.threshold, rows)


def suppress(grid: Grid, threshold: int, *, anchors: Mapping[Cell, bool] | None = None,
             known: Sequence[Iterable[Cell]] = ()) -> PublishedGrid:
    """The table with primary and complementary suppression applied (see the module docstring).

    ``anchors``: cell -> suppressed elsewhere (True) or published elsewhere (False).
    ``known``: for each viewer who knows some cells exactly, those cells."""
    cells = grid.cells()
    values = [grid.value(c) for c in cells]
    index = {c: i for i, c in enumerate(cells)}
    relations = [(index[t], tuple(index[p] for p in parts)) for t, parts in grid.relations()]
    anchors = {index[c]: hidden for c, hidden in (anchors or {}).items() if c in index}
    members = [frozenset()] + [frozenset(index[c] for c in member if c in index) for member in known]
    hidden = _Complementer(values, relations, anchors, members, threshold).run()
    rows = []
    for i, (row, column) in enumerate(cells):
        entry = {grid.row_dimension: row} if grid.row_dimension else {}
        entry[grid.column_dimension] = column
        entry.update(count=None if i in hidden else values[i], suppressed=i in hidden)
        rows.append(entry)
    return PublishedGrid(grid.row_dimension, grid.column_dimension, threshold, rows)


class _Complementer:
    """Adds complementary cells one at a time until no member can determine a hidden cell."""

    def __init__(self, values: list[int], relations: list[Relation],
                 anchors: dict[int, bool], members: list[frozenset[int]], threshold: int) -> None:
        self.values, self.relations, self.members = values, relations, members
        self.published_elsewhere = {i for i, hidden in anchors.items() if not hidden}
        self.initial = {i for i, v in enumerate(values) if 1 <= v < threshold} | {
            i for i, hidden in anchors.items() if hidden}
        self.relations_of = relations_by_cell(len(values), relations)

    def run(self) -> set[int]:
        hidden = set(self.initial)
        while True:
            exposed = self._exposed(hidden)
            if not exposed:
                return hidden
            extra = next((c for c in (self._nearest(cell, hidden, self.members[m]) for m, cell in exposed)
                          if c is not None), None)
            if extra is None:
                return hidden | (set(range(len(self.values))) - self.published_elsewhere)
            hidden.add(extra)

    def _exposed(self, hidden: set[int]) -> list[tuple[int, int]]:
        """(member, cell) for every hidden cell a member can compute, in a fixed order."""
        exposed = []
        for m, own in enumerate(self.members):
            unknown = hidden - own
            found = determined_cells(self.relations, unknown)
            for relation in self.relations:
                found.update(zero_sum_parts(relation, unknown, self.values))
            exposed += [(m, cell) for cell in sorted(found)]
        return exposed

    def _nearest(self, cell: int, hidden: set[int], own: frozenset[int]) -> int | None:
        """The cheapest cell that may still be hidden around ``cell`` (never one the member
        owns or one published elsewhere)."""
        return nearest_cell(cell, self.relations, self.relations_of, hidden, own | self.published_elsewhere,
                            self.values)
