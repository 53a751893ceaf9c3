"""Review committee (検討委員会): members, meetings, agenda items with rounds per case, advice and
follow-up, a case's review history, and the pseudonymized handout."""
from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from teichaku.platform.i18n import today_jst, wareki
from teichaku.tenants.committees.services import age_decade, initials
from tests import factories
from tests.helpers import api_error
from tests.world_committees import B_MEMBER_NAME, B_QUESTION, make_agenda_item, make_meeting

PERSON = {"family_name": "山田", "given_name": "花子", "family_name_kana": "やまだ", "given_name_kana": "はなこ",
          "birth_date": date(1952, 3, 4), "sex": "female", "support_needs": ["elderly", "intellectual"]}


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


@pytest.fixture()
def yamada(app):
    """A case of center A for a person with a known name, kana, birth date and case number."""
    return factories.make_case(app, "tokyo", person=dict(PERSON))


def _count(owner_engine, table, center="tokyo") -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text(f"select count(*) from {table} t join centers c on c.id = t.center_id"
                                 " where c.code = :c"), {"c": center}).scalar()


def _audit_rows(owner_engine, prefix, center):
    with owner_engine.connect() as conn:
        return conn.execute(text("select a.action, a.person_id, a.object_id from audit_entries a"
                                 " join centers c on c.id = a.center_id where c.code = :c and a.action like :p"
                                 " order by a.seq"), {"p": prefix + "%", "c": center}).all()


def _audit(owner_engine, prefix="committee.", center="tokyo"):
    """(action, person_id) of the center's committee entries, ids as UUIDs on either backend."""
    return [(row.action, _uuid(row.person_id)) for row in _audit_rows(owner_engine, prefix, center)]


def _uuid(value):
    return None if value is None else uuid.UUID(str(value))


def _only_id(conn, table, center="tokyo"):
    return _uuid(conn.execute(text(f"select t.id from {table} t join centers c on c.id = t.center_id where c.code = :c"),
                              {"c": center}).scalar_one())


def _new_meeting(client, held_on="2025-04-10", **extra):
    response = client.post("/api/v1/committee/meetings", json={"held_on": held_on, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _new_item(client, meeting_id, case_id, question="退所後の住まいについて助言がほしい"):
    response = client.post(f"/api/v1/committee/meetings/{meeting_id}/agenda-items",
                           json={"case_id": str(case_id), "question": question})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _advise(client, item, advice):
    response = client.put(f"/api/v1/committee/agenda-items/{item['id']}/advice", json={"advice": advice},
                          headers={"If-Match": f'"{item["version"]}"'})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _follow_up(client, item, note, on):
    response = client.put(f"/api/v1/committee/agenda-items/{item['id']}/follow-up",
                          json={"follow_up": note, "follow_up_on": on}, headers={"If-Match": f'"{item["version"]}"'})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- rounds and the review history ---------------------------------------------------------------

def test_a_case_reviewed_three_times_shows_each_rounds_advice(api, pages, yamada):
    client = api("a_staff")
    advice = ["療育手帳の再判定を先に進めること", "グループホームの見学に本人と同行すること", "服薬の管理を訪問看護に頼むこと"]
    follow = ["判定を申し込んだ", "見学を2か所で行った", "訪問看護と契約した"]
    days = ["2025-04-10", "2025-06-12", "2025-08-07"]
    for n, (held_on, a, f) in enumerate(zip(days, advice, follow), start=1):
        meeting = _new_meeting(client, held_on)
        item = _new_item(client, meeting["id"], yamada["id"])
        assert item["round"] == n
        item = _advise(client, item, a)
        _follow_up(client, item, f, (date.fromisoformat(held_on) + timedelta(days=14)).isoformat())

    history = client.get(f"/api/v1/committee/cases/{yamada['id']}/review-history")
    assert history.status_code == 200
    body = history.get_json()
    assert body["case_id"] == str(yamada["id"])
    assert [r["round"] for r in body["rounds"]] == [1, 2, 3]
    assert [r["held_on"] for r in body["rounds"]] == days
    assert [r["advice"] for r in body["rounds"]] == advice
    assert [r["follow_up"] for r in body["rounds"]] == follow
    assert body["rounds"][0]["follow_up_on"] == "2025-04-24"

    page = pages("a_staff").get(f"/committee/cases/{yamada['id']}/history")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text_ in [*advice, *follow, "第1回", "第2回", "第3回", "令和7年4月10日"]:
        assert text_ in html, text_


def test_rounds_follow_meeting_dates_not_the_order_items_were_entered(api, yamada):
    client = api("a_staff")
    later = _new_meeting(client, "2025-09-01")
    earlier = _new_meeting(client, "2025-05-01")
    first_entered = _new_item(client, later["id"], yamada["id"])
    assert first_entered["round"] == 1
    second_entered = _new_item(client, earlier["id"], yamada["id"])
    assert second_entered["round"] == 1  # the earlier meeting is the first review
    refreshed = client.get(f"/api/v1/committee/agenda-items/{first_entered['id']}").get_json()
    assert refreshed["round"] == 2
    rounds = client.get(f"/api/v1/committee/cases/{yamada['id']}/review-history").get_json()["rounds"]
    assert [(r["held_on"], r["round"]) for r in rounds] == [("2025-05-01", 1), ("2025-09-01", 2)]


def test_a_case_goes_on_a_meeting_only_once(api, yamada):
    client = api("a_staff")
    meeting = _new_meeting(client)
    _new_item(client, meeting["id"], yamada["id"])
    again = client.post(f"/api/v1/committee/meetings/{meeting['id']}/agenda-items",
                        json={"case_id": str(yamada["id"]), "question": "もう一度"})
    assert "case_id" in api_error(again, 422, "validation_error")["details"]["fields"]


def test_review_history_of_a_case_never_reviewed_is_empty(api, yamada):
    body = api("a_staff").get(f"/api/v1/committee/cases/{yamada['id']}/review-history").get_json()
    assert body == {"case_id": str(yamada["id"]), "rounds": []}


def test_review_history_section_renders_for_a_case_page(app, world, yamada):
    """The section the case page includes (``committees/_case_section.html``)."""
    from flask import render_template

    from teichaku.platform.centers import center_by_code
    from teichaku.platform.tenancy import get_owned, set_tenant
    from teichaku.tenants.cases.models import Case

    meeting = make_meeting(app, "tokyo", held_on=date(2025, 5, 20))
    make_agenda_item(app, "tokyo", meeting["id"], yamada["id"], advice="家族との連絡を再開する手順を整理すること")
    with app.test_request_context("/"):
        set_tenant(center_by_code("tokyo").id)
        case = get_owned(Case, yamada["id"])
        html = render_template("committees/_case_section.html", case=case)
    assert "検討委員会での検討" in html and "家族との連絡を再開する手順を整理すること" in html and "第1回" in html


# --- the handout ---------------------------------------------------------------------------------

def test_handout_shows_no_name_birth_date_or_case_number(api, pages, yamada, owner_engine):
    client = api("a_staff")
    earlier = _new_meeting(client, "2025-04-10")
    first = _advise(client, _new_item(client, earlier["id"], yamada["id"]), "山田さんの療育手帳の再判定を急ぐこと")
    _follow_up(client, first, f"{yamada['case_number']} として判定を申し込んだ（ヤマダ ハナコ、1952年3月4日生）", "2025-04-20")
    member = client.post("/api/v1/committee/members", json={
        "name": "精神太郎", "name_kana": "せいしんたろう", "profession": "psychiatrist", "affiliation": "県立病院"}).get_json()
    meeting = _new_meeting(client, "2025-06-12", place="センター会議室", attendee_ids=[member["id"]])
    _new_item(client, meeting["id"], yamada["id"], question="グループホームの候補が見つからない。次に何を当たるべきか")

    response = pages("a_staff").get(f"/committee/meetings/{meeting['id']}/handout")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    birth = PERSON["birth_date"]
    forbidden = ["山田", "花子", "やまだ", "はなこ", "ヤマダ", "ハナコ", yamada["case_number"], birth.isoformat(),
                 "1952年3月4日", wareki(birth), "昭和27年", "1952"]
    for value in forbidden:
        assert value not in html, f"the handout shows {value!r}"
    assert "Y.H." in html
    assert "70代" in html  # 73 on the meeting day
    for shown in ("高齢", "知的障害", "コーディネート業務（CO）", "グループホームの候補が見つからない", "第2回",
                  "療育手帳の再判定を急ぐこと", "精神太郎", "令和7年6月12日"):
        assert shown in html, shown
    # A print layout of its own: A4, no inline style or script, not the site's menu.
    assert "committees.css" in html and "style=" not in html and "<script" not in html
    assert "ログアウト" not in html
    css = pages("a_staff").get("/static/committees.css").get_data(as_text=True)
    assert "@media print" in css and "A4" in css
    # Whose data went on paper is audited, person by person.
    handouts = [person for action, person in _audit(owner_engine) if action == "committee.handout"]
    assert handouts == [yamada["person_id"]]


def test_initials_come_from_the_kana_and_ages_are_shown_as_bands():
    assert initials("やまだ", "たろう") == "Y.T."
    assert initials("ヤマダ", "タロウ") == "Y.T."
    assert initials("しみず", "ちえ") == "S.C."
    assert initials("おとがわ", "ひめこ") == "O.H."
    assert initials("ふじ", "じゅん") == "F.J."
    assert age_decade(date(1948, 2, 3), date(2025, 7, 10)) == 70
    assert age_decade(date(1955, 8, 1), date(2025, 7, 31)) == 60  # 69 the day before turning 70
    assert age_decade(date(1955, 8, 1), date(2025, 8, 1)) == 70


def test_a_question_naming_the_person_is_refused(api, yamada, owner_engine):
    client = api("a_staff")
    meeting = _new_meeting(client)
    for question in ("山田花子さんの住まいについて", f"{yamada['case_number']} の件", "やまだ はなこ さんについて"):
        response = client.post(f"/api/v1/committee/meetings/{meeting['id']}/agenda-items",
                               json={"case_id": str(yamada["id"]), "question": question})
        assert "question" in api_error(response, 422, "validation_error")["details"]["fields"]
    assert _count(owner_engine, "committee_agenda_items") == 0


# --- isolation and bad input ---------------------------------------------------------------------

def test_agenda_item_for_another_centers_case_is_404(api, pages, world, owner_engine):
    client = api("a_staff")
    meeting = _new_meeting(client)
    url = f"/api/v1/committee/meetings/{meeting['id']}/agenda-items"
    other = client.post(url, json={"case_id": str(world.cases["b"]["id"]), "question": "x"})
    missing = client.post(url, json={"case_id": str(uuid.uuid4()), "question": "x"})
    api_error(other, 404, "not_found")
    assert other.get_json() == missing.get_json()
    page = pages("a_staff")
    page_other = page.post(f"/committee/meetings/{meeting['id']}/agenda-items/new",
                           data={"case_id": str(world.cases["b"]["id"]), "question": "x"})
    page_missing = page.post(f"/committee/meetings/{meeting['id']}/agenda-items/new",
                             data={"case_id": str(uuid.uuid4()), "question": "x"})
    assert page_other.status_code == page_missing.status_code == 404
    assert world.cases["b"]["person_name"] not in page_other.get_data(as_text=True)
    assert _count(owner_engine, "committee_agenda_items") == 0
    assert _count(owner_engine, "committee_agenda_items", "osaka") == 1  # B's own, untouched


def test_another_centers_committee_records_answer_like_missing_ones(api, world):
    client = api("a_staff")
    for path, key in (("members", "b_member_id"), ("meetings", "b_meeting_id"), ("agenda-items", "b_item_id")):
        other = client.get(f"/api/v1/committee/{path}/{world.objects[key]}")
        missing = client.get(f"/api/v1/committee/{path}/{uuid.uuid4()}")
        api_error(other, 404, "not_found")
        assert other.get_json() == missing.get_json()
    api_error(client.get(f"/api/v1/committee/cases/{world.cases['b']['id']}/review-history"), 404, "not_found")
    assert client.get("/api/v1/committee/members").get_json()["items"] == []
    assert client.get("/api/v1/committee/meetings").get_json()["items"] == []


def test_center_a_pages_never_show_center_b_committee(pages, world):
    client = pages("a_staff")
    for url in ("/committee/members", "/committee/meetings", "/committee/meetings/new"):
        html = client.get(url).get_data(as_text=True)
        for secret in (B_MEMBER_NAME, B_QUESTION, world.cases["b"]["person_name"]):
            assert secret not in html, (url, secret)


def test_another_centers_member_cannot_attend_a_meeting(api, world, owner_engine):
    client = api("a_staff")
    response = client.post("/api/v1/committee/meetings", json={"held_on": "2025-05-01",
                                                                "attendee_ids": [str(world.objects["b_member_id"])]})
    missing = client.post("/api/v1/committee/meetings", json={"held_on": "2025-05-01", "attendee_ids": [str(uuid.uuid4())]})
    api_error(response, 404, "not_found")
    assert response.get_json() == missing.get_json()
    assert _count(owner_engine, "committee_meetings") == 0


def test_a_member_who_left_cannot_be_added_to_a_meeting(api, owner_engine):
    client = api("a_staff")
    member = client.post("/api/v1/committee/members", json={"name": "元委員", "name_kana": "もといいん",
                                                           "profession": "social_worker", "active": False}).get_json()
    response = client.post("/api/v1/committee/meetings", json={"held_on": "2025-05-01", "attendee_ids": [member["id"]]})
    assert "attendee_ids" in api_error(response, 422, "validation_error")["details"]["fields"]
    assert _count(owner_engine, "committee_meetings") == 0


def test_unknown_fields_and_a_meeting_date_that_is_not_a_date_change_nothing(api, pages, yamada, owner_engine):
    client = api("a_staff")
    bad_date = client.post("/api/v1/committee/meetings", json={"held_on": "来週の火曜日"})
    assert "held_on" in api_error(bad_date, 422, "validation_error")["details"]["fields"]
    unknown = client.post("/api/v1/committee/meetings", json={"held_on": "2025-05-01", "center_id": str(uuid.uuid4())})
    assert "center_id" in api_error(unknown, 422, "validation_error")["details"]["fields"]
    too_early = client.post("/api/v1/committee/meetings", json={"held_on": "1999-05-01"})
    assert "held_on" in api_error(too_early, 422, "validation_error")["details"]["fields"]
    member = client.post("/api/v1/committee/members", json={"name": "x", "name_kana": "Yamada", "profession": "wizard",
                                                           "version": 3})
    fields = api_error(member, 422, "validation_error")["details"]["fields"]
    assert {"name_kana", "profession", "version"} <= set(fields)
    assert _count(owner_engine, "committee_meetings") == 0 and _count(owner_engine, "committee_members") == 0

    page = pages("a_staff").post("/committee/meetings/new", data={"held_on": "2025-13-45", "place": "会議室"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert 'class="field has-error"' in html and "日付" in html
    assert _count(owner_engine, "committee_meetings") == 0
    assert _audit(owner_engine) == []


# --- versions and conflicts ----------------------------------------------------------------------

def test_stale_member_edit_conflicts(api, pages, owner_engine):
    client = api("a_staff")
    member = client.post("/api/v1/committee/members", json={"name": "福祉花子", "name_kana": "ふくしはなこ",
                                                           "profession": "social_worker"}).get_json()
    url = f"/api/v1/committee/members/{member['id']}"
    first = client.patch(url, json={"affiliation": "社会福祉士会"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200 and first.get_json()["version"] == 2 and first.headers["ETag"] == '"2"'
    stale = client.patch(url, json={"affiliation": "上書き"}, headers={"If-Match": '"1"'})
    assert api_error(stale, 409, "version_conflict")["details"]["current_version"] == 2
    api_error(client.patch(url, json={"affiliation": "上書き"}), 428, "precondition_required")
    assert client.get(url).get_json()["affiliation"] == "社会福祉士会"

    page = pages("a_staff").post(f"/committee/members/{member['id']}/edit", data={
        "name": "福祉花子", "name_kana": "ふくしはなこ", "profession": "social_worker", "affiliation": "上書き",
        "active": "y", "version": "1"})
    assert page.status_code == 409
    html = page.get_data(as_text=True)
    assert "他の職員が先に更新しました" in html and 'value="上書き"' in html  # the input is kept
    assert client.get(url).get_json()["affiliation"] == "社会福祉士会"


def test_stale_meeting_edit_conflicts(api, pages):
    client = api("a_staff")
    meeting = _new_meeting(client, place="第1会議室")
    url = f"/api/v1/committee/meetings/{meeting['id']}"
    assert client.patch(url, json={"notes": "議事録"}, headers={"If-Match": '"1"'}).status_code == 200
    api_error(client.patch(url, json={"notes": "上書き"}, headers={"If-Match": '"1"'}), 409, "version_conflict")
    page = pages("a_staff").post(f"/committee/meetings/{meeting['id']}/edit",
                                 data={"held_on": "2025-04-10", "place": "上書き", "version": "1"})
    assert page.status_code == 409 and "他の職員が先に更新しました" in page.get_data(as_text=True)
    body = client.get(url).get_json()
    assert (body["notes"], body["place"], body["version"]) == ("議事録", "第1会議室", 2)


def test_stale_advice_and_follow_up_conflict(api, pages, yamada):
    client = api("a_staff")
    item = _new_item(client, _new_meeting(client)["id"], yamada["id"])
    advised = _advise(client, item, "最初の助言")
    stale = client.put(f"/api/v1/committee/agenda-items/{item['id']}/advice", json={"advice": "上書き"},
                       headers={"If-Match": f'"{item["version"]}"'})
    api_error(stale, 409, "version_conflict")
    page = pages("a_staff").post(f"/committee/agenda-items/{item['id']}/advice",
                                 data={"advice": "上書き", "version": str(item["version"])})
    assert page.status_code == 409 and "他の職員が先に更新しました" in page.get_data(as_text=True)
    stale_follow = client.put(f"/api/v1/committee/agenda-items/{item['id']}/follow-up",
                              json={"follow_up": "x", "follow_up_on": "2025-04-11"}, headers={"If-Match": '"1"'})
    api_error(stale_follow, 409, "version_conflict")
    assert client.get(f"/api/v1/committee/agenda-items/{item['id']}").get_json()["advice"] == advised["advice"]


def test_stale_question_edit_conflicts(api, yamada):
    client = api("a_staff")
    item = _new_item(client, _new_meeting(client)["id"], yamada["id"])
    url = f"/api/v1/committee/agenda-items/{item['id']}"
    assert client.patch(url, json={"question": "住まいと日中活動について"}, headers={"If-Match": '"1"'}).status_code == 200
    api_error(client.patch(url, json={"question": "上書き"}, headers={"If-Match": '"1"'}), 409, "version_conflict")


# --- rules on advice and follow-up ---------------------------------------------------------------

def test_follow_up_needs_advice_first_and_a_date_from_the_meeting_to_today(api, yamada):
    client = api("a_staff")
    item = _new_item(client, _new_meeting(client, "2025-04-10")["id"], yamada["id"])
    early = client.put(f"/api/v1/committee/agenda-items/{item['id']}/follow-up",
                       json={"follow_up": "対応した", "follow_up_on": "2025-04-20"}, headers={"If-Match": '"1"'})
    api_error(early, 409, "invalid_state")
    item = _advise(client, item, "助言")
    for day in ("2025-04-01", (today_jst() + timedelta(days=1)).isoformat()):
        response = client.put(f"/api/v1/committee/agenda-items/{item['id']}/follow-up",
                              json={"follow_up": "対応した", "follow_up_on": day}, headers={"If-Match": f'"{item["version"]}"'})
        assert "follow_up_on" in api_error(response, 422, "validation_error")["details"]["fields"]
    not_a_date = client.put(f"/api/v1/committee/agenda-items/{item['id']}/follow-up",
                            json={"follow_up": "対応した", "follow_up_on": "そのうち"}, headers={"If-Match": f'"{item["version"]}"'})
    assert "follow_up_on" in api_error(not_a_date, 422, "validation_error")["details"]["fields"]


def test_advice_cannot_be_recorded_before_the_meeting_day(api, yamada):
    client = api("a_staff")
    meeting = _new_meeting(client, (today_jst() + timedelta(days=20)).isoformat())
    item = _new_item(client, meeting["id"], yamada["id"])
    response = client.put(f"/api/v1/committee/agenda-items/{item['id']}/advice", json={"advice": "早すぎる"},
                          headers={"If-Match": '"1"'})
    api_error(response, 409, "invalid_state")


def test_an_item_with_advice_stays_on_the_agenda(api, pages, yamada, owner_engine):
    client = api("a_staff")
    meeting = _new_meeting(client)
    item = _new_item(client, meeting["id"], yamada["id"])
    advised = _advise(client, item, "助言")
    api_error(client.delete(f"/api/v1/committee/agenda-items/{item['id']}", headers={"If-Match": f'"{advised["version"]}"'}),
           409, "invalid_state")
    page = pages("a_staff").post(f"/committee/agenda-items/{item['id']}/remove", data={"version": str(advised["version"])},
                                 follow_redirects=True)
    assert "助言が記録された議題は取り下げられません" in page.get_data(as_text=True)
    assert _count(owner_engine, "committee_agenda_items") == 1

    other = api("a_staff").post("/api/v1/cases", json={"case_type": "follow_up", "person_id": str(yamada["person_id"])}).get_json()
    plain = _new_item(client, meeting["id"], other["id"])
    api_error(client.delete(f"/api/v1/committee/agenda-items/{plain['id']}"), 428, "precondition_required")
    assert client.delete(f"/api/v1/committee/agenda-items/{plain['id']}", headers={"If-Match": '"1"'}).status_code == 204
    assert _count(owner_engine, "committee_agenda_items") == 1
    assert ("committee.agenda_item.remove", yamada["person_id"]) in _audit(owner_engine)


# --- audit ---------------------------------------------------------------------------------------

def test_every_change_is_audited_with_the_person_where_a_case_is_involved(api, yamada, owner_engine):
    client = api("a_staff")
    member = client.post("/api/v1/committee/members", json={"name": "法律一郎", "name_kana": "ほうりついちろう",
                                                           "profession": "lawyer", "observer": True}).get_json()
    client.patch(f"/api/v1/committee/members/{member['id']}", json={"active": False}, headers={"If-Match": '"1"'})
    meeting = _new_meeting(client, attendee_ids=[])
    client.patch(f"/api/v1/committee/meetings/{meeting['id']}", json={"place": "第2会議室"}, headers={"If-Match": '"1"'})
    item = _new_item(client, meeting["id"], yamada["id"])
    item = _advise(client, item, "助言")
    _follow_up(client, item, "対応", "2025-04-11")
    client.get(f"/api/v1/committee/cases/{yamada['id']}/review-history")
    client.get(f"/api/v1/committee/meetings/{meeting['id']}")
    client.get(f"/api/v1/committee/agenda-items/{item['id']}")

    rows = _audit(owner_engine)
    person = yamada["person_id"]
    for expected in [("committee.member.create", None), ("committee.member.update", None),
                     ("committee.meeting.create", None), ("committee.meeting.update", None),
                     ("committee.agenda_item.create", person), ("committee.advice.record", person),
                     ("committee.follow_up.record", person), ("committee.review_history.read", person),
                     ("committee.meeting.read", person), ("committee.agenda_item.read", person)]:
        assert expected in rows, expected


# --- pages ---------------------------------------------------------------------------------------

def test_staff_run_a_meeting_through_the_pages(pages, yamada, owner_engine):
    client = pages("a_staff")
    assert client.get("/committee/members/new").status_code == 200
    response = client.post("/committee/members/new", data={"name": "臨床心理子", "name_kana": "りんしょうしんりこ",
                                                           "profession": "clinical_psychologist", "affiliation": "臨床心理士会",
                                                           "active": "y"})
    assert response.status_code == 302
    members = client.get("/committee/members").get_data(as_text=True)
    assert "臨床心理子" in members and "臨床心理士・公認心理師" in members
    with owner_engine.connect() as conn:
        member_id = _only_id(conn, "committee_members")

    form = client.get("/committee/meetings/new").get_data(as_text=True)
    assert "臨床心理子" in form
    response = client.post("/committee/meetings/new", data={"held_on": "2025-05-15", "place": "センター会議室",
                                                            "attendee_ids": [str(member_id)], "notes": "第12回定例会"})
    assert response.status_code == 302, re.findall(r'(?:class="error"|flash)[^>]*>([^<]*)<', response.get_data(as_text=True))
    detail_url = response.headers["Location"]
    detail = client.get(detail_url).get_data(as_text=True)
    assert "令和7年5月15日" in detail and "臨床心理子" in detail and "第12回定例会" in detail
    meeting_id = detail_url.rstrip("/").split("/")[-1]

    new_item = client.get(f"/committee/meetings/{meeting_id}/agenda-items/new").get_data(as_text=True)
    assert yamada["case_number"] in new_item
    response = client.post(f"/committee/meetings/{meeting_id}/agenda-items/new",
                           data={"case_id": str(yamada["id"]), "question": "日中活動の場をどう探すか"})
    assert response.status_code == 302
    with owner_engine.connect() as conn:
        item_id = _only_id(conn, "committee_agenda_items")
    detail = client.get(detail_url).get_data(as_text=True)
    assert "日中活動の場をどう探すか" in detail and "第1回" in detail and yamada["case_number"] in detail

    assert client.get(f"/committee/agenda-items/{item_id}/advice").status_code == 200
    empty = client.post(f"/committee/agenda-items/{item_id}/advice", data={"advice": "", "version": "1"})
    assert empty.status_code == 422 and "必須項目です。" in empty.get_data(as_text=True)
    response = client.post(f"/committee/agenda-items/{item_id}/advice",
                           data={"advice": "地域活動支援センターを紹介すること", "version": "1"})
    assert response.status_code == 302
    assert client.get(f"/committee/agenda-items/{item_id}/follow-up").status_code == 200
    response = client.post(f"/committee/agenda-items/{item_id}/follow-up",
                           data={"follow_up": "見学を調整した", "follow_up_on": "2025-05-30", "version": "2"})
    assert response.status_code == 302
    history = client.get(f"/committee/cases/{yamada['id']}/history").get_data(as_text=True)
    assert "地域活動支援センターを紹介すること" in history and "見学を調整した" in history and "令和7年5月30日" in history
    edit = client.get(f"/committee/agenda-items/{item_id}/edit")
    assert edit.status_code == 200 and "日中活動の場をどう探すか" in edit.get_data(as_text=True)
    assert client.get(f"/committee/meetings/{meeting_id}/edit").status_code == 200
    assert client.get(f"/committee/members/{member_id}/edit").status_code == 200
    assert "検討委員会" in client.get("/dashboard").get_data(as_text=True)  # the menu link


def test_roles_without_case_access_cannot_reach_the_committee(api, world):
    for role in ("ministry", "association", "platform_admin", "a_prefecture"):
        client = api(role)
        api_error(client.get("/api/v1/committee/meetings"), 403, "forbidden")
        api_error(client.post("/api/v1/committee/members", json={"name": "x", "name_kana": "えっくす", "profession": "other"}),
               403, "forbidden")


def test_center_admins_use_the_committee_too(api):
    assert api("a_admin").get("/api/v1/committee/members").status_code == 200


def test_lists_are_paged_newest_first(api):
    client = api("a_staff")
    for day in ("2025-04-01", "2025-06-01", "2025-05-01"):
        _new_meeting(client, day)
    first = client.get("/api/v1/committee/meetings?limit=2").get_json()
    assert [m["held_on"] for m in first["items"]] == ["2025-06-01", "2025-05-01"] and first["next_cursor"]
    rest = client.get(f"/api/v1/committee/meetings?limit=2&cursor={first['next_cursor']}").get_json()
    assert [m["held_on"] for m in rest["items"]] == ["2025-04-01"] and rest["next_cursor"] is None
    api_error(client.get("/api/v1/committee/meetings?cursor=@@@"), 422, "validation_error")


def test_the_openapi_document_describes_the_committee(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path in ("/api/v1/committee/members", "/api/v1/committee/members/{committee_member_id}",
                 "/api/v1/committee/meetings", "/api/v1/committee/meetings/{committee_meeting_id}",
                 "/api/v1/committee/meetings/{committee_meeting_id}/agenda-items",
                 "/api/v1/committee/agenda-items/{committee_item_id}",
                 "/api/v1/committee/agenda-items/{committee_item_id}/advice",
                 "/api/v1/committee/agenda-items/{committee_item_id}/follow-up",
                 "/api/v1/committee/cases/{case_id}/review-history"):
        assert path in paths, path
    assert "CommitteeReviewHistory" in spec["components"]["schemas"]
