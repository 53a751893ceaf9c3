"""Input ranges (issue 14), the same for pages and API: text without NUL or unpaired surrogates,
dates from 1900-01-01 to ten years ahead, birth dates not in the future, integers within 32 bits;
anything else a 422 with a field error (a 400 for a body that is not JSON), never a 500, and no
row written.  The rules live once, in ``platform/input_ranges.py``."""
from __future__ import annotations

import ast
import json
import pathlib
from datetime import timedelta

import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from werkzeug.datastructures import MultiDict

import teichaku
from teichaku.blueprints.pages.forms import CaseForm, RangedForm
from teichaku.platform import input_ranges
from teichaku.platform.i18n import today_jst
from tests import factories
from tests.helpers import api_error, ok

say = input_ranges.say

PERSON = {"family_name": "山田", "given_name": "太郎", "family_name_kana": "やまだ", "given_name_kana": "たろう",
          "birth_date": "1950-01-02", "sex": "male", "support_needs": ["elderly"]}
CASE = {"case_type": "coordination", "person": PERSON, "requested_on": "2026-04-01"}


def _rows(owner_engine) -> tuple[int, int]:
    with owner_engine.connect() as conn:
        return (conn.execute(text("select count(*) from persons")).scalar(),
                conn.execute(text("select count(*) from cases")).scalar())


def _with(person=None, **case) -> dict:
    return {**CASE, "person": {**PERSON, **(person or {})}, **case}


def _in_days(days: int) -> str:
    return (today_jst() + timedelta(days=days)).isoformat()


def _years_ahead(years: int) -> str:
    today = today_jst()
    return today.replace(year=today.year + years, day=min(today.day, 28)).isoformat()


# --- the API ------------------------------------------------------------------------------------------

BAD_CASES = {
    "nul_in_a_name": (lambda: _with({"family_name": "山\x00田"}), "person.family_name", say(input_ranges.TEXT_MESSAGE)),
    "lone_surrogate_in_a_name": (lambda: _with({"given_name": "太\ud800郎"}), "person.given_name", say(input_ranges.TEXT_MESSAGE)),
    "nul_in_a_list_item": (lambda: _with({"support_needs": ["elderly", "\x00"]}), "person.support_needs.1",
                           say(input_ranges.TEXT_MESSAGE)),
    "birth_date_in_the_year_0101": (lambda: _with({"birth_date": "0101-01-01"}), "person.birth_date",
                                    say(input_ranges.DATE_MESSAGE)),
    "birth_date_tomorrow": (lambda: _with({"birth_date": _in_days(1)}), "person.birth_date",
                            say(input_ranges.BIRTH_DATE_MESSAGE)),
    "release_date_50_years_ahead": (lambda: _with(release_date=_years_ahead(50)), "release_date",
                                    say(input_ranges.DATE_MESSAGE)),
    "requested_on_before_1900": (lambda: _with(requested_on="1899-12-31"), "requested_on", say(input_ranges.DATE_MESSAGE)),
}


@pytest.mark.parametrize("name", BAD_CASES)
def test_api_case_with_text_or_dates_out_of_range_is_a_422_field_error_and_writes_nothing(api, owner_engine, name):
    body, field, message = BAD_CASES[name]
    before = _rows(owner_engine)
    # sent as JSON text: a lone surrogate travels as its escape ("\ud800"), as a fuzzer sends it
    response = api("a_staff").post("/api/v1/cases", data=json.dumps(body()), content_type="application/json")
    error = api_error(response, 422, "validation_error")
    assert error["details"]["fields"][field] == [message], error
    assert _rows(owner_engine) == before


def test_api_nul_or_surrogate_in_a_json_key_is_a_422_not_a_500(api, owner_engine):
    before = _rows(owner_engine)
    staff = api("a_staff")
    for key in ("case\x00type", "\ud800"):
        raw = json.dumps({**CASE, key: "x"})  # ensure_ascii: "\u0000", "\ud800" escapes
        error = api_error(staff.post("/api/v1/cases", data=raw, content_type="application/json"), 422, "validation_error")
        assert list(error["details"]["fields"].values()) == [[say(input_ranges.TEXT_MESSAGE)]], error
        assert all("\x00" not in f and "\ud800" not in f for f in error["details"]["fields"])
    nested = json.dumps({**CASE, "person": {**PERSON, "\x00": 1}})
    error = api_error(staff.post("/api/v1/cases", data=nested, content_type="application/json"), 422, "validation_error")
    assert error["details"]["fields"] == {"person.\ufffd": [say(input_ranges.TEXT_MESSAGE)]}
    assert _rows(owner_engine) == before


@pytest.mark.parametrize("raw", [
    "[" * 100_000 + "]" * 100_000,                       # deeper than the parser's recursion limit
    '{"case_type": "coordination", "x": ' + "9" * 5000 + "}",  # more digits than Python converts
    b'{"case_type": "\xff"}',                             # not UTF-8
    '{"case_type": ',                                      # not JSON
], ids=["too_deep", "huge_number", "bad_utf8", "truncated"])
def test_api_body_that_is_not_json_is_a_400_bad_request(api, owner_engine, raw):
    before = _rows(owner_engine)
    response = api("a_staff").post("/api/v1/cases", data=raw, content_type="application/json")
    api_error(response, 400, "bad_request")
    assert _rows(owner_engine) == before


def test_api_dates_at_the_edges_of_the_range_are_accepted(api):
    staff = api("a_staff")
    ok(staff.post("/api/v1/cases", json=_with({"birth_date": "1900-01-01"}, release_date=_years_ahead(10))), 201)
    ok(staff.post("/api/v1/cases", json=_with({"birth_date": today_jst().isoformat()})), 201)


def test_api_integer_beyond_32_bits_is_a_422_field_error(api, world):
    staff = api("a_staff")
    error = api_error(staff.get(f"/api/v1/cases?limit={2 ** 31}"), 422, "validation_error")
    assert say(input_ranges.INTEGER_MESSAGE) in error["details"]["fields"]["limit"]
    error = api_error(staff.get(f"/api/v1/cases?limit={10 ** 30}"), 422, "validation_error")
    assert "limit" in error["details"]["fields"]
    case_id = world.cases["a"]["id"]
    plan = ok(staff.post(f"/api/v1/cases/{case_id}/plans", json={"content": {"goals": "地域で暮らす"}}), 201)
    response = staff.post(f"/api/v1/cases/{case_id}/plans/{plan['id']}/revisions",
                          json={"base_revision": 2 ** 31, "content": {"goals": "地域で暮らす"}})
    error = api_error(response, 422, "validation_error")
    assert error["details"]["fields"]["base_revision"] == [say(input_ranges.INTEGER_MESSAGE)]


def test_api_date_inside_a_nested_list_keeps_to_the_range(api, world):
    staff = api("a_staff")
    case_id = world.cases["a"]["id"]
    content = {"goals": "地域で暮らす", "items": [{"area": "housing", "support": "住まいの確保", "due_on": "0101-01-01"}]}
    error = api_error(staff.post(f"/api/v1/cases/{case_id}/plans", json={"content": content}), 422, "validation_error")
    assert error["details"]["fields"]["content.items.0.due_on"] == [say(input_ranges.DATE_MESSAGE)]


def test_api_query_argument_with_a_nul_is_a_422_field_error(api):
    error = api_error(api("a_staff").get("/api/v1/cases?cursor=%00"), 422, "validation_error")
    assert error["details"]["fields"] == {"cursor": [say(input_ranges.TEXT_MESSAGE)]}


PROPERTY_SETTINGS = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                                    HealthCheck.too_slow])
# any code point, the NUL and lone surrogates often (a fuzzer's favourites)
ANY_TEXT = st.text(alphabet=st.one_of(st.characters(exclude_categories=()), st.sampled_from("\x00\ud800\udfff")),
                   max_size=60)


@PROPERTY_SETTINGS
@given(person_field=st.sampled_from(["family_name", "given_name", "birth_date"]),
       value=st.one_of(ANY_TEXT, st.dates().map(str)))
def test_api_case_creation_never_answers_500_for_any_text_or_date(api, person_field, value):
    """One field at a time (the others valid), so a bad value reaches as far as it can."""
    body = _with({person_field: value})
    response = api("a_staff").post("/api/v1/cases", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (201, 422), response.get_data(as_text=True)[:300]
    if response.status_code == 422:
        api_error(response, 422, "validation_error")


# --- the pages ----------------------------------------------------------------------------------------

PAGE_CASE = {"case_type": "coordination", "family_name": "山田", "given_name": "太郎", "family_name_kana": "やまだ",
             "given_name_kana": "たろう", "birth_date": "1950-01-02", "sex": "male", "public_assistance": "none",
             "requested_on": "2026-04-01"}

BAD_PAGES = {
    "nul_in_a_name": (lambda: {"family_name": "山\x00田"}, say(input_ranges.TEXT_MESSAGE)),
    "birth_date_in_the_year_0101": (lambda: {"birth_date": "0101-01-01"}, say(input_ranges.DATE_MESSAGE)),
    "birth_date_tomorrow": (lambda: {"birth_date": _in_days(1)}, say(input_ranges.BIRTH_DATE_MESSAGE)),
    "release_date_50_years_ahead": (lambda: {"release_date": _years_ahead(50)}, say(input_ranges.DATE_MESSAGE)),
}


@pytest.fixture()
def page(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    client = app.test_client()
    factories.sign_in(client, world.users["a_staff"])
    return client


@pytest.mark.parametrize("name", BAD_PAGES)
def test_page_case_form_out_of_range_is_a_422_with_the_japanese_message_and_writes_nothing(page, owner_engine, name):
    change, message = BAD_PAGES[name]
    before = _rows(owner_engine)
    response = page.post("/cases/new", data={**PAGE_CASE, **change()})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _rows(owner_engine) == before


def test_page_case_form_in_range_still_opens_the_case(page, owner_engine):
    before = _rows(owner_engine)
    assert page.post("/cases/new", data={**PAGE_CASE, "release_date": _years_ahead(10)}).status_code == 302
    assert _rows(owner_engine) == (before[0] + 1, before[1] + 1)


def test_page_query_argument_with_a_nul_is_a_422(page):
    assert page.get("/case-studies?q=%00").status_code == 422
    assert page.get("/case-studies?q=ok").status_code == 200


def test_page_audit_filter_with_a_nul_is_a_422(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    admin = app.test_client()
    factories.sign_in(admin, world.users["a_admin"])
    assert admin.post("/center/audit", data={"action": "case.read"}).status_code == 200
    assert admin.post("/center/audit", data={"action": "case\x00read"}).status_code == 422


def test_a_form_refuses_a_lone_surrogate_under_the_field(app):
    """Browsers cannot send one (the form decoding replaces it), but the rule holds on any data."""
    with app.test_request_context("/"):
        form = CaseForm(formdata=MultiDict({**PAGE_CASE, "given_name": "太\ud800郎"}), meta={"csrf": False})
        assert not form.validate()
        assert form.given_name.errors == [say(input_ranges.TEXT_MESSAGE)]


def _page_form_classes():
    """Every class of the page modules that derives from a WTForms form by name (ast)."""
    root = pathlib.Path(teichaku.__file__).parent / "blueprints" / "pages"
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                yield path.stem, node.name, bases


def test_every_page_form_derives_from_the_ranged_form():
    """A form deriving from FlaskForm directly would skip the input ranges; a bare wtforms ``Form``
    is allowed only as a subform (FormField), which the ranged form around it checks."""
    direct = [f"{module}.{name}" for module, name, bases in _page_form_classes()
              if "FlaskForm" in bases and name != "RangedForm"]
    assert direct == []
    assert issubclass(CaseForm, RangedForm) and issubclass(RangedForm, FlaskForm)


@pytest.mark.parametrize("raw", ["²", "٣", "99999999999999999999"])
def test_a_number_in_a_query_string_or_hidden_field_is_ascii_digits_within_32_bits(page, raw):
    """``str.isdigit`` accepts "²" and "٣", which ``int`` then refuses (a 500) or reads as
    another number; every page reads such numbers through ``input_ranges.small_int``."""
    response = page.get(f"/activities?fiscal_year={raw}")
    assert response.status_code == 422  # the list page says what is wrong with its filter
    assert "年度は西暦の数字で指定してください。" in response.get_data(as_text=True)
    assert input_ranges.small_int(raw) is None
    assert input_ranges.small_int(" 12 ") == 12


def test_no_page_reads_a_number_with_isdigit_alone():
    """One way to read a number from text: ``small_int`` (ASCII digits, 32 bits)."""
    offenders = []
    for path in sorted((pathlib.Path(teichaku.__file__).parent / "blueprints").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "isdigit":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
