"""Network activities (地域ネットワーク強化): records, the yearly figures for the add-on report and
their files, validation, versions, audit and isolation."""
from __future__ import annotations

import csv
import io
import uuid

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.activities.models import SECTORS, ActivityParticipants
from teichaku.tenants.activities.services import current_fiscal_year
from tests import factories
from tests.helpers import api_error
from tests.world_activities import B_ACTIVITY_TITLE

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def page_app(make_app):
    return make_app(WTF_CSRF_ENABLED=False)


@pytest.fixture()
def pages(page_app, world):
    def as_user(key):
        client = page_app.test_client()
        assert factories.sign_in(client, world.users[key]).status_code == 302
        return client
    return as_user


def _post(client, **overrides):
    body = {"held_on": "2025-06-10", "activity_type": "regional_support_meeting", "title": "地域福祉支援検討会",
            "participants": {"welfare": 4, "medical": 1}}
    body.update(overrides)
    response = client.post("/api/v1/activities", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _field_messages(error, field):
    """The messages of one field (a nested object's own errors come as ``field._schema``)."""
    fields = error["details"]["fields"]
    return [m for key, ms in fields.items() if key in (field, f"{field}._schema") for m in ms]


def _count(owner_engine, table):
    with owner_engine.connect() as conn:
        return conn.execute(text(f"select count(*) from {table}")).scalar()


def _actions(owner_engine, center="tokyo"):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "select action from audit_entries where center_id = (select id from centers where code = :c) order by seq"
        ), {"c": center}).scalars().all()


# --- the yearly figures ------------------------------------------------------------------------

def test_yearly_summary_counts_events_and_participants_by_type_within_the_fiscal_year(api):
    client = api("a_staff")
    _post(client, held_on="2025-04-01", participants={"welfare": 10, "justice": 3})
    _post(client, held_on="2025-09-30", participants={"welfare": 2, "legal": 1})
    _post(client, held_on="2025-11-05", activity_type="provider_outreach", title="グループホーム訪問",
          participants={"welfare": 2})
    _post(client, held_on="2026-02-14", activity_type="regional_training", title="地域福祉研修",
          participants={"welfare": 20, "medical": 5, "municipal": 4, "police": 1})
    _post(client, held_on="2026-01-20", activity_type="other", title="自立支援協議会での事業説明",
          participants={"municipal": 12})
    _post(client, held_on="2025-03-31", participants={"welfare": 100})  # FY2024
    _post(client, held_on="2026-04-01", participants={"welfare": 100})  # FY2026

    summary = client.get("/api/v1/activities/summary?fiscal_year=2025").get_json()
    assert summary["fiscal_year"] == 2025 and summary["fiscal_year_label"] == "令和7年度"
    assert summary["period_start"] == "2025-04-01" and summary["period_end"] == "2026-03-31"
    assert summary["sectors"] == list(SECTORS)
    lines = {line["activity_type"]: line for line in summary["types"]}
    assert [line["activity_type"] for line in summary["types"]] == [
        "regional_support_meeting", "provider_outreach", "regional_training", "other"]
    meeting = lines["regional_support_meeting"]
    assert (meeting["events"], meeting["participants"]) == (2, 16)
    assert meeting["by_sector"] == {**dict.fromkeys(SECTORS, 0), "welfare": 12, "justice": 3, "legal": 1}
    assert meeting["label"] == "地域福祉支援検討会" and meeting["addon"] is True
    assert (lines["provider_outreach"]["events"], lines["provider_outreach"]["participants"]) == (1, 2)
    assert (lines["regional_training"]["events"], lines["regional_training"]["participants"]) == (1, 30)
    assert lines["regional_training"]["by_sector"]["police"] == 1
    assert (lines["other"]["events"], lines["other"]["participants"], lines["other"]["addon"]) == (1, 12, False)
    assert (summary["addon_total"]["events"], summary["addon_total"]["participants"]) == (4, 48)
    assert (summary["total"]["events"], summary["total"]["participants"]) == (5, 60)
    assert summary["total"]["by_sector"]["municipal"] == 16
    assert sum(summary["total"]["by_sector"].values()) == summary["total"]["participants"]


def test_march_event_counts_in_the_previous_fiscal_year(api):
    client = api("a_staff")
    march = _post(client, held_on="2026-03-31", title="三月の検討会")
    april = _post(client, held_on="2026-04-01", title="四月の検討会")
    assert march["fiscal_year"] == 2025 and april["fiscal_year"] == 2026

    def events(year):
        return client.get(f"/api/v1/activities/summary?fiscal_year={year}").get_json()["total"]["events"]

    assert (events(2024), events(2025), events(2026)) == (0, 1, 1)
    listed = client.get("/api/v1/activities?fiscal_year=2025").get_json()["items"]
    assert [a["id"] for a in listed] == [march["id"]]


def test_summary_counts_only_the_centers_own_activities(api, world):
    # B (osaka) has an activity in FY2025 in the world; A's figures don't see it.
    summary = api("a_staff").get("/api/v1/activities/summary?fiscal_year=2025").get_json()
    assert summary["total"] == {"events": 0, "participants": 0, "by_sector": dict.fromkeys(SECTORS, 0)}
    b_summary = api("b_staff").get("/api/v1/activities/summary?fiscal_year=2025").get_json()
    assert (b_summary["total"]["events"], b_summary["total"]["participants"]) == (1, 11)


def test_xlsx_export_opens_and_matches_the_summary(api, world):
    client = api("a_staff")
    _post(client, held_on="2025-05-01", participants={"welfare": 3, "education": 2})
    _post(client, held_on="2025-12-01", activity_type="regional_training", title="=HYPERLINK(\"http://x\")",
          place="+会場", organisations="@市役所", participants={"community": 7})
    summary = client.get("/api/v1/activities/summary?fiscal_year=2025").get_json()

    response = client.get("/api/v1/activities/summary/export?fiscal_year=2025&format=xlsx")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert 'filename="network-activities-FY2025.xlsx"' in response.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == ["集計", "開催一覧"]
    rows = [list(r) for r in workbook["集計"].iter_rows(values_only=True)]
    assert rows[0][:4] == ["年度", "区分", "開催回数", "参加者数（合計）"] and len(rows[0]) == 4 + len(SECTORS)
    assert [r[1] for r in rows[1:]] == ["地域福祉支援検討会", "福祉事業者巡回開拓", "地域福祉研修", "その他の活動",
                                        "加算対象の取組み 計", "合計"]
    assert all(r[0] == "令和7年度" for r in rows[1:])
    lines = [*summary["types"], summary["addon_total"], summary["total"]]
    for row, line in zip(rows[1:], lines):
        assert row[2:] == [line["events"], line["participants"], *(line["by_sector"][s] for s in SECTORS)]

    events = [list(r) for r in workbook["開催一覧"].iter_rows(values_only=True)]
    assert len(events) == 3 and events[1][0] == "令和7年5月1日"
    # Text that looks like a formula stays text (no formula injection into the prefecture's Excel).
    cell = workbook["開催一覧"]["C3"]
    assert cell.value == "=HYPERLINK(\"http://x\")" and cell.data_type == "s"
    assert B_ACTIVITY_TITLE not in str(events)


def test_csv_export_has_bom_and_crlf(api):
    client = api("a_staff")
    _post(client, held_on="2025-05-01", participants={"welfare": 3, "justice": 2})
    response = client.get("/api/v1/activities/summary/export?fiscal_year=2025&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="network-activities-FY2025.csv"' in response.headers["Content-Disposition"]
    raw = response.data
    assert raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:].decode("utf-8")
    assert body.endswith("\r\n") and "\n" not in body.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0][:4] == ["年度", "区分", "開催回数", "参加者数（合計）"]
    assert rows[0][4] == "参加者数（福祉）"
    assert rows[1][:5] == ["令和7年度", "地域福祉支援検討会", "1", "5", "3"]
    assert rows[-1][:4] == ["令和7年度", "合計", "1", "5"]
    assert len(rows) == 7


def test_export_format_and_fiscal_year_are_checked(api):
    client = api("a_staff")
    error = api_error(client.get("/api/v1/activities/summary/export?fiscal_year=2025&format=pdf"), 422, "validation_error")
    assert "format" in error["details"]["fields"]
    error = api_error(client.get("/api/v1/activities/summary/export?format=csv"), 422, "validation_error")
    assert error["details"]["fields"]["fiscal_year"] == ["必須項目です。"]


@pytest.mark.parametrize("query", ["fiscal_year=2008", "fiscal_year=2100", "fiscal_year=abc", "fiscal_year=2025.5"])
def test_fiscal_year_out_of_range_is_refused(api, query):
    client = api("a_staff")
    for url in (f"/api/v1/activities/summary?{query}", f"/api/v1/activities?{query}",
                f"/api/v1/activities/summary/export?{query}&format=csv"):
        error = api_error(client.get(url), 422, "validation_error")
        assert list(error["details"]["fields"]) == ["fiscal_year"], url
        assert all(any("\u3040" <= ch <= "\u9fff" for ch in m) for m in error["details"]["fields"]["fiscal_year"])


def test_next_fiscal_year_is_accepted_and_the_one_after_is_not(api):
    client = api("a_staff")
    next_year = current_fiscal_year() + 1
    assert client.get(f"/api/v1/activities/summary?fiscal_year={next_year}").status_code == 200
    api_error(client.get(f"/api/v1/activities/summary?fiscal_year={next_year + 1}"), 422, "validation_error")
    assert client.get("/api/v1/activities/summary?fiscal_year=2009").get_json()["fiscal_year_label"] == "平成21年度"


# --- bad input changes nothing -----------------------------------------------------------------

def test_negative_participant_count_is_refused(api, pages, owner_engine):
    before = (_count(owner_engine, "network_activities"), _count(owner_engine, "network_activity_participants"))
    body = {"held_on": "2025-06-10", "activity_type": "regional_training", "title": "研修",
            "participants": {"welfare": 3, "medical": -1}}
    error = api_error(api("a_staff").post("/api/v1/activities", json=body), 422, "validation_error")
    assert error["details"]["fields"] == {"participants.medical": ["0以上100000以下の値を入力してください。"]}

    page = pages("a_staff").post("/activities/new", data={
        "held_on": "2025-06-10", "activity_type": "regional_training", "title": "研修",
        "participants_welfare": "3", "participants_medical": "-1"})
    assert page.status_code == 422
    assert "0以上の整数を入力してください。" in page.get_data(as_text=True)
    assert (_count(owner_engine, "network_activities"), _count(owner_engine, "network_activity_participants")) == before


@pytest.mark.parametrize(("change", "field"), [
    ({"colour": "red"}, "colour"),
    ({"center_id": "00000000-0000-0000-0000-000000000000"}, "center_id"),
    ({"participants": {"aliens": 2}}, "participants.aliens"),
    ({"participants": {"welfare": "3"}}, "participants.welfare"),
    ({"participants": {"welfare": 2.5}}, "participants.welfare"),
    ({"participants": {"welfare": True}}, "participants.welfare"),
    ({"participants": [1, 2]}, "participants"),
    ({"activity_type": "party"}, "activity_type"),
    ({"held_on": "2025-02-30"}, "held_on"),
    ({"held_on": "10/06/2025"}, "held_on"),
    ({"held_on": "2008-03-31"}, "held_on"),
    ({"held_on": "2199-04-01"}, "held_on"),
    ({"title": "   "}, "title"),
    ({"title": "あ" * 201}, "title"),
])
def test_bad_input_gets_field_errors_in_japanese_and_changes_nothing(api, owner_engine, change, field):
    client = api("a_staff")
    created = _post(client)
    before = _count(owner_engine, "network_activities")
    body = {"held_on": "2025-06-10", "activity_type": "regional_training", "title": "研修", **change}
    error = api_error(client.post("/api/v1/activities", json=body), 422, "validation_error")
    messages = _field_messages(error, field)
    assert messages and all(any("\u3040" <= ch <= "\u9fff" for ch in m) for m in messages), error
    assert _count(owner_engine, "network_activities") == before

    url = f"/api/v1/activities/{created['id']}"
    error = api_error(client.patch(url, headers={"If-Match": '"1"'}, json=change), 422, "validation_error")
    assert _field_messages(error, field), error
    after = client.get(url).get_json()
    assert after["version"] == 1 and after["participants"] == created["participants"] and after["title"] == created["title"]


def test_the_database_refuses_negative_counts_and_unknown_sectors(app, api):
    activity = _post(api("a_staff"))
    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        for row in (dict(sector="welfare", participants=-1), dict(sector="aliens", participants=1)):
            db.session.add(ActivityParticipants(activity_id=uuid.UUID(activity["id"]), **row))
            with pytest.raises(Exception, match="(?i)check"):
                db.session.flush()
            db.session.rollback()


# --- records, versions, audit ------------------------------------------------------------------

def test_create_and_read_an_activity(api):
    client = api("a_staff")
    body = {"held_on": "2025-10-01", "activity_type": "provider_outreach", "title": " 養護老人ホーム巡回 ",
            "place": "○○荘", "organisations": "○○荘、△△会", "minutes": "自立準備ホームの登録を説明した。",
            "participants": {"welfare": 3}}
    response = client.post("/api/v1/activities", json=body)
    assert response.status_code == 201 and response.headers["ETag"] == '"1"'
    created = response.get_json()
    assert created["title"] == "養護老人ホーム巡回" and created["fiscal_year"] == 2025
    assert created["participants"] == {**dict.fromkeys(SECTORS, 0), "welfare": 3} and created["participants_total"] == 3
    fetched = client.get(f"/api/v1/activities/{created['id']}")
    assert fetched.status_code == 200 and fetched.get_json() == created and fetched.headers["ETag"] == '"1"'


def test_patch_needs_if_match_merges_participants_and_refuses_a_stale_version(api):
    client = api("a_staff")
    created = _post(client, participants={"welfare": 4, "medical": 1})
    url = f"/api/v1/activities/{created['id']}"
    api_error(client.patch(url, json={"title": "x"}), 428, "precondition_required")
    first = client.patch(url, headers={"If-Match": '"1"'}, json={"participants": {"medical": 0, "police": 2}})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    body = first.get_json()
    assert body["version"] == 2  # only participants changed: the version moves all the same
    assert body["participants"] == {**dict.fromkeys(SECTORS, 0), "welfare": 4, "police": 2}
    stale = client.patch(url, headers={"If-Match": '"1"'}, json={"title": "上書き"})
    assert api_error(stale, 409, "version_conflict")["details"]["current_version"] == 2
    assert client.get(url).get_json()["title"] == created["title"]
    same = client.patch(url, headers={"If-Match": '"2"'}, json={"title": created["title"]})
    assert same.get_json()["version"] == 2  # no change, no new version


def test_list_pages_latest_first_with_a_cursor(api):
    client = api("a_staff")
    ids = [_post(client, held_on=f"2025-0{m}-01", title=f"{m}月")["id"] for m in (4, 5, 6, 7, 8)]
    page1 = client.get("/api/v1/activities?limit=2").get_json()
    assert [a["id"] for a in page1["items"]] == ids[::-1][:2]
    page2 = client.get(f"/api/v1/activities?limit=2&cursor={page1['next_cursor']}").get_json()
    assert [a["id"] for a in page2["items"]] == ids[::-1][2:4]
    last = client.get(f"/api/v1/activities?limit=2&cursor={page2['next_cursor']}").get_json()
    assert [a["id"] for a in last["items"]] == ids[:1] and last["next_cursor"] is None
    api_error(client.get("/api/v1/activities?cursor=garbage!"), 422, "validation_error")
    only = client.get("/api/v1/activities?activity_type=other").get_json()
    assert only["items"] == []


def test_every_change_is_audited(api, owner_engine):
    client = api("a_staff")
    created = _post(client)
    client.patch(f"/api/v1/activities/{created['id']}", headers={"If-Match": '"1"'}, json={"minutes": "協議内容"})
    client.get("/api/v1/activities/summary/export?fiscal_year=2025&format=csv")
    actions = _actions(owner_engine)
    assert actions.count("activity.create") == 1 and actions.count("activity.update") == 1
    assert "activity.export" in actions and "activity.read" in actions
    with owner_engine.connect() as conn:
        details = conn.execute(text(
            "select details from audit_entries where action = 'activity.update'")).scalar()
    assert details["minutes"] == [None, 4]  # the log keeps the minutes' length, not their text
    # A refused change leaves no entry.
    count = len(actions)
    client.post("/api/v1/activities", json={"held_on": "2025-06-10", "activity_type": "x", "title": "t"})
    assert len(_actions(owner_engine)) == count


# --- isolation -----------------------------------------------------------------------------------

def test_other_centers_activity_is_404(api, pages, world, owner_engine):
    b_id = str(world.objects["activity_b"]["id"])
    client = api("a_staff")
    for response in (client.get(f"/api/v1/activities/{b_id}"),
                     client.patch(f"/api/v1/activities/{b_id}", headers={"If-Match": '"1"'}, json={"title": "改ざん"})):
        api_error(response, 404, "not_found")
    page_client = pages("a_admin")
    assert page_client.get(f"/activities/{b_id}").status_code == 404
    assert page_client.get(f"/activities/{b_id}/edit").status_code == 404
    assert page_client.post(f"/activities/{b_id}/edit", data={
        "held_on": "2025-06-10", "activity_type": "other", "title": "改ざん", "version": "1"}).status_code == 404
    for url in ("/activities?fiscal_year=2025", "/activities/summary?fiscal_year=2025"):
        assert B_ACTIVITY_TITLE not in page_client.get(url).get_data(as_text=True)
    assert B_ACTIVITY_TITLE not in client.get("/api/v1/activities").get_data(as_text=True)
    # B still sees its own, unchanged.
    own = api("b_staff").get(f"/api/v1/activities/{b_id}").get_json()
    assert own["title"] == B_ACTIVITY_TITLE and own["version"] == 1


@pytest.mark.parametrize("role", ["a_prefecture", "ministry", "association", "platform_admin"])
def test_roles_without_case_access_cannot_see_activities(api, role):
    client = api(role)
    assert client.get("/api/v1/activities").status_code == 403
    assert client.get("/api/v1/activities/summary?fiscal_year=2025").status_code == 403


# --- pages ---------------------------------------------------------------------------------------

def _form(**overrides):
    data = {"held_on": "2025-07-15", "activity_type": "regional_training", "title": "地域福祉研修（第1回）",
            "place": "県福祉会館", "organisations": "相談支援事業所\nグループホーム", "minutes": "講演と意見交換。",
            **{f"participants_{s}": "0" for s in SECTORS}, "participants_welfare": "12", "participants_legal": "2"}
    data.update(overrides)
    return data


def test_pages_record_show_and_list_an_activity(pages, owner_engine):
    client = pages("a_staff")
    assert client.get("/activities/new").status_code == 200
    response = client.post("/activities/new", data=_form())
    assert response.status_code == 302
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    for expected in ("地域福祉研修（第1回）", "令和7年7月15日", "令和7年度", "県福祉会館", "14", "講演と意見交換。", "加算対象"):
        assert expected in detail, expected
    listed = client.get("/activities?fiscal_year=2025").get_data(as_text=True)
    assert "地域福祉研修（第1回）" in listed
    assert "地域福祉研修（第1回）" not in client.get("/activities?fiscal_year=2024").get_data(as_text=True)
    assert "地域ネットワーク活動" in client.get("/dashboard").get_data(as_text=True)  # the menu link
    assert _actions(owner_engine).count("activity.create") == 1


def test_page_form_refuses_bad_input_with_422_and_changes_nothing(pages, owner_engine):
    client = pages("a_staff")
    for bad in ({"held_on": ""}, {"held_on": "2199-01-01"}, {"title": ""}, {"activity_type": "party"},
                {"participants_police": "abc"}):
        response = client.post("/activities/new", data=_form(**bad))
        assert response.status_code == 422, bad
        assert 'class="error"' in response.get_data(as_text=True), bad
    assert _count(owner_engine, "network_activities") == 1  # B's, from the world


def test_page_edit_refuses_a_stale_version_and_keeps_the_input(pages):
    client = pages("a_staff")
    location = client.post("/activities/new", data=_form()).headers["Location"]
    edit_url = location + "/edit"
    assert "地域福祉研修（第1回）" in client.get(edit_url).get_data(as_text=True)
    assert client.post(edit_url, data=_form(title="第一の変更", version="1")).status_code == 302
    stale = client.post(edit_url, data=_form(title="第二の変更", version="1"))
    assert stale.status_code == 409
    page = stale.get_data(as_text=True)
    assert "第二の変更" in page and "他の職員が先に更新しました" in page and 'name="version" value="2"' in page
    assert "第一の変更" in client.get(location).get_data(as_text=True)


def test_summary_page_shows_figures_and_downloads(pages):
    client = pages("a_staff")
    client.post("/activities/new", data=_form())
    page = client.get("/activities/summary?fiscal_year=2025")
    assert page.status_code == 200
    text_ = page.get_data(as_text=True)
    assert "令和7年度" in text_ and "地域福祉研修" in text_ and "加算対象の取組み 計" in text_
    assert "/activities/summary/export?fiscal_year=2025&amp;format=xlsx" in text_
    assert "/activities/summary/export?fiscal_year=2025&amp;format=csv" in text_
    csv_file = client.get("/activities/summary/export?fiscal_year=2025&format=csv")
    assert csv_file.status_code == 200 and csv_file.data.startswith(b"\xef\xbb\xbf")
    xlsx_file = client.get("/activities/summary/export?fiscal_year=2025&format=xlsx")
    assert xlsx_file.mimetype == XLSX
    assert load_workbook(io.BytesIO(xlsx_file.data))["集計"]["D4"].value == 14  # 地域福祉研修: 14 people
    assert client.get("/activities/summary?fiscal_year=1999").status_code == 422
    assert client.get("/activities/summary/export?fiscal_year=2025&format=pdf").status_code == 422


def test_pages_in_english(page_app, world):
    client = page_app.test_client()
    assert factories.sign_in(client, world.users["a_staff"]).status_code == 302
    client.post("/locale", data={"locale": "en", "next": "/activities"})
    page = client.get("/activities/summary?fiscal_year=2025").get_data(as_text=True)
    assert "Regional welfare support meeting" in page and "Network activities" in page


def test_openapi_documents_the_activities_api(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/activities", "/api/v1/activities/{activity_id}", "/api/v1/activities/summary",
                 "/api/v1/activities/summary/export"):
        assert path in spec["paths"], path
    assert {"ActivityCreate", "ActivityPatch", "ActivityOut", "ActivitySummary"} <= set(spec["components"]["schemas"])
    assert set(spec["components"]["schemas"]["ParticipantsIn"]["properties"]) == set(SECTORS)
