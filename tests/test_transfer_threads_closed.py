"""A transfer's thread after the request ended without the receiving center taking the person on
(declined, withdrawn, reassigned away): nothing more may be sent, by either side (409 on the API,
a Japanese message on the page); after acceptance it stays open.  Every file sent to the other
center writes a provision record (第三者提供記録) in the sender's center.  A refused or
cancelled pull request erases the asked center's copy of the identity, like a declined transfer."""
from __future__ import annotations

import io
import json
import shutil
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from teichaku.crosstenant.transfers import workflow
from teichaku.platform.i18n import today_jst
from tests import factories
from tests.conftest import BACKEND
from tests.helpers import ok
from tests.races import race

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CONSENT = {"obtained_on": "2026-01-05", "method": "oral_with_witness", "witness": "立会人乙", "scope": "大阪府内での調整"}
PULL_PERSON = {"family_name": "丁野", "given_name": "秘五郎", "family_name_kana": "ていの", "given_name_kana": "ひごろう"}


@pytest.fixture(scope="module")
def _web(make_app, tmp_path_factory):
    root = tmp_path_factory.mktemp("thread-closed") / "uploads"
    return make_app(WTF_CSRF_ENABLED=False, UPLOAD_ROOT=str(root)), root


@pytest.fixture()
def web(_web):
    app, root = _web
    shutil.rmtree(root, ignore_errors=True)
    return app


@pytest.fixture()
def uploads(_web, web):
    return _web[1]


@pytest.fixture()
def api_app(web):
    return web


def _db_id(value: str) -> str:
    """An id as raw SQL compares it (SQLite stores UUIDs as 32 hex digits)."""
    return uuid.UUID(value).hex if BACKEND == "sqlite" else value


def _details(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


def _transfer(web, api) -> tuple[str, str]:
    """A request from A (tokyo) to B (osaka): A's row id and B's row id."""
    case = factories.make_case(web, "tokyo", release_date=today_jst() + timedelta(days=60))
    sent = ok(api("a_staff").post("/api/v1/transfers", json={
        "case_id": str(case["id"]), "to_center": "osaka", "consent": CONSENT, "message": "スレッドのテスト"}), 201)
    incoming = [i for i in ok(api("b_staff").get("/api/v1/transfers?side=receiving"))["items"]
                if i["from_center"] == "tokyo" and i["status"] == "requested"][0]
    return sent["id"], incoming["id"]


def _post(client, transfer_id, body, files=(), page=False):
    url = f"/transfers/{transfer_id}/messages" if page else f"/api/v1/transfers/{transfer_id}/messages"
    data = {"body": body, "files": [(io.BytesIO(content), name) for content, name in files]}
    return client.post(url, data=data, content_type="multipart/form-data")


def _thread_rows(owner_engine, *transfer_ids, center: str | None = None) -> tuple[int, int]:
    """Messages and attachment rows of these transfers (by their one id: every side's rows, or
    only ``center``'s)."""
    with owner_engine.connect() as conn:
        ids = {f"t{i}": _db_id(t) for i, t in enumerate(set(transfer_ids))}
        sides = f"select id from transfers where group_id in ({','.join(':' + k for k in ids)})"
        if center is not None:
            sides += " and center_id = (select id from centers where code = :center)"
        where = f"transfer_id in ({sides})"
        params = {**ids, "center": center}
        return (conn.execute(text(f"select count(*) from transfer_messages where {where}"), params).scalar(),
                conn.execute(text(f"select count(*) from transfer_message_attachments where {where}"), params).scalar())


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _page(app, user):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302
    return client


def _refused(response):
    assert response.status_code == 409, (response.status_code, response.get_data(as_text=True)[:300])
    error = response.get_json()["error"]
    assert error["code"] == "invalid_state"
    return error


def _end(api, how, a_row, b_row):
    """End the request without B taking the person on."""
    if how == "declined":
        ok(api("b_staff").post(f"/api/v1/transfers/{b_row}/decline", json={"reason": "no_capacity"}))
    elif how == "withdrawn":
        ok(api("a_staff").post(f"/api/v1/transfers/{a_row}/withdraw"))
    else:
        ok(api("association").post(f"/api/v1/transfers/{a_row}/reassign", json={"to_center": "fukuoka"}))


# --- a closed thread ----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["declined", "withdrawn"])
def test_after_a_decline_or_withdrawal_neither_center_can_send_messages_or_files(web, world, api, uploads,
                                                                                owner_engine, how):
    a_row, b_row = _transfer(web, api)
    ok(_post(api("a_staff"), a_row, "終了前のメッセージ"), 201)
    _end(api, how, a_row, b_row)
    before = _thread_rows(owner_engine, a_row, b_row)
    files_before = _files(uploads)
    for client, row in ((api("a_staff"), a_row), (api("b_staff"), b_row)):
        error = _refused(_post(client, row, "身元に関する追加情報です"))
        assert "もう送れません" in error["message"]
        _refused(_post(client, row, "資料を送ります", [(PDF, "追加資料.pdf")]))
        _refused(client.post(f"/api/v1/transfers/{row}/messages", json={"body": "JSONでも"}))
    assert _thread_rows(owner_engine, a_row, b_row) == before
    assert _files(uploads) == files_before
    erased = ok(api("b_staff").get(f"/api/v1/transfers/{b_row}"))
    assert erased["person"] is None and erased["snapshot_erased_at"]  # the thread closed with the identity


def test_after_a_reassignment_the_old_receiver_gets_nothing_more_and_cannot_write(web, world, api, owner_engine):
    a_row, b_row = _transfer(web, api)
    ok(api("b_staff").post(f"/api/v1/transfers/{b_row}/decline", json={"reason": "no_capacity"}))
    _refused(_post(api("a_staff"), a_row, "お断りの後に追加の身元情報"))  # declined: closed until reassigned
    _end(api, "reassigned", a_row, b_row)
    _refused(_post(api("b_staff"), b_row, "振替後の質問", [(PDF, "q.pdf")]))
    osaka_before = _thread_rows(owner_engine, b_row, center="osaka")
    ok(_post(api("a_staff"), a_row, "福岡センターへの補足です"), 201)  # the thread is the new center's now
    assert _thread_rows(owner_engine, b_row, center="osaka") == osaka_before
    c_row = [i for i in ok(api("c_staff").get("/api/v1/transfers?side=receiving"))["items"]
             if i["from_center"] == "tokyo"][0]["id"]
    assert [m["body"] for m in ok(api("c_staff").get(f"/api/v1/transfers/{c_row}/messages"))["items"]] == \
        ["福岡センターへの補足です"]


def test_a_message_posted_while_the_request_is_being_declined_is_refused_not_delivered(web, world, api, owner_engine,
                                                                                      monkeypatch):
    """The decline holds both rows while it erases the identity; a message arriving then waits
    for it and is refused, instead of landing in a thread whose receiver has just lost the identity."""
    a_row, b_row = _transfer(web, api)
    answers = race(monkeypatch, {
        "decline": lambda: api("b_staff").post(f"/api/v1/transfers/{b_row}/decline", json={"reason": "no_capacity"}),
        "message": lambda: _post(api("a_staff"), a_row, "競合する身元情報"),
    }, "decline", "message", module=workflow, name="erase_identity")
    assert answers["decline"].status_code == 200
    _refused(answers["message"])
    assert _thread_rows(owner_engine, a_row, b_row) == (0, 0)


def test_the_page_of_a_declined_request_offers_no_thread_form_and_refuses_a_post_in_japanese(web, world, api,
                                                                                           owner_engine):
    a_row, b_row = _transfer(web, api)
    _end(api, "declined", a_row, b_row)
    page = _page(web, world.users["a_staff"])
    html = page.get(f"/transfers/{a_row}").get_data(as_text=True)
    assert 'action="/transfers/' + a_row + '/messages"' not in html and "お断りされたため" in html
    refused = _post(page, a_row, "ページから送る", [(PDF, "a.pdf")], page=True)
    assert refused.status_code == 409 and "お断りされたため、メッセージやファイルはもう送れません" in refused.get_data(as_text=True)
    assert _thread_rows(owner_engine, a_row, b_row) == (0, 0)


def test_after_acceptance_the_thread_stays_open_both_ways_with_files(web, world, api, owner_engine):
    a_row, b_row = _transfer(web, api)
    ok(api("b_staff").post(f"/api/v1/transfers/{b_row}/accept"))
    ok(_post(api("a_staff"), a_row, "受入れありがとうございます", [(PDF, "引継ぎ.pdf")]), 201)
    ok(_post(api("b_staff"), b_row, "到着後の様子です", [(PDF, "様子.pdf")]), 201)
    assert _thread_rows(owner_engine, a_row, b_row) == (4, 4)


# --- files are provisions ----------------------------------------------------------------------------

def test_a_file_sent_in_the_thread_is_recorded_as_a_provision_to_the_other_center(web, world, api, owner_engine):
    a_row, b_row = _transfer(web, api)
    admin = api("a_admin")
    before = {p["id"] for p in ok(admin.get("/api/v1/transfers/provisions"))["items"]}
    posted = ok(_post(api("a_staff"), a_row, "資料を添付します", [(PDF, "面談記録.pdf"), (PDF, "計画書.pdf")]), 201)
    (record,) = [p for p in ok(admin.get("/api/v1/transfers/provisions"))["items"] if p["id"] not in before]
    assert (record["recipient_center"], record["transfer_id"], record["pull_id"]) == ("osaka", a_row, None)
    assert record["provided_on"] == today_jst().isoformat() and record["basis"] == "consent"
    assert [i["kind"] for i in record["items"]] == ["attachment", "attachment"]
    assert [i["label"] for i in record["items"]] == ["スレッドの添付ファイル: 面談記録.pdf", "スレッドの添付ファイル: 計画書.pdf"]
    assert (record["consent_method"], record["consent_witness"]) == ("oral_with_witness", "立会人乙")
    assert record["person_name"] and record["case_number"]
    with owner_engine.connect() as conn:
        (provide,) = conn.execute(text(
            "select details from audit_entries where action = 'transfer.provide' and object_id = :i"),
            {"i": record["id"]}).scalars().all()
    assert sorted(_details(provide)["attachment_ids"]) == sorted(f["id"] for f in posted["attachments"])
    csv_text = admin.get("/api/v1/transfers/provisions?format=csv").data.decode("utf-8-sig")
    assert "スレッドの添付ファイル: 面談記録.pdf" in csv_text
    ok(_post(api("a_staff"), a_row, "本文だけ"), 201)  # a message without files provides no file
    assert len(ok(admin.get("/api/v1/transfers/provisions"))["items"]) == len(before) + 1


def test_the_receiving_center_sends_files_only_once_it_has_a_case_to_record_the_provision_in(web, world, api,
                                                                                          uploads, owner_engine):
    a_row, b_row = _transfer(web, api)
    b = api("b_staff")
    error = _refused(_post(b, b_row, "受入れ前の資料", [(PDF, "b.pdf")]))
    assert "第三者提供記録" in error["message"]
    assert _thread_rows(owner_engine, a_row, b_row) == (0, 0) and _files(uploads) == []
    ok(_post(b, b_row, "受入れ前の質問（本文のみ）"), 201)
    ok(b.post(f"/api/v1/transfers/{b_row}/accept"))
    ok(_post(b, b_row, "受入れ後の資料", [(PDF, "b.pdf")]), 201)
    (record,) = [p for p in ok(api("b_admin").get("/api/v1/transfers/provisions"))["items"] if p["transfer_id"] == b_row]
    assert record["recipient_center"] == "tokyo"
    assert [i["label"] for i in record["items"]] == ["スレッドの添付ファイル: b.pdf"]
    receiving_case = ok(b.get(f"/api/v1/transfers/{b_row}"))["receiving_case_id"]
    assert record["case_id"] == receiving_case


# --- pull requests: one erasure rule ------------------------------------------------------------------

def _pull(web, api) -> tuple[str, str]:
    """B (osaka) asks A (tokyo) to start a transfer: B's pull id and A's."""
    case = factories.make_case(web, "osaka", case_type="consultation",
                               person=factories.person_payload(**PULL_PERSON), facility_name="甲府刑務所",
                               release_date=today_jst() + timedelta(days=90))
    asking = ok(api("b_staff").post("/api/v1/transfer-pulls", json={
        "case_id": str(case["id"]), "to_center": "tokyo", "consent": CONSENT, "message": "開始依頼のテスト"}), 201)
    asked = [i for i in ok(api("a_staff").get("/api/v1/transfer-pulls?side=asked"))["items"] if i["status"] == "open"][0]
    assert asked["person"]["family_name"] == "丁野"
    return asking["id"], asked["id"]


def _pull_snapshot(owner_engine, pull_id):
    with owner_engine.connect() as conn:
        return conn.execute(text("select person_snapshot is null as erased, snapshot_erased_at, facility_name"
                                 " from transfer_pulls where group_id = :i and side = 'asked'"), {"i": _db_id(pull_id)}).one()


def _row_id(owner_engine, pull_id, side) -> str:
    """A side's internal row id (audit entries name the row, which stays inside)."""
    with owner_engine.connect() as conn:
        return str(conn.execute(text("select id from transfer_pulls where group_id = :i and side = :s"),
                                {"i": _db_id(pull_id), "s": side}).scalar())


def _chain(owner_engine, code, action):
    with owner_engine.connect() as conn:
        return conn.execute(text("select object_id, actor_id, details from audit_entries where action = :a and"
                                 " center_id = (select id from centers where code = :c) order by seq"),
                            {"a": action, "c": code}).all()


@pytest.mark.parametrize("how", ["refused", "cancelled"])
def test_a_refused_or_cancelled_pull_erases_the_asked_centers_copy_of_the_identity(web, world, api, owner_engine, how):
    asking, asked = _pull(web, api)
    if how == "refused":
        ok(api("a_staff").post(f"/api/v1/transfer-pulls/{asked}/refuse", json={"comment": "入所記録がありません"}))
        actor = "a_staff"
    else:
        ok(api("b_staff").post(f"/api/v1/transfer-pulls/{asking}/cancel"))
        actor = "b_staff"
    view = ok(api("a_staff").get(f"/api/v1/transfer-pulls/{asked}"))
    assert view["status"] == how and view["person"] is None and view["snapshot_erased_at"]
    stored = _pull_snapshot(owner_engine, asked)
    assert stored.erased and stored.snapshot_erased_at is not None and stored.facility_name == "甲府刑務所"
    (entry,) = _chain(owner_engine, "tokyo", "transfer_pull.snapshot_erase")  # in the asked center's own chain
    assert entry.object_id == _row_id(owner_engine, asked, "asked") and _details(entry.details)["reason"] == how
    assert uuid.UUID(str(entry.actor_id)) == uuid.UUID(str(world.users[actor]["id"]))
    assert _chain(owner_engine, "osaka", "transfer_pull.snapshot_erase") == []
    mine = ok(api("b_staff").get(f"/api/v1/transfer-pulls/{asking}"))
    assert mine["case_id"] and mine["status"] == how  # the asker keeps its own case and person
    page = _page(web, world.users["a_staff"])
    for url in (f"/transfers/pulls/{asked}", "/transfers/pulls"):
        html = page.get(url).get_data(as_text=True)
        assert "丁野" not in html and "消去" in html, url


def test_an_open_pull_keeps_the_identity_the_asked_center_needs(web, world, api, owner_engine):
    _asking, asked = _pull(web, api)
    assert not _pull_snapshot(owner_engine, asked).erased
