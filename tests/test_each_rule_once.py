"""Each rule once (issue 13): the disclosure engine, the days-to-answer rule, keyset pagination and
the module names each live in one place, so a fix to one reaches every caller.

The attack each test is named after is drift: two copies of a rule that a later change brings
apart (a fix to the exact check that misses the family tables; a compliance report that counts
days from other columns than the national figures; a list whose cursor compares differently)."""
from __future__ import annotations

import ast
import pathlib
import pkgutil
import re
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

import teichaku
from teichaku.blueprints.pages import case_studies as case_study_pages
from teichaku.blueprints.pages import records as record_pages
from teichaku.blueprints.pages import transfer_pulls as pull_pages
from teichaku.blueprints.pages import transfers as transfer_pages
from teichaku.blueprints.pages.forms import EligibilityForm
from teichaku.crosstenant.aggregates import disclosure, family_tables, figures, rules
from teichaku.crosstenant.aggregates.jobs import sweep_dirty_slices
from teichaku.crosstenant.exchange import lifecycle as exchange_lc
from teichaku.crosstenant.exchange import schemas as exchange_schemas
from teichaku.crosstenant.transfers import lifecycle as transfer_lc
from teichaku.crosstenant.transfers import schemas as transfer_schemas
from teichaku.tenants.cases import lifecycle as case_lc
from teichaku.tenants.cases.schemas import EligibilityIn
from teichaku.tenants.records import lifecycle as record_lc
from teichaku.tenants.records import schemas as record_schemas
from teichaku.tenants.records import services as record_services
from teichaku.crosstenant.retention import disclosure_request
from teichaku.platform.i18n import fiscal_year_of, today_jst
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
    year = fiscal_year_of(today - timedelta(days=3))
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
    year = fiscal_year_of(today_jst())
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


# --- field rules: consent, decline reasons, record and document labels, the exchange's limits --------
# Each table of codes and labels, and each text limit, is written once in its package's lifecycle;
# the page forms, the API schemas, the services and the templates are built from it.  The walks
# below fail when a module spells a table or a limit out again (the copy is where drift starts).

# A copy not removed yet, by file, with the reason; the list may only shrink (a copy that is gone
# fails the test too, so its line is deleted).
KNOWN_COPIES: dict[str, set[str]] = {}


def _package_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _is_label(node: ast.AST | None) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or (
        isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("_", "_l", "N_", "gettext", "lazy_gettext"))


def _codes_in(node: ast.AST) -> set[str]:
    """The string codes a table spells out: the keys of a dict of labels, the elements of a list,
    tuple or set, or the first element of each pair (a choices list).  A dict that maps each code
    to something else (a form class, the fields of a kind) is a rule of its own, not a copy."""
    if isinstance(node, ast.Dict):
        items = node.keys if node.values and all(_is_label(v) for v in node.values) else []
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [e.elts[0] if isinstance(e, ast.Tuple) and e.elts else e for e in node.elts]
    else:
        return set()
    return {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}


def _listed_in_message(text: str) -> set[str]:
    """The codes a message lists ("a, b, c のいずれか", "a または b を"): the last word before the
    first separator, every part between that is one word, and the word after the last separator
    when Japanese (or nothing) follows it (an English sentence listing kinds is no message)."""
    parts = re.split(r", | または ", text)
    if len(parts) < 2:
        return set()
    first = re.findall(r"[a-z_]+$", parts[0].strip())
    last = re.findall(r"^[a-z_]+(?= [^\x00-\x7f]|$)", parts[-1].strip())
    return {*first, *last, *(p.strip() for p in parts[1:-1] if re.fullmatch(r"[a-z_]+", p.strip()))}


def copies_of(table: str, codes, *sources: pathlib.Path) -> list[str]:
    """Where a module other than ``sources`` (or a template) writes the table of ``codes`` again:
    a table or a message naming all of them, or all but one."""
    codes = set(codes)
    enough = max(2, len(codes) - 1)
    found = []
    for path, tree in _package_modules():
        if path in sources:
            continue
        for node in ast.walk(tree):
            named = _codes_in(node)
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named = _listed_in_message(node.value)
            if len(named & codes) >= enough:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    for path in sorted((PACKAGE / "templates").rglob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if len(set(re.findall(r"""['"](\w+)['"]\s*:""", line)) & codes) >= enough:
                found.append(f"{path.relative_to(PACKAGE)}:{number}")
    known = {name for name, tables in KNOWN_COPIES.items() if table in tables}
    stale = [name for name in known if not any(f.startswith(name + ":") for f in found)]
    assert not stale, f"no copy of the {table} left in {stale}: delete its KNOWN_COPIES entry"
    return [f for f in found if f.split(":")[0] not in known]


def literal_limits(field_names: set[str], paths) -> list[str]:
    """Fields among ``field_names`` whose ``Length`` limit is a number written in place (a
    ``min=1``, "not empty", is no limit)."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Assign) and any(getattr(t, "id", None) in field_names for t in node.targets)):
                continue
            for call in ast.walk(node.value):
                if (isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", None)) == "Length"
                        and any(isinstance(k.value, ast.Constant) and (k.arg == "max" or k.value.value > 1)
                                for k in call.keywords)):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def _source(module) -> pathlib.Path:
    return pathlib.Path(module.__file__)


def _length(field, kind: str = "marshmallow") -> int:
    validators = field.validators if kind == "marshmallow" else field.kwargs["validators"]
    return next(v.max for v in validators if type(v).__name__ == "Length")


def test_the_page_forms_the_api_schema_and_the_service_take_consent_rules_from_one_source():
    """A transfer's and a pull request's consent: methods, the oral consent's witness and the
    limits live in the transfers' lifecycle; the eligibility checklist's witness in the cases'."""
    assert copies_of("consent methods", transfer_lc.CONSENT_METHODS, _source(transfer_lc)) == []
    everywhere = [path for path, _tree in _package_modules()]
    assert literal_limits({"consent_witness", "consent_scope"}, everywhere) == []
    assert pull_pages.PullForm.consent_witness is transfer_pages.TransferForm.consent_witness
    assert pull_pages.PullForm.consent_scope is transfer_pages.ConsentFields.consent_scope
    assert [code for code, _label in transfer_pages.CONSENT_CHOICES] == list(transfer_lc.CONSENT_METHODS)
    consent = transfer_schemas.ConsentIn()
    assert _length(consent.fields["witness"]) == transfer_lc.CONSENT_WITNESS_MAX
    assert _length(consent.fields["scope"]) == transfer_lc.CONSENT_SCOPE_MAX
    assert _length(EligibilityIn().fields["consent_witness"]) == case_lc.CONSENT_WITNESS_MAX
    assert _length(EligibilityForm.consent_witness, "wtforms") == case_lc.CONSENT_WITNESS_MAX


def test_the_decline_form_the_api_schema_and_the_labels_take_decline_reasons_from_the_lifecycle():
    assert copies_of("decline reasons", transfer_lc.DECLINE_REASONS, _source(transfer_lc)) == []
    assert [code for code, _label in transfer_pages.DECLINE_CHOICES] == list(transfer_lc.DECLINE_REASONS)
    reason = transfer_schemas.DeclineIn().fields["reason"].validators[0]
    assert reason.choices == tuple(transfer_lc.DECLINE_REASONS)
    assert all(code in reason.error for code in transfer_lc.DECLINE_REASONS)


def test_the_transfer_forms_and_the_api_schemas_take_their_text_limits_from_the_lifecycle():
    files = [_source(transfer_schemas), _source(transfer_pages), _source(pull_pages)]
    assert literal_limits({"message", "comment", "body"}, files) == []
    assert _length(transfer_schemas.DeclineIn().fields["comment"]) == transfer_lc.COMMENT_MAX
    assert _length(transfer_schemas.MessageIn().fields["body"]) == transfer_lc.MESSAGE_MAX
    assert _length(transfer_pages.TransferForm.message, "wtforms") == transfer_lc.MESSAGE_MAX


def test_record_and_document_labels_have_one_source_for_services_pages_templates_and_exports():
    tables = {"record kinds": record_lc.RECORD_LABELS, "document kinds": record_lc.DOCUMENT_LABELS,
              "assessment sections": record_lc.SECTION_LABELS, "plan areas": record_lc.AREA_LABELS}
    # The cases' needs by life area (NEED_AREAS) share the plan's area codes with labels of their own.
    sources = {"plan areas": [_source(case_lc)]}
    for table, labels in tables.items():
        assert copies_of(table, labels, _source(record_lc), *sources.get(table, [])) == [], table
    records_dir = PACKAGE / "tenants" / "records"
    assert literal_limits({"place", "participants", "note", "support", "provider", "title"},
                          [records_dir / "schemas.py", _source(record_pages)]) == []
    assert record_services.AREA_LABELS is record_lc.AREA_LABELS
    assert disclosure_request.RECORD_LABELS is record_lc.RECORD_LABELS
    assert disclosure_request.DOCUMENT_LABELS is record_lc.DOCUMENT_LABELS
    assert [code for code, _label in record_pages.DOCUMENT_KIND_CHOICES] == list(record_lc.DOCUMENT_KINDS)
    assert list(record_pages.SECTION_FIELD_LABELS) == list(record_lc.ASSESSMENT_SECTIONS)
    assert tuple(record_schemas.AssessmentSections().fields) == record_lc.ASSESSMENT_SECTIONS


def test_the_case_study_forms_and_the_api_schemas_take_their_limits_from_the_exchange_lifecycle():
    exchange_dir = PACKAGE / "crosstenant" / "exchange"
    text_fields = {"replacement", "reason", "body", *exchange_lc.TEXT_FIELDS}
    assert literal_limits(text_fields, [exchange_dir / "schemas.py", _source(case_study_pages)]) == []
    resolve = exchange_schemas.ResolveIn()
    assert _length(resolve.fields["replacement"]) == exchange_lc.MAX_REPLACEMENT
    assert _length(resolve.fields["reason"]) == exchange_lc.MAX_REASON
    assert _length(exchange_schemas.QuestionIn().fields["body"]) == exchange_lc.MAX_MESSAGE
    assert _length(case_study_pages.CaseStudyForm.title, "wtforms") == exchange_lc.MAX_LENGTHS["title"]
