"""広域調整 (transfers): one row per side, each center sees its own; acceptance makes the receiving
center's own case with only the chosen items; the association sees metadata only; a second open
request, an illegal change and a race each leave one consistent outcome; approval, provision
records, reminders, reassignment, the thread and the pages."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, text

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.i18n import today_jst, wareki
from teichaku.platform.tenancy import set_tenant
from tests import factories
from tests.races import race
from tests.conftest import APP_ROLE, BACKEND, rls_scope
from tests.helpers import ok

# A's person: distinctive values, so that a scan for them cannot match anything else.
PERSON = {"family_name": "甲斐田", "given_name": "秘三郎", "family_name_kana": "かいだ", "given_name_kana": "ひさぶろう",
          "birth_date": "1951-07-19", "sex": "male", "support_needs": ["elderly", "intellectual"]}
SECRETS = ("甲斐田", "秘三郎", "かいだ", "カイダ", "ひさぶろう", "1951-07-19", "1951年7月19日", wareki(date(1951, 7, 19)),
           "依頼秘文", "立会秘人")
CONSENT = {"obtained_on": "2026-01-05", "method": "oral_with_witness", "witness": "立会秘人", "scope": "大阪府内での調整"}


def _a_case(app, **overrides) -> dict:
    """A coordination case of center A (tokyo) with an assessment, an interview record, a progress
    note, a plan in two revisions and a document."""
    from teichaku.tenants.records import services as records

    data = {"person": factories.person_payload(**{**PERSON, "birth_date": date(1951, 7, 19)}),
            "release_date": today_jst() + timedelta(days=60), "destination_prefecture_code": "27"}
    data.update(overrides)
    case = factories.make_case(app, "tokyo", **data)
    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        loaded = records.load_case(case["id"])
        assessment = records.create_record(loaded, {"kind": "assessment", "recorded_on": date(2026, 1, 6),
                                                    "sections": {"life_history": "甲の生活歴", "wishes": "大阪で暮らしたい"}})
        interview = records.create_record(loaded, {"kind": "interview", "recorded_on": date(2026, 1, 7), "place": "面会室",
                                                   "participants": "本人", "content": "甲の面談内容"})
        progress = records.create_record(loaded, {"kind": "progress", "recorded_on": date(2026, 1, 8),
                                                  "content": "甲の送らない支援経過"})
        plan, _rev = records.create_plan(loaded, {"content": {"wishes": "甲の希望 第1版", "goals": "", "items": [], "notes": ""}})
        records.revise_plan(loaded, plan, {"wishes": "甲の希望 第2版", "goals": "GH入居", "items": [], "notes": ""}, base_revision=1)
        document = records.upload_document(loaded, stream=io.BytesIO(b"%PDF-1.4\n% a\n%%EOF\n"), filename="甲書類.pdf",
                                           kind="other")
        db.session.commit()
        case.update(assessment_id=str(assessment.id), interview_id=str(interview.id), progress_id=str(progress.id),
                    plan_id=str(plan.id), document_id=str(document.id))
    return case


def _request(client, case, to="osaka", **overrides):
    body = {"case_id": str(case["id"]), "to_center": to, "consent": CONSENT, "message": "依頼秘文：大阪での生活を希望。"}
    body.update(overrides)
    return client.post("/api/v1/transfers", json=body)


def _incoming_id(client, status="requested") -> str:
    items = ok(client.get("/api/v1/transfers?side=receiving"))["items"]
    return [i for i in items if i["status"] == status][0]["id"]


def _outbox(owner_engine, kind) -> list[dict]:
    with owner_engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("select * from outbox_events where kind = :k order by created_at"),
                                              {"k": kind}).mappings()]


def _center_id(app, code):
    with app.app_context():
        return center_by_code(code).id


def _set_approval(owner_engine, code, on=True):
    with owner_engine.begin() as conn:
        conn.execute(text("update centers set requires_transfer_approval = :on where code = :c"), {"on": on, "c": code})


# --- the flow --------------------------------------------------------------------------------------

def test_accepting_a_request_creates_the_receivers_own_linked_case_with_only_the_chosen_items(app, world, api):
    a, b = api("a_staff"), api("b_staff")
    case = _a_case(app)
    sent = ok(_request(a, case, package=[{"kind": "record", "id": case["interview_id"]},
                                         {"kind": "plan", "id": case["plan_id"]}]), 201)
    assert sent["status"] == "requested" and sent["case_id"] == str(case["id"]) and "receiving_case_id" not in sent

    incoming = ok(b.get(f"/api/v1/transfers/{_incoming_id(b)}"))
    assert incoming["person"]["family_name"] == "甲斐田" and incoming["case_id"] is None
    assert [p["kind"] for p in incoming["package"]] == ["record", "plan"]  # as chosen
    assert all("id" not in p for p in incoming["package"])  # the sender's record ids stay with the sender

    accepted = ok(b.post(f"/api/v1/transfers/{incoming['id']}/accept"))
    assert accepted["status"] == "accepted" and accepted["receiving_case_id"] == accepted["case_id"]
    b_case = ok(b.get(f"/api/v1/cases/{accepted['receiving_case_id']}"))
    assert b_case["person"]["family_name"] == "甲斐田" and b_case["person"]["birth_date"] == "1951-07-19"
    assert b_case["case_type"] == "coordination" and b_case["destination_prefecture_code"] == "27"
    assert "東京都地域生活定着支援センター" in b_case["request_source"]

    records = ok(b.get(f"/api/v1/cases/{b_case['id']}/records"))["items"]
    contents = [r.get("content") or "" for r in records]
    assert any("甲の面談内容" in c for c in contents)                       # chosen: copied
    assert not any("甲の送らない支援経過" in c for c in contents)            # not chosen: stays with A
    assert not any(r["kind"] == "assessment" for r in records)
    assert any("広域調整により東京都地域生活定着支援センター" in c for c in contents)  # provenance noted
    plans = ok(b.get(f"/api/v1/cases/{b_case['id']}/plans"))["items"]
    assert len(plans) == 1 and "第2版の写し" in plans[0]["title"]
    assert ok(b.get(f"/api/v1/cases/{b_case['id']}/documents"))["items"] == []

    # A keeps its own record; it never sees B's case id.
    mine = ok(a.get(f"/api/v1/transfers/{sent['id']}"))
    assert mine["status"] == "accepted" and "receiving_case_id" not in mine and mine["case_id"] == str(case["id"])
    assert accepted["receiving_case_id"] not in a.get(f"/api/v1/transfers/{sent['id']}").get_data(as_text=True)
    assert ok(a.get(f"/api/v1/cases/{case['id']}"))["status"] == "request_received"
    assert len(ok(a.get(f"/api/v1/cases/{case['id']}/records"))["items"]) == 3


def test_a_document_in_the_package_is_copied_with_its_bytes(app, world, api):
    a, b = api("a_staff"), api("b_staff")
    case = _a_case(app)
    ok(_request(a, case, package=[{"kind": "document", "id": case["document_id"]},
                                   {"kind": "face_sheet", "id": case["assessment_id"]}]), 201)
    accepted = ok(b.post(f"/api/v1/transfers/{_incoming_id(b)}/accept"))
    docs = ok(b.get(f"/api/v1/cases/{accepted['receiving_case_id']}/documents"))["items"]
    assert [d["filename"] for d in docs] == ["甲書類.pdf"]
    content = b.get(f"/api/v1/cases/{accepted['receiving_case_id']}/documents/{docs[0]['id']}/content")
    assert content.status_code == 200 and content.data.startswith(b"%PDF-1.4")
    records = ok(b.get(f"/api/v1/cases/{accepted['receiving_case_id']}/records?kind=assessment"))["items"]
    assert records[0]["sections"]["life_history"] == "甲の生活歴"


def test_decline_notifies_the_requester_with_the_reason(app, world, api, owner_engine):
    from teichaku.crosstenant.notifications.delivery import deliver

    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    declined = ok(b.post(f"/api/v1/transfers/{incoming}/decline", json={"reason": "no_capacity", "comment": "満床です"}))
    assert declined["status"] == "declined"
    mine = ok(a.get(f"/api/v1/transfers/{sent['id']}"))
    assert (mine["status"], mine["decline_reason"], mine["decline_comment"]) == ("declined", "no_capacity", "満床です")
    events = _outbox(owner_engine, "transfer_declined")
    assert [(str(e["to_center_id"]), str(e["transfer_id"])) for e in events] == [(str(_center_id(app, "tokyo")), sent["id"])]
    with app.app_context():
        assert deliver(events[0]["id"]) == "delivered"
    inbox = ok(a.get("/api/v1/notifications"))["items"]
    assert any(n["kind"] == "transfer_declined" and n["transfer_id"] == sent["id"] for n in inbox)
    assert b.post(f"/api/v1/transfers/{incoming}/accept").status_code == 409


def test_a_bad_decline_reason_is_422_and_changes_nothing(app, world, api):
    a, b = api("a_staff"), api("b_staff")
    ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    response = b.post(f"/api/v1/transfers/{incoming}/decline", json={"reason": "busy"})
    assert response.status_code == 422 and "reason" in response.get_json()["error"]["details"]["fields"]
    assert ok(b.get(f"/api/v1/transfers/{incoming}"))["status"] == "requested"


def test_a_request_notifies_the_receiving_center(app, world, api, owner_engine):
    ok(_request(api("a_staff"), _a_case(app)), 201)
    b_row = _incoming_id(api("b_staff"))
    events = [e for e in _outbox(owner_engine, "transfer_requested") if str(e["transfer_id"]) == b_row]
    assert [str(e["to_center_id"]) for e in events] == [str(_center_id(app, "osaka"))]


# --- who sees what ---------------------------------------------------------------------------------

def test_a_third_center_sees_nothing_of_a_transfer(app, make_app, world, api):
    a, b, c = api("a_staff"), api("b_staff"), api("c_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    mine_before = ok(c.get("/api/v1/transfers"))["items"]
    assert all(i["from_center"] != "tokyo" for i in mine_before)
    for transfer_id in (sent["id"], incoming):
        for method, url in (("GET", f"/api/v1/transfers/{transfer_id}"), ("POST", f"/api/v1/transfers/{transfer_id}/accept"),
                            ("GET", f"/api/v1/transfers/{transfer_id}/messages"),
                            ("POST", f"/api/v1/transfers/{transfer_id}/withdraw")):
            response = c.open(url, method=method)
            assert response.status_code == 404, (method, url)
            assert "甲斐田" not in response.get_data(as_text=True)
    client = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["c_staff"])
    assert client.get(f"/transfers/{incoming}").status_code == 404
    assert client.get(f"/transfers/{incoming}/letter").status_code == 404
    assert "甲斐田" not in client.get("/transfers").get_data(as_text=True)


def test_each_center_sees_only_its_own_side(app, world, api):
    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    mine, theirs = ok(a.get(f"/api/v1/transfers/{sent['id']}")), ok(b.get(f"/api/v1/transfers/{sent['id']}"))
    assert (mine["side"], theirs["side"]) == ("sending", "receiving")
    assert "person" not in mine and theirs["person"]["family_name"] == "甲斐田" and theirs["case_id"] is None
    assert {i["side"] for i in ok(a.get("/api/v1/transfers"))["items"]} == {"sending"}


# --- one transfer, one id -------------------------------------------------------------------------------

def _row_ids(owner_engine, transfer_id) -> dict:
    """The per-side rows' internal ids of a transfer: side -> [ids], oldest first."""
    with owner_engine.connect() as conn:
        rows = conn.execute(text("select side, id from transfers where group_id = :g order by created_at"),
                            {"g": transfer_id}).all()
    out: dict = {}
    for side, row_id in rows:
        out.setdefault(side, []).append(str(row_id))
    return out


def test_one_transfer_has_one_id_for_the_requesting_center_the_receiving_center_and_the_association(app, world, api):
    a, b, assoc = api("a_staff"), api("b_staff"), api("association")
    sent = ok(_request(a, _a_case(app)), 201)
    tid = sent["id"]
    listed = {who: [i for i in ok(client.get("/api/v1/transfers"))["items"] if i["id"] == tid]
              for who, client in (("a", a), ("b", b), ("association", assoc))}
    assert {who: len(items) for who, items in listed.items()} == {"a": 1, "b": 1, "association": 1}
    views = {who: ok(client.get(f"/api/v1/transfers/{tid}")) for who, client in (("a", a), ("b", b), ("association", assoc))}
    assert {v["id"] for v in views.values()} == {tid}
    assert views["b"]["side"] == "receiving" and views["b"]["from_center"] == "tokyo"
    assert "person" not in views["association"] and views["association"]["status"] == "requested"
    assert ok(b.post(f"/api/v1/transfers/{tid}/messages", json={"body": "面談の日程を相談させてください"}), 201)
    assert [m["body"] for m in ok(a.get(f"/api/v1/transfers/{tid}/messages"))["items"]] == ["面談の日程を相談させてください"]
    accepted = ok(b.post(f"/api/v1/transfers/{tid}/accept"))
    assert (accepted["id"], accepted["status"]) == (tid, "accepted") and accepted["receiving_case_id"]
    assert ok(a.get(f"/api/v1/transfers/{tid}"))["status"] == "accepted"
    meta = ok(assoc.get(f"/api/v1/transfers/{tid}"))
    assert (meta["status"], meta["receiving_case_id"]) == ("accepted", accepted["receiving_case_id"])


def test_a_sides_internal_row_id_is_not_an_id_outside(app, make_app, world, api, owner_engine):
    a, b, assoc = api("a_staff"), api("b_staff"), api("association")
    sent = ok(_request(a, _a_case(app)), 201)
    rows = _row_ids(owner_engine, sent["id"])
    assert sent["id"] not in rows["sending"] + rows["receiving"]
    for row_id in rows["sending"] + rows["receiving"]:
        for client in (a, b, assoc):
            assert client.get(f"/api/v1/transfers/{row_id}").status_code == 404
        assert b.post(f"/api/v1/transfers/{row_id}/accept").status_code == 404
    page = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["b_staff"])
    assert page.get(f"/transfers/{rows['receiving'][0]}").status_code == 404
    assert page.get(f"/transfers/{sent['id']}").status_code == 200


def test_after_a_reassignment_the_transfer_keeps_its_id_and_the_center_it_was_taken_from_sees_its_closed_side(
        app, make_app, world, api):
    a, b, c, assoc = api("a_staff"), api("b_staff"), api("c_staff"), api("association")
    tid = ok(_request(a, _a_case(app)), 201)["id"]
    ok(b.post(f"/api/v1/transfers/{tid}/decline", json={"reason": "out_of_area"}))
    meta = ok(assoc.post(f"/api/v1/transfers/{tid}/reassign", json={"to_center": "fukuoka"}))
    assert (meta["id"], meta["to_center"], meta["status"]) == (tid, "fukuoka", "requested")
    new_side = ok(c.get(f"/api/v1/transfers/{tid}"))
    assert (new_side["id"], new_side["side"], new_side["status"]) == (tid, "receiving", "requested")
    assert new_side["person"]["family_name"] == "甲斐田"
    stub = ok(b.get(f"/api/v1/transfers/{tid}"))
    assert (stub["id"], stub["status"], stub["person"], stub["to_center"]) == (tid, "reassigned", None, "osaka")
    assert b.post(f"/api/v1/transfers/{tid}/accept").status_code == 409
    assert ok(c.post(f"/api/v1/transfers/{tid}/accept"))["status"] == "accepted"
    assert ok(a.get(f"/api/v1/transfers/{tid}"))["status"] == "accepted"
    assert ok(b.get(f"/api/v1/transfers/{tid}"))["status"] == "reassigned"
    assert [i["id"] for i in ok(b.get("/api/v1/transfers"))["items"] if i["id"] == tid] == [tid]
    page = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["b_staff"]).get(f"/transfers/{tid}")
    assert page.status_code == 200 and "甲斐田" not in page.get_data(as_text=True)


def test_every_notification_carries_the_id_its_recipient_opens_the_transfer_with(app, world, api, owner_engine):
    from teichaku.crosstenant.notifications.delivery import deliver

    a, b, c, assoc = api("a_staff"), api("b_staff"), api("c_staff"), api("association")
    tid = ok(_request(a, _a_case(app)), 201)["id"]
    ok(b.post(f"/api/v1/transfers/{tid}/messages", json={"body": "確認します"}), 201)
    ok(b.post(f"/api/v1/transfers/{tid}/decline", json={"reason": "out_of_area"}))
    ok(assoc.post(f"/api/v1/transfers/{tid}/reassign", json={"to_center": "fukuoka"}))
    ok(assoc.post(f"/api/v1/transfers/{tid}/remind"))
    ok(c.post(f"/api/v1/transfers/{tid}/accept"))
    with owner_engine.connect() as conn:
        pending = conn.execute(text("select id from outbox_events where delivered_at is null order by created_at")).scalars().all()
    with app.app_context():
        for event_id in pending:
            deliver(event_id)
    seen = set()
    for client in (a, b, c):
        for n in ok(client.get("/api/v1/notifications"))["items"]:
            if n["transfer_id"] is None or n["transfer_id"] != tid:
                continue
            seen.add(n["kind"])
            assert client.get(f"/api/v1/transfers/{n['transfer_id']}").status_code == 200, n["kind"]
    assert {"transfer_requested", "transfer_message", "transfer_declined", "transfer_reassigned", "transfer_reminder",
            "transfer_accepted"} <= seen
    with owner_engine.connect() as conn:
        carried = set(conn.execute(text("select distinct transfer_id from outbox_events where transfer_id in "
                                        "(select group_id from transfers union select id from transfers)")).scalars())
    assert {str(t) for t in carried} >= {tid} and not {str(t) for t in carried} & set(sum(_row_ids(owner_engine, tid).values(), []))


def test_the_number_is_the_sending_centers_counter_per_fiscal_year_the_same_everywhere_and_on_the_letter(
        app, make_app, world, api, owner_engine):
    from teichaku.platform.i18n import fiscal_year_era_code, fiscal_year_of

    a, b, assoc = api("a_staff"), api("b_staff"), api("association")
    first = ok(_request(a, _a_case(app)), 201)
    second = ok(_request(a, _a_case(app), to="kyoto"), 201)
    era = fiscal_year_era_code(fiscal_year_of(today_jst()))
    assert re.fullmatch(rf"広域-{era}-\d{{4}}", first["number"])
    assert int(second["number"][-4:]) == int(first["number"][-4:]) + 1  # the sending center's own counter
    assert ok(b.get(f"/api/v1/transfers/{first['id']}"))["number"] == first["number"]
    assert ok(assoc.get(f"/api/v1/transfers/{first['id']}"))["number"] == first["number"]
    b_own = ok(_request(b, {"id": world.cases["b"]["id"]}, to="hyogo"), 201)  # osaka's counter is its own
    for sent, code in ((second, "tokyo"), (b_own, "osaka")):
        with owner_engine.connect() as conn:
            count = conn.execute(text("select count(*) from transfers where side = 'sending' and center_id = :c"),
                                 {"c": _center_id(app, code)}).scalar()
        assert sent["number"] == f"広域-{era}-{count:04d}"
    app_pages = make_app(WTF_CSRF_ENABLED=False)
    for user in ("a_staff", "b_staff"):
        page = _page_client(app_pages, world.users[user])
        detail = page.get(f"/transfers/{first['id']}").get_data(as_text=True)
        assert f"東京都地域生活定着支援センター {first['number']}" in detail
        assert first["number"] in page.get(f"/transfers/{first['id']}/letter").get_data(as_text=True)
        assert first["number"] in page.get("/transfers").get_data(as_text=True)
    oversight = _page_client(app_pages, world.users["association"]).get(f"/transfers/{first['id']}").get_data(as_text=True)
    assert first["number"] in oversight


@pytest.mark.skipif(BACKEND != "postgres", reason="advisory locks are PostgreSQL's")
def test_two_requests_of_one_center_at_the_same_moment_get_consecutive_numbers(app, world, api, monkeypatch):
    from teichaku.crosstenant.transfers import numbering

    staff, head = api("a_staff"), api("a_admin")
    cases = (_a_case(app), _a_case(app))
    calls = {"one": lambda: _request(staff, cases[0]), "two": lambda: _request(head, cases[1], to="kyoto")}
    results = race(monkeypatch, calls, "one", "two", module=numbering, name="lock_counter")
    numbers = sorted(ok(results[k], 201)["number"] for k in ("one", "two"))
    assert int(numbers[1][-4:]) == int(numbers[0][-4:]) + 1


def test_the_number_formats_the_fiscal_year_in_its_era():
    from teichaku.crosstenant.transfers.lifecycle import transfer_number

    assert transfer_number(2026, 12) == "広域-R8-0012"
    assert transfer_number(2019, 1) == "広域-R1-0001"  # 令和元年度
    assert transfer_number(2018, 345) == "広域-H30-0345"


def test_the_association_sees_no_personal_field_in_any_page_or_api_answer(make_app, world, api, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    a, b, assoc = api("a_staff"), api("b_staff"), api("association")
    case = _a_case(app)
    sent = ok(_request(a, case, package=[{"kind": "record", "id": case["interview_id"]}]), 201)
    second = ok(_request(a, _a_case(app), to="kyoto"), 201)
    answers = []

    def scan(response, status=200):
        assert response.status_code == status, (response.request.path, response.status_code)
        body = response.get_data(as_text=True)
        answers.append(body)
        for secret in (*SECRETS, case["case_number"], str(case["id"]), str(case["person_id"])):
            assert secret not in body, (response.request.path, secret)
        return response

    listed = scan(assoc.get("/api/v1/transfers")).get_json()["items"]
    assert {i["id"] for i in listed} >= {sent["id"], second["id"]}
    assert {"person", "message", "package", "case_id", "consent"} & set().union(*listed) == set()
    meta = scan(assoc.get(f"/api/v1/transfers/{sent['id']}")).get_json()
    assert meta["from_center"] == "tokyo" and meta["to_center"] == "osaka" and meta["status"] == "requested"
    assert {"days_waiting", "release_date", "overdue"} <= set(meta)
    scan(assoc.post(f"/api/v1/transfers/{sent['id']}/remind"))
    incoming = _incoming_id(b)
    accepted = ok(b.post(f"/api/v1/transfers/{incoming}/accept"))
    meta = scan(assoc.get(f"/api/v1/transfers/{sent['id']}")).get_json()
    assert meta["receiving_case_id"] == accepted["receiving_case_id"]
    scan(assoc.get("/api/v1/transfers?overdue=true"))
    scan(assoc.get(f"/api/v1/transfers/report?fiscal_year={today_jst().year if today_jst().month >= 4 else today_jst().year - 1}"))
    scan(assoc.post(f"/api/v1/transfers/{second['id']}/reassign", json={"to_center": "hyogo"}))
    assert assoc.get(f"/api/v1/transfers/{sent['id']}/messages").status_code == 403
    assert assoc.post(f"/api/v1/transfers/{sent['id']}/accept").status_code == 403

    page = app.test_client()
    factories.sign_in(page, world.users["association"])
    scan(page.get("/transfers/oversight"))
    scan(page.get("/transfers/oversight?overdue=1"))
    scan(page.get(f"/transfers/{sent['id']}"))
    scan(page.get(f"/transfers/{second['id']}"))
    scan(page.get("/transfers/report"))
    scan(page.get("/transfers/report.csv"))
    scan(page.post(f"/transfers/{second['id']}/remind"), 302)
    scan(page.get("/dashboard"))
    assert page.get(f"/transfers/{sent['id']}/letter").status_code == 403
    assert any("東京都地域生活定着支援センター" in body for body in answers)


# --- refusals ----------------------------------------------------------------------------------------

def test_a_second_open_request_for_the_same_case_and_center_is_409(app, world, api, owner_engine):
    a = api("a_staff")
    case = _a_case(app)
    first = ok(_request(a, case), 201)
    again = _request(a, case)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_state"
    ok(_request(a, case, to="kyoto"), 201)  # another center is another request
    ok(a.post(f"/api/v1/transfers/{first['id']}/withdraw"))
    ok(_request(a, case), 201)  # once withdrawn, the same center may be asked again
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from transfers where side = 'sending' and status = 'requested'"
                                 " and case_id = :c"), {"c": case["id"]}).scalar() == 2


def test_the_database_refuses_a_second_open_request_too(app, world, owner_engine):
    """The partial unique index holds even if the service's check is bypassed."""
    from teichaku.crosstenant.transfers.models import Transfer

    case = _a_case(app)
    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        for seq in (901, 902):
            db.session.add(Transfer(side="sending", group_id=__import__("uuid").uuid4(),
                                    counterpart_center_id=center_by_code("osaka").id, case_id=case["id"],
                                    number_fiscal_year=2026, number_seq=seq, status="requested", consent_obtained_on=date(2026, 1, 5), consent_method="written",
                                    message="x", package=[], reassign_count=0, reminder_count=0))
        with pytest.raises(Exception, match="(?i)unique"):
            db.session.flush()
        db.session.rollback()


def test_only_the_receiving_center_answers_and_only_a_requested_transfer(app, world, api):
    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    refused = a.post(f"/api/v1/transfers/{sent['id']}/accept")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    incoming = _incoming_id(b)
    assert b.post(f"/api/v1/transfers/{incoming}/withdraw").status_code == 403
    ok(b.post(f"/api/v1/transfers/{incoming}/accept"))
    for url, body in ((f"/api/v1/transfers/{incoming}/accept", None), (f"/api/v1/transfers/{incoming}/decline", {"reason": "other"})):
        response = b.post(url, json=body) if body else b.post(url)
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "invalid_state"
    assert a.post(f"/api/v1/transfers/{sent['id']}/withdraw").status_code == 409
    ok(b.post(f"/api/v1/transfers/{incoming}/complete"))
    assert ok(a.get(f"/api/v1/transfers/{sent['id']}"))["status"] == "completed"


@pytest.mark.parametrize("body,field", [
    ({"to_center": "nowhere"}, "to_center"),
    ({"to_center": "tokyo"}, "to_center"),
    ({"consent": {"obtained_on": "2026-01-05", "method": "oral_with_witness"}}, "consent.witness"),
    ({"consent": {"obtained_on": "2999-01-05", "method": "written"}}, "consent.obtained_on"),
    ({"consent": {"obtained_on": "2026-01-05", "method": "email"}}, "consent.method"),
    ({"package": [{"kind": "secret", "id": "6f1b1c55-9f4a-4ac4-9a55-1d0b3c2a0f00"}]}, "package.0.kind"),
    ({"message": ""}, "message"),
    ({"status": "accepted"}, "status"),
])
def test_bad_request_bodies_are_422_and_send_nothing(app, world, api, owner_engine, body, field):
    response = _request(api("a_staff"), _a_case(app), **body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]["fields"]
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from transfers where center_id = :c"),
                            {"c": _center_id(app, "tokyo")}).scalar() == 0


def test_a_package_item_of_another_case_answers_404(app, world, api):
    other = _a_case(app)
    response = _request(api("a_staff"), _a_case(app), package=[{"kind": "record", "id": other["interview_id"]}])
    assert response.status_code == 404
    b_record = str(world.objects["records_b"]["interview_id"])
    assert _request(api("a_staff"), _a_case(app), package=[{"kind": "record", "id": b_record}]).status_code == 404


# --- the race ------------------------------------------------------------------------------------------

def _race(app, api, case, first, second, *, slow, monkeypatch):
    """Start ``first`` (made slow while it holds the rows' locks), then ``second`` during it."""
    from teichaku.crosstenant.transfers import workflow

    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, case), 201)
    incoming = _incoming_id(b)
    calls = {"withdraw": lambda: a.post(f"/api/v1/transfers/{sent['id']}/withdraw"),
             "accept": lambda: b.post(f"/api/v1/transfers/{incoming}/accept")}
    results = race(monkeypatch, calls, first, second, module=workflow, name=slow)
    return sent, incoming, results


def _statuses(owner_engine, group_of_sending_id):
    with owner_engine.connect() as conn:
        return conn.execute(text("select side, status from transfers where group_id = :i order by side"),
                            {"i": group_of_sending_id}).all()


@pytest.mark.skipif(BACKEND != "postgres", reason="row locks are PostgreSQL's")
def test_an_acceptance_and_a_withdrawal_arriving_together_leave_exactly_one_outcome(app, world, api, owner_engine, monkeypatch):
    # Both orders, each staged the same way every run (tests/races.py): whoever holds the locks first
    # wins, the other is refused, and both sides of the request always agree.
    # The acceptance holds the locks (slow while reading the package); the withdrawal waits and is refused.
    sent, _incoming, results = _race(app, api, _a_case(app), "accept", "withdraw", slow="read_package", monkeypatch=monkeypatch)
    assert (results["accept"].status_code, results["withdraw"].status_code) == (200, 409)
    assert [s for _side, s in _statuses(owner_engine, sent["id"])] == ["accepted", "accepted"]

    # The withdrawal holds the locks (slow while notifying); the acceptance waits, is refused, makes no case.
    with owner_engine.connect() as conn:
        before = conn.execute(text("select count(*) from cases where center_id = :c"), {"c": _center_id(app, "osaka")}).scalar()
    sent, _incoming, results = _race(app, api, _a_case(app), "withdraw", "accept", slow="emit", monkeypatch=monkeypatch)
    assert (results["withdraw"].status_code, results["accept"].status_code) == (200, 409)
    assert [s for _side, s in _statuses(owner_engine, sent["id"])] == ["withdrawn", "withdrawn"]
    with owner_engine.connect() as conn:
        after = conn.execute(text("select count(*) from cases where center_id = :c"), {"c": _center_id(app, "osaka")}).scalar()
    assert after == before


# --- approval, provision records ----------------------------------------------------------------------

def test_a_center_requiring_approval_sends_only_after_its_head_approves(app, world, api, owner_engine):
    _set_approval(owner_engine, "tokyo")
    try:
        a, admin, b = api("a_staff"), api("a_admin"), api("b_staff")
        sent = ok(_request(a, _a_case(app)), 201)
        assert sent["status"] == "awaiting_approval" and sent["sent_at"] is None
        assert "approve" not in sent["allowed_actions"]  # staff are not offered the head's action
        assert "approve" in ok(admin.get(f"/api/v1/transfers/{sent['id']}"))["allowed_actions"]
        assert [i for i in ok(b.get("/api/v1/transfers"))["items"] if i["from_center"] == "tokyo"] == []
        assert ok(admin.get("/api/v1/transfers/provisions"))["items"] == []
        assert [str(e["to_center_id"]) for e in _outbox(owner_engine, "transfer_approval_needed")] == [str(_center_id(app, "tokyo"))]
        assert a.post(f"/api/v1/transfers/{sent['id']}/approve").status_code == 403
        assert a.post(f"/api/v1/transfers/{sent['id']}/messages", json={"body": "まだ"}).status_code == 409
        approved = ok(admin.post(f"/api/v1/transfers/{sent['id']}/approve"))
        assert approved["status"] == "requested" and approved["approved_at"] and approved["sent_at"]
        assert _incoming_id(b)
        assert len(ok(admin.get("/api/v1/transfers/provisions"))["items"]) == 1
        assert admin.post(f"/api/v1/transfers/{sent['id']}/approve").status_code == 409
    finally:
        _set_approval(owner_engine, "tokyo", False)


def test_a_request_awaiting_approval_may_be_withdrawn_without_reaching_anyone(app, world, api, owner_engine):
    _set_approval(owner_engine, "tokyo")
    try:
        a = api("a_staff")
        sent = ok(_request(a, _a_case(app)), 201)
        assert ok(a.post(f"/api/v1/transfers/{sent['id']}/withdraw"))["status"] == "withdrawn"
        with owner_engine.connect() as conn:
            assert conn.execute(text("select count(*) from transfers where side = 'receiving' and center_id = :c"),
                                {"c": _center_id(app, "osaka")}).scalar() == 0
        assert _outbox(owner_engine, "transfer_withdrawn") == []
    finally:
        _set_approval(owner_engine, "tokyo", False)


def test_the_provision_record_is_written_when_sent_and_exportable(app, make_app, world, api, owner_engine):
    a, admin = api("a_staff"), api("a_admin")
    case = _a_case(app)
    ok(_request(a, case, package=[{"kind": "plan", "id": case["plan_id"]}]), 201)
    items = ok(admin.get("/api/v1/transfers/provisions"))["items"]
    assert len(items) == 1
    record = items[0]
    assert (record["recipient_center"], record["person_id"], record["consent_method"], record["basis"]) == (
        "osaka", str(case["person_id"]), "oral_with_witness", "consent")
    assert [i["kind"] for i in record["items"]] == ["identity", "plan"]
    assert record["retain_until"] >= (today_jst() + timedelta(days=3 * 365 - 1)).isoformat()
    csv = admin.get("/api/v1/transfers/provisions?format=csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert csv.data.startswith("\ufeff".encode()) and b"\r\n" in csv.data
    text_ = csv.data.decode("utf-8-sig")
    assert text_.splitlines()[0].startswith("provided_on,recipient_center") and "甲斐田" in text_ and "立会秘人" in text_
    assert a.get("/api/v1/transfers/provisions").status_code == 403
    page = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["a_admin"])
    assert "第三者提供記録" in page.get("/transfers/provisions").get_data(as_text=True)
    assert page.get("/transfers/provisions.csv").data.startswith("\ufeff".encode())
    with owner_engine.connect() as conn:
        actions = set(conn.execute(text("select action from audit_entries where action like 'transfer.%'")).scalars())
    assert {"transfer.request", "transfer.provide", "transfer.provision_records_export"} <= actions


@pytest.mark.skipif(BACKEND != "postgres", reason="grants and row-level security are PostgreSQL's")
def test_provision_records_cannot_be_changed_or_deleted_and_each_center_sees_only_its_rows(app, world, api, database, owner_engine):
    ok(_request(api("a_staff"), _a_case(app)), 201)
    engine = create_engine(database["owner_url"].replace("teichaku_owner@", f"{APP_ROLE}@"))
    try:
        tokyo, osaka = _center_id(app, "tokyo"), _center_id(app, "osaka")
        with engine.connect() as conn:
            for statement in ("update provision_records set basis = 'consent'", "delete from provision_records",
                              "delete from transfers", "update transfer_messages set body = 'x'"):
                trans = conn.begin()
                with pytest.raises(Exception, match="permission denied"):
                    conn.execute(text(statement))
                trans.rollback()
            with conn.begin():
                rls_scope(conn, tenant=tokyo)
                assert set(conn.execute(text("select side from transfers")).scalars()) == {"sending"}
                assert conn.execute(text("select count(*) from provision_records")).scalar() == 1
            with conn.begin():
                rls_scope(conn, tenant=osaka)
                rows = conn.execute(text("select center_id, side from transfers")).all()
                assert rows and all(c == osaka for c, _side in rows)
                assert conn.execute(text("select count(*) from provision_records where center_id <> :c"),
                                    {"c": str(osaka)}).scalar() == 0
    finally:
        engine.dispose()


# --- reminders, oversight, reassignment ------------------------------------------------------------------

def _age(owner_engine, sending_id, days):
    with owner_engine.begin() as conn:
        conn.execute(text("update transfers set sent_at = sent_at - make_interval(days => :d),"
                          " requested_at = requested_at - make_interval(days => :d), created_at = created_at - make_interval(days => :d)"
                          " where group_id = :i"), {"d": days, "i": sending_id})


@pytest.mark.skipif(BACKEND != "postgres", reason="the ageing helper speaks PostgreSQL")
def test_the_reminders_job_reminds_unanswered_requests_once_a_day_and_flags_them(app, world, api, owner_engine):
    from teichaku.crosstenant.transfers.deadlines import send_reminders

    a, assoc = api("a_staff"), api("association")
    old = ok(_request(a, _a_case(app)), 201)
    fresh = ok(_request(a, _a_case(app), to="kyoto"), 201)
    soon = ok(_request(a, _a_case(app, release_date=today_jst() + timedelta(days=10)), to="hyogo"), 201)
    _age(owner_engine, old["id"], 4)
    world_b = str(world.objects["transfers_b"]["receiving_id"])  # B -> C in the world: release in 3 days
    with app.app_context():
        assert send_reminders() == 3  # old (4 days), soon (release in 10 days), the world's (release in 3 days)
        db.session.commit()
    with app.app_context():
        assert send_reminders() == 0  # once a day
        db.session.commit()
    reminded = {str(e["to_center_id"]) for e in _outbox(owner_engine, "transfer_reminder")}
    assert reminded == {str(_center_id(app, c)) for c in ("osaka", "hyogo", "fukuoka")}
    flagged = _outbox(owner_engine, "transfer_overdue")
    assert len(flagged) == 3 and all(e["to_association"] for e in flagged)
    overdue = {i["id"] for i in ok(assoc.get("/api/v1/transfers?overdue=true"))["items"]}
    assert {old["id"], soon["id"]} <= overdue and fresh["id"] not in overdue
    meta = ok(assoc.get(f"/api/v1/transfers/{old['id']}"))
    assert meta["overdue"] and meta["flagged_at"] and meta["reminder_count"] == 1 and meta["days_waiting"] == 4
    assert world_b


def test_the_reminders_job_runs_as_a_job(app, world):
    from teichaku.workers.jobs import send_transfer_reminders

    with app.app_context():
        assert send_transfer_reminders() == 1  # the world's B -> C request: release within 14 days


def test_the_association_reassigns_a_declined_request_to_another_center(app, world, api, owner_engine):
    a, b, c, assoc, admin = api("a_staff"), api("b_staff"), api("c_staff"), api("association"), api("a_admin")
    sent = ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    ok(b.post(f"/api/v1/transfers/{incoming}/decline", json={"reason": "out_of_area"}))
    assert assoc.post(f"/api/v1/transfers/{sent['id']}/reassign", json={"to_center": "tokyo"}).status_code == 422
    assert assoc.post(f"/api/v1/transfers/{sent['id']}/reassign", json={"to_center": "osaka"}).status_code == 422
    meta = ok(assoc.post(f"/api/v1/transfers/{sent['id']}/reassign", json={"to_center": "fukuoka"}))
    assert (meta["status"], meta["to_center"], meta["reassign_count"]) == ("requested", "fukuoka", 1)
    assert [h["to_center"] for h in meta["history"]] == ["osaka", "fukuoka"]
    assert ok(b.get(f"/api/v1/transfers/{incoming}"))["status"] == "reassigned"
    assert b.post(f"/api/v1/transfers/{incoming}/accept").status_code == 409
    mine = ok(a.get(f"/api/v1/transfers/{sent['id']}"))
    assert (mine["status"], mine["to_center"], mine["decline_reason"]) == ("requested", "fukuoka", None)
    c_row = [i for i in ok(c.get("/api/v1/transfers?side=receiving"))["items"] if i["from_center"] == "tokyo"][0]
    assert c_row["person"]["family_name"] == "甲斐田"
    provisions = ok(admin.get("/api/v1/transfers/provisions"))["items"]
    assert sorted((p["recipient_center"], p["basis"]) for p in provisions) == [("fukuoka", "consent_reassigned"), ("osaka", "consent")]
    reassigned = _outbox(owner_engine, "transfer_reassigned")
    assert {str(e["to_center_id"]) for e in reassigned} == {str(_center_id(app, "tokyo")), str(_center_id(app, "osaka"))}
    assert ok(c.post(f"/api/v1/transfers/{c_row['id']}/accept"))["status"] == "accepted"
    assert ok(a.get(f"/api/v1/transfers/{sent['id']}"))["status"] == "accepted"
    assert assoc.post(f"/api/v1/transfers/{sent['id']}/reassign", json={"to_center": "kyoto"}).status_code == 409


def test_the_association_reminds_an_unanswered_request_and_not_an_answered_one(app, world, api, owner_engine):
    a, b, assoc = api("a_staff"), api("b_staff"), api("association")
    sent = ok(_request(a, _a_case(app)), 201)
    assert ok(assoc.post(f"/api/v1/transfers/{sent['id']}/remind"))["reminder_count"] == 1
    assert [str(e["to_center_id"]) for e in _outbox(owner_engine, "transfer_reminder")] == [str(_center_id(app, "osaka"))]
    ok(b.post(f"/api/v1/transfers/{_incoming_id(b)}/accept"))
    assert assoc.post(f"/api/v1/transfers/{sent['id']}/remind").status_code == 409
    assert api("a_admin").post(f"/api/v1/transfers/{sent['id']}/remind").status_code == 403


@pytest.mark.skipif(BACKEND != "postgres", reason="the ageing helper speaks PostgreSQL")
def test_the_compliance_report_counts_answers_within_the_deadline_per_center(app, world, api, owner_engine):
    a, b, c, assoc = api("a_staff"), api("b_staff"), api("c_staff"), api("association")
    quick = ok(_request(a, _a_case(app)), 201)
    slow = ok(_request(a, _a_case(app), to="fukuoka"), 201)
    _age(owner_engine, slow["id"], 5)
    ok(b.post(f"/api/v1/transfers/{_incoming_id(b)}/accept"))
    c_row = [i for i in ok(c.get("/api/v1/transfers?side=receiving"))["items"] if i["from_center"] == "tokyo"][0]
    ok(c.post(f"/api/v1/transfers/{c_row['id']}/decline", json={"reason": "no_resources"}))
    today = today_jst()
    year = today.year if today.month >= 4 else today.year - 1
    report = ok(assoc.get(f"/api/v1/transfers/report?fiscal_year={year}"))
    rows = {r["center"]: r for r in report["rows"]}
    assert (rows["osaka"]["received"], rows["osaka"]["answered_within_deadline"], rows["osaka"]["median_days_to_answer"]) == (1, 1, 0)
    if (today - timedelta(days=5)) >= date(year, 4, 1):
        # fukuoka: the world's request (unanswered) and the slow one, answered after 5 days
        assert (rows["fukuoka"]["received"], rows["fukuoka"]["answered"], rows["fukuoka"]["answered_within_deadline"],
                rows["fukuoka"]["median_days_to_answer"], rows["fukuoka"]["unanswered"]) == (2, 1, 0, 5, 1)
    assert rows["tokyo"]["sent"] >= 1 and report["total"]["received"] >= 2
    csv = assoc.get(f"/api/v1/transfers/report?fiscal_year={year}&format=csv")
    assert csv.data.decode("utf-8-sig").splitlines()[0].startswith("center,center_name,received")
    assert quick["id"]


# --- the thread -----------------------------------------------------------------------------------------

def test_each_center_keeps_its_own_copy_of_the_thread_and_the_other_is_notified(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    ok(a.post(f"/api/v1/transfers/{sent['id']}/messages", json={"body": "資料を追って送ります"}), 201)
    ok(b.post(f"/api/v1/transfers/{incoming}/messages", json={"body": "確認しました"}), 201)
    mine = ok(a.get(f"/api/v1/transfers/{sent['id']}/messages"))["items"]
    theirs = ok(b.get(f"/api/v1/transfers/{incoming}/messages"))["items"]
    assert [m["body"] for m in mine] == [m["body"] for m in theirs] == ["確認しました", "資料を追って送ります"]
    assert [m["mine"] for m in mine] == [False, True] and [m["mine"] for m in theirs] == [True, False]
    assert [m["author_center"] for m in mine] == ["osaka", "tokyo"]
    events = [e for e in _outbox(owner_engine, "transfer_message") if str(e["transfer_id"]) in (incoming, sent["id"])]
    assert [(str(e["to_center_id"]), str(e["transfer_id"])) for e in events] == [
        (str(_center_id(app, "osaka")), incoming), (str(_center_id(app, "tokyo")), sent["id"])]
    assert a.post(f"/api/v1/transfers/{sent['id']}/messages", json={"body": ""}).status_code == 422


# --- the lifecycle is one table ---------------------------------------------------------------------------

def test_statuses_and_transitions_live_in_one_table():
    from teichaku.crosstenant.transfers import lifecycle

    assert lifecycle.TRANSITIONS["sending"]["requested"] == ("withdrawn", "accepted", "declined")
    assert lifecycle.TRANSITIONS["receiving"]["declined"] == ("reassigned",)
    assert lifecycle.TRANSITIONS["sending"]["declined"] == ("requested",)  # the association's reassignment
    assert all(lifecycle.TRANSITIONS[side][s] == () for side in lifecycle.SIDES for s in lifecycle.FINAL_STATUSES)
    # That the database's CHECKs allow exactly these statuses: test_migrations.py compares every
    # migrated CHECK with the models' (a status added here without a migration fails there).


# --- pages ----------------------------------------------------------------------------------------------

def _page_client(app, user):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302
    return client


def test_the_pages_take_a_request_from_the_case_page_to_acceptance(make_app, world, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    case = _a_case(app)
    a, b = _page_client(app, world.users["a_staff"]), _page_client(app, world.users["b_staff"])
    case_page = a.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert f"/transfers/new/{case['id']}" in case_page
    form = a.get(f"/transfers/new/{case['id']}").get_data(as_text=True)
    assert re.search(r'<option selected value="osaka">|<option value="osaka" selected', form)  # from the destination prefecture
    assert 'type="checkbox"' in form and "checked" not in form.split('class="package"')[1].split("</fieldset>")[0]
    refused = a.post(f"/transfers/new/{case['id']}", data={"to_center": "osaka", "consent_obtained_on": "2026-01-05",
                                                          "consent_method": "oral_with_witness", "message": "依頼秘文"})
    assert refused.status_code == 422 and "立会人" in refused.get_data(as_text=True)
    sent = a.post(f"/transfers/new/{case['id']}", data={
        "to_center": "osaka", "consent_obtained_on": "2026-01-05", "consent_method": "written", "message": "依頼秘文",
        "package": [f"record:{case['interview_id']}"]})
    assert sent.status_code == 302
    detail = a.get(sent.headers["Location"]).get_data(as_text=True)
    assert "依頼中（回答待ち）" in detail and "面談記録（2026-01-07）" in detail
    again = a.post(f"/transfers/new/{case['id']}", data={"to_center": "osaka", "consent_obtained_on": "2026-01-05",
                                                        "consent_method": "written", "message": "二度目"})
    assert again.status_code == 409

    incoming_list = b.get("/transfers").get_data(as_text=True)
    assert "甲斐田" in incoming_list and "受け取った依頼" in incoming_list
    with owner_engine.connect() as conn:
        incoming = conn.execute(text("select group_id from transfers where side = 'receiving' and center_id = :c and status = 'requested'"
                                     " and person_snapshot is not null order by created_at desc limit 1"),
                                {"c": _center_id(app, "osaka")}).scalar()
    page = b.get(f"/transfers/{incoming}").get_data(as_text=True)
    assert "受け入れる" in page and "お断りする" in page and "甲斐田" in page
    letter = b.get(f"/transfers/{incoming}/letter").get_data(as_text=True)
    assert "支援業務協力依頼書" in letter and "甲斐田" in letter and "東京都地域生活定着支援センター" in letter
    assert b.post(f"/transfers/{incoming}/messages", data={"body": "面談の日程を相談させてください"}).status_code == 302
    assert "面談の日程を相談させてください" in a.get(sent.headers["Location"]).get_data(as_text=True)
    accepted = b.post(f"/transfers/{incoming}/accept")
    assert accepted.status_code == 302
    page = b.get(f"/transfers/{incoming}").get_data(as_text=True)
    assert "受入決定" in page and "このセンターのケース" in page
    assert b.post(f"/transfers/{incoming}/decline", data={"reason": "other"}).status_code == 409


def test_the_print_view_is_an_a4_request_letter(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    case = _a_case(app)
    a = _page_client(app, world.users["a_staff"])
    sent = a.post(f"/transfers/new/{case['id']}", data={"to_center": "osaka", "consent_obtained_on": "2026-01-05",
                                                       "consent_method": "written", "message": "依頼秘文"})
    letter = a.get(sent.headers["Location"] + "/letter")
    body = letter.get_data(as_text=True)
    assert letter.status_code == 200 and "支援業務協力依頼書" in body and "大阪府地域生活定着支援センター" in body
    assert "甲斐田" in body and "transfers.css" in body and "<script" not in body and "style=" not in body


def test_the_navigation_leads_each_role_to_its_transfer_pages(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    staff = _page_client(app, world.users["a_staff"]).get("/dashboard").get_data(as_text=True)
    assert 'href="/transfers"' in staff
    association = _page_client(app, world.users["association"]).get("/dashboard").get_data(as_text=True)
    assert 'href="/transfers/oversight"' in association and 'href="/transfers"' not in association
    ministry = _page_client(app, world.users["ministry"]).get("/dashboard").get_data(as_text=True)
    assert "/transfers" not in ministry


def test_the_association_pages_remind_and_reassign_and_refuse_a_bad_choice(make_app, world, api):
    app = make_app(WTF_CSRF_ENABLED=False)
    sent = ok(_request(api("a_staff"), _a_case(app)), 201)
    page = _page_client(app, world.users["association"])
    refused = page.post(f"/transfers/{sent['id']}/reassign", data={"to_center": "osaka"})
    assert refused.status_code == 422 and "現在の依頼先と同じセンターです。" in refused.get_data(as_text=True)
    assert page.post(f"/transfers/{sent['id']}/remind").status_code == 302
    moved = page.post(f"/transfers/{sent['id']}/reassign", data={"to_center": "hyogo"})
    assert moved.status_code == 302
    detail = page.get(moved.headers["Location"]).get_data(as_text=True)
    assert "兵庫県地域生活定着支援センター" in detail and "依頼先の履歴" in detail and "甲斐田" not in detail
    assert page.post(f"/transfers/{__import__('uuid').uuid4()}/remind").status_code == 404


# --- updates shared after acceptance ----------------------------------------------------------------------

def test_a_shared_update_after_acceptance_reaches_the_receiving_case_and_notifies_b(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    accepted = ok(b.post(f"/api/v1/transfers/{incoming}/accept"))

    shared = ok(a.post(f"/api/v1/transfers/{sent['id']}/updates", json={"body": "服薬の変更: 朝のみに"}), 201)
    assert shared["kind"] == "shared_update" and shared["mine"] is True

    # Both sides keep their own copy of it in the thread, marked as a shared update.
    mine = ok(a.get(f"/api/v1/transfers/{sent['id']}/messages"))["items"]
    theirs = ok(b.get(f"/api/v1/transfers/{incoming}/messages"))["items"]
    assert [(m["body"], m["kind"]) for m in mine] == [(m["body"], m["kind"]) for m in theirs] == [
        ("服薬の変更: 朝のみに", "shared_update")]
    assert [m["author_center"] for m in theirs] == ["tokyo"] and theirs[0]["mine"] is False

    # It is a progress note in B's receiving case, noted with where it came from.
    records = ok(b.get(f"/api/v1/cases/{accepted['receiving_case_id']}/records"))["items"]
    notes = [r["content"] for r in records if r["kind"] == "progress" and "服薬の変更: 朝のみに" in (r.get("content") or "")]
    assert len(notes) == 1 and "東京都地域生活定着支援センターから共有された更新" in notes[0]
    # A's own case is unchanged by it.
    assert len(ok(a.get(f"/api/v1/transfers/{sent['id']}"))) and not any(
        "服薬の変更" in (r.get("content") or "") for r in ok(a.get(f"/api/v1/cases/{sent['case_id']}/records"))["items"])

    events = _outbox(owner_engine, "transfer_update_shared")
    assert [(str(e["to_center_id"]), str(e["transfer_id"])) for e in events] == [(str(_center_id(app, "osaka")), incoming)]
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from audit_entries where action = 'transfer.share_update'")).scalar() == 1

    # Only the sending side shares updates; an empty body is 422.
    assert b.post(f"/api/v1/transfers/{incoming}/updates", json={"body": "逆向き"}).status_code == 409
    assert a.post(f"/api/v1/transfers/{sent['id']}/updates", json={"body": ""}).status_code == 422


def test_a_shared_update_before_acceptance_is_409_and_changes_nothing(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    response = a.post(f"/api/v1/transfers/{sent['id']}/updates", json={"body": "まだ早い更新"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "invalid_state"
    assert ok(a.get(f"/api/v1/transfers/{sent['id']}/messages"))["items"] == []
    assert ok(b.get(f"/api/v1/transfers/{_incoming_id(b)}/messages"))["items"] == []
    assert _outbox(owner_engine, "transfer_update_shared") == []


def test_the_transfer_page_offers_the_sending_side_a_shared_update_form_once_accepted(app, make_app, world, api):
    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    page = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["a_staff"])
    assert "更新を共有する" not in page.get(f"/transfers/{sent['id']}").get_data(as_text=True)
    assert page.post(f"/transfers/{sent['id']}/updates", data={"body": "早すぎる更新"}).status_code == 409
    incoming = _incoming_id(b)
    ok(b.post(f"/api/v1/transfers/{incoming}/accept"))
    assert "更新を共有する" in page.get(f"/transfers/{sent['id']}").get_data(as_text=True)
    assert page.post(f"/transfers/{sent['id']}/updates", data={"body": ""}).status_code == 422
    assert page.post(f"/transfers/{sent['id']}/updates", data={"body": "ページからの更新"}).status_code == 302
    assert "ページからの更新" in page.get(f"/transfers/{sent['id']}").get_data(as_text=True)
    theirs = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["b_staff"])
    html = theirs.get(f"/transfers/{incoming}").get_data(as_text=True)
    assert "ページからの更新" in html and "更新を共有する" not in html


# --- linking the acceptance to a person the receiving center already knows ---------------------------------

def _b_person(app, **identity) -> dict:
    """A person of center B (osaka), with a case of B's own."""
    return factories.make_case(app, "osaka", person=factories.person_payload(**identity))


def _persons(owner_engine, code) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text("select count(*) from persons where center_id = (select id from centers where code = :c)"),
                            {"c": code}).scalar()


def _chain(owner_engine, code, action=None) -> list:
    """A center's audit chain (or one action of it), oldest first."""
    sql = ("select action, object_id, person_id, actor_id, details from audit_entries"
           " where center_id = (select id from centers where code = :c)" + (" and action = :a" if action else "")
           + " order by seq")
    with owner_engine.connect() as conn:
        return conn.execute(text(sql), {"c": code, "a": action}).all()


KAIDA = {"family_name": "甲斐田", "given_name": "秘三郎", "birth_date": date(1951, 7, 19)}


def test_the_receiving_center_may_link_the_acceptance_to_its_existing_person(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    known = _b_person(app, **KAIDA, family_name_kana="カイダ", given_name_kana="ヒサブロウ")
    ok(_request(a, _a_case(app)), 201)
    before = _persons(owner_engine, "osaka")
    accepted = ok(b.post(f"/api/v1/transfers/{_incoming_id(b)}/accept", json={"person_id": str(known["person_id"])}))
    assert accepted["status"] == "accepted"
    b_case = ok(b.get(f"/api/v1/cases/{accepted['receiving_case_id']}"))
    assert b_case["person"]["id"] == str(known["person_id"]) and b_case["id"] != str(known["id"])
    assert _persons(owner_engine, "osaka") == before  # nobody registered twice
    (entry,) = _chain(owner_engine, "osaka", "transfer.accept")
    assert entry.details["existing_person"] is True and str(entry.person_id) == str(known["person_id"])


def test_without_a_choice_the_acceptance_registers_a_new_person_even_when_one_matches(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    known = _b_person(app, **KAIDA, family_name_kana="かいだ", given_name_kana="ひさぶろう")
    ok(_request(a, _a_case(app)), 201)
    before = _persons(owner_engine, "osaka")
    accepted = ok(b.post(f"/api/v1/transfers/{_incoming_id(b)}/accept"))
    assert ok(b.get(f"/api/v1/cases/{accepted['receiving_case_id']}"))["person"]["id"] != str(known["person_id"])
    assert _persons(owner_engine, "osaka") == before + 1


def test_candidates_share_the_birth_date_and_the_name_or_kana_and_come_from_the_receiving_center_only(app, world, api, owner_engine):
    from teichaku.crosstenant.transfers import groups, workflow

    by_kana = _b_person(app, family_name="海田", given_name="久三郎", family_name_kana="ｶｲﾀﾞ", given_name_kana="ﾋｻﾌﾞﾛｳ",
                        birth_date=date(1951, 7, 19))                       # other kanji, the same kana (half-width)
    by_name = _b_person(app, **KAIDA, family_name_kana="かいた", given_name_kana="ひさお")  # the same name, other kana
    _b_person(app, **{**KAIDA, "birth_date": date(1951, 7, 20)}, family_name_kana="かいだ", given_name_kana="ひさぶろう")
    _b_person(app, family_name="乙野", given_name="一郎", family_name_kana="おつの", given_name_kana="いちろう",
              birth_date=date(1951, 7, 19))                                 # the same birth date only
    factories.make_case(app, "fukuoka", person=factories.person_payload(**KAIDA, family_name_kana="かいだ",
                                                                        given_name_kana="ひさぶろう"))  # another center's
    ok(_request(api("a_staff"), _a_case(app)), 201)                        # A's own person matches too: not B's
    incoming = _incoming_id(api("b_staff"))
    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        found = workflow.person_candidates(groups.get_transfer_or_404(incoming))
        db.session.commit()
    assert {p.id for p in found} == {by_kana["person_id"], by_name["person_id"]}
    (read,) = _chain(owner_engine, "osaka", "transfer.person_candidates")
    assert set(read.details["person_ids"]) == {str(by_kana["person_id"]), str(by_name["person_id"])}


def test_linking_to_a_person_whose_identity_differs_is_422_and_changes_nothing(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    stranger = _b_person(app, **{**KAIDA, "birth_date": date(1960, 1, 1)}, family_name_kana="かいだ", given_name_kana="ひさぶろう")
    ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    before = (_persons(owner_engine, "osaka"), len(_chain(owner_engine, "osaka", "case.create")))
    refused = b.post(f"/api/v1/transfers/{incoming}/accept", json={"person_id": str(stranger["person_id"])})
    assert refused.status_code == 422 and list(refused.get_json()["error"]["details"]["fields"]) == ["person_id"]
    assert ok(b.get(f"/api/v1/transfers/{incoming}"))["status"] == "requested"
    assert (_persons(owner_engine, "osaka"), len(_chain(owner_engine, "osaka", "case.create"))) == before


def test_linking_to_another_centers_person_answers_404_like_a_missing_one(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    case = _a_case(app)
    ok(_request(a, case), 201)
    incoming = _incoming_id(b)
    c_person = factories.make_case(app, "fukuoka", person=factories.person_payload(**KAIDA))["person_id"]
    missing = b.post(f"/api/v1/transfers/{incoming}/accept", json={"person_id": str(__import__("uuid").uuid4())})
    assert missing.status_code == 404
    for person_id in (case["person_id"], c_person):
        answer = b.post(f"/api/v1/transfers/{incoming}/accept", json={"person_id": str(person_id)})
        assert answer.status_code == 404 and answer.get_json() == missing.get_json()
    assert b.post(f"/api/v1/transfers/{incoming}/accept", json={"person_id": "nobody"}).status_code == 422
    assert ok(b.get(f"/api/v1/transfers/{incoming}"))["status"] == "requested"


def test_the_accept_form_offers_the_matching_people_and_links_the_chosen_one(make_app, world, api, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    known = _b_person(app, **KAIDA, family_name_kana="かいだ", given_name_kana="ひさぶろう")
    ok(_request(api("a_staff"), _a_case(app)), 201)
    incoming = _incoming_id(api("b_staff"))
    page = _page_client(app, world.users["b_staff"])
    html = page.get(f"/transfers/{incoming}").get_data(as_text=True)
    assert re.search(r'<input type="radio" name="person_id" value="" checked>', html)
    assert f'value="{known["person_id"]}"' in html and "新しい対象者として登録する" in html
    assert page.post(f"/transfers/{incoming}/accept", data={"person_id": str(known["person_id"])}).status_code == 302
    with owner_engine.connect() as conn:
        linked = conn.execute(text("select c.person_id from transfers t join cases c on c.center_id = t.center_id"
                                   " and c.id = t.case_id where t.group_id = :t and t.side = 'receiving'"), {"t": incoming}).scalar()
    assert str(linked) == str(known["person_id"])
    assert "新しい対象者として登録する" not in page.get(f"/transfers/{incoming}").get_data(as_text=True)


# --- data minimisation: a center that will not take the person on loses their identity -------------------

def _stored_snapshot(owner_engine, transfer_id):
    with owner_engine.connect() as conn:
        return conn.execute(text("select person_snapshot is null as erased, snapshot_erased_at, release_date"
                                 " from transfers where group_id = :i and side = 'receiving'"), {"i": transfer_id}).one()


def test_declining_erases_the_receiving_centers_copy_of_the_identity(make_app, world, api, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    a, b, assoc = api("a_staff"), api("b_staff"), api("association")
    sent = ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    ok(b.post(f"/api/v1/transfers/{incoming}/decline", json={"reason": "no_capacity"}))
    view = ok(b.get(f"/api/v1/transfers/{incoming}"))
    assert view["person"] is None and view["snapshot_erased_at"] and view["release_date"] == sent["release_date"]
    assert view["decline_reason"] == "no_capacity"
    stored = _stored_snapshot(owner_engine, incoming)
    assert stored.erased and stored.snapshot_erased_at is not None and stored.release_date is not None  # SQL NULL
    (erased,) = _chain(owner_engine, "osaka", "transfer.snapshot_erase")
    assert erased.object_id == _row_ids(owner_engine, incoming)["receiving"][0] and erased.details["reason"] == "declined"
    assert str(erased.actor_id) == str(world.users["b_staff"]["id"])
    assert ok(a.get(f"/api/v1/transfers/{sent['id']}"))["status"] == "declined"  # A's own side is A's

    page = _page_client(app, world.users["b_staff"])
    for url in (f"/transfers/{incoming}", "/transfers", f"/transfers/{incoming}/letter"):
        html = page.get(url).get_data(as_text=True)
        assert "甲斐田" not in html and "消去" in html, url
    # The association's view and the yearly report still count the request.
    assert ok(assoc.get(f"/api/v1/transfers/{sent['id']}"))["status"] == "declined"
    today = today_jst()
    year = today.year if today.month >= 4 else today.year - 1
    rows = {r["center"]: r for r in ok(assoc.get(f"/api/v1/transfers/report?fiscal_year={year}"))["rows"]}
    assert (rows["osaka"]["received"], rows["osaka"]["answered"]) == (1, 1)


def test_withdrawing_erases_the_receiving_copy_audited_in_the_receiving_centers_chain(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    ok(a.post(f"/api/v1/transfers/{sent['id']}/withdraw"))
    view = ok(b.get(f"/api/v1/transfers/{incoming}"))
    assert (view["status"], view["person"]) == ("withdrawn", None) and view["snapshot_erased_at"]
    assert _stored_snapshot(owner_engine, incoming).erased
    osaka = [e for e in _chain(owner_engine, "osaka") if e.action in ("cross_tenant.act_as", "transfer.snapshot_erase")]
    assert [(e.action, e.object_id) for e in osaka] == [("cross_tenant.act_as", "transfers.withdraw"),
                                                        ("transfer.snapshot_erase", _row_ids(owner_engine, incoming)["receiving"][0])]
    assert osaka[1].details["reason"] == "withdrawn" and str(osaka[1].actor_id) == str(world.users["a_staff"]["id"])
    assert osaka[0].details["acting_center_id"] == str(_center_id(app, "tokyo"))
    assert _chain(owner_engine, "tokyo", "transfer.snapshot_erase") == []


def test_withdrawing_before_approval_writes_nothing_in_the_receiving_centers_chain(app, world, api, owner_engine):
    _set_approval(owner_engine, "tokyo")
    try:
        a = api("a_staff")
        sent = ok(_request(a, _a_case(app)), 201)
        ok(a.post(f"/api/v1/transfers/{sent['id']}/withdraw"))
        assert _chain(owner_engine, "osaka", "cross_tenant.act_as") == []
    finally:
        _set_approval(owner_engine, "tokyo", False)


def test_reassigning_erases_the_old_receiving_copy_and_the_new_center_gets_the_identity(app, world, api, owner_engine):
    a, b, c, assoc = api("a_staff"), api("b_staff"), api("c_staff"), api("association")
    sent = ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    ok(assoc.post(f"/api/v1/transfers/{sent['id']}/reassign", json={"to_center": "fukuoka"}))
    old = ok(b.get(f"/api/v1/transfers/{incoming}"))
    assert (old["status"], old["person"]) == ("reassigned", None) and old["snapshot_erased_at"]
    (erased,) = _chain(owner_engine, "osaka", "transfer.snapshot_erase")
    assert erased.details["reason"] == "reassigned" and str(erased.actor_id) == str(world.users["association"]["id"])
    c_row = [i for i in ok(c.get("/api/v1/transfers?side=receiving"))["items"] if i["from_center"] == "tokyo"][0]
    assert c_row["person"]["family_name"] == "甲斐田" and c_row["snapshot_erased_at"] is None

    # A center that declined has already lost the identity: moving the request on erases nothing twice.
    ok(c.post(f"/api/v1/transfers/{c_row['id']}/decline", json={"reason": "out_of_area"}))
    ok(assoc.post(f"/api/v1/transfers/{sent['id']}/reassign", json={"to_center": "hyogo"}))
    assert [e.details["reason"] for e in _chain(owner_engine, "fukuoka", "transfer.snapshot_erase")] == ["declined"]
    assert ok(b.get(f"/api/v1/transfers/{incoming}"))["snapshot_erased_at"] == old["snapshot_erased_at"]


def test_an_accepted_request_keeps_the_identity_received(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    ok(b.post(f"/api/v1/transfers/{incoming}/accept"))
    view = ok(b.get(f"/api/v1/transfers/{incoming}"))
    assert view["person"]["family_name"] == "甲斐田" and view["snapshot_erased_at"] is None
    assert _chain(owner_engine, "osaka", "transfer.snapshot_erase") == []


# --- shared updates follow the receiving center's own rules ----------------------------------------------

def _audit_verify(*args):
    import os
    import subprocess

    from tests.crossprocess import REPO_ROOT, VENV_BIN

    return subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "audit", "verify", *args], cwd=REPO_ROOT,
                          env=os.environ.copy(), capture_output=True, text=True, timeout=120)


def test_a_shared_update_is_a_record_create_in_the_receiving_centers_chain_and_both_chains_verify(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    sent = ok(_request(a, _a_case(app)), 201)
    incoming = _incoming_id(b)
    accepted = ok(b.post(f"/api/v1/transfers/{incoming}/accept"))
    b_case = ok(b.get(f"/api/v1/cases/{accepted['receiving_case_id']}"))
    ok(a.post(f"/api/v1/transfers/{sent['id']}/updates", json={"body": "通院先が変わりました"}), 201)

    notes = [r for r in ok(b.get(f"/api/v1/cases/{b_case['id']}/records?kind=progress"))["items"]
             if "通院先が変わりました" in (r.get("content") or "")]
    assert len(notes) == 1
    created = [e for e in _chain(owner_engine, "osaka", "record.create") if e.object_id == notes[0]["id"]]
    assert len(created) == 1
    assert str(created[0].person_id) == b_case["person"]["id"]
    assert str(created[0].actor_id) == str(world.users["a_staff"]["id"])
    assert created[0].details["case_id"] == b_case["id"]
    acting = _chain(owner_engine, "osaka", "cross_tenant.act_as")
    assert [e.object_id for e in acting] == ["transfers.share_update"]
    assert [e.object_id for e in _chain(owner_engine, "tokyo", "record.create")].count(notes[0]["id"]) == 0
    assert len(_chain(owner_engine, "tokyo", "transfer.share_update")) == 1
    for code in ("tokyo", "osaka"):
        result = _audit_verify("--center", code)
        assert result.returncode == 0 and "OK" in result.stdout, (code, result.stdout, result.stderr)


# --- the migration of existing transfers and notifications ----------------------------------------------

def _old_transfer(conn, centers, *, sender, receiver, created, group):
    """A transfer as revision l4yers0001 stored it: a sending and a receiving row; their ids."""
    ids = {}
    for side, own, other in (("sending", sender, receiver), ("receiving", receiver, sender)):
        ids[side] = __import__("uuid").uuid4()
        conn.execute(text(
            "insert into transfers (center_id, id, side, group_id, counterpart_center_id, case_id, status,"
            " consent_obtained_on, consent_method, message, package, requested_at, reassign_count, reminder_count,"
            " version, created_at, updated_at) values (:c, :id, :side, :g, :o, :case, 'requested', '2026-01-05',"
            " 'written', 'x', '[]', :t, 0, 0, 1, :t, :t)"),
            {"c": centers[own], "id": ids[side], "side": side, "g": group, "o": centers[other], "t": created,
             "case": __import__("uuid").uuid4() if side == "sending" else None})
    return ids


@pytest.mark.skipif(BACKEND != "postgres", reason="a second PostgreSQL database of this run")
def test_the_migration_numbers_existing_transfers_and_rewrites_notifications_to_the_one_id(database):
    import uuid

    from flask_migrate import downgrade, upgrade

    from teichaku.app import create_app
    from teichaku.platform.centers import seed_centers
    from tests.conftest import OWNER_ROLE, _create_roles_and_database, _drop_database

    name = f"teichaku_test_{uuid.uuid4().hex[:10]}"
    _create_roles_and_database(name)
    url = f"postgresql+psycopg://{OWNER_ROLE}@127.0.0.1:5432/{name}"
    engine = create_engine(url)
    try:
        owner = create_app({"TESTING": True, "DATABASE_URL": url}, database_role="owner")
        with owner.app_context():
            upgrade(revision="l4yers0001")
            seed_centers()
            db.session.commit()
            db.engine.dispose()
        groups = {key: uuid.uuid4() for key in ("t1", "t2", "t3", "o1")}
        with engine.begin() as conn:
            conn.execute(text("alter table transfers drop constraint fk_transfers_center_id_case_id_cases"))  # no cases here
            centers = dict(conn.execute(text("select code, id from centers")).all())
            rows = {
                # tokyo: the second of FY2025 (23:30 on 31 March in Japan) stored before the first
                "t2": _old_transfer(conn, centers, sender="tokyo", receiver="osaka", created="2026-03-31T14:30:00+00:00", group=groups["t2"]),
                "t1": _old_transfer(conn, centers, sender="tokyo", receiver="osaka", created="2025-06-01T00:00:00+00:00", group=groups["t1"]),
                "t3": _old_transfer(conn, centers, sender="tokyo", receiver="kyoto", created="2026-03-31T15:30:00+00:00", group=groups["t3"]),
                "o1": _old_transfer(conn, centers, sender="osaka", receiver="tokyo", created="2025-07-01T00:00:00+00:00", group=groups["o1"]),
            }
            events = {}
            for key, center, association, row_id in (("to_osaka", "osaka", False, rows["t1"]["receiving"]),
                                                     ("to_tokyo", "tokyo", False, rows["t1"]["sending"]),
                                                     ("to_association", None, True, rows["t2"]["sending"])):
                events[key] = uuid.uuid4()
                conn.execute(text("insert into outbox_events (id, kind, to_center_id, to_association, transfer_id, created_at,"
                                  " delivered_at, attempts, email_pending) values (:id, 'transfer_requested', :c, :a, :t,"
                                  " now(), now(), 0, false)"),
                             {"id": events[key], "c": centers[center] if center else None, "a": association, "t": row_id})
        with owner.app_context():
            upgrade(revision="tr4nsid0001")
            db.engine.dispose()
        with engine.connect() as conn:
            numbers = {(str(g), side): (year, seq) for g, side, year, seq in conn.execute(text(
                "select group_id, side, number_fiscal_year, number_seq from transfers"))}
            carried = dict(conn.execute(text("select id, transfer_id from outbox_events")).all())
        expected = {"t1": (2025, 1), "t2": (2025, 2), "t3": (2026, 1), "o1": (2025, 1)}
        assert numbers == {(str(groups[k]), side): v for k, v in expected.items() for side in ("sending", "receiving")}
        assert {carried[events[k]] for k in ("to_osaka", "to_tokyo")} == {groups["t1"]}
        assert carried[events["to_association"]] == groups["t2"]
        with owner.app_context():
            downgrade(revision="l4yers0001")
            db.engine.dispose()
        with engine.connect() as conn:
            back = dict(conn.execute(text("select id, transfer_id from outbox_events")).all())
        assert back == {events["to_osaka"]: rows["t1"]["receiving"], events["to_tokyo"]: rows["t1"]["sending"],
                        events["to_association"]: rows["t2"]["sending"]}
    finally:
        engine.dispose()
        _drop_database(name)
