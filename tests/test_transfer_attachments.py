"""Files attached to a transfer's thread: each center owns its own copy of the bytes and its own
row; only the owning center downloads its copy (another center's id is a 404, the association
is refused); a bad file is a 422 that leaves no message, no row and no file; uploads and
downloads are audited."""
from __future__ import annotations

import hashlib
import io
import re
import shutil
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from teichaku.platform.centers import center_by_code
from teichaku.platform.i18n import today_jst
from tests import factories
from tests.conftest import APP_ROLE, BACKEND, rls_scope
from tests.helpers import api_clients, ok

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
CONSENT = {"obtained_on": "2026-01-05", "method": "written"}


# --- fixtures and helpers ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def _web(make_app, tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer-attachments") / "uploads"
    return make_app(WTF_CSRF_ENABLED=False, UPLOAD_ROOT=str(root)), root


@pytest.fixture()
def web(_web):
    """An app with CSRF off and uploads under a temporary root, emptied before each test."""
    app, root = _web
    shutil.rmtree(root, ignore_errors=True)
    return app


@pytest.fixture()
def uploads(_web, web):
    return _web[1]


@pytest.fixture()
def api_app(web):
    return web


def _page(app, user):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302
    return client


def _center_id(app, code):
    with app.app_context():
        return center_by_code(code).id


def _transfer(web, api) -> tuple[str, str]:
    """A request from A (tokyo) to B (osaka): A's row id and B's row id."""
    case = factories.make_case(web, "tokyo", release_date=today_jst() + timedelta(days=60))
    sent = ok(api("a_staff").post("/api/v1/transfers", json={
        "case_id": str(case["id"]), "to_center": "osaka", "consent": CONSENT, "message": "添付のテスト"}), 201)
    incoming = [i for i in ok(api("b_staff").get("/api/v1/transfers?side=receiving"))["items"]
                if i["from_center"] == "tokyo"][0]
    return sent["id"], incoming["id"]


def _post(client, transfer_id, body, files, api=True):
    url = f"/api/v1/transfers/{transfer_id}/messages" if api else f"/transfers/{transfer_id}/messages"
    data = {"body": body, "files": [(io.BytesIO(content), name) for content, name in files]}
    return client.post(url, data=data, content_type="multipart/form-data")


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _count(owner_engine, table, *transfer_ids, center=None):
    """Rows of a thread table belonging to these transfers (by their one id: every side's rows), of
    one center or all (the test world has a thread of its own between B and C)."""
    transfer_ids = tuple(set(transfer_ids))
    groups = ",".join(f":t{i}" for i in range(len(transfer_ids)))
    sql = f"select count(*) from {table} where transfer_id in (select id from transfers where group_id in ({groups}))"
    params = {f"t{i}": t for i, t in enumerate(transfer_ids)}
    if center:
        sql += " and center_id = (select id from centers where code = :c)"
        params["c"] = center
    with owner_engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _entries(owner_engine, action, center):
    with owner_engine.connect() as conn:
        return conn.execute(text("select object_id, person_id, actor_id, details from audit_entries where action = :a"
                                 " and center_id = (select id from centers where code = :c) order by seq"),
                            {"a": action, "c": center}).all()


# --- both sides get their own copy -------------------------------------------------------------------

def test_a_file_attached_to_a_message_reaches_the_other_center_as_its_own_copy(web, world, api, uploads, owner_engine):
    a_row, b_row = _transfer(web, api)
    posted = ok(_post(api("a_staff"), a_row, "資料を添付します", [(PDF, "依頼書.pdf"), (PNG, "写真.png")]), 201)
    assert [(f["filename"], f["size"], f["content_type"]) for f in posted["attachments"]] == [
        ("依頼書.pdf", len(PDF), "application/pdf"), ("写真.png", len(PNG), "image/png")]

    (theirs,) = ok(api("b_staff").get(f"/api/v1/transfers/{b_row}/messages"))["items"]
    assert theirs["body"] == "資料を添付します" and [f["filename"] for f in theirs["attachments"]] == ["依頼書.pdf", "写真.png"]
    a_ids = {f["id"] for f in posted["attachments"]}
    b_ids = {f["id"] for f in theirs["attachments"]}
    assert a_ids.isdisjoint(b_ids)  # B's copy is B's own row, not A's

    tokyo, osaka = _center_id(web, "tokyo"), _center_id(web, "osaka")
    expected = {uploads / str(tokyo) / i for i in a_ids} | {uploads / str(osaka) / i for i in b_ids}
    assert set(_files(uploads)) == expected  # one copy per center, no temporary file left
    pdf_b = next(f for f in theirs["attachments"] if f["filename"] == "依頼書.pdf")
    download = api("b_staff").get(f"/api/v1/transfers/{b_row}/attachments/{pdf_b['id']}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff" and download.headers["Cache-Control"] == "no-store"
    assert _count(owner_engine, "transfer_message_attachments", a_row, b_row, center="tokyo") == 2
    assert _count(owner_engine, "transfer_message_attachments", a_row, b_row, center="osaka") == 2


def test_a_message_sent_as_json_still_works_and_lists_no_attachments(web, world, api):
    a_row, b_row = _transfer(web, api)
    posted = ok(api("b_staff").post(f"/api/v1/transfers/{b_row}/messages", json={"body": "了解しました"}), 201)
    assert posted["attachments"] == [] and posted["mine"] is True
    (mine,) = ok(api("a_staff").get(f"/api/v1/transfers/{a_row}/messages"))["items"]
    assert mine["body"] == "了解しました" and mine["attachments"] == []


def test_each_copy_belongs_to_its_center_after_the_other_center_loses_or_alters_its_own(web, world, api, uploads):
    a_row, b_row = _transfer(web, api)
    posted = ok(_post(api("a_staff"), a_row, "書類です", [(PDF, "a.pdf")]), 201)
    (theirs,) = ok(api("b_staff").get(f"/api/v1/transfers/{b_row}/messages"))["items"]
    a_file = uploads / str(_center_id(web, "tokyo")) / posted["attachments"][0]["id"]
    a_file.write_bytes(b"%PDF-1.7 altered")  # A's copy damaged on disk: B's copy does not depend on it
    b_download = api("b_staff").get(f"/api/v1/transfers/{b_row}/attachments/{theirs['attachments'][0]['id']}")
    assert b_download.status_code == 200 and hashlib.sha256(b_download.data).hexdigest() == hashlib.sha256(PDF).hexdigest()
    broken = api("a_staff").get(f"/api/v1/transfers/{a_row}/attachments/{posted['attachments'][0]['id']}")
    assert broken.status_code == 500 and broken.get_json()["error"]["code"] == "internal_error"


# --- who may download --------------------------------------------------------------------------------

def test_only_the_owning_center_downloads_its_copy_and_others_get_404_or_403(web, world, api, make_app):
    a_row, b_row = _transfer(web, api)
    posted = ok(_post(api("a_staff"), a_row, "書類です", [(PDF, "a.pdf")]), 201)
    a_file = posted["attachments"][0]["id"]
    (theirs,) = ok(api("b_staff").get(f"/api/v1/transfers/{b_row}/messages"))["items"]
    b_file = theirs["attachments"][0]["id"]

    b = api("b_staff")
    assert b.get(f"/api/v1/transfers/{b_row}/attachments/{b_file}").status_code == 200
    assert b.get(f"/api/v1/transfers/{b_row}/attachments/{a_file}").status_code == 404   # A's copy, through B's row
    assert b.get(f"/api/v1/transfers/{a_row}/attachments/{a_file}").status_code == 404   # A's row
    a = api("a_staff")
    assert a.get(f"/api/v1/transfers/{a_row}/attachments/{b_file}").status_code == 404
    missing = a.get(f"/api/v1/transfers/{a_row}/attachments/{uuid.uuid4()}")
    assert missing.status_code == 404
    c = api("c_staff")
    for transfer_id, file_id in ((a_row, a_file), (b_row, b_file)):
        answer = c.get(f"/api/v1/transfers/{transfer_id}/attachments/{file_id}")
        assert answer.status_code == 404 and answer.get_json() == missing.get_json()
        refused = api("association").get(f"/api/v1/transfers/{transfer_id}/attachments/{file_id}")
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    pages = make_app(WTF_CSRF_ENABLED=False, UPLOAD_ROOT=web.config["UPLOAD_ROOT"])
    assert _page(pages, world.users["c_staff"]).get(f"/transfers/{b_row}/attachments/{b_file}").status_code == 404
    assert _page(pages, world.users["association"]).get(f"/transfers/{a_row}/attachments/{a_file}").status_code == 403
    assert _page(pages, world.users["b_staff"]).get(f"/transfers/{b_row}/attachments/{a_file}").status_code == 404


# --- bad files change nothing ---------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "name"), [
    (b"MZ\x90\x00 a program, not a PDF", "依頼書.pdf"),
    ("ただのテキスト".encode(), "偽物.pdf"),
    (b"", "empty.txt"),
    (PNG, "photo.jpg"),
])
def test_a_refused_file_is_422_and_leaves_no_message_row_or_file(web, world, api, uploads, owner_engine, content, name):
    a_row, b_row = _transfer(web, api)
    response = _post(api("a_staff"), a_row, "送れないはずの添付", [(PDF, "good.pdf"), (content, name)])
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["files"]
    assert _count(owner_engine, "transfer_messages", a_row, b_row) == 0
    assert _count(owner_engine, "transfer_message_attachments", a_row, b_row) == 0
    assert _files(uploads) == []  # neither the good file staged first nor any temporary file
    assert ok(api("b_staff").get(f"/api/v1/transfers/{b_row}/messages"))["items"] == []


def test_a_file_over_the_document_limit_is_422_with_too_large(make_app, world, tmp_path, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False, UPLOAD_ROOT=str(tmp_path / "up"), DOCUMENT_MAX_MB=1)
    api = api_clients(app, world)
    a_row, b_row = _transfer(app, api)
    response = _post(api("a_staff"), a_row, "大きすぎる", [(PDF + b"0" * (1024 * 1024), "big.pdf")])
    error = response.get_json()["error"]
    assert response.status_code == 422 and error["details"]["too_large"] is True and "1MB" in error["details"]["fields"]["files"][0]
    assert _count(owner_engine, "transfer_messages", a_row, b_row) == 0 and _files(tmp_path / "up") == []


def test_more_than_five_files_or_an_unknown_part_is_422_and_sends_nothing(web, world, api, uploads, owner_engine):
    a_row, b_row = _transfer(web, api)
    too_many = _post(api("a_staff"), a_row, "多すぎる", [(PDF, f"{i}.pdf") for i in range(6)])
    assert too_many.status_code == 422 and "files" in too_many.get_json()["error"]["details"]["fields"]
    unknown = api("a_staff").post(f"/api/v1/transfers/{a_row}/messages", content_type="multipart/form-data",
                                  data={"body": "x", "file": (io.BytesIO(PDF), "a.pdf")})
    assert unknown.status_code == 422 and "file" in unknown.get_json()["error"]["details"]["fields"]
    no_body = _post(api("a_staff"), a_row, "", [(PDF, "a.pdf")])
    assert no_body.status_code == 422 and "body" in no_body.get_json()["error"]["details"]["fields"]
    malformed = api("a_staff").post(f"/api/v1/transfers/{a_row}/messages", data="{", content_type="application/json")
    assert malformed.status_code == 400 and malformed.get_json()["error"]["code"] == "bad_request"
    assert _count(owner_engine, "transfer_messages", a_row, b_row) == 0 and _files(uploads) == []


def test_files_stored_in_a_transaction_that_rolls_back_are_deleted(web, world, api, uploads):
    """A stored copy becomes permanent only with its row: a failure after storing (here the
    notification) rolls back the message, the rows and both files."""
    from types import SimpleNamespace

    from teichaku.crosstenant.transfers import groups, threads
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import set_tenant

    a_row, _b_row = _transfer(web, api)
    with web.app_context():
        set_tenant(_center_id(web, "tokyo"))
        row = groups.get_transfer_or_404(a_row)
        actor = SimpleNamespace(id=world.users["a_staff"]["id"], display_name="職員A", role="staff")
        threads.post_message(row, "消える添付", actor, files=[(io.BytesIO(PDF), "a.pdf")])
        assert len(_files(uploads)) == 2  # both copies in place, under their final names
        db.session.rollback()
    assert _files(uploads) == []


# --- audit ---------------------------------------------------------------------------------------------

def test_uploads_and_downloads_are_audited_in_the_acting_centers_chain(web, world, api, owner_engine):
    a_row, b_row = _transfer(web, api)
    posted = ok(_post(api("a_staff"), a_row, "書類です", [(PDF, "依頼書.pdf")]), 201)
    (upload,) = _entries(owner_engine, "transfer.attachment_upload", "tokyo")
    assert upload.object_id == posted["attachments"][0]["id"]
    assert upload.details["filename"] == "依頼書.pdf" and upload.details["sha256"] == hashlib.sha256(PDF).hexdigest()
    (theirs,) = ok(api("b_staff").get(f"/api/v1/transfers/{b_row}/messages"))["items"]
    assert upload.details["counterpart_copy_id"] == theirs["attachments"][0]["id"]
    ok(api("b_staff").get(f"/api/v1/transfers/{b_row}/attachments/{theirs['attachments'][0]['id']}"))
    (download,) = _entries(owner_engine, "transfer.attachment_download", "osaka")
    assert download.object_id == theirs["attachments"][0]["id"]
    assert str(download.actor_id) == str(world.users["b_staff"]["id"])
    assert _entries(owner_engine, "transfer.attachment_download", "tokyo") == []


@pytest.mark.skipif(BACKEND != "postgres", reason="grants and row-level security are PostgreSQL's")
def test_attachment_rows_cannot_be_changed_and_each_center_sees_only_its_own(web, world, api, database):
    a_row, _b_row = _transfer(web, api)
    ok(_post(api("a_staff"), a_row, "書類です", [(PDF, "a.pdf")]), 201)
    engine = create_engine(database["owner_url"].replace("teichaku_owner@", f"{APP_ROLE}@"))
    try:
        with engine.connect() as conn:
            for statement in ("update transfer_message_attachments set filename = 'x'",
                              "delete from transfer_message_attachments"):
                trans = conn.begin()
                with pytest.raises(Exception, match="permission denied"):
                    conn.execute(text(statement))
                trans.rollback()
            for code in ("tokyo", "osaka"):
                with conn.begin():
                    center = _center_id(web, code)
                    rls_scope(conn, tenant=center)
                    centers = set(conn.execute(text("select center_id from transfer_message_attachments")).scalars())
                    assert centers == {center}
    finally:
        engine.dispose()


# --- pages ----------------------------------------------------------------------------------------------

def test_the_thread_form_attaches_files_and_the_other_center_sees_download_links(web, world, api):
    a_row, b_row = _transfer(web, api)
    a = _page(web, world.users["a_staff"])
    form = a.get(f"/transfers/{a_row}").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form and 'type="file"' in form and "multiple" in form
    assert _post(a, a_row, "面談記録を添付します", [(PDF, "面談記録.pdf")], api=False).status_code == 302

    b = _page(web, world.users["b_staff"])
    page = b.get(f"/transfers/{b_row}").get_data(as_text=True)
    assert "面談記録を添付します" in page and "面談記録.pdf" in page
    link = re.search(rf'href="(/transfers/{b_row}/attachments/[0-9a-f-]{{36}})"', page).group(1)
    download = b.get(link)
    assert download.status_code == 200 and download.data == PDF
    assert link not in a.get(f"/transfers/{a_row}").get_data(as_text=True)  # A links to its own copy


def test_the_thread_form_refuses_a_bad_file_keeping_the_text_and_sending_nothing(web, world, api, uploads, owner_engine):
    a_row, b_row = _transfer(web, api)
    a = _page(web, world.users["a_staff"])
    refused = _post(a, a_row, "消えてほしくない本文", [("テキスト".encode(), "偽物.pdf")], api=False)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "ファイルの内容が拡張子と一致しません" in html and "消えてほしくない本文" in html
    assert _count(owner_engine, "transfer_messages", a_row, b_row) == 0 and _files(uploads) == []
