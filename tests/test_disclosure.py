"""Disclosure control of the national aggregates (issue 6): what ``disclosure`` lets out.

The property tests do not trust the module's own reasoning.  They take only what ``publish``
returns, rebuild every row as a vector over the finest counts (cases per center x case type x
quarter, needs per center x case type x need) from the row's keys and their own copy of the
geography, and decide with their own exact linear algebra (``fractions.Fraction``, rank with and
without the row's vector) whether a null can be computed back: from every offered table at once,
by nobody, by each center that knows its own counts, and by each prefecture that knows its own.

These tests need no database; ``--noconftest`` runs them without the suite's PostgreSQL set-up.
"""
from __future__ import annotations

import random
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teichaku.crosstenant.aggregates.disclosure import (
    BREAKDOWNS,
    QUARTERS,
    REGIONS,
    CenterPlace,
    DisclosurePolicy,
    Exemption,
    Geography,
    YearCounts,
    compute_pattern,
    parse_breakdown,
    publish,
)

Coordinate = tuple


# --- The ground truth, written independently of the module ----------------------------------

class World:
    """One year's true counts and geography as the tests see them."""

    def __init__(self, places: list[tuple[str, str, str]], counts: YearCounts) -> None:
        self.places = places
        self.counts = counts
        self.geography = Geography(CenterPlace(*p) for p in places)

    def centers_in(self, row: dict) -> set[str]:
        if row.get("center") is not None:
            return {row["center"]}
        if row.get("prefecture") is not None:
            return {code for code, prefecture, _ in self.places if prefecture == row["prefecture"]}
        if row.get("region") is not None:
            return {code for code, _, region in self.places if region == row["region"]}
        return {code for code, _, _ in self.places}

    def vector(self, row: dict) -> frozenset[Coordinate]:
        """The finest counts a row adds up (each with coefficient 1)."""
        types = self.counts.case_types if row.get("case_type") is None else (row["case_type"],)
        centers = self.centers_in(row)
        if row.get("support_need") is not None:
            return frozenset(("needs", c, t, row["support_need"]) for c in centers for t in types)
        quarters = QUARTERS if row.get("quarter") is None else (row["quarter"],)
        return frozenset(("cases", c, t, q) for c in centers for t in types for q in quarters)

    def coordinates_of(self, centers: set[str]) -> set[Coordinate]:
        cases = {("cases", c, t, q) for c in centers for t in self.counts.case_types for q in QUARTERS}
        needs = {("needs", c, t, n) for c in centers for t in self.counts.case_types for n in self.counts.support_needs}
        return cases | needs

    def true_count(self, vector: frozenset[Coordinate]) -> int:
        return sum(self.counts.cases.get(k[1:], 0) if k[0] == "cases" else self.counts.needs.get(k[1:], 0)
                   for k in vector)

    def viewers(self) -> list[tuple[Exemption | None, set[str]]]:
        """Nobody, every center, every prefecture: each with the centers it knows exactly."""
        centers = [(Exemption(center=code), {code}) for code, _, _ in self.places]
        prefectures = sorted({p for _, p, _ in self.places})
        return [(None, set()), *centers,
                *((Exemption(prefecture=p), {c for c, q, _ in self.places if q == p}) for p in prefectures)]


class Span:
    """The span of known vectors over the rationals, kept in echelon form."""

    def __init__(self, order: dict[Coordinate, int]) -> None:
        self.order = order
        self.basis: dict[int, dict[int, Fraction]] = {}

    def _reduced(self, vector: frozenset[Coordinate]) -> dict[int, Fraction]:
        row = {self.order[k]: Fraction(1) for k in vector}
        for pivot in sorted(self.basis):
            factor = row.get(pivot)
            if factor:
                for column, value in self.basis[pivot].items():
                    row[column] = row.get(column, 0) - factor * value
                    if not row[column]:
                        del row[column]
        return row

    def add(self, vector: frozenset[Coordinate]) -> None:
        row = self._reduced(vector)
        if row:
            pivot = min(row)
            self.basis[pivot] = {c: v / row[pivot] for c, v in row.items()}

    def rank_grows_with(self, vector: frozenset[Coordinate]) -> bool:
        return bool(self._reduced(vector))


def derivable_nulls(world: World, tables: list, own: set[str]) -> list[dict]:
    """The null rows a viewer can compute exactly from all the tables plus its own counts.

    Knowing its own counts removes its coordinates from every vector (they move to the known side).
    """
    mine = world.coordinates_of(own)
    published, hidden = set(), []
    for table in tables:
        for row in table.rows:
            vector = world.vector(row) - mine
            if row["count"] is None:
                hidden.append((row, vector))
            elif vector:
                published.add(vector)
    order = {k: i for i, k in enumerate(sorted(world.coordinates_of(set(world.centers_in({}))) - mine, key=repr))}
    span = Span(order)
    for vector in sorted(published, key=lambda v: (len(v), sorted(map(repr, v)))):
        span.add(vector)
    return [row for row, vector in hidden if not span.rank_grows_with(vector)]


def zero_pinned_nulls(world: World, tables: list, own: set[str]) -> list[dict]:
    """Null rows a viewer can pin to 0 by non-negativity from one published total and its parts
    (split by center, prefecture, region, case type or quarter): when the published parts
    already make up the total, every null part must be 0."""
    mine = world.coordinates_of(own)
    rows = {}
    for table in tables:
        for row in table.rows:
            rows.setdefault(world.vector(row) - mine, row)
    pinned = []
    for vector, total in rows.items():
        if total["count"] is None or not vector:
            continue
        for split in splits(world, vector):
            parts = [rows.get(part) for part in split]
            if None in parts or len(parts) < 2:
                continue
            hidden = [p for p in parts if p["count"] is None]
            if hidden and total["count"] == sum(p["count"] for p in parts if p["count"] is not None):
                pinned += hidden
    return pinned


def splits(world: World, vector: frozenset[Coordinate]) -> list[list[frozenset[Coordinate]]]:
    """The ways to cut a vector into disjoint parts along one dimension."""
    places = {code: (code, prefecture, region) for code, prefecture, region in world.places}
    keys = [lambda k: places[k[1]][0], lambda k: places[k[1]][1], lambda k: places[k[1]][2],
            lambda k: k[2], lambda k: k[3] if k[0] == "cases" else None]
    result = []
    for key in keys:
        groups: dict[object, set] = {}
        for coordinate in vector:
            groups.setdefault(key(coordinate), set()).add(coordinate)
        if len(groups) > 1:
            result.append([frozenset(g) for g in groups.values()])
    return result


def all_tables(pattern, exempt: Exemption | None = None) -> list:
    return [publish(pattern, by, exempt) for by in BREAKDOWNS]


# --- Strategies ------------------------------------------------------------------------------

@st.composite
def worlds(draw) -> tuple[World, int]:
    """A few regions, prefectures and centers (some prefectures with two centers, like
    Hokkaido); counts mostly small, some zero, some large; a random threshold."""
    regions = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=3, unique=True))
    places = []
    for region in regions:
        for _ in range(draw(st.integers(1, 2))):
            prefecture = f"{len({p for _, p, _ in places}) + 1:02d}"
            places += [(f"c{prefecture}{k}", prefecture, region) for k in range(draw(st.integers(1, 2)))]
    places = places[:4]
    threshold = draw(st.integers(2, 12))
    count = st.one_of(st.just(0), st.integers(1, threshold - 1), st.integers(1, threshold - 1),
                      st.integers(threshold, 4 * threshold))
    case_types = ("coordination", "follow_up", "suspect_support")[:draw(st.integers(1, 3))]
    needs = ("elderly", "intellectual", "mental")[:draw(st.integers(1, 3))]
    centers = [code for code, _, _ in places]
    cases = {(c, t, q): draw(count) for c in centers for t in case_types for q in QUARTERS}
    need_counts = {(c, t, n): draw(count) for c in centers for t in case_types for n in needs}
    return World(places, YearCounts(2025, case_types, needs, cases, need_counts)), threshold


PROPERTY_SETTINGS = settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])


# --- Properties ------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(worlds())
def test_no_suppressed_count_is_derivable_from_all_tables_together_by_anyone(case):
    """(b) Nobody, no center knowing its own counts, no prefecture knowing its own, can compute
    any null exactly from every offered table put together (so from any pair either)."""
    world, threshold = case
    pattern = compute_pattern(world.counts, world.geography, DisclosurePolicy(threshold))
    for exempt, own in world.viewers():
        leaks = derivable_nulls(world, all_tables(pattern, exempt), own)
        assert not leaks, (exempt, leaks[:3])


@PROPERTY_SETTINGS
@given(worlds())
def test_no_suppressed_count_is_pinned_to_zero_by_a_total_and_its_other_parts(case):
    """Bounds, in the one case the module promises: a published total whose published parts
    already add up to it would show every null part to be 0 (a suppressed zero complement)."""
    world, threshold = case
    pattern = compute_pattern(world.counts, world.geography, DisclosurePolicy(threshold))
    for exempt, own in world.viewers():
        pinned = zero_pinned_nulls(world, all_tables(pattern, exempt), own)
        assert not pinned, (exempt, pinned[:3])


@PROPERTY_SETTINGS
@given(worlds())
def test_only_zeros_and_counts_from_the_threshold_up_are_shown_except_a_viewers_own(case):
    """(a) and (c): a published count is the true sum, and it is 0 or at least the threshold
    unless every center it adds up is the viewer's own."""
    world, threshold = case
    pattern = compute_pattern(world.counts, world.geography, DisclosurePolicy(threshold))
    for exempt, own in world.viewers():
        for table in all_tables(pattern, exempt):
            for row in table.rows:
                truth = world.true_count(world.vector(row))
                if row["count"] is None:
                    assert row["suppressed"] is True
                    continue
                assert row["suppressed"] is False and row["count"] == truth
                if 0 < truth < threshold:
                    assert world.centers_in(row) <= own, (exempt, row)


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(worlds(), st.randoms(use_true_random=False))
def test_tables_do_not_depend_on_request_order_or_input_order(case, rng):
    """(d) The pattern is one per year: tables asked in any order, from counts and centers given
    in any order, are the same."""
    world, threshold = case
    policy = DisclosurePolicy(threshold)
    pattern = compute_pattern(world.counts, world.geography, policy)
    expected = {by: publish(pattern, by).rows for by in BREAKDOWNS}
    shuffled_places = rng.sample(world.places, len(world.places))
    counts = world.counts
    shuffled_counts = YearCounts(counts.fiscal_year, counts.case_types, counts.support_needs,
                                 dict(rng.sample(sorted(counts.cases.items()), len(counts.cases))),
                                 dict(rng.sample(sorted(counts.needs.items()), len(counts.needs))))
    other = compute_pattern(shuffled_counts, Geography(CenterPlace(*p) for p in shuffled_places), policy)
    for by in rng.sample(BREAKDOWNS, len(BREAKDOWNS)):
        assert publish(other, by).rows == expected[by]
        assert publish(pattern, by).rows == expected[by]


# --- Examples --------------------------------------------------------------------------------

CASE_TYPES = ("coordination", "follow_up", "suspect_support", "consultation")
NEEDS = ("elderly", "intellectual")
PLACES = [("sapporo", "01", "北海道"), ("hakodate", "01", "北海道"), ("aomori", "02", "東北"),
          ("iwate", "03", "東北"), ("tokyo", "13", "関東")]


def spread(center_totals: dict[str, int]) -> dict[tuple[str, str, int], int]:
    """Each center's total in its coordination cases of quarter 1 (simple, exact examples)."""
    return {(c, "coordination", 1): n for c, n in center_totals.items()}


def example(center_totals: dict[str, int], threshold: int = 10, needs=None) -> tuple[World, object]:
    counts = YearCounts(2025, CASE_TYPES, NEEDS, spread(center_totals), needs or {})
    world = World(PLACES, counts)
    return world, compute_pattern(counts, world.geography, DisclosurePolicy(threshold))


def row_of(pattern, by: tuple[str, ...], exempt: Exemption | None = None, **keys) -> dict:
    matches = [r for r in publish(pattern, by, exempt).rows if all(r[k] == v for k, v in keys.items())
               and all(r[d] is None for d in by if d not in keys)]
    assert len(matches) == 1
    return matches[0]


def test_counts_from_one_to_threshold_minus_one_are_suppressed():
    _, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 3, "iwate": 50, "tokyo": 60})
    row = row_of(pattern, ("center",), center="aomori")
    assert row == {"center": "aomori", "count": None, "suppressed": True}
    assert row_of(pattern, (), )["count"] == 183


def test_zeros_are_shown():
    _, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 0, "iwate": 50, "tokyo": 60})
    assert row_of(pattern, ("center",), center="aomori") == {"center": "aomori", "count": 0, "suppressed": False}
    assert row_of(pattern, ("center", "case_type"), center="tokyo", case_type="consultation")["count"] == 0


def test_the_threshold_is_configurable_and_defaults_to_ten():
    totals = {"sapporo": 40, "hakodate": 30, "aomori": 7, "iwate": 50, "tokyo": 60}
    assert DisclosurePolicy().threshold == 10
    _, strict = example(totals, threshold=10)
    _, lenient = example(totals, threshold=5)
    assert row_of(strict, ("center",), center="aomori")["suppressed"] is True
    assert row_of(lenient, ("center",), center="aomori") == {"center": "aomori", "count": 7, "suppressed": False}


@pytest.mark.parametrize("threshold", [0, 1, -3, 2.5, True])
def test_a_threshold_that_would_suppress_nothing_is_refused(threshold):
    with pytest.raises(ValueError):
        DisclosurePolicy(threshold)


def test_cells_solvable_only_by_combining_several_totals_are_protected_too():
    """One center, so the tables reduce to case type x quarter with its margins.  With only the
    rule "no total with exactly one hidden part", hypothesis found this pattern: hidden are
    coordination Q2, Q3 and total, follow-up Q3 and Q4, suspect support Q2 and total, and the
    Q3 and Q4 totals.  Every row and column has two hidden cells, yet coordination total +
    suspect support total = 7, suspect support Q2 = its total, coordination Q2 + suspect
    support Q2 = 6, so coordination Q3 = 1.  The exact check must break such chains."""
    places = [("kyoto", "26", "近畿")]
    cases = {("kyoto", "coordination", 2): 1, ("kyoto", "coordination", 3): 1, ("kyoto", "follow_up", 1): 7,
             ("kyoto", "follow_up", 2): 7, ("kyoto", "follow_up", 3): 1, ("kyoto", "follow_up", 4): 3,
             ("kyoto", "suspect_support", 2): 5}
    world = World(places, YearCounts(2025, ("coordination", "follow_up", "suspect_support"), ("elderly",), cases))
    pattern = compute_pattern(world.counts, world.geography, DisclosurePolicy(2))
    assert row_of(pattern, ("case_type", "quarter"), case_type="coordination", quarter=3)["suppressed"] is True
    assert derivable_nulls(world, all_tables(pattern), set()) == []


def test_a_lone_small_cell_in_a_row_is_joined_by_a_complement():
    """With the row total published, one hidden cell is the total minus the rest."""
    _, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 3, "iwate": 50, "tokyo": 60})
    hidden = [r for r in publish(pattern, ("center",)).rows if r["suppressed"]]
    assert len(hidden) >= 2


def test_a_center_subtracting_its_own_count_from_a_published_total_learns_nothing():
    """aomori 5 and iwate 7 make 東北 12, above the threshold; aomori knows its 5, so 東北 must
    not be published as it would give iwate away (and then neither what gives 東北 away)."""
    world, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 5, "iwate": 7, "tokyo": 60})
    assert row_of(pattern, ("region",), region="東北")["suppressed"] is True
    exempt = Exemption(center="aomori")
    assert row_of(pattern, ("center",), exempt, center="iwate")["suppressed"] is True
    assert derivable_nulls(world, all_tables(pattern, exempt), {"aomori"}) == []


def test_a_centers_head_sees_its_own_cells_exactly_and_nothing_else_unsuppressed():
    _, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 5, "iwate": 7, "tokyo": 60})
    exempt = Exemption(center="aomori")
    assert row_of(pattern, ("center",), exempt, center="aomori") == {
        "center": "aomori", "count": 5, "suppressed": False}
    assert row_of(pattern, ("center", "quarter"), exempt, center="aomori", quarter=1)["count"] == 5
    assert row_of(pattern, ("center",), exempt, center="iwate")["count"] is None
    assert row_of(pattern, ("region",), exempt, region="東北")["count"] is None  # 東北 is not aomori's alone
    assert row_of(pattern, ("center",), center="aomori")["count"] is None  # and others still see null


def test_a_prefecture_viewer_sees_all_its_centers_exactly():
    _, pattern = example({"sapporo": 4, "hakodate": 3, "aomori": 40, "iwate": 50, "tokyo": 60})
    exempt = Exemption(prefecture="01")
    assert row_of(pattern, ("center",), exempt, center="sapporo")["count"] == 4
    assert row_of(pattern, ("center",), exempt, center="hakodate")["count"] == 3
    assert row_of(pattern, ("prefecture",), exempt, prefecture="01")["count"] == 7
    assert row_of(pattern, ("prefecture",), Exemption(center="sapporo"), prefecture="01")["count"] is None


@pytest.mark.parametrize("exemption", [dict(center="osaka"), dict(prefecture="27"), dict(),
                                       dict(center="tokyo", prefecture="13")])
def test_an_exemption_must_name_one_center_or_prefecture_of_the_geography(exemption):
    _, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 3, "iwate": 50, "tokyo": 60})
    with pytest.raises(ValueError):
        publish(pattern, ("center",), Exemption(**exemption))


def test_an_unknown_breakdown_is_refused_with_the_allowed_ones_listed():
    _, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 3, "iwate": 50, "tokyo": 60})
    for by in [("center", "prefecture"), ("region", "case_type", "quarter"), ("sex",), ("center", "center")]:
        with pytest.raises(ValueError, match="allowed: .*region,case_type"):
            publish(pattern, by)
    with pytest.raises(ValueError, match="allowed"):
        parse_breakdown("quarter,support_need")


def test_a_breakdown_may_name_its_dimensions_in_either_order_and_rows_follow_it():
    _, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 3, "iwate": 50, "tokyo": 60})
    assert parse_breakdown(" case_type , region ") == ("case_type", "region")
    rows = publish(pattern, ("case_type", "region")).rows
    assert list(rows[0]) == ["case_type", "region", "count", "suppressed"]
    assert rows[0]["case_type"] == "coordination" and rows[0]["region"] == "北海道"
    assert rows[-1] == {"case_type": None, "region": None, "count": 183, "suppressed": False}
    straight = {(r["region"], r["case_type"]): r["count"] for r in publish(pattern, ("region", "case_type")).rows}
    assert {(r["region"], r["case_type"]): r["count"] for r in rows} == straight


def test_rows_list_every_value_then_the_total_in_a_fixed_order():
    _, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 3, "iwate": 50, "tokyo": 60})
    rows = publish(pattern, ("region",)).rows
    assert [r["region"] for r in rows] == ["北海道", "東北", "関東", None]
    quarters = [r["quarter"] for r in publish(pattern, ("quarter",)).rows]
    assert quarters == [1, 2, 3, 4, None]


def test_support_need_rows_count_each_need_and_their_total_is_the_number_of_cases():
    needs = {("tokyo", "coordination", "elderly"): 50, ("tokyo", "coordination", "intellectual"): 30,
             ("iwate", "coordination", "elderly"): 20}
    _, pattern = example({"sapporo": 40, "hakodate": 30, "aomori": 13, "iwate": 50, "tokyo": 60}, needs=needs)
    rows = {r["support_need"]: r["count"] for r in publish(pattern, ("support_need",)).rows}
    assert rows == {"elderly": 70, "intellectual": 30, None: 193}


def test_the_regional_blocks_are_the_platforms_eight():
    from teichaku.platform.centers import REGIONS as PLATFORM_REGIONS

    assert REGIONS == PLATFORM_REGIONS


def test_counts_outside_the_geography_or_categories_are_refused():
    geography = Geography(CenterPlace(*p) for p in PLACES)
    for cases in [{("osaka", "coordination", 1): 3}, {("tokyo", "coordination", 5): 3},
                  {("tokyo", "unknown", 1): 3}, {("tokyo", "coordination", 1): -1}]:
        with pytest.raises(ValueError):
            compute_pattern(YearCounts(2025, CASE_TYPES, NEEDS, cases), geography)
    with pytest.raises(ValueError):  # a category listed twice would count its cases twice
        compute_pattern(YearCounts(2025, ("coordination", "coordination"), NEEDS), geography)


def test_the_module_imports_neither_flask_nor_a_database():
    code = ("import sys, teichaku.crosstenant.aggregates.disclosure; "
            "print(sorted(m for m in ('flask', 'sqlalchemy', 'psycopg') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_realistic_year_of_48_centers_shows_no_small_count_and_none_can_be_solved_back():
    """The real geography and a year shaped like the field's (most center cells small), checked
    for nobody, Hokkaido's two centers and their prefecture, and Tokyo."""
    from teichaku.platform.centers import canonical_centers

    places = [(c.code, c.prefecture_code, c.region) for c in canonical_centers()]
    rng = random.Random(2025)
    cases = {(c, t, q): rng.choice([0, 0, 1, 2, 3, 5, 8, 12, 20])
             for c, _, _ in places for t in CASE_TYPES for q in QUARTERS}
    needs = {(c, t, n): rng.choice([0, 1, 2, 4, 9, 15]) for c, _, _ in places for t in CASE_TYPES for n in NEEDS}
    world = World(places, YearCounts(2025, CASE_TYPES, NEEDS, cases, needs))
    pattern = compute_pattern(world.counts, world.geography)
    shown = [r["count"] for table in all_tables(pattern) for r in table.rows if not r["suppressed"]]
    assert shown and all(n == 0 or n >= 10 for n in shown)
    assert pattern.suppressed_count > pattern.primary_count  # complements were needed and added
    viewers = [(None, set()), (Exemption(center="hokkaido-1"), {"hokkaido-1"}),
               (Exemption(prefecture="01"), {"hokkaido-1", "hokkaido-2"}), (Exemption(center="tokyo"), {"tokyo"})]
    for exempt, own in viewers:
        assert derivable_nulls(world, all_tables(pattern, exempt), own) == [], exempt
