"""National aggregates, the presentation layer: the contract's API, suppression in one place
(API, CSV, XLSX and pages hide the same cells), the exemption of a center's own admin and its
prefecture's viewer, the family tables' disclosure control, the approval chain and the annual
report.

The app of these tests runs without Redis (``REDIS_AVAILABLE=False``), so the rollups follow
each commit in-process, and with a threshold of 3, so that a handful of cases is enough to
have cells above and below it.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import text

from teichaku.crosstenant.aggregates import family_tables, labels, reporting, rules, submissions
from teichaku.crosstenant.aggregates.family_tables import Grid
from teichaku.platform.centers import center_by_code
from teichaku.platform.errors import InvalidState
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from tests import factories
from tests.races import race

THRESHOLD = 3
FY = 2024
CASES_URL = "/api/v1/aggregates/cases"


# --- helpers -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reporting_app(make_app):
    return make_app(REDIS_AVAILABLE=False, DISCLOSURE_THRESHOLD=THRESHOLD, WTF_CSRF_ENABLED=False)


def _cases(app, center: str, n: int, case_type: str = "coordination", requested_on: date = date(2024, 6, 3),
           **extra) -> None:
    """``n`` cases of one type in one center, committed one by one (each commit updates the rollups)."""
    from teichaku.tenants.cases.services import create_case

    with app.app_context():
        set_tenant(center_by_code(center).id)
        for _ in range(n):
            create_case({"case_type": case_type, "requested_on": requested_on,
                         "person": factories.person_payload(support_needs=extra.get("needs", ["elderly"])),
                         **{k: v for k, v in extra.items() if k != "needs"}})
            db.session.commit()
        set_tenant(None)


def _api(app, user: dict, **params):
    client = app.test_client()
    token = factories.api_token(client, user)
    return client.get(CASES_URL, query_string=params, headers={"Authorization": f"Bearer {token}"})


def _page_client(app, user: dict):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302
    return client


def _key(row: dict, by) -> str:
    return "|".join("" if row[d] is None else str(row[d]) for d in by)


def _hidden_in_page(html: str) -> set[str]:
    return set(re.findall(r'<td class="num suppressed" data-cell="([^"]*)"', html))


def _shown_in_page(html: str) -> dict[str, int]:
    return {k: int(v.replace(",", "")) for k, v in re.findall(r'<td class="num" data-cell="([^"]*)">([\d,]+)</td>', html)}


@pytest.fixture()
def small_world(reporting_app, world):
    """FY2024: tokyo 2 CO (below the threshold), osaka 5 CO + 4 consultations, fukuoka 6 CO."""
    reporting.clear_cache()
    _cases(reporting_app, "tokyo", 2)
    _cases(reporting_app, "osaka", 5)
    _cases(reporting_app, "osaka", 4, case_type="consultation", requester_type="family")
    _cases(reporting_app, "fukuoka", 6, requested_on=date(2024, 11, 5))
    return world


def _user(app, role: str, center: str | None = None) -> dict:
    return factories.make_user(app, role, center)


# --- the contract ------------------------------------------------------------------------------------

def test_the_cases_answer_has_a_key_per_dimension_a_count_and_suppressed_per_row(reporting_app, small_world):
    response = _api(reporting_app, small_world.users["ministry"], fiscal_year=FY, by="region,case_type")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["suppression_threshold"] == THRESHOLD and body["fiscal_year"] == FY
    assert datetime.fromisoformat(body["as_of"]).tzinfo is not None
    assert all(set(row) == {"region", "case_type", "count", "suppressed"} for row in body["rows"])
    rows = {(r["region"], r["case_type"]): r for r in body["rows"]}
    assert len(rows) == 9 * 5  # 8 regions and the national total, 4 case types and their total
    assert rows[(None, None)] == {"region": None, "case_type": None, "count": 17, "suppressed": False}
    assert rows[(None, "coordination")]["count"] == 13
    assert rows[("近畿", "consultation")] == {"region": "近畿", "case_type": "consultation", "count": 4,
                                               "suppressed": False}
    assert all((r["count"] is None) == r["suppressed"] for r in body["rows"])


@pytest.mark.parametrize("by", ["nonsense", "center,prefecture", "region,case_type,quarter", "case_type,case_type"])
def test_a_dimension_outside_the_fixed_list_is_a_422_in_the_contract_error_shape(reporting_app, small_world, by):
    response = _api(reporting_app, small_world.users["ministry"], fiscal_year=FY, by=by)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and error["message"]
    assert "by" in error["details"]["fields"]


@pytest.mark.parametrize("params", [{}, {"fiscal_year": "x"}, {"fiscal_year": "2008"}, {"fiscal_year": "2100"},
                                    {"fiscal_year": str(FY), "format": "pdf"}])
def test_a_missing_or_bad_parameter_is_a_422_never_a_500(reporting_app, small_world, params):
    response = _api(reporting_app, small_world.users["ministry"], **params)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"


def test_csv_is_utf8_with_bom_crlf_the_json_keys_as_header_and_empty_suppressed_cells(reporting_app, small_world):
    ministry = small_world.users["ministry"]
    body = _api(reporting_app, ministry, fiscal_year=FY, by="center,case_type").get_json()
    response = _api(reporting_app, ministry, fiscal_year=FY, by="center,case_type", format="csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    raw = response.data
    assert raw.startswith(b"\xef\xbb\xbf")
    content = raw.decode("utf-8-sig")
    assert content.count("\r\n") == len(body["rows"]) + 1 and "\n" not in content.replace("\r\n", "")
    lines = list(csv.reader(io.StringIO(content, newline="")))
    assert lines[0] == ["center", "case_type", "count", "suppressed"]
    assert len(lines) - 1 == len(body["rows"])
    for line, row in zip(lines[1:], body["rows"]):
        assert line[0] == (row["center"] or "") and line[1] == (row["case_type"] or "")
        assert line[2] == ("" if row["suppressed"] else str(row["count"]))
        assert line[3] == ("true" if row["suppressed"] else "false")
    tokyo = next(line for line in lines[1:] if line[:2] == ["tokyo", "coordination"])
    assert tokyo[2:] == ["", "true"]  # 2 < 3: suppressed, an empty cell


def test_api_csv_xlsx_and_page_hide_exactly_the_same_cells(reporting_app, small_world):
    ministry = small_world.users["ministry"]
    by = ("prefecture", "case_type")
    rows = _api(reporting_app, ministry, fiscal_year=FY, by=",".join(by)).get_json()["rows"]
    hidden = {_key(r, by) for r in rows if r["suppressed"]}
    assert "13|coordination" in hidden  # tokyo's two cases
    assert len(hidden) >= 2  # one cell alone would be given away by its row or column total

    csv_rows = list(csv.DictReader(io.StringIO(_api(reporting_app, ministry, fiscal_year=FY, by=",".join(by),
                                                    format="csv").data.decode("utf-8-sig"), newline="")))
    assert {_key({d: r[d] or None for d in by}, by) for r in csv_rows if r["suppressed"] == "true"} == hidden

    client = _page_client(reporting_app, ministry)
    xlsx = client.get("/aggregates/export", query_string={"fiscal_year": FY, "table": "cases", "by": ",".join(by),
                                                            "format": "xlsx"})
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data))["集計表"]
    header, *lines = list(sheet.iter_rows(values_only=True))
    assert list(header) == [*by, "count", "suppressed"]
    assert {_key(dict(zip(header, line)), by) for line in lines if line[3] == "true"} == hidden
    assert all(line[2] is None for line in lines if line[3] == "true")

    page = client.get("/aggregates/national", query_string={"fiscal_year": FY, "by": ",".join(by)})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    table = html[html.index('id="contract-table"'):html.index("</table>", html.index('id="contract-table"'))]
    assert _hidden_in_page(table) == hidden
    shown = _shown_in_page(table)
    assert shown == {_key(r, by): r["count"] for r in rows if not r["suppressed"]}


def test_a_family_table_hides_the_same_cells_on_the_page_and_in_its_csv_and_xlsx(reporting_app, small_world):
    _cases(reporting_app, "tokyo", 1, case_type="consultation", requester_type="person")
    _cases(reporting_app, "fukuoka", 5, case_type="consultation", requester_type="municipality")
    client = _page_client(reporting_app, small_world.users["ministry"])
    html = client.get("/aggregates/national", query_string={"fiscal_year": FY}).get_data(as_text=True)
    start = html.index('id="family-consultations"')
    table = html[start:html.index("</table>", start)]
    hidden = _hidden_in_page(table)
    assert "person" in hidden and len(hidden) >= 2  # 1 < 3, and one more so it cannot be subtracted out
    query = {"fiscal_year": FY, "table": "consultations"}
    rows = list(csv.DictReader(io.StringIO(client.get("/aggregates/export", query_string={**query, "format": "csv"})
                                           .data.decode("utf-8-sig"), newline="")))
    assert {r["requester_type"] for r in rows if r["suppressed"] == "true"} == hidden
    assert {r["requester_type"]: int(r["count"]) for r in rows if r["suppressed"] == "false"} == _shown_in_page(table)
    sheet = load_workbook(io.BytesIO(client.get("/aggregates/export", query_string={**query, "format": "xlsx"}).data))
    header, *lines = list(sheet["集計表"].iter_rows(values_only=True))
    assert {str(dict(zip(header, line))["requester_type"] or "") for line in lines if line[-1] == "true"} == hidden


def test_a_center_admin_gets_its_own_center_exactly_and_no_other_centers_rows(reporting_app, small_world):
    rows = _api(reporting_app, small_world.users["a_admin"], fiscal_year=FY, by="center,case_type").get_json()["rows"]
    centers = {r["center"] for r in rows}
    assert centers == {"tokyo", None}  # its own center and the national rows, nobody else's
    own = {r["case_type"]: r for r in rows if r["center"] == "tokyo"}
    assert own["coordination"] == {"center": "tokyo", "case_type": "coordination", "count": 2, "suppressed": False}
    national = {r["case_type"]: r for r in rows if r["center"] is None}
    ministry_rows = _api(reporting_app, small_world.users["ministry"], fiscal_year=FY, by="center,case_type").get_json()["rows"]
    assert national == {r["case_type"]: r for r in ministry_rows if r["center"] is None}  # the common pattern
    by_region = _api(reporting_app, small_world.users["a_admin"], fiscal_year=FY, by="region").get_json()["rows"]
    assert [r["region"] for r in by_region] == [None]  # a region is not its own center


def test_the_ministry_sees_the_small_count_of_a_center_suppressed(reporting_app, small_world):
    rows = _api(reporting_app, small_world.users["ministry"], fiscal_year=FY, by="center,case_type").get_json()["rows"]
    tokyo = next(r for r in rows if r["center"] == "tokyo" and r["case_type"] == "coordination")
    assert tokyo == {"center": "tokyo", "case_type": "coordination", "count": None, "suppressed": True}
    association = _api(reporting_app, small_world.users["association"], fiscal_year=FY, by="center,case_type")
    assert association.get_json()["rows"] == rows


def test_a_prefecture_viewer_gets_its_prefectures_center_exactly(reporting_app, small_world):
    rows = _api(reporting_app, small_world.users["a_prefecture"], fiscal_year=FY, by="prefecture,case_type").get_json()["rows"]
    assert {r["prefecture"] for r in rows} == {"13", None}
    assert next(r for r in rows if r["prefecture"] == "13" and r["case_type"] == "coordination")["count"] == 2


def test_hokkaidos_prefecture_viewer_sees_both_hokkaido_centers_exactly(reporting_app, small_world):
    _cases(reporting_app, "hokkaido-1", 1)
    _cases(reporting_app, "hokkaido-2", 2)
    viewer = _user(reporting_app, "prefecture", "hokkaido-1")
    rows = _api(reporting_app, viewer, fiscal_year=FY, by="center,case_type").get_json()["rows"]
    own = {(r["center"], r["case_type"]): r["count"] for r in rows if r["center"] is not None}
    assert {c for c, _ in own} == {"hokkaido-1", "hokkaido-2"}
    assert own[("hokkaido-1", "coordination")] == 1 and own[("hokkaido-2", "coordination")] == 2
    admin = _user(reporting_app, "center_admin", "hokkaido-1")
    admin_rows = _api(reporting_app, admin, fiscal_year=FY, by="prefecture,case_type").get_json()["rows"]
    assert {r["prefecture"] for r in admin_rows} == {None}  # Hokkaido is two centers: not hokkaido-1's own


@pytest.mark.parametrize("role", ["a_staff", "platform_admin"])
def test_staff_and_the_platform_admin_get_no_figures(reporting_app, small_world, role):
    assert _api(reporting_app, small_world.users[role], fiscal_year=FY).status_code == 403
    client = _page_client(reporting_app, small_world.users[role])
    assert client.get("/aggregates").status_code == 403
    assert client.get("/aggregates/export", query_string={"fiscal_year": FY}).status_code == 403


# --- the national dashboard -------------------------------------------------------------------------

def test_the_dashboard_api_headlines_are_cells_of_the_published_tables(reporting_app, small_world):
    client = reporting_app.test_client()
    token = factories.api_token(client, small_world.users["ministry"])
    body = client.get("/api/v1/aggregates/dashboard", query_string={"fiscal_year": FY},
                      headers={"Authorization": f"Bearer {token}"}).get_json()
    headlines = {h["code"]: h for h in body["headlines"]}
    assert set(headlines) == {*rules.HEADLINES, rules.FU_OPEN}
    cube = _api(reporting_app, small_world.users["ministry"], fiscal_year=FY, by="case_type").get_json()["rows"]
    national = {r["case_type"]: r for r in cube}
    assert headlines["co_requests"]["count"] == national["coordination"]["count"] == 13
    assert headlines["consultations"]["count"] == national["consultation"]["count"] == 4
    assert headlines["co_requests"]["previous_count"] == 0
    assert [p["fiscal_year"] for p in body["trend"]["co_requests"]] == list(range(FY - 4, FY + 1))
    assert body["trend"]["co_requests"][-1]["count"] == 13
    denied = client.get("/api/v1/aggregates/dashboard", query_string={"fiscal_year": FY},
                        headers={"Authorization": f"Bearer {factories.api_token(client, small_world.users['a_admin'])}"})
    assert denied.status_code == 403


def test_the_national_page_draws_its_charts_as_inline_svg_without_style_attributes(reporting_app, small_world):
    client = _page_client(reporting_app, small_world.users["ministry"])
    response = client.get("/aggregates/national", query_string={"fiscal_year": FY})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for chart in ('id="trend-chart"', 'id="cases-chart"', 'id="ranking-chart"'):
        assert chart in html
    assert html.count("<svg") == 3 and "<script" not in html and " style=" not in html
    assert "集計時点" in html and "令和6年度" in html
    assert "aggregates.css" in html


def test_every_aggregates_page_shows_as_of(reporting_app, small_world):
    for role, path in (("ministry", "/aggregates/national"), ("a_admin", "/aggregates/center"),
                       ("a_prefecture", "/aggregates/prefecture"), ("a_admin", "/aggregates/report")):
        html = _page_client(reporting_app, small_world.users[role]).get(path, query_string={"fiscal_year": FY})
        assert html.status_code == 200, (role, path)
        assert "集計時点" in html.get_data(as_text=True), (role, path)


def test_a_family_table_is_cut_from_one_pattern_by_region_and_nationally(reporting_app, small_world):
    _cases(reporting_app, "tokyo", 4, case_type="consultation", requester_type="person")
    with reporting_app.app_context():
        region = reporting.national_family(FY, "co_ended", "region")
        national = reporting.national_family(FY, "co_ended", "national")
        db.session.commit()
    assert national.rows == region.national().rows
    with pytest.raises(ValueError):
        with reporting_app.app_context():
            reporting.national_family(FY, "co_requests", "region")  # anchored: national only


def test_day_statistics_are_published_only_from_the_threshold_up():
    figure = reporting._day_figure(_stats(count=THRESHOLD - 1, median=5.0, mean=5.0), THRESHOLD)
    assert figure.suppressed and figure.median is None and figure.mean is None
    figure = reporting._day_figure(_stats(count=THRESHOLD, median=5.0, mean=6.25), THRESHOLD)
    assert (figure.median, figure.mean) == (5.0, 6.2)


def _stats(count: int, median: float, mean: float):
    from teichaku.crosstenant.aggregates.figures import DayStatistics

    return DayStatistics(count, median, mean, 1, 9)


def test_the_pattern_is_computed_once_per_rollup_version(reporting_app, small_world, monkeypatch):
    calls = []
    original = reporting.compute_pattern
    monkeypatch.setattr(reporting, "compute_pattern", lambda *a, **k: calls.append(1) or original(*a, **k))
    reporting.clear_cache()
    viewer = reporting.Viewer(reporting.Role.MINISTRY)
    with reporting_app.app_context():
        reporting.contract_table(viewer, FY, ("region",))
        reporting.contract_table(viewer, FY, ("center", "case_type"))
        db.session.commit()
    assert len(calls) == 1
    _cases(reporting_app, "osaka", 1)
    with reporting_app.app_context():
        table = reporting.contract_table(viewer, FY, ())
        db.session.commit()
    assert len(calls) == 2 and table.rows[0]["count"] == 18


def test_fu_open_is_hidden_while_a_years_started_or_closed_total_is_suppressed():
    """FU open during a year is started-to-date minus closed-before: published only when every
    one of those totals is (it then adds nothing) and it is not a small count itself."""
    def cell(count, hidden=False):
        return {"count": None if hidden else count, "suppressed": hidden}

    def year_bundle(started, closed):
        headlines = {code: cell(0) for code in rules.HEADLINES}
        headlines.update(fu_started=started, fu_closed=closed)
        return type("B", (), {"headlines": headlines, "threshold": THRESHOLD})()

    bundles = {2022: year_bundle(cell(5), cell(4)), 2023: year_bundle(cell(1, hidden=True), cell(3)),
               2024: year_bundle(cell(6), cell(0))}
    raw = {code: [] for code in rules.HEADLINES}
    raw[rules.FU_OPEN] = [(2022, 5), (2023, 2), (2024, 8)]
    cells = reporting._yearly_cells(bundles, raw, range(2022, 2025))
    assert cells[2022][rules.FU_OPEN] == cell(5)
    assert cells[2023][rules.FU_OPEN]["suppressed"] and cells[2024][rules.FU_OPEN]["suppressed"]


def test_every_label_of_the_counting_rules_is_in_the_catalog():
    found = {f.label for f in rules.FAMILIES.values()} | {m.label for m in rules.MEASURES.values()}
    found |= {h.label for h in rules.HEADLINES.values()} | {rules.FU_OPEN_LABEL}
    found |= set(rules.NEED_LABELS.values()) | set(rules.RETURN_AREA_LABELS.values()) | set(rules.ROLE_LABELS.values())
    found |= {v for k, v in rules.CO_REQUESTER_LABELS.items() if k in ("probation_office", "wide_area")}
    assert found <= labels.RULE_LABELS, sorted(found - labels.RULE_LABELS)


# --- the family tables' disclosure control -----------------------------------------------------------

def _derivable(grid: Grid, published: family_tables.PublishedGrid, known: set = frozenset()) -> set:
    """Hidden cells an observer can compute from what is published (and the cells it knows),
    by exact linear algebra written here: a cell is determined iff adding its unit vector to the
    relations restricted to the unknown cells does not raise the rank."""
    hidden = {(r.get(grid.row_dimension) if grid.row_dimension else None, r[grid.column_dimension])
              for r in published.rows if r["suppressed"]} - set(known)
    columns = sorted(hidden, key=repr)
    if not columns:
        return set()
    rows = []
    for total, parts in grid.relations():
        vector = [Fraction(int(c == total) - sum(1 for p in parts if p == c)) for c in columns]
        if any(vector):
            rows.append(vector)
    base = _rank(rows)
    return {c for i, c in enumerate(columns) if _rank(rows + [[Fraction(int(j == i)) for j in range(len(columns))]]) == base}


def _rank(rows: list[list[Fraction]]) -> int:
    matrix = [list(r) for r in rows]
    rank, width = 0, len(matrix[0]) if matrix else 0
    for column in range(width):
        pivot = next((i for i in range(rank, len(matrix)) if matrix[i][column]), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for i in range(len(matrix)):
            if i != rank and matrix[i][column]:
                factor = matrix[i][column] / matrix[rank][column]
                matrix[i] = [a - factor * b for a, b in zip(matrix[i], matrix[rank])]
        rank += 1
    return rank


grids = st.builds(
    lambda rows, columns, values, subtotal: Grid(
        "region" if rows else None, "reason", tuple(f"r{i}" for i in range(rows)), tuple(f"c{j}" for j in range(columns)),
        {((f"r{i}" if rows else None), f"c{j}"): values[(i * columns + j) % len(values)]
         for i in range(max(rows, 1)) for j in range(columns)},
        {"sub": ("c0", "c1")} if subtotal and columns > 2 else {}),
    st.integers(0, 4), st.integers(1, 5), st.lists(st.sampled_from([0, 0, 1, 2, 3, 5, 9, 12, 40]), min_size=1, max_size=30),
    st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grids, st.integers(2, 10))
def test_no_suppressed_cell_of_a_family_table_can_be_computed_back(grid, threshold):
    published = family_tables.suppress(grid, threshold)
    for row in published.rows:
        if row["count"] is not None:
            assert not 1 <= row["count"] < threshold  # primary suppression
    assert _derivable(grid, published) == set()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grids.filter(lambda g: len(g.rows) >= 2), st.integers(2, 10))
def test_a_viewer_who_knows_one_row_still_computes_no_other_suppressed_cell(grid, threshold):
    known_row = grid.rows[0]
    known = [(known_row, c) for c in (*grid.columns, *grid.subtotals, None)]
    published = family_tables.suppress(grid, threshold, known=[known])
    assert _derivable(grid, published, set(known)) == set()


def test_a_cell_published_elsewhere_is_never_chosen_and_one_suppressed_elsewhere_stays_hidden():
    grid = Grid(None, "reason", (), ("a", "b", "c"), {(None, "a"): 2, (None, "b"): 20, (None, "c"): 30})
    published = family_tables.suppress(grid, 10, anchors={(None, None): False})
    assert published.cell(None, None)["count"] == 52  # the total is the cube's published cell
    assert published.cell(None, "a")["suppressed"] and published.cell(None, "b")["suppressed"]
    hidden = family_tables.suppress(grid, 10, anchors={(None, None): True})
    assert hidden.cell(None, None)["suppressed"]


# --- the approval chain ------------------------------------------------------------------------------

def _post(client, path: str, **data):
    return client.post(path, data={k: str(v) for k, v in data.items()})


def _submission_row(owner_engine, center: str, fiscal_year: int = FY):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "select s.status, s.version, s.snapshot_digest from aggregate_submissions s join centers c on c.id = s.center_id"
            " where c.code = :code and s.fiscal_year = :fy"), {"code": center, "fy": fiscal_year}).one_or_none()


def test_submitting_locks_the_figures_and_later_cases_change_only_the_current_ones(reporting_app, small_world, owner_engine):
    admin = _page_client(reporting_app, small_world.users["a_admin"])
    response = _post(admin, "/aggregates/submit", fiscal_year=FY)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _submission_row(owner_engine, "tokyo").status == "submitted"
    _cases(reporting_app, "tokyo", 3)  # after submission
    page = admin.get("/aggregates/center", query_string={"fiscal_year": FY}).get_data(as_text=True)
    assert "提出済み（確認待ち）" in page and "提出後に変更あり" in page
    report = admin.get("/aggregates/report", query_string={"fiscal_year": FY}).get_data(as_text=True)
    headlines = report[report.index('id="report-headlines"'):]
    assert "提出済みの集計" in report
    assert re.search(r"コーディネート業務 依頼件数</th><td class=\"num\">2</td>", headlines)  # as submitted: 2, not 5
    again = _post(admin, "/aggregates/submit", fiscal_year=FY)
    assert again.status_code == 409  # already submitted: reopen first
    assert _submission_row(owner_engine, "tokyo").version == 1


def test_the_prefecture_confirms_and_the_ministry_sees_which_centers_are_confirmed(reporting_app, small_world, owner_engine):
    _post(_page_client(reporting_app, small_world.users["a_admin"]), "/aggregates/submit", fiscal_year=FY)
    prefecture = _page_client(reporting_app, small_world.users["a_prefecture"])
    page = prefecture.get("/aggregates/prefecture", query_string={"fiscal_year": FY}).get_data(as_text=True)
    assert "提出された集計を確認する" in page
    version = _submission_row(owner_engine, "tokyo").version
    response = _post(prefecture, "/aggregates/confirm", fiscal_year=FY, center="tokyo", version=version)
    assert response.status_code == 302
    assert _submission_row(owner_engine, "tokyo").status == "confirmed"
    national = _page_client(reporting_app, small_world.users["ministry"]).get(
        "/aggregates/national", query_string={"fiscal_year": FY}).get_data(as_text=True)
    row = re.search(r'<tr data-center="tokyo">.*?</tr>', national, re.S).group(0)
    assert "確認済み" in row
    osaka = re.search(r'<tr data-center="osaka">.*?</tr>', national, re.S).group(0)
    assert "未提出" in osaka


def test_a_prefecture_cannot_confirm_a_center_of_another_prefecture(reporting_app, small_world, owner_engine):
    _post(_page_client(reporting_app, small_world.users["a_admin"]), "/aggregates/submit", fiscal_year=FY)
    osaka_viewer = _user(reporting_app, "prefecture", "osaka")
    response = _post(_page_client(reporting_app, osaka_viewer), "/aggregates/confirm", fiscal_year=FY, center="tokyo")
    assert response.status_code == 404
    assert _submission_row(owner_engine, "tokyo").status == "submitted"


def test_reopening_needs_a_reason_and_is_audited_in_the_centers_chain(reporting_app, small_world, owner_engine):
    admin = _page_client(reporting_app, small_world.users["a_admin"])
    _post(admin, "/aggregates/submit", fiscal_year=FY)
    refused = _post(admin, "/aggregates/reopen", fiscal_year=FY, center="tokyo", reason="  ", version=1)
    assert refused.status_code == 422
    assert _submission_row(owner_engine, "tokyo").status == "submitted"
    done = _post(admin, "/aggregates/reopen", fiscal_year=FY, center="tokyo", reason="相談支援の件数を訂正するため", version=1)
    assert done.status_code == 302
    assert _submission_row(owner_engine, "tokyo").status == "reopened"
    with owner_engine.connect() as conn:
        entries = conn.execute(text(
            "select a.action, a.details from audit_entries a join centers c on c.id = a.center_id"
            " where c.code = 'tokyo' and a.action like 'aggregates.submission.%' order by a.seq")).all()
    assert [e.action for e in entries] == ["aggregates.submission.submit", "aggregates.submission.reopen"]
    assert entries[1].details["reason"] == "相談支援の件数を訂正するため"
    page = admin.get("/aggregates/center", query_string={"fiscal_year": FY}).get_data(as_text=True)
    assert "相談支援の件数を訂正するため" in page and "この年度の集計を提出する" in page


def test_the_ministry_reopens_a_confirmed_year_with_a_reason(reporting_app, small_world, owner_engine):
    _post(_page_client(reporting_app, small_world.users["a_admin"]), "/aggregates/submit", fiscal_year=FY)
    _post(_page_client(reporting_app, small_world.users["a_prefecture"]), "/aggregates/confirm", fiscal_year=FY,
          center="tokyo")
    ministry = _page_client(reporting_app, small_world.users["ministry"])
    response = _post(ministry, "/aggregates/reopen", fiscal_year=FY, center="tokyo", reason="国の照会により再確認",
                     version=_submission_row(owner_engine, "tokyo").version)
    assert response.status_code == 302
    assert _submission_row(owner_engine, "tokyo").status == "reopened"
    with owner_engine.connect() as conn:
        roles = conn.execute(text("select actor_role from aggregate_submission_events e join centers c"
                                  " on c.id = e.center_id where c.code = 'tokyo' order by occurred_at")).scalars().all()
    assert roles == ["center_admin", "prefecture", "ministry"]


def test_a_stale_page_cannot_confirm_a_resubmitted_year(reporting_app, small_world, owner_engine):
    admin = _page_client(reporting_app, small_world.users["a_admin"])
    _post(admin, "/aggregates/submit", fiscal_year=FY)
    seen_version = _submission_row(owner_engine, "tokyo").version
    _post(admin, "/aggregates/reopen", fiscal_year=FY, center="tokyo", reason="訂正", version=seen_version)
    _post(admin, "/aggregates/submit", fiscal_year=FY, version=_submission_row(owner_engine, "tokyo").version)
    prefecture = _page_client(reporting_app, small_world.users["a_prefecture"])
    response = _post(prefecture, "/aggregates/confirm", fiscal_year=FY, center="tokyo", version=seen_version)
    assert response.status_code == 409
    assert _submission_row(owner_engine, "tokyo").status == "submitted"


def test_two_simultaneous_first_submissions_make_one_submission_and_one_refusal(reporting_app, small_world,
                                                                               owner_engine, monkeypatch):
    from teichaku.platform.auth.models import User
    from teichaku.platform.tenancy import account_lookup

    def submit_once() -> str:
        with reporting_app.app_context():
            set_tenant(center_by_code("tokyo").id)
            with account_lookup():
                admin = db.session.scalar(db.select(User).where(User.id == small_world.users["a_admin"]["id"]))
            try:
                submissions.submit(admin, FY)
                db.session.commit()
                return "submitted"
            except InvalidState:
                db.session.rollback()
                return "refused"

    # The first has inserted its row (not yet committed) when the second asks: the second waits for
    # the first's commit (on the center's audit chain, or else on the row's unique key) and is refused.
    outcomes = race(monkeypatch, {"first": submit_once, "second": submit_once}, "first", "second",
                    module=submissions, name="_insert_or_update")
    assert outcomes == {"first": "submitted", "second": "refused"}
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from aggregate_submission_events e join centers c"
                                 " on c.id = e.center_id where c.code = 'tokyo'")).scalar() == 1
    assert _submission_row(owner_engine, "tokyo").version == 1


def test_statuses_move_only_along_the_allowed_transitions():
    assert submissions.next_status("submit", submissions.NOT_SUBMITTED) == "submitted"
    assert submissions.next_status("submit", "reopened") == "submitted"
    assert submissions.next_status("confirm", "submitted") == "confirmed"
    assert submissions.next_status("reopen", "confirmed") == "reopened"
    for action, status in (("confirm", submissions.NOT_SUBMITTED), ("confirm", "confirmed"), ("submit", "submitted"),
                           ("submit", "confirmed"), ("reopen", submissions.NOT_SUBMITTED), ("reopen", "reopened")):
        with pytest.raises(InvalidState):
            submissions.next_status(action, status)


def test_the_database_refuses_a_second_row_for_the_same_center_and_year(reporting_app, small_world, owner_engine):
    _post(_page_client(reporting_app, small_world.users["a_admin"]), "/aggregates/submit", fiscal_year=FY)
    with owner_engine.connect() as conn:
        row = conn.execute(text("select s.center_id from aggregate_submissions s join centers c on c.id = s.center_id"
                                " where c.code = 'tokyo' and s.fiscal_year = :fy"), {"fy": FY}).one()
    with reporting_app.app_context():
        set_tenant(row.center_id)
        db.session.add(submissions.Submission(center_id=row.center_id, fiscal_year=FY, status="submitted",
                                              snapshot={}, submitted_at=datetime.now().astimezone()))
        with pytest.raises(Exception, match="(?i)unique"):
            db.session.commit()
        db.session.rollback()


# --- the annual report ---------------------------------------------------------------------------------

def test_the_annual_report_xlsx_opens_with_openpyxl_and_holds_the_centers_figures(reporting_app, small_world):
    _cases(reporting_app, "tokyo", 1, case_type="consultation", requester_type="lawyer")
    admin = _page_client(reporting_app, small_world.users["a_admin"])
    response = admin.get("/aggregates/report/xlsx", query_string={"fiscal_year": FY})
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["概要", "種別・四半期", "支援の必要性", "内訳", "日数", "広域調整"]
    summary = {row[0]: row[1] for row in book["概要"].iter_rows(values_only=True) if row and row[0]}
    assert summary["業務実績報告"] == "令和6年度（FY2024）"
    assert summary["コーディネート業務 依頼件数"] == 2 and summary["相談支援業務 相談件数"] == 1
    assert "東京" in summary["センター"]
    quarters = list(book["種別・四半期"].iter_rows(values_only=True))
    assert quarters[-1][0] == "計" and quarters[-1][-1] == 3
    other_center = admin.get("/aggregates/report/xlsx", query_string={"fiscal_year": FY, "center": "osaka"})
    assert other_center.status_code == 404


def test_the_prefecture_viewer_reads_its_centers_report_and_no_other(reporting_app, small_world):
    viewer = _page_client(reporting_app, small_world.users["a_prefecture"])
    assert viewer.get("/aggregates/report", query_string={"fiscal_year": FY, "center": "tokyo"}).status_code == 200
    assert viewer.get("/aggregates/report", query_string={"fiscal_year": FY, "center": "osaka"}).status_code == 404
    assert viewer.get("/aggregates/report", query_string={"fiscal_year": FY, "center": "no-such"}).status_code == 404


def test_reading_figures_is_one_audited_cross_tenant_read_per_answer(reporting_app, small_world, owner_engine):
    def reads() -> int:
        with owner_engine.connect() as conn:
            return conn.execute(text("select count(*) from audit_entries where action = 'cross_tenant.read'"
                                     " and object_id = 'aggregates.reporting'")).scalar()

    before = reads()
    _api(reporting_app, small_world.users["ministry"], fiscal_year=FY, by="region")
    assert reads() == before + 1
