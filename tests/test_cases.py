"""Case work inside a center: lifecycles, eligibility, follow-up, needs, search, deadlines."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from teichaku.platform.i18n import today_jst
from tests import factories
from tests.helpers import ok

PERSON = {"family_name": "山田", "given_name": "太郎", "family_name_kana": "やまだ", "given_name_kana": "たろう",
          "birth_date": "1950-01-02", "sex": "male", "support_needs": ["elderly"]}
ALL_MET = {"elderly_or_disabled": True, "no_residence": True, "needs_welfare_services": True, "appropriate": True,
           "person_wishes": True, "consent_to_share": True, "consent_on": "2026-04-01", "consent_witness": "刑務所福祉専門官"}


def _new_case(client, **fields):
    body = {"case_type": "coordination", "person": PERSON, "requested_on": "2026-04-01", **fields}
    response = client.post("/api/v1/cases", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _move(client, case, to_status, **extra):
    response = client.post(f"/api/v1/cases/{case['id']}/transitions", headers={"If-Match": f'"{case["version"]}"'},
                           json={"to_status": to_status, **extra})
    return response


def test_each_case_type_starts_in_its_own_first_status(api):
    staff = api("a_staff")
    assert {t: _new_case(staff, case_type=t)["status"] for t in ("coordination", "follow_up", "suspect_support", "consultation")} == {
        "coordination": "request_received", "follow_up": "active", "suspect_support": "request_received", "consultation": "open"}


def test_an_illegal_transition_is_409_and_changes_nothing(api):
    staff = api("a_staff")
    case = _new_case(staff)
    response = _move(staff, case, "released")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "invalid_state"
    assert staff.get(f"/api/v1/cases/{case['id']}").get_json()["status"] == "request_received"


def test_co_case_cannot_pass_assessment_while_an_eligibility_condition_is_unmet(api):
    staff = api("a_staff")
    case = ok(_move(staff, _new_case(staff), "assessing"))
    response = _move(staff, case, "plan_drafted")
    assert response.status_code == 409
    assert "consent_to_share" in response.get_json()["error"]["details"]["unmet"]


def test_consent_needs_its_date_and_witness(api):
    staff = api("a_staff")
    case = _new_case(staff)
    response = staff.put(f"/api/v1/cases/{case['id']}/eligibility", headers={"If-Match": '"1"'},
                         json={**ALL_MET, "consent_on": None, "consent_witness": ""})
    assert response.status_code == 422
    assert {"consent_on", "consent_witness"} <= set(response.get_json()["error"]["details"]["fields"])


def test_co_case_proceeds_once_every_condition_is_met(api):
    staff = api("a_staff")
    case = ok(_move(staff, _new_case(staff), "assessing"))
    case = ok(staff.put(f"/api/v1/cases/{case['id']}/eligibility", headers={"If-Match": f'"{case["version"]}"'}, json=ALL_MET))
    assert ok(_move(staff, case, "plan_drafted"))["status"] == "plan_drafted"


def test_only_a_center_admin_may_override_eligibility_with_a_recorded_reason(api, owner_engine):
    staff, admin = api("a_staff"), api("a_admin")
    case = ok(_move(staff, _new_case(staff), "assessing"))
    url = f"/api/v1/cases/{case['id']}/eligibility/override"
    assert staff.post(url, headers={"If-Match": f'"{case["version"]}"'}, json={"reason": "本人の強い希望があるため"}).status_code == 403
    assert admin.post(url, headers={"If-Match": f'"{case["version"]}"'}, json={"reason": "短い"}).status_code == 422
    case = ok(admin.post(url, headers={"If-Match": f'"{case["version"]}"'}, json={"reason": "本人の強い希望があるため"}))
    assert case["eligibility_override_reason"] == "本人の強い希望があるため"
    assert ok(_move(staff, case, "plan_drafted"))["status"] == "plan_drafted"
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from audit_entries where action = 'case.eligibility_override'")).scalar() == 1


def _released_co(staff):
    case = _new_case(staff, release_date="2026-06-01")
    case = ok(_move(staff, case, "assessing"))
    case = ok(staff.put(f"/api/v1/cases/{case['id']}/eligibility", headers={"If-Match": f'"{case["version"]}"'}, json=ALL_MET))
    for status in ("plan_drafted", "services_arranged"):
        case = ok(_move(staff, case, status))
    return ok(_move(staff, case, "released", released_on="2026-06-01"))


def test_a_released_co_case_opens_its_linked_follow_up_case_in_one_step(api):
    staff = api("a_staff")
    co = _released_co(staff)
    need = co["needs"][0]
    ok(staff.patch(f"/api/v1/cases/{co['id']}/needs/{need['id']}", headers={"If-Match": f'"{need["version"]}"'},
                    json={"status": "in_progress", "responsible": "市福祉課"}))
    co = staff.get(f"/api/v1/cases/{co['id']}").get_json()
    response = staff.post(f"/api/v1/cases/{co['id']}/follow-up", headers={"If-Match": f'"{co["version"]}"'})
    fu = ok(response, 201)
    assert fu["case_type"] == "follow_up" and fu["parent_case_id"] == co["id"] and fu["person"]["id"] == co["person"]["id"]
    assert fu["case_number"].startswith("FU-")
    assert [n for n in fu["needs"] if n["area"] == need["area"]][0]["responsible"] == "市福祉課"
    assert staff.get(f"/api/v1/cases/{co['id']}").get_json()["status"] == "moved_to_follow_up"


def test_closing_records_reason_and_where_the_person_went(api):
    staff = api("a_staff")
    co = _released_co(staff)
    refused = _move(staff, co, "closed", closing={"closing_reason": "placement_secured"})
    assert refused.status_code == 422 and "outcome_placement" in refused.get_json()["error"]["details"]["fields"]
    closed = ok(_move(staff, co, "closed", closing={"closing_reason": "placement_secured", "outcome_placement": "group_home",
                                                     "outcome_municipality_name": "大阪市", "outcome_municipality_code": "271004",
                                                     "closed_on": "2026-06-30"}))
    assert (closed["status"], closed["closing_reason"], closed["outcome_placement"], closed["closed_on"]) == (
        "closed", "placement_secured", "group_home", "2026-06-30")


def test_a_municipality_code_with_a_wrong_check_digit_is_refused(api):
    response = api("a_staff").post("/api/v1/cases", json={"case_type": "coordination", "person": PERSON,
                                                          "destination_municipality_code": "271005"})
    assert response.status_code == 422
    assert "destination_municipality_code" in response.get_json()["error"]["details"]["fields"]


def test_patch_may_change_one_person_field_alone(api):
    staff = api("a_staff")
    case = _new_case(staff)
    updated = ok(staff.patch(f"/api/v1/cases/{case['id']}", headers={"If-Match": '"1"'}, json={"person": {"given_name": "次郎"}}))
    assert updated["person"]["given_name"] == "次郎" and updated["person"]["family_name"] == "山田" and updated["version"] == 2


def test_assigning_a_user_of_another_center_answers_like_a_missing_one(api, world):
    staff = api("a_staff")
    case = _new_case(staff)
    other = staff.patch(f"/api/v1/cases/{case['id']}", headers={"If-Match": '"1"'}, json={"assigned_user_id": str(world.users["b_staff"]["id"])})
    assert other.status_code == 404
    mine = staff.patch(f"/api/v1/cases/{case['id']}", headers={"If-Match": '"1"'}, json={"assigned_user_id": str(world.users["a_admin"]["id"])})
    assert mine.status_code == 200


@pytest.mark.parametrize("term", ["山田", "やまだ", "ヤマダ", "ﾔﾏﾀﾞ", "山田太郎", "やまだたろう"])
def test_search_finds_two_character_names_and_kana_in_any_script(api, term):
    staff = api("a_staff")
    case = _new_case(staff)
    _new_case(staff, person={**PERSON, "family_name": "田山", "family_name_kana": "たやま"})
    hits = ok(staff.post("/api/v1/cases/search", json={"q": term}))["items"]
    assert case["id"] in [h["id"] for h in hits]
    assert all(h["person"]["family_name"] == "山田" for h in hits)  # 田山 shares bigrams but not the name


def test_search_never_reaches_another_center(api, world):
    assert ok(api("a_staff").post("/api/v1/cases/search", json={"q": "乙川"}))["items"] == []
    assert ok(api("b_staff").post("/api/v1/cases/search", json={"q": "乙川"}))["items"]


def test_search_by_case_number_status_type_and_dates(api):
    staff = api("a_staff")
    case = _new_case(staff, release_date="2026-09-01")
    _new_case(staff, case_type="consultation", requester_type="family", topic="住まいの相談")
    assert [c["id"] for c in ok(staff.post("/api/v1/cases/search", json={"case_number": case["case_number"].lower()}))["items"]] == [case["id"]]
    only_consultations = ok(staff.post("/api/v1/cases/search", json={"case_type": "consultation"}))["items"]
    assert {c["case_type"] for c in only_consultations} == {"consultation"}
    by_release = ok(staff.post("/api/v1/cases/search", json={"release_from": "2026-08-01", "release_to": "2026-09-30"}))["items"]
    assert [c["id"] for c in by_release] == [case["id"]]


def test_existing_people_are_found_before_registering_again(api):
    staff = api("a_staff")
    case = _new_case(staff)
    hits = ok(staff.post("/api/v1/persons/search", json={"q": "ヤマダ"}))["items"]
    assert [h["id"] for h in hits] == [case["person"]["id"]]


def test_pre_release_view_orders_by_days_to_release_with_open_needs(api):
    staff = api("a_staff")
    soon = _new_case(staff, requested_on=today_jst().isoformat(), release_date=(today_jst() + timedelta(days=5)).isoformat())
    later = _new_case(staff, requested_on=today_jst().isoformat(), release_date=(today_jst() + timedelta(days=20)).isoformat())
    _new_case(staff, requested_on=today_jst().isoformat(), release_date=(today_jst() + timedelta(days=90)).isoformat())
    items = ok(staff.get("/api/v1/cases/pre-release?within_days=30"))["items"]
    assert [i["case"]["id"] for i in items] == [soon["id"], later["id"]]
    assert items[0]["days_to_release"] == 5 and "housing" in items[0]["open_needs"]


def test_reminders_are_raised_three_and_one_days_before_and_only_once(make_app, world, owner_engine):
    from teichaku.platform.centers import center_by_code
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import set_tenant
    from teichaku.workers.jobs import raise_deadline_reminders

    app = make_app(REDIS_AVAILABLE=False)
    factories.make_case(app, "tokyo", requested_on=today_jst(), release_date=today_jst() + timedelta(days=3))
    factories.make_case(app, "tokyo", requested_on=today_jst(), release_date=today_jst() + timedelta(days=1))
    factories.make_case(app, "tokyo", requested_on=today_jst(), release_date=today_jst() + timedelta(days=2))
    with app.app_context():
        assert raise_deadline_reminders() == 2
        assert raise_deadline_reminders() == 0  # idempotent
    with owner_engine.connect() as conn:
        assert sorted(conn.execute(text(
            "select r.days_before from reminders r join centers c on c.id = r.center_id where c.code = 'tokyo'")).scalars()) == [1, 3]


def test_dashboard_shows_release_countdown_and_reminders(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False, REDIS_AVAILABLE=False)
    factories.make_case(app, "tokyo", requested_on=today_jst(), release_date=today_jst() + timedelta(days=3))
    from teichaku.workers.jobs import raise_deadline_reminders

    with app.app_context():
        raise_deadline_reminders()
    c = app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    page = c.get("/dashboard").get_data(as_text=True)
    assert "期限のお知らせ" in page and "3日" in page and "30日以内の釈放・出所予定" in page


def test_page_flow_finds_existing_person_then_opens_a_case_for_them(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    c = app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    name = world.cases["a"]["person_name"]
    page = c.post("/cases/new", data={"lookup-q": name}).get_data(as_text=True)
    assert name in page and "この方でケースを開始" in page
    response = c.post("/cases/new", data={"person_id": str(world.cases["a"]["person_id"]), "case_type": "consultation"})
    assert response.status_code == 302
    detail = c.get(response.headers["Location"]).get_data(as_text=True)
    assert name in detail and "CS-" in detail


def test_page_edit_conflict_keeps_the_users_text_and_says_so_in_japanese(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    one, two = app.test_client(), app.test_client()
    factories.sign_in(one, world.users["a_staff"])
    factories.sign_in(two, world.users["a_admin"])
    case_id = world.cases["a"]["id"]
    form = {"version": "1", "family_name": "最初", "given_name": "太郎", "family_name_kana": "さいしょ", "given_name_kana": "たろう",
            "birth_date": "1950-04-01", "sex": "male", "public_assistance": "none", "requested_on": "2026-04-01"}
    assert one.post(f"/cases/{case_id}/edit", data=form).status_code == 302
    stale = two.post(f"/cases/{case_id}/edit", data={**form, "family_name": "二番目"})
    page = stale.get_data(as_text=True)
    assert stale.status_code == 409 and "他の職員が先に更新しました" in page and "二番目" in page
    assert "最初" in c_get(one, f"/cases/{case_id}")


def c_get(client, url):
    return client.get(url).get_data(as_text=True)


def test_page_transition_refusal_is_a_japanese_message(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    c = app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    case_id = world.cases["a"]["id"]
    assert c.post(f"/cases/{case_id}/transition", data={"version": "1", "to_status": "assessing"}).status_code == 302
    refused = c.post(f"/cases/{case_id}/transition", data={"version": "2", "to_status": "plan_drafted"})
    assert refused.status_code == 409 and "特別調整の要件が満たされていない" in refused.get_data(as_text=True)


def test_search_terms_travel_in_the_body_not_the_url(make_app, world, capsys):
    app = make_app(WTF_CSRF_ENABLED=False)
    c = app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    page = c.post("/cases", data={"q": world.cases["a"]["person_name"]}).get_data(as_text=True)
    assert world.cases["a"]["case_number"] in page
    assert world.cases["a"]["person_name"] not in capsys.readouterr().err  # not in the request log
