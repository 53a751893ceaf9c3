"""広域調整の開始依頼 (pull requests): the destination center (B, osaka) asks the facility's center
(A, tokyo) to start a transfer; each center sees only its own side and a third center (C,
fukuoka) nothing; the pull reaches A's inbox through the outbox; A confirms by an ordinary
transfer request (both sides linked) or refuses with a comment; B may cancel; a duplicate, an
illegal change, bad input and a race each leave one consistent outcome; the identity sent is a
provision recorded in B."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from teichaku.crosstenant.transfers import lifecycle as lc
from teichaku.platform.centers import center_by_code
from teichaku.platform.i18n import today_jst
from tests import factories
from tests.races import race
from tests.conftest import BACKEND
from tests.helpers import ok

# The person as B knows them (a consultation from the family): distinctive values.
PERSON = {"family_name": "丙野", "given_name": "秘四郎", "family_name_kana": "へいの", "given_name_kana": "ひしろう",
          "birth_date": date(1950, 11, 23), "sex": "male", "support_needs": ["elderly", "dementia"]}
CONSENT = {"obtained_on": "2026-01-10", "method": "oral_with_witness", "witness": "家族立会秘人", "scope": "東京のセンターへ伝えること"}
A_CONSENT = {"obtained_on": "2026-01-12", "method": "written"}
MESSAGE = "開始秘文：家族から大阪での生活について相談がありました。"


def _b_case(app, **overrides) -> dict:
    """B's consultation case for the person (facility and release date known)."""
    data = {"case_type": "consultation", "person": factories.person_payload(**PERSON), "release_date": None,
            "facility_name": "甲府刑務所", "requester_type": "family"}
    data["release_date"] = today_jst() + timedelta(days=90)
    data.update(overrides)
    return factories.make_case(app, "osaka", **data)


def _a_case(app, **person) -> dict:
    """A's coordination case for the same person (the facility's center registered them)."""
    return factories.make_case(app, "tokyo", person=factories.person_payload(**{**PERSON, **person}),
                               release_date=today_jst() + timedelta(days=90), destination_prefecture_code="27")


def _pull(client, case, to="tokyo", **overrides):
    body = {"case_id": str(case["id"]), "to_center": to, "consent": CONSENT, "message": MESSAGE}
    body.update(overrides)
    return client.post("/api/v1/transfer-pulls", json=body)


def _incoming(client, status="open") -> dict:
    items = ok(client.get("/api/v1/transfer-pulls?side=asked"))["items"]
    return [i for i in items if i["status"] == status][0]


def _confirm(client, a_case, pull_id, to="osaka", **overrides):
    body = {"case_id": str(a_case["id"]), "to_center": to, "consent": A_CONSENT,
            "message": "開始依頼に応じて依頼します。", "pull_id": pull_id}
    body.update(overrides)
    return client.post("/api/v1/transfers", json=body)


def _outbox(owner_engine, kind) -> list[dict]:
    with owner_engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("select * from outbox_events where kind = :k order by created_at"),
                                              {"k": kind}).mappings()]


def _count(owner_engine, sql, **params) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _a_transfers(app, owner_engine) -> int:
    """Transfer rows of center A (the world has none: its transfer goes from B to C)."""
    return _count(owner_engine, "select count(*) from transfers where center_id = :c", c=_center_id(app, "tokyo"))


def _center_id(app, code):
    with app.app_context():
        return center_by_code(code).id


def _statuses(owner_engine, pull_id) -> list[tuple[str, str]]:
    with owner_engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "select side, status from transfer_pulls where group_id = :i order by side"), {"i": pull_id}).all()]


def _page_client(app, user):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302
    return client


# --- sending and receiving --------------------------------------------------------------------------

def test_a_pull_reaches_the_asked_centers_inbox_through_the_outbox_with_the_minimum_identity(app, make_app, world, api,
                                                                                           owner_engine):
    from teichaku.crosstenant.notifications.delivery import deliver

    a, b = api("a_staff"), api("b_staff")
    case = _b_case(app)
    sent = ok(_pull(b, case), 201)
    assert (sent["side"], sent["status"], sent["case_id"], sent["to_center"]) == ("asking", "open", str(case["id"]), "tokyo")
    assert "person" not in sent and sent["allowed_actions"] == ["cancel"]

    incoming = _incoming(a)
    assert incoming["from_center"] == "osaka" and incoming["case_id"] is None
    assert incoming["person"] == {"family_name": "丙野", "given_name": "秘四郎", "family_name_kana": "へいの",
                                  "given_name_kana": "ひしろう", "birth_date": "1950-11-23", "sex": "male"}
    assert (incoming["facility_name"], incoming["release_date"]) == ("甲府刑務所", (today_jst() + timedelta(days=90)).isoformat())
    assert incoming["message"] == MESSAGE and incoming["consent"]["witness"] == "家族立会秘人"
    assert incoming["allowed_actions"] == ["confirm", "refuse"]

    tokyo = _center_id(app, "tokyo")
    events = [e for e in _outbox(owner_engine, "transfer_pull_requested") if e["to_center_id"] == tokyo]  # not the world's
    assert [(str(e["pull_id"]), e["transfer_id"]) for e in events] == [(incoming["id"], None)]
    with app.app_context():
        assert deliver(events[0]["id"]) == "delivered"
    inbox = ok(a.get("/api/v1/notifications"))["items"]
    assert [(n["kind"], n["pull_id"]) for n in inbox if n["pull_id"]] == [("transfer_pull_requested", incoming["id"])]
    assert [n for n in ok(b.get("/api/v1/notifications"))["items"] if n["pull_id"]] == []
    page = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["a_staff"]).get("/notifications").get_data(as_text=True)
    assert f'href="/transfers/pulls/{incoming["id"]}"' in page


def test_the_asked_center_sees_its_own_people_matching_the_identity_as_candidates(app, world, api):
    a, b = api("a_staff"), api("b_staff")
    same = _a_case(app)
    katakana = _a_case(app, family_name="丙埜", family_name_kana="ヘイノ", given_name_kana="ヒシロウ",
                       birth_date=date(1950, 11, 24))  # another kanji and a day off: found by kana only
    _a_case(app, family_name="無関係", given_name="太郎", family_name_kana="むかんけい", given_name_kana="たろう",
            birth_date=date(1960, 1, 1))
    ok(_pull(b, _b_case(app)), 201)
    detail = ok(a.get(f"/api/v1/transfer-pulls/{_incoming(a)['id']}"))
    found = [(c["person_id"], c["reasons"]) for c in detail["candidates"]]
    assert found == [(str(same["person_id"]), ["birth_date", "kana", "name"]), (str(katakana["person_id"]), ["kana"])]
    assert [k["id"] for k in detail["candidates"][0]["cases"]] == [str(same["id"])]
    sent = [i for i in ok(b.get("/api/v1/transfer-pulls?side=asking"))["items"] if i["to_center"] == "tokyo"][0]
    assert "candidates" not in sent  # lists carry no candidates, and the asking side never gets A's people
    assert "candidates" not in ok(b.get(f"/api/v1/transfer-pulls/{sent['id']}"))


def test_confirming_by_a_transfer_request_links_both_sides_and_notifies_the_asker(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    a_case = _a_case(app)
    asking = ok(_pull(b, _b_case(app)), 201)
    asked = _incoming(a)
    transfer = ok(_confirm(a, a_case, asked["id"]), 201)
    assert (transfer["status"], transfer["to_center"], transfer["case_id"]) == ("requested", "osaka", str(a_case["id"]))

    a_side = ok(a.get(f"/api/v1/transfer-pulls/{asked['id']}"))
    assert (a_side["status"], a_side["transfer_id"], a_side["case_id"]) == ("confirmed", transfer["id"], str(a_case["id"]))
    assert a_side["allowed_actions"] == [] and a_side["candidates"] == []
    b_side = ok(b.get(f"/api/v1/transfer-pulls/{asking['id']}"))
    receiving = [t for t in ok(b.get("/api/v1/transfers?side=receiving"))["items"] if t["status"] == "requested"]
    assert [t["id"] for t in receiving] == [b_side["transfer_id"]] and b_side["status"] == "confirmed"
    assert receiving[0]["person"]["family_name"] == "丙野"  # the ordinary transfer, A's identity
    assert b_side["case_id"] == asking["case_id"] and a_case["id"] and str(a_case["id"]) not in str(b_side)

    events = _outbox(owner_engine, "transfer_pull_confirmed")
    assert [(str(e["to_center_id"]), str(e["pull_id"])) for e in events] == [(str(_center_id(app, "osaka")), asking["id"])]
    with owner_engine.connect() as conn:
        actions = set(conn.execute(text("select action from audit_entries where action like 'transfer_pull.%'")).scalars())
    assert {"transfer_pull.request", "transfer_pull.provide", "transfer_pull.confirm", "transfer_pull.read"} <= actions
    assert _confirm(a, a_case, asked["id"]).status_code == 409  # a confirmed pull cannot be confirmed again


def test_one_pull_has_one_id_for_both_centers_its_notifications_and_the_transfer_that_confirms_it(
        app, make_app, world, api, owner_engine):
    from teichaku.crosstenant.notifications.delivery import deliver

    a, b = api("a_staff"), api("b_staff")
    pid = ok(_pull(b, _b_case(app)), 201)["id"]
    asked = ok(a.get(f"/api/v1/transfer-pulls/{pid}"))
    assert (asked["id"], asked["side"], asked["person"]["family_name"]) == (pid, "asked", "丙野")
    assert _incoming(a)["id"] == pid
    with owner_engine.connect() as conn:
        rows = [str(r) for r in conn.execute(text("select id from transfer_pulls where group_id = :g"), {"g": pid}).scalars()]
    assert len(rows) == 2 and pid not in rows
    for row_id in rows:  # a side's internal row id is not an id outside
        assert a.get(f"/api/v1/transfer-pulls/{row_id}").status_code == 404
        assert b.get(f"/api/v1/transfer-pulls/{row_id}").status_code == 404
    transfer = ok(_confirm(a, _a_case(app), pid), 201)
    assert ok(b.get(f"/api/v1/transfer-pulls/{pid}"))["transfer_id"] == transfer["id"]
    assert ok(a.get(f"/api/v1/transfer-pulls/{pid}"))["transfer_id"] == transfer["id"]
    assert ok(b.get(f"/api/v1/transfers/{transfer['id']}"))["side"] == "receiving"
    with owner_engine.connect() as conn:
        pending = conn.execute(text("select id from outbox_events where delivered_at is null")).scalars().all()
    with app.app_context():
        for event_id in pending:
            deliver(event_id)
    for client, kinds in ((a, {"transfer_pull_requested"}), (b, {"transfer_pull_confirmed", "transfer_requested"})):
        mine = [n for n in ok(client.get("/api/v1/notifications"))["items"] if n["pull_id"] == pid or n["transfer_id"] == transfer["id"]]
        assert {n["kind"] for n in mine} == kinds
        for n in mine:
            url = f"/api/v1/transfer-pulls/{n['pull_id']}" if n["pull_id"] else f"/api/v1/transfers/{n['transfer_id']}"
            assert client.get(url).status_code == 200
    page = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["b_staff"])
    assert page.get(f"/transfers/pulls/{pid}").status_code == 200
    assert f'/transfers/{transfer["id"]}"' in _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["a_staff"]).get(
        f"/transfers/pulls/{pid}").get_data(as_text=True)


def test_a_confirmation_must_be_addressed_to_the_asking_center_and_changes_nothing_otherwise(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    a_case = _a_case(app)
    ok(_pull(b, _b_case(app)), 201)
    asked = _incoming(a)
    response = _confirm(a, a_case, asked["id"], to="fukuoka")
    assert response.status_code == 422 and "to_center" in response.get_json()["error"]["details"]["fields"]
    assert _a_transfers(app, owner_engine) == 0
    assert [s for _side, s in _statuses(owner_engine, asked["id"])] == ["open", "open"]


def test_refusing_needs_a_comment_and_tells_the_asker(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    asking = ok(_pull(b, _b_case(app)), 201)
    asked = _incoming(a)
    for body in ({}, {"comment": ""}, {"comment": "x", "reason": "busy"}):
        assert a.post(f"/api/v1/transfer-pulls/{asked['id']}/refuse", json=body).status_code == 422
    assert [s for _side, s in _statuses(owner_engine, asked["id"])] == ["open", "open"]
    refused = ok(a.post(f"/api/v1/transfer-pulls/{asked['id']}/refuse", json={"comment": "当所には入所記録がありません"}))
    assert refused["status"] == "refused"
    mine = ok(b.get(f"/api/v1/transfer-pulls/{asking['id']}"))
    assert (mine["status"], mine["refuse_comment"]) == ("refused", "当所には入所記録がありません")
    events = _outbox(owner_engine, "transfer_pull_refused")
    assert [(str(e["to_center_id"]), str(e["pull_id"])) for e in events] == [(str(_center_id(app, "osaka")), asking["id"])]
    assert _confirm(a, _a_case(app), asked["id"]).status_code == 409
    assert b.post(f"/api/v1/transfer-pulls/{asking['id']}/cancel").status_code == 409
    assert _a_transfers(app, owner_engine) == 0


def test_the_asker_cancels_an_open_pull_and_the_asked_center_is_told(app, world, api, owner_engine):
    a, b = api("a_staff"), api("b_staff")
    asking = ok(_pull(b, _b_case(app)), 201)
    asked = _incoming(a)
    assert ok(b.post(f"/api/v1/transfer-pulls/{asking['id']}/cancel"))["status"] == "cancelled"
    assert ok(a.get(f"/api/v1/transfer-pulls/{asked['id']}"))["status"] == "cancelled"
    events = _outbox(owner_engine, "transfer_pull_cancelled")
    assert [(str(e["to_center_id"]), str(e["pull_id"])) for e in events] == [(str(_center_id(app, "tokyo")), asked["id"])]
    assert a.post(f"/api/v1/transfer-pulls/{asked['id']}/refuse", json={"comment": "遅れて"}).status_code == 409
    assert _confirm(a, _a_case(app), asked["id"]).status_code == 409
    assert _a_transfers(app, owner_engine) == 0


def test_only_the_asked_center_answers_and_only_the_asker_cancels(app, world, api):
    a, b = api("a_staff"), api("b_staff")
    asking = ok(_pull(b, _b_case(app)), 201)
    asked = _incoming(a)
    assert b.post(f"/api/v1/transfer-pulls/{asking['id']}/refuse", json={"comment": "自分で"}).status_code == 403
    assert a.post(f"/api/v1/transfer-pulls/{asked['id']}/cancel").status_code == 403
    b_case = _b_case(app)
    own_pull = _confirm(b, b_case, asking["id"], to="tokyo")  # the asker cannot confirm its own pull
    assert own_pull.status_code == 403
    assert ok(a.get(f"/api/v1/transfer-pulls/{asked['id']}"))["status"] == "open"


def test_a_second_open_pull_for_the_same_case_and_center_is_409_until_the_first_is_closed(app, world, api, owner_engine):
    b = api("b_staff")
    case = _b_case(app)
    first = ok(_pull(b, case), 201)
    again = _pull(b, case, message="二度目")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_state"
    ok(_pull(b, case, to="fukuoka"), 201)  # another center is another pull
    ok(b.post(f"/api/v1/transfer-pulls/{first['id']}/cancel"))
    ok(_pull(b, case, message="取消し後の依頼"), 201)
    assert _count(owner_engine, "select count(*) from transfer_pulls where case_id = :c", c=case["id"]) == 3


@pytest.mark.skipif(BACKEND != "postgres", reason="the raw insert speaks PostgreSQL's uuid type")
def test_the_database_refuses_a_second_open_pull_too(app, world, api, owner_engine):
    sent = ok(_pull(api("b_staff"), _b_case(app)), 201)
    with owner_engine.connect() as conn:
        trans = conn.begin()
        with pytest.raises(IntegrityError, match="uq_transfer_pulls_open_request"):
            conn.execute(text(
                "insert into transfer_pulls (center_id, id, side, group_id, counterpart_center_id, case_id, status,"
                " consent_obtained_on, consent_method, consent_witness, message, requested_at, version, created_at,"
                " updated_at) select center_id, gen_random_uuid(), side, gen_random_uuid(), counterpart_center_id,"
                " case_id, status, consent_obtained_on, consent_method, consent_witness, message, requested_at, 1,"
                " created_at, updated_at"
                " from transfer_pulls where group_id = :i and side = 'asking'"), {"i": sent["id"]})
        trans.rollback()


@pytest.mark.parametrize("body,field", [
    ({"consent": {"obtained_on": "2026-01-10", "method": "oral_with_witness"}}, "consent.witness"),
    ({"consent": {"obtained_on": "2999-01-01", "method": "written"}}, "consent.obtained_on"),
    ({"consent": {"obtained_on": "2026-01-10", "method": "telepathy"}}, "consent.method"),
    ({"to_center": "atlantis"}, "to_center"),
    ({"to_center": "osaka"}, "to_center"),  # its own center
    ({"message": ""}, "message"),
    ({"message": "   "}, "message"),
    ({"package": []}, "package"),  # a pull carries no package
])
def test_bad_pull_bodies_are_422_and_send_nothing(app, world, api, owner_engine, body, field):
    case = _b_case(app)
    before = _pull_footprint(owner_engine)
    response = _pull(api("b_staff"), case, **body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]["fields"]
    assert _pull_footprint(owner_engine) == before


def _pull_footprint(owner_engine) -> tuple[int, int, int]:
    """Pull rows, provision records of pulls, pull notifications: what a pull leaves behind."""
    return (_count(owner_engine, "select count(*) from transfer_pulls"),
            _count(owner_engine, "select count(*) from provision_records where pull_id is not null"),
            _count(owner_engine, "select count(*) from outbox_events where pull_id is not null"))


def test_a_closed_case_cannot_send_a_pull(app, world, api, owner_engine):
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import set_tenant
    from teichaku.tenants.cases.services import read_case, transition_case

    case = _b_case(app)
    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        loaded = read_case(case["id"])
        transition_case(loaded, "closed", expected_version=loaded.version, closing={"closing_reason": "other"})
        db.session.commit()
    before = _pull_footprint(owner_engine)
    response = _pull(api("b_staff"), case)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "invalid_state"
    assert _pull_footprint(owner_engine) == before


# --- the provision record -----------------------------------------------------------------------------

def test_the_identity_sent_is_recorded_as_a_provision_in_the_asking_center(app, make_app, world, api):
    b_admin, a_admin = api("b_admin"), api("a_admin")
    case = _b_case(app)
    sent = ok(_pull(api("b_staff"), case), 201)
    records = [r for r in ok(b_admin.get("/api/v1/transfers/provisions"))["items"] if r["pull_id"] == sent["id"]]
    assert len(records) == 1
    record = records[0]
    assert (record["recipient_center"], record["person_id"], record["case_id"], record["transfer_id"]) == (
        "tokyo", str(case["person_id"]), str(case["id"]), None)
    assert (record["consent_method"], record["consent_witness"], record["basis"]) == ("oral_with_witness", "家族立会秘人", "consent")
    assert [i["kind"] for i in record["items"]] == ["identity", "message"]
    assert ok(a_admin.get("/api/v1/transfers/provisions"))["items"] == []  # A provided nothing
    csv = b_admin.get("/api/v1/transfers/provisions?format=csv").data.decode("utf-8-sig")
    header = csv.splitlines()[0].split(",")
    assert header[-2:] == ["transfer_id", "pull_id"] and sent["id"] in csv and "丙野" in csv
    page = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["b_admin"]).get("/transfers/provisions")
    assert page.status_code == 200 and "丙野" in page.get_data(as_text=True)


# --- who sees what ----------------------------------------------------------------------------------

def test_a_third_center_sees_nothing_of_a_pull(app, make_app, world, api, owner_engine):
    a, b, c = api("a_staff"), api("b_staff"), api("c_staff")
    asking = ok(_pull(b, _b_case(app)), 201)
    asked = _incoming(a)
    seen = ok(c.get("/api/v1/transfer-pulls"))["items"]  # the world's own pull from B to C only
    assert {i["id"] for i in seen}.isdisjoint({asking["id"], asked["id"]}) and "丙野" not in str(seen)
    for pull_id in (asking["id"], asked["id"]):
        for method, url, body in (("GET", f"/api/v1/transfer-pulls/{pull_id}", None),
                                  ("POST", f"/api/v1/transfer-pulls/{pull_id}/refuse", {"comment": "横から"}),
                                  ("POST", f"/api/v1/transfer-pulls/{pull_id}/cancel", None)):
            response = c.open(url, method=method, json=body)
            assert response.status_code == 404, (method, url)
            assert "丙野" not in response.get_data(as_text=True)
        assert _confirm(c, factories.make_case(app, "fukuoka"), pull_id, to="osaka").status_code == 404
    client = _page_client(make_app(WTF_CSRF_ENABLED=False), world.users["c_staff"])
    c_case = factories.make_case(app, "fukuoka")
    for url in (f"/transfers/pulls/{asked['id']}", f"/transfers/pulls/{asked['id']}/confirm/{c_case['id']}"):
        assert client.get(url).status_code == 404
    assert "丙野" not in client.get("/transfers/pulls").get_data(as_text=True)
    assert [s for _side, s in _statuses(owner_engine, asked["id"])] == ["open", "open"]


def test_each_center_sees_only_its_own_side(app, world, api):
    a, b = api("a_staff"), api("b_staff")
    asking = ok(_pull(b, _b_case(app)), 201)
    asked = _incoming(a)
    assert asked["id"] == asking["id"]  # one pull, one id: each center sees its own side under it
    assert ok(a.get(f"/api/v1/transfer-pulls/{asking['id']}"))["side"] == "asked"
    mine = ok(b.get(f"/api/v1/transfer-pulls/{asking['id']}"))
    assert mine["side"] == "asking" and "person" not in mine and "candidates" not in mine
    assert {i["side"] for i in ok(b.get("/api/v1/transfer-pulls"))["items"]} == {"asking"}
    assert {i["side"] for i in ok(a.get("/api/v1/transfer-pulls"))["items"]} == {"asked"}


def test_the_association_and_other_national_roles_are_refused_pulls(app, world, api):
    ok(_pull(api("b_staff"), _b_case(app)), 201)
    for key in ("association", "ministry", "platform_admin", "a_prefecture"):
        assert api(key).get("/api/v1/transfer-pulls").status_code == 403, key


# --- the race ------------------------------------------------------------------------------------------

def _race(app, api, monkeypatch, *, first, second, slow_module, slow_name):
    """Start ``first`` (made slow while it holds the pull's locks), then ``second`` during it."""
    a, b = api("a_staff"), api("b_staff")
    a_case = _a_case(app)
    asking = ok(_pull(b, _b_case(app)), 201)
    asked = _incoming(a)
    calls = {"cancel": lambda: b.post(f"/api/v1/transfer-pulls/{asking['id']}/cancel"),
             "confirm": lambda: _confirm(a, a_case, asked["id"])}
    results = race(monkeypatch, calls, first, second, module=slow_module, name=slow_name)
    return asking, a_case, results


@pytest.mark.skipif(BACKEND != "postgres", reason="row locks are PostgreSQL's")
def test_a_cancellation_and_a_confirmation_arriving_together_leave_exactly_one_outcome(app, world, api, owner_engine,
                                                                                        monkeypatch):
    from teichaku.crosstenant.transfers import pulls, workflow

    # Both orders, each staged the same way every run (tests/races.py): whoever holds the locks first
    # wins, the other is refused, and both sides of the pull always agree.
    # The confirmation holds the locks (slow while sending the transfer); the cancellation waits and is refused.
    asking, a_case, results = _race(app, api, monkeypatch, first="confirm", second="cancel",
                                    slow_module=workflow, slow_name="_send")
    assert (results["confirm"].status_code, results["cancel"].status_code) == (201, 409)
    assert [s for _side, s in _statuses(owner_engine, asking["id"])] == ["confirmed", "confirmed"]
    assert _count(owner_engine, "select count(*) from transfers where case_id = :c", c=a_case["id"]) == 1

    # The cancellation holds the locks (slow while notifying); the confirmation waits, is refused, sends nothing.
    asking, a_case, results = _race(app, api, monkeypatch, first="cancel", second="confirm",
                                    slow_module=pulls, slow_name="emit")
    assert (results["cancel"].status_code, results["confirm"].status_code) == (200, 409)
    assert [s for _side, s in _statuses(owner_engine, asking["id"])] == ["cancelled", "cancelled"]
    assert _count(owner_engine, "select count(*) from transfers where case_id = :c", c=a_case["id"]) == 0


# --- approval at the asked center -----------------------------------------------------------------------

def test_a_pull_confirmed_by_a_request_awaiting_approval_links_the_asker_once_it_is_sent(app, world, api, owner_engine):
    with owner_engine.begin() as conn:
        conn.execute(text("update centers set requires_transfer_approval = true where code = 'tokyo'"))
    try:
        a, b = api("a_staff"), api("b_staff")
        asking = ok(_pull(b, _b_case(app)), 201)
        transfer = ok(_confirm(a, _a_case(app), _incoming(a)["id"]), 201)
        assert transfer["status"] == "awaiting_approval"
        mine = ok(b.get(f"/api/v1/transfer-pulls/{asking['id']}"))
        assert (mine["status"], mine["transfer_id"]) == ("confirmed", None)
        ok(api("a_admin").post(f"/api/v1/transfers/{transfer['id']}/approve"))
        receiving = ok(b.get("/api/v1/transfers?side=receiving"))["items"]
        assert ok(b.get(f"/api/v1/transfer-pulls/{asking['id']}"))["transfer_id"] == receiving[0]["id"]
    finally:
        with owner_engine.begin() as conn:
            conn.execute(text("update centers set requires_transfer_approval = false where code = 'tokyo'"))


# --- one table of statuses ---------------------------------------------------------------------------------

def _migration():
    """The tr4nsfers003 revision module (the versions folder is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(lc.__file__).parents[2] / "migrations" / "versions" / "tr4nsfers003_pull_requests.py"
    spec = importlib.util.spec_from_file_location("tr4nsfers003_pull_requests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pull_statuses_and_transitions_live_in_one_table():
    migration = _migration()

    assert lc.pull_actions_for("asked", "open") == ("confirm", "refuse")
    assert lc.pull_actions_for("asking", "open") == ("cancel",)
    assert all(lc.pull_actions_for(side, status) == () for side in lc.PULL_SIDES for status in lc.PULL_STATUSES
               if status != "open")
    with pytest.raises(Exception, match="取消し"):
        lc.pull_next_status("cancel", "asking", "confirmed")
    from teichaku.crosstenant.notifications.models import KINDS

    # That the database's CHECKs allow exactly these statuses: test_migrations.py compares every
    # migrated CHECK with the models'; here, that the migration spells the lists the code has.
    assert migration.PULL_STATUSES == lc.sql_in(lc.PULL_STATUSES) and migration.PULL_SIDES == lc.sql_in(lc.PULL_SIDES)

    assert set(migration.PULL_KINDS) <= set(KINDS) and "transfer_pull_requested" in migration.OLD_KINDS


# --- pages ----------------------------------------------------------------------------------------------

def test_the_pages_take_a_pull_from_the_case_page_to_a_confirmed_transfer(make_app, world, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    b_case, a_case = _b_case(app), _a_case(app)
    a, b = _page_client(app, world.users["a_staff"]), _page_client(app, world.users["b_staff"])
    case_page = b.get(f"/cases/{b_case['id']}").get_data(as_text=True)
    assert f"/transfers/pulls/new/{b_case['id']}" in case_page and "他センターに広域調整の開始を依頼" in case_page
    form = b.get(f"/transfers/pulls/new/{b_case['id']}").get_data(as_text=True)
    assert "甲府刑務所" in form and "丙野" in form and 'value="tokyo"' in form and 'value="osaka"' not in form
    refused = b.post(f"/transfers/pulls/new/{b_case['id']}", data={
        "to_center": "tokyo", "consent_obtained_on": "2026-01-10", "consent_method": "oral_with_witness", "message": MESSAGE})
    assert refused.status_code == 422 and "立会人" in refused.get_data(as_text=True)
    assert _count(owner_engine, "select count(*) from transfer_pulls where case_id = :c", c=b_case["id"]) == 0
    sent = b.post(f"/transfers/pulls/new/{b_case['id']}", data={
        "to_center": "tokyo", "consent_obtained_on": "2026-01-10", "consent_method": "written", "message": MESSAGE})
    assert sent.status_code == 302
    assert "開始依頼中（回答待ち）" in b.get(sent.headers["Location"]).get_data(as_text=True)
    again = b.post(f"/transfers/pulls/new/{b_case['id']}", data={
        "to_center": "tokyo", "consent_obtained_on": "2026-01-10", "consent_method": "written", "message": "二度目"})
    assert again.status_code == 409

    assert 'href="/transfers/pulls"' in a.get("/transfers").get_data(as_text=True)
    listing = a.get("/transfers/pulls").get_data(as_text=True)
    assert "受け取った開始依頼" in listing and "丙野" in listing
    pull_id = re.search(r'href="/transfers/pulls/([0-9a-f-]{36})"', listing).group(1)
    page = a.get(f"/transfers/pulls/{pull_id}").get_data(as_text=True)
    confirm_url = f"/transfers/pulls/{pull_id}/confirm/{a_case['id']}"
    assert "このセンターで該当しそうな方" in page and confirm_url in page and "お断りする" in page
    confirm_form = a.get(confirm_url).get_data(as_text=True)
    assert "大阪府地域生活定着支援センター" in confirm_form and 'name="to_center"' not in confirm_form
    bad = a.post(confirm_url, data={"consent_obtained_on": "", "consent_method": "written", "message": "x"})
    assert bad.status_code == 422
    done = a.post(confirm_url, data={"consent_obtained_on": "2026-01-12", "consent_method": "written",
                                     "message": "開始依頼に応じます"})
    assert done.status_code == 302 and re.match(r".*/transfers/[0-9a-f-]{36}$", done.headers["Location"])
    assert "広域調整の依頼を作成済み" in a.get(f"/transfers/pulls/{pull_id}").get_data(as_text=True)
    assert a.get(confirm_url).status_code == 302  # answered: back to the pull's page

    mine = b.get(sent.headers["Location"]).get_data(as_text=True)
    link = re.search(r'href="/transfers/([0-9a-f-]{36})">作成された依頼を見る', mine)
    assert link, mine
    incoming = b.get(f"/transfers/{link.group(1)}").get_data(as_text=True)
    assert "受け取った依頼" in incoming and "丙野" in incoming and "受け入れる" in incoming


def test_the_pages_refuse_and_cancel_and_a_refused_action_rerenders_with_its_status(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    a, b = _page_client(app, world.users["a_staff"]), _page_client(app, world.users["b_staff"])
    data = {"to_center": "tokyo", "consent_obtained_on": "2026-01-10", "consent_method": "written", "message": MESSAGE}
    first = b.post(f"/transfers/pulls/new/{_b_case(app)['id']}", data=data).headers["Location"]
    second = b.post(f"/transfers/pulls/new/{_b_case(app)['id']}", data=data).headers["Location"]
    assert b.post(f"{second}/cancel").status_code == 302
    assert "取消し" in b.get(second).get_data(as_text=True)

    incoming = re.findall(r'href="/transfers/pulls/([0-9a-f-]{36})"', a.get("/transfers/pulls").get_data(as_text=True))
    open_ids = [i for i in incoming if "開始依頼中" in a.get(f"/transfers/pulls/{i}").get_data(as_text=True)]
    assert len(open_ids) == 1
    empty = a.post(f"/transfers/pulls/{open_ids[0]}/refuse", data={"comment": ""})
    assert empty.status_code == 422
    assert a.post(f"/transfers/pulls/{open_ids[0]}/refuse", data={"comment": "当所に入所記録なし"}).status_code == 302
    page = b.get(first).get_data(as_text=True)
    assert "お断り" in page and "当所に入所記録なし" in page
    again = b.post(f"{first}/cancel")
    assert again.status_code == 409 and "お断り" in again.get_data(as_text=True)
