"""The local resources directory (社会資源): codes, validation, versions, isolation, search,
audit, placement history, pages and the API."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from sqlalchemy import text

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import get_owned, set_tenant
from teichaku.tenants.cases.models import Case
from teichaku.tenants.common.municipality import MunicipalityCode, is_valid_municipality_code
from teichaku.tenants.resources import services
from teichaku.tenants.resources.models import RESOURCE_TYPES
from tests import factories
from tests.helpers import api_error

HOME = {
    "name": "みどり自立準備ホーム", "kana": "みどりじりつじゅんびほーむ", "resource_type": "self_reliance_home",
    "municipality_name": "千代田区", "municipality_code": "131016", "address": "東京都千代田区1-1",
    "capacity": 5, "openings": 1, "accepts_record": "yes", "self_reliance_home_registered": True,
    "entrustment_from": "2026-04-01", "entrustment_to": "2027-03-31", "notes": "女性のみ",
    "contacts": [{"name": "山田 花子", "role": "施設長", "phone": "03-1234-5678", "email": "yamada@example.jp"},
                 {"name": "夜間窓口", "phone": "03-1234-0000"}],
}
HOSPITAL = {"name": "中央病院", "kana": "チュウオウビョウイン", "resource_type": "hospital",
            "municipality_name": "大阪市", "municipality_code": "271004", "capacity": 100, "openings": 0,
            "accepts_record": "case_by_case"}


# --- 全国地方公共団体コード -------------------------------------------------------------------

@pytest.mark.parametrize("code", ["131016", "271004", "011002", "401307"])
def test_known_municipality_codes_pass_the_check_digit(code):
    assert is_valid_municipality_code(code)


@pytest.mark.parametrize("code", ["131017", "271000", "011001", "401300"])
def test_municipality_code_with_wrong_check_digit_is_refused_by_the_validator(code):
    assert not is_valid_municipality_code(code)
    with pytest.raises(ValidationError) as exc:
        MunicipalityCode()(code)
    assert "全国地方公共団体コード" in exc.value.messages[0]


@pytest.mark.parametrize("code", ["13101", "1310166", "１３１０１６", "13101a", "", " 131016", None, 131016])
def test_municipality_code_must_be_six_ascii_digits(code):
    assert not is_valid_municipality_code(code)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=5, max_size=5))
def test_for_any_five_digits_exactly_one_check_digit_validates(first_five):
    valid = [d for d in "0123456789" if is_valid_municipality_code(first_five + d)]
    assert len(valid) == 1


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture()
def pages(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)

    def as_user(key):
        client = app.test_client()
        assert factories.sign_in(client, world.users[key]).status_code == 302
        return client
    return as_user


def _count(owner_engine, table: str) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text(f"select count(*) from {table}")).scalar()  # table names are constants here


def _rows(owner_engine) -> tuple:
    with owner_engine.connect() as conn:
        return (conn.execute(text("select * from resources order by id")).all(),
                conn.execute(text("select * from resource_contacts order by id")).all())


def _create(api, body=None, user="a_staff") -> dict:
    response = api(user).post("/api/v1/resources", json=body or HOME)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- the API ------------------------------------------------------------------------------------

def test_create_resource_with_contacts_answers_it_with_a_version_and_etag(api):
    response = api("a_staff").post("/api/v1/resources", json=HOME)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    uuid.UUID(body["id"])
    assert body["version"] == 1 and response.headers["ETag"] == '"1"'
    assert body["resource_type"] == "self_reliance_home" and body["municipality_code"] == "131016"
    assert body["entrustment_from"] == "2026-04-01" and body["entrustment_to"] == "2027-03-31"
    assert [c["name"] for c in body["contacts"]] == ["山田 花子", "夜間窓口"]
    assert body["contacts"][1]["email"] == "" and body["active"] is True
    fetched = api("a_admin").get(f"/api/v1/resources/{body['id']}")
    assert fetched.status_code == 200 and fetched.get_json() == body


def test_every_resource_type_can_be_stored(api):
    for code in RESOURCE_TYPES:
        assert _create(api, {"name": f"資源 {code}", "resource_type": code})["resource_type"] == code


BAD_INPUT = [
    ({**HOME, "rating": 5}, "rating"),                                   # unknown field
    ({**HOME, "municipality_code": "131017"}, "municipality_code"),     # wrong check digit
    ({**HOME, "municipality_code": "13101"}, "municipality_code"),      # five digits
    ({**HOME, "capacity": -1}, "capacity"),                              # negative capacity
    ({**HOME, "openings": -2}, "openings"),
    ({**HOME, "capacity": 3, "openings": 4}, "openings"),                # more openings than places
    ({**HOME, "entrustment_from": "2026-04-01", "entrustment_to": "2026-03-31"}, "entrustment_to"),
    ({**HOME, "self_reliance_home_registered": False}, "self_reliance_home_registered"),  # a period without registration
    ({**HOME, "resource_type": "hotel"}, "resource_type"),               # unknown type
    ({**HOME, "accepts_record": "maybe"}, "accepts_record"),
    ({**HOME, "kana": "緑ホーム"}, "kana"),
    ({**HOME, "name": ""}, "name"),
    ({**HOME, "entrustment_to": "2027-02-30"}, "entrustment_to"),
    ({**HOME, "contacts": [{"name": "担当", "email": "not-an-address"}]}, "contacts.0.email"),
    ({**HOME, "contacts": [{"name": "担当", "fax": "03"}]}, "contacts.0.fax"),
    ({**HOME, "contacts": [{"role": "施設長"}]}, "contacts.0.name"),
]


@pytest.mark.parametrize(("body", "field"), BAD_INPUT)
def test_bad_input_gets_japanese_field_errors_and_changes_nothing(api, owner_engine, body, field):
    before = _rows(owner_engine)
    error = api_error(api("a_staff").post("/api/v1/resources", json=body), 422, "validation_error")
    assert field in error["details"]["fields"], error
    assert all(any(ord(ch) > 0x3000 for ch in m) for m in error["details"]["fields"][field]), error  # Japanese
    assert _rows(owner_engine) == before


def test_municipality_code_with_wrong_check_digit_is_refused(api, owner_engine):
    error = api_error(api("a_staff").post("/api/v1/resources", json={**HOME, "municipality_code": "131019"}),
                   422, "validation_error")
    assert error["details"]["fields"]["municipality_code"] == ["全国地方公共団体コード（6桁、検査数字付き）が正しくありません。"]
    assert _count(owner_engine, "resources") == 1  # only center B's, from the world


@pytest.mark.parametrize(("change", "field"), [
    ({"openings": 6}, "openings"),                 # stored capacity is 5
    ({"capacity": 0}, "openings"),                 # stored openings is 1
    ({"entrustment_to": "2026-01-01"}, "entrustment_to"),  # stored start is 2026-04-01
    ({"self_reliance_home_registered": False}, "self_reliance_home_registered"),
    ({"municipality_code": "271005"}, "municipality_code"),
    ({"resource_type": None}, "resource_type"),
    ({"id": str(uuid.uuid4())}, "id"),
])
def test_patch_is_checked_against_the_stored_record_and_changes_nothing(api, owner_engine, change, field):
    created = _create(api)
    before = _rows(owner_engine)
    response = api("a_staff").patch(f"/api/v1/resources/{created['id']}", json=change, headers={"If-Match": '"1"'})
    error = api_error(response, 422, "validation_error")
    assert field in error["details"]["fields"], error
    assert _rows(owner_engine) == before


def test_patch_needs_if_match_and_refuses_a_stale_version(api):
    created = _create(api)
    url = f"/api/v1/resources/{created['id']}"
    api_error(api("a_staff").patch(url, json={"openings": 0}), 428, "precondition_required")
    ok = api("a_staff").patch(url, json={"openings": 0}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.get_json()["version"] == 2 and ok.headers["ETag"] == '"2"'
    stale = api("a_admin").patch(url, json={"openings": 3}, headers={"If-Match": '"1"'})
    error = api_error(stale, 409, "version_conflict")
    assert error["details"]["current_version"] == 2
    assert api("a_staff").get(url).get_json()["openings"] == 0


def test_patch_with_contacts_replaces_the_list_and_bumps_the_version(api):
    created = _create(api)
    url = f"/api/v1/resources/{created['id']}"
    kept_id = created["contacts"][0]["id"]
    body = api("a_staff").patch(url, json={"contacts": [{"name": "山田 花子", "role": "理事長", "phone": "03-1234-5678"}]},
                                headers={"If-Match": '"1"'}).get_json()
    assert body["version"] == 2
    assert [(c["id"], c["role"]) for c in body["contacts"]] == [(kept_id, "理事長")]
    # the same values again change nothing: no new version
    same = api("a_staff").patch(url, json={"contacts": [{"name": "山田 花子", "role": "理事長", "phone": "03-1234-5678"}]},
                                headers={"If-Match": '"2"'}).get_json()
    assert same["version"] == 2
    cleared = api("a_staff").patch(url, json={"contacts": []}, headers={"If-Match": '"2"'}).get_json()
    assert cleared["contacts"] == [] and cleared["version"] == 3


def test_other_centers_resource_is_404(api, world):
    b_id = str(world.objects["resource_b"]["id"])
    for key in ("a_staff", "a_admin"):
        other = api(key).get(f"/api/v1/resources/{b_id}")
        missing = api(key).get(f"/api/v1/resources/{uuid.uuid4()}")
        api_error(other, 404, "not_found")
        assert other.get_json() == missing.get_json()
        api_error(api(key).patch(f"/api/v1/resources/{b_id}", json={"notes": "x"}, headers={"If-Match": '"1"'}), 404, "not_found")
    assert api("b_staff").get(f"/api/v1/resources/{b_id}").status_code == 200


def test_other_centers_resource_page_is_404_like_a_missing_one(pages, world):
    client = pages("a_staff")
    b_id = world.objects["resource_b"]["id"]
    for suffix in ("", "/edit"):
        other = client.get(f"/resources/{b_id}{suffix}")
        missing = client.get(f"/resources/{uuid.uuid4()}{suffix}")
        assert other.status_code == missing.status_code == 404
        assert world.objects["resource_b"]["name"] not in other.get_data(as_text=True)
    assert client.post(f"/resources/{b_id}/edit", data={"name": "改ざん", "resource_type": "other", "version": "1"}).status_code == 404


def test_other_centers_resources_never_appear_in_the_list(api, pages, world):
    _create(api)
    names = [r["name"] for r in api("a_staff").get("/api/v1/resources?include_inactive=true").get_json()["items"]]
    assert names == [HOME["name"]]
    page = pages("a_staff").get("/resources?include_inactive=y").get_data(as_text=True)
    assert HOME["name"] in page and world.objects["resource_b"]["name"] not in page
    assert world.objects["resource_b"]["contact_name"] not in page


def test_roles_without_case_access_get_403(api):
    for role in ("ministry", "association", "platform_admin", "a_prefecture"):
        api_error(api(role).get("/api/v1/resources"), 403, "forbidden")
        api_error(api(role).post("/api/v1/resources", json=HOME), 403, "forbidden")


def test_creation_and_changes_are_audited_with_what_changed(api, app, world):
    created = _create(api)
    api("a_staff").patch(f"/api/v1/resources/{created['id']}", json={"openings": 0, "notes": "満床"}, headers={"If-Match": '"1"'})
    from teichaku.platform.audit.services import entries_for_center

    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        entries = [e for e in entries_for_center(limit=50) if e.object_id == created["id"]]
    actions = [e.action for e in entries]
    assert actions == ["resource.update", "resource.create"]
    update = entries[0]
    assert update.details == {"openings": [1, 0], "notes": ["女性のみ", "満床"]}
    assert update.actor_id == world.users["a_staff"]["id"]
    assert entries[1].details["municipality_code"] == "131016" and len(entries[1].details["contacts"]) == 2


def test_list_filters_by_type_municipality_acceptance_openings_and_text(api):
    _create(api)
    _create(api, HOSPITAL)
    _create(api, {"name": "旧グループホーム", "resource_type": "group_home", "active": False})

    def names(query=""):
        response = api("a_staff").get(f"/api/v1/resources{query}")
        assert response.status_code == 200, response.get_json()
        return sorted(r["name"] for r in response.get_json()["items"])

    assert names() == ["みどり自立準備ホーム", "中央病院"]  # inactive ones are hidden by default
    assert names("?include_inactive=true") == ["みどり自立準備ホーム", "中央病院", "旧グループホーム"]
    assert names("?resource_type=hospital") == ["中央病院"]
    assert names("?municipality=千代田") == ["みどり自立準備ホーム"]
    assert names("?municipality=27100") == ["中央病院"]     # code without its check digit
    assert names("?municipality=271004") == ["中央病院"]
    assert names("?accepts_record=yes") == ["みどり自立準備ホーム"]
    assert names("?has_openings=true") == ["みどり自立準備ホーム"]
    assert names("?q=ミドリ") == ["みどり自立準備ホーム"]       # katakana finds hiragana kana
    assert names("?q=ちゅうおう") == ["中央病院"]              # hiragana finds katakana kana
    assert names("?q=病院") == ["中央病院"]
    assert names("?q=100%25") == []                            # LIKE wildcards are literal
    api_error(api("a_staff").get("/api/v1/resources?resource_type=hotel"), 422, "validation_error")
    api_error(api("a_staff").get("/api/v1/resources?cursor=not-a-cursor"), 422, "validation_error")


def test_list_pages_newest_first_with_a_cursor(api):
    for n in range(5):
        _create(api, {"name": f"資源{n}", "resource_type": "other"})
    first = api("a_staff").get("/api/v1/resources?limit=2").get_json()
    assert [r["name"] for r in first["items"]] == ["資源4", "資源3"] and first["next_cursor"]
    second = api("a_staff").get(f"/api/v1/resources?limit=2&cursor={first['next_cursor']}").get_json()
    third = api("a_staff").get(f"/api/v1/resources?limit=2&cursor={second['next_cursor']}").get_json()
    assert [r["name"] for r in second["items"] + third["items"]] == ["資源2", "資源1", "資源0"]
    assert third["next_cursor"] is None


def test_openapi_document_describes_the_resource_endpoints(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/resources"])
    assert {"get", "patch"} <= set(doc["paths"]["/api/v1/resources/{resource_id}"])
    schemas = doc["components"]["schemas"]
    assert "ResourceIn" in schemas and "ResourceOut" in schemas
    assert set(RESOURCE_TYPES) == set(schemas["ResourceIn"]["properties"]["resource_type"]["enum"])


# --- placement history ------------------------------------------------------------------------

needs_placements = pytest.mark.skipif(
    not hasattr(Case, "placement_resource_id"),
    reason="cases have no placement_resource_id yet (added by the case-work migration): no placement history to show",
)


def _place(app, case_id, resource_id, center="tokyo"):
    with app.app_context():
        set_tenant(center_by_code(center).id)
        case = get_owned(Case, case_id)
        case.placement_resource_id = uuid.UUID(str(resource_id))
        db.session.commit()


@needs_placements
def test_placement_history_lists_the_cases_placed_at_the_resource(api, app, pages, world):
    resource = _create(api)
    other = _create(api, HOSPITAL)
    _place(app, world.cases["a"]["id"], resource["id"])
    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        assert [c.id for c in services.placement_history(resource["id"])] == [world.cases["a"]["id"]]
        assert services.placement_history(other["id"]) == []
        assert services.placement_history(world.objects["resource_b"]["id"]) == []  # another center's resource
        db.session.rollback()
    page = pages("a_staff").get(f"/resources/{resource['id']}").get_data(as_text=True)
    assert world.cases["a"]["case_number"] in page and world.cases["a"]["person_name"] in page


@needs_placements
def test_reading_the_placement_history_is_audited(api, app, pages, world):
    resource = _create(api)
    _place(app, world.cases["a"]["id"], resource["id"])
    assert pages("a_staff").get(f"/resources/{resource['id']}").status_code == 200
    from teichaku.platform.audit.services import entries_for_center

    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        entry = entries_for_center(action="resource.placement_history", limit=1)[0]
        assert entry.object_id == resource["id"]
        assert entry.details["person_ids"] == [str(world.cases["a"]["person_id"])]


@needs_placements
def test_a_case_cannot_point_at_another_centers_resource(app, database, world):
    if database["backend"] != "postgres":
        pytest.skip("SQLite does not enforce foreign keys")
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        _place(app, world.cases["a"]["id"], world.objects["resource_b"]["id"])
    with app.app_context():
        db.session.rollback()


def test_placement_history_is_empty_without_the_case_column(app, world, monkeypatch):
    """Until cases record placements (or if the column goes), the directory still works."""
    monkeypatch.setattr(services, "placement_history_available", lambda: False)
    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        assert services.placement_history(world.objects["resource_b"]["id"]) == []


# --- pages --------------------------------------------------------------------------------------

def _form(**overrides) -> dict:
    data = {
        "name": "ひまわり荘", "kana": "ひまわりそう", "resource_type": "nursing_home_yogo",
        "municipality_name": "札幌市", "municipality_code": "011002", "address": "札幌市中央区1",
        "capacity": "50", "openings": "2", "accepts_record": "case_by_case",
        "self_reliance_home_registered": "y", "entrustment_from": "2026-04-01", "entrustment_to": "2026-09-30",
        "notes": "", "active": "y",
        "contacts-0-name": "佐藤 一郎", "contacts-0-role": "生活相談員", "contacts-0-phone": "011-222-3333",
        "contacts-0-email": "sato@example.jp",
        "contacts-1-name": "", "contacts-1-role": "", "contacts-1-phone": "", "contacts-1-email": "",
    }
    data.update(overrides)
    return data


def test_pages_create_and_show_a_resource_with_its_contacts(pages, owner_engine):
    client = pages("a_staff")
    assert client.get("/resources/new").status_code == 200
    response = client.post("/resources/new", data=_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    for expected in ("ひまわり荘", "養護老人ホーム", "札幌市", "011002", "佐藤 一郎", "011-222-3333", "sato@example.jp",
                     "令和8年4月1日", "令和8年9月30日", "個別に相談"):
        assert expected in page, expected
    assert _count(owner_engine, "resource_contacts") == 2  # the blank row was not stored (B's one + this)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"municipality_code": "011003"}, "全国地方公共団体コード（6桁、検査数字付き）が正しくありません。"),
    ({"capacity": "-1"}, "0以上の整数を入力してください。"),
    ({"capacity": "abc"}, "整数を入力してください。"),
    ({"openings": "51"}, "空きは定員以下の数を入力してください。"),
    ({"entrustment_to": "2026-03-01"}, "委託期間の終了日は開始日以降の日付を入力してください。"),
    ({"resource_type": "hotel"}, "社会資源の種別が正しくありません。"),
    ({"contacts-0-email": "sato@"}, "メールアドレスの形式が正しくありません。"),
    ({"name": ""}, "1文字以上200文字以内で入力してください。"),
])
def test_page_bad_input_rerenders_with_japanese_field_errors_and_changes_nothing(pages, owner_engine, overrides, message):
    before = _rows(owner_engine)
    response = pages("a_staff").post("/resources/new", data=_form(**overrides))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'role="alert"' in page
    assert 'value="ひまわり荘"' in page or overrides.get("name") == ""  # the input is kept
    assert _rows(owner_engine) == before


def test_every_mistake_is_reported_at_once_field_and_cross_field(pages, api):
    body = {**HOME, "municipality_code": "131017", "capacity": 2, "openings": 3,
            "contacts": [{"name": "担当", "email": "x@"}]}
    error = api_error(api("a_staff").post("/api/v1/resources", json=body), 422, "validation_error")
    assert set(error["details"]["fields"]) == {"municipality_code", "openings", "contacts.0.email"}
    page = pages("a_staff").post("/resources/new", data=_form(municipality_code="011003", openings="99",
                                                              **{"contacts-0-email": "x@"})).get_data(as_text=True)
    for message in ("全国地方公共団体コード（6桁、検査数字付き）が正しくありません。", "空きは定員以下の数を入力してください。",
                    "メールアドレスの形式が正しくありません。"):
        assert message in page, message


def test_edit_page_saves_the_changes_and_bumps_the_version(pages, api):
    created = _create(api)
    client = pages("a_staff")
    form_page = client.get(f"/resources/{created['id']}/edit").get_data(as_text=True)
    assert 'name="version" value="1"' in form_page and "山田 花子" in form_page
    response = client.post(f"/resources/{created['id']}/edit", data=_form(name="みどり自立準備ホーム（新）", version="1"))
    assert response.status_code == 302, response.get_data(as_text=True)
    body = api("a_staff").get(f"/api/v1/resources/{created['id']}").get_json()
    assert body["name"] == "みどり自立準備ホーム（新）" and body["version"] == 2
    assert [c["name"] for c in body["contacts"]] == ["佐藤 一郎"]


def test_stale_resource_edit_conflicts_and_keeps_both_versions_visible(pages, api, owner_engine):
    created = _create(api)
    # a colleague saves first
    api("a_admin").patch(f"/api/v1/resources/{created['id']}", json={"notes": "同僚が書いた備考"}, headers={"If-Match": '"1"'})
    before = _rows(owner_engine)
    response = pages("a_staff").post(f"/resources/{created['id']}/edit",
                                     data=_form(name="私が直した名称", notes="私の備考", version="1"))
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "同僚が書いた備考" in page                      # what is stored now
    assert 'value="私が直した名称"' in page and "私の備考" in page  # what I typed, kept
    assert "現在保存されている内容" in page and 'name="version" value="2"' in page
    assert _rows(owner_engine) == before
    # saving again on top of the version now shown works
    again = pages("a_staff").post(f"/resources/{created['id']}/edit", data=_form(name="私が直した名称", version="2"))
    assert again.status_code == 302


def test_list_page_filters_and_links_from_the_menu(pages, api):
    _create(api)
    _create(api, HOSPITAL)
    client = pages("a_staff")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/resources"' in dashboard and "社会資源" in dashboard
    page = client.get("/resources?resource_type=hospital&has_openings=&q=").get_data(as_text=True)
    assert "中央病院" in page and "みどり自立準備ホーム" not in page
    page = client.get("/resources?has_openings=y").get_data(as_text=True)
    assert "みどり自立準備ホーム" in page and "中央病院" not in page
    bad = client.get("/resources?resource_type=hotel")
    assert bad.status_code == 422 and "社会資源の種別が正しくありません。" in bad.get_data(as_text=True)


def test_page_roles_without_case_access_get_403(pages, world):
    client = pages("ministry")
    assert client.get("/resources").status_code == 403
    assert client.get(f"/resources/{world.objects['resource_b']['id']}").status_code == 403


@pytest.fixture()
def english_catalog():
    """The .mo files are build products (git-ignored): compile the catalog this test reads."""
    import subprocess

    from tests.crossprocess import REPO_ROOT, VENV_BIN

    result = subprocess.run([str(VENV_BIN / "pybabel"), "-q", "compile", "-d", str(REPO_ROOT / "teichaku" / "translations")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_resource_pages_in_english(english_catalog, pages, api):
    created = _create(api)
    client = pages("a_staff")
    client.post("/locale", data={"locale": "en", "next": "/resources"})
    page = client.get(f"/resources/{created['id']}").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Self-reliance preparation home" in page and "Contacts" in page
    assert "自立準備ホーム</" not in page
