"""Each rule once (issue 13): the disclosure engine, the days-to-answer rule, keyset pagination and
the module names each live in one place, so a fix to one reaches every caller.

The attack each test is named after is drift: two copies of a rule that a later change brings
apart (a fix to the exact check that misses the family tables; a compliance report that counts
days from other columns than the national figures; a list whose cursor compares differently)."""
from __future__ import annotations

import ast
import pathlib
import pkgutil
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

import teichaku
from teichaku.crosstenant.aggregates import disclosure, family_tables, figures, rules
from teichaku.crosstenant.aggregates.jobs import sweep_dirty_slices
from teichaku.platform.i18n import today_jst
from teichaku.platform.pagination import encode_cursor
from tests.conftest import BACKEND
from tests.helpers import ok
from tests.test_transfers import _a_case, _age, _incoming_id, _request


# --- the disclosure engine -----------------------------------------------------------------------

def test_a_fix_to_the_exact_check_reaches_the_family_tables(monkeypatch):
    """The family tables call the cube's engine: a changed engine changes their pattern."""
    grid = family_tables.Grid("region", "reason", ("a", "b"), ("x", "y"),
                              {("a", "x"): 3, ("a", "y"): 20, ("b", "x"): 20, ("b", "y"): 20})
    honest = family_tables.suppress(grid, 10)
    assert honest.cell("a", "x")["suppressed"] and honest.cell("a", "y")["suppressed"]  # the complement
    monkeypatch.setattr(family_tables, "determined_cells", lambda relations, unknown: set())
    blind = family_tables.suppress(grid, 10)
    assert not blind.cell("a", "y")["suppressed"], "the family tables still run an exact check of their own"
    assert family_tables.determined_cells is not disclosure.determined_cells  # the patch above, not a copy
    monkeypatch.undo()
    assert family_tables.determined_cells is disclosure.determined_cells
    assert family_tables.nearest_cell is disclosure.nearest_cell
    assert not [name for name in vars(family_tables) if name in ("_determined", "_eliminate", "Fraction")]


def test_the_engine_finds_a_cell_solved_by_combining_rows_and_columns():
    """Two hidden cells to a row and to a column still give each other away in a closed square
    when one of its four is known: the elimination, not a per-relation rule, finds it."""
    # cells: 0 1 | 2 (row totals) / 3 4 | 5 / 6 7 | 8 (column totals, grand total)
    relations = [(2, (0, 1)), (5, (3, 4)), (8, (6, 7)), (6, (0, 3)), (7, (1, 4))]
    assert disclosure.determined_cells(relations, {0, 1, 3, 4}) == set()
    assert disclosure.determined_cells(relations, {1, 3, 4}) == {1, 3, 4}


# --- days to answer ------------------------------------------------------------------------------

@pytest.mark.skipif(BACKEND != "postgres", reason="the ageing helper speaks PostgreSQL")
def test_the_compliance_report_counts_days_to_answer_as_the_national_figures_do(app, world, api, owner_engine):
    a, b, c, assoc = api("a_staff"), api("b_staff"), api("c_staff"), api("association")
    ok(_request(a, _a_case(app)), 201)
    slow = ok(_request(a, _a_case(app), to="fukuoka"), 201)
    _age(owner_engine, slow["id"], 3)
    ok(b.post(f"/api/v1/transfers/{_incoming_id(b)}/accept"))
    c_row = [i for i in ok(c.get("/api/v1/transfers?side=receiving"))["items"] if i["from_center"] == "tokyo"
             and i["status"] == "requested"][0]
    ok(c.post(f"/api/v1/transfers/{c_row['id']}/decline", json={"reason": "no_resources"}))
    today = today_jst()
    year = rules.fiscal_year_of(today - timedelta(days=3))
    report = ok(assoc.get(f"/api/v1/transfers/report?fiscal_year={year}"))
    with app.app_context():
        sweep_dirty_slices(older_than_seconds=-1, budget_seconds=600)
        national = figures.day_statistics(year, "transfer_days_to_answer")
        by_center = figures.day_statistics_by_center(year, "transfer_days_to_answer", figures.Scope.national())
    medians = {r["center"]: r["median_days_to_answer"] for r in report["rows"] if r["answered"]}
    assert medians == {code: stats.median for code, stats in by_center.items() if stats.count}
    assert medians["fukuoka"] == 3 and medians["osaka"] == 0
    assert report["total"]["answered"] == national.count
    assert report["total"]["median_days_to_answer"] == national.median


def test_a_change_to_the_days_to_answer_rule_reaches_the_compliance_report(app, world, api, monkeypatch):
    a, b, assoc = api("a_staff"), api("b_staff"), api("association")
    ok(_request(a, _a_case(app)), 201)
    ok(b.post(f"/api/v1/transfers/{_incoming_id(b)}/accept"))
    year = rules.fiscal_year_of(today_jst())
    before = {r["center"]: r for r in ok(assoc.get(f"/api/v1/transfers/report?fiscal_year={year}"))["rows"]}
    real = rules.days_to_answer
    monkeypatch.setattr(rules, "days_to_answer", lambda row: None if real(row) is None else real(row) + 100)
    after = {r["center"]: r for r in ok(assoc.get(f"/api/v1/transfers/report?fiscal_year={year}"))["rows"]}
    assert before["osaka"]["median_days_to_answer"] == 0 and before["osaka"]["answered_within_deadline"] == 1
    assert after["osaka"]["median_days_to_answer"] == 100 and after["osaka"]["answered_within_deadline"] == 0


# --- keyset pagination ---------------------------------------------------------------------------

PACKAGE = pathlib.Path(teichaku.__file__).parent


def test_no_service_hand_writes_a_cursor_or_a_page_limit():
    """Every list pages through ``platform.pagination``: no other module decodes or encodes a
    cursor or reads ``limit + 1`` rows itself (each copy was a place for the comparison to drift)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "platform" / "pagination.py" or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(node, "id", None) or getattr(node, "attr", None)
            if name in ("decode_cursor", "encode_cursor"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
            if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and getattr(node.left, "id", None) == "limit"
                    and getattr(node.right, "value", None) == 1):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} limit + 1")
    assert offenders == []


def test_a_naive_timestamp_cursor_on_the_committee_members_list_is_bad_input_not_a_500(api):
    naive = encode_cursor(datetime(2025, 4, 1, 9, 0), uuid.uuid4())
    response = api("a_staff").get(f"/api/v1/committee/members?cursor={naive}")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "validation_error"


def test_rows_sharing_one_timestamp_are_paged_without_loss_or_repeat(api, owner_engine):
    client = api("a_staff")
    for n in range(5):
        response = client.post("/api/v1/resources", json={"name": f"同時{n}", "resource_type": "other"})
        assert response.status_code == 201, response.get_json()
    with owner_engine.begin() as conn:
        conn.execute(text("update resources set created_at = :t where name like '同時%'"),
                     {"t": datetime.fromisoformat("2025-04-01T00:00:00+00:00")})
        expected = [name for (name,) in conn.execute(text(
            "select name from resources where name like '同時%' order by id desc"))]
    seen, cursor = [], ""
    for _ in range(4):
        page = ok(client.get(f"/api/v1/resources?limit=2{'&cursor=' + cursor if cursor else ''}"))
        seen += [r["name"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == expected and cursor is None


# --- module names --------------------------------------------------------------------------------

def test_only_the_small_count_suppression_is_a_module_named_disclosure():
    """``disclosure`` means the aggregates' small-count suppression; the person's 開示請求 export
    is ``disclosure_request`` (a reader grepping one must not land in the other)."""
    named = sorted(m.name for m in pkgutil.walk_packages(teichaku.__path__, "teichaku.")
                   if m.name.rsplit(".", 1)[-1] == "disclosure")
    assert named == ["teichaku.crosstenant.aggregates.disclosure"]
    from teichaku.crosstenant.retention import disclosure_request

    assert callable(disclosure_request.build_disclosure)
