"""Records and plans on a case: records with optimistic locking, documents stored outside the
database and checked by content, the coordination plan with every revision kept, comparison and
print view, audit of every read and change, and isolation between centers."""
from __future__ import annotations

import hashlib
import io
import re
import shutil
import uuid
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.i18n import today_jst, wareki
from teichaku.platform.tenancy import set_tenant
from teichaku.platform import storage
from teichaku.tenants.records import services
from tests import factories
from tests.helpers import api_error

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20


def _office(main_type: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", f'<?xml version="1.0"?><Types><Override PartName="/x" ContentType="{main_type}"/></Types>')
        z.writestr("word/document.xml", "<w/>")
    return buf.getvalue()


DOCX = _office("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")
XLSX = _office("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")


# --- fixtures and helpers ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def _web(make_app, tmp_path_factory):
    root = tmp_path_factory.mktemp("records") / "uploads"
    return make_app(WTF_CSRF_ENABLED=False, UPLOAD_ROOT=str(root)), root


@pytest.fixture()
def web(_web):
    """An app with CSRF off (forms posted directly) and uploads under a temporary root, emptied
    before each test (see ``uploads``)."""
    app, root = _web
    shutil.rmtree(root, ignore_errors=True)
    return app


@pytest.fixture()
def uploads(_web, web):
    """The web app's upload root (empty when the test starts)."""
    return _web[1]


def page_client(app, user):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302
    return client


def api_client(app, user):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {factories.api_token(app.test_client(), user)}"
    return client


def _entries(owner_engine, action, center="tokyo"):
    """Audit entries of one action in one center's chain (the world's center B has its own)."""
    with owner_engine.connect() as conn:
        return conn.execute(text("select action, object_id, person_id, actor_id, details from audit_entries"
                                 " where action = :a and center_id = (select id from centers where code = :c) order by seq"),
                            {"a": action, "c": center}).all()


def _count(owner_engine, table, center="tokyo", **where):
    """Rows of one center in a table (the world's center B has records of its own)."""
    clause = " and ".join(["center_id = (select id from centers where code = :center)", *(f"{k} = :{k}" for k in where)])
    with owner_engine.connect() as conn:
        return conn.execute(text(f"select count(*) from {table} where {clause}"), {"center": center, **where}).scalar()


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _interview(client, case_id, **overrides):
    body = {"kind": "interview", "recorded_on": "2025-06-01", "place": "東京拘置所", "participants": "本人、福祉専門官",
            "content": "出所後の住まいについて本人と話した。"}
    body.update(overrides)
    return client.post(f"/api/v1/cases/{case_id}/records", json=body)


# --- records ---------------------------------------------------------------------------------------

def test_staff_add_each_kind_of_record_through_the_pages_and_see_them_on_the_case_page(web, world):
    client = page_client(web, world.user("a_staff"))
    case_id = world.cases["a"]["id"]
    page = client.get(f"/cases/{case_id}/records/new?kind=assessment").get_data(as_text=True)
    assert "フェイスシート・アセスメント" in page and "犯罪歴の概要" in page and "本人の希望" in page
    response = client.post(f"/cases/{case_id}/records/new?kind=assessment",
                           data={"kind": "assessment", "recorded_on": "2025-05-01", "life_history": "高校卒業後に就職。",
                                 "wishes": "一人暮らしをしたい"})
    assert response.status_code == 302
    response = client.post(f"/cases/{case_id}/records/new",
                           data={"kind": "interview", "recorded_on": "2025-05-02", "place": "府中刑務所",
                                 "participants": "本人", "content": "面談の内容"})
    assert response.status_code == 302
    record_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "府中刑務所" in record_page and "面談の内容" in record_page and "令和7年5月2日" in record_page
    assert client.post(f"/cases/{case_id}/records/new",
                       data={"kind": "progress", "recorded_on": "2025-05-03", "content": "手帳の申請"}).status_code == 302

    case_page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "記録と計画" in case_page
    for text_ in ("フェイスシート・アセスメント", "面談記録", "支援経過", "令和7年5月3日", "手帳の申請"):
        assert text_ in case_page, text_
    assert len(re.findall(rf'href="/cases/{case_id}/records/[0-9a-f-]{{36}}"', case_page)) == 3


def test_two_staff_editing_one_interview_record_conflict_and_nothing_is_lost(web, world, owner_engine):
    case_id = world.cases["a"]["id"]
    created = _interview(api_client(web, world.user("a_staff")), case_id)
    record_id = created.get_json()["id"]
    first, second = page_client(web, world.user("a_staff")), page_client(web, world.user("a_admin"))
    # Both open the form at version 1.
    for client in (first, second):
        form = client.get(f"/cases/{case_id}/records/{record_id}/edit").get_data(as_text=True)
        assert 'name="version" value="1"' in form
    saved = first.post(f"/cases/{case_id}/records/{record_id}/edit",
                       data={"recorded_on": "2025-06-01", "place": "東京拘置所", "content": "一人目が保存した内容", "version": "1"})
    assert saved.status_code == 302
    stale = second.post(f"/cases/{case_id}/records/{record_id}/edit",
                        data={"recorded_on": "2025-06-01", "place": "東京拘置所", "content": "二人目がまだ保存していない長い文章", "version": "1"})
    assert stale.status_code == 409
    page = stale.get_data(as_text=True)
    assert "他の職員が先にこの記録を更新しました" in page
    assert "二人目がまだ保存していない長い文章" in page  # the unsaved text stays in the form
    assert "一人目が保存した内容" in page  # ...next to what is saved now
    assert 'name="version" value="2"' in page
    with owner_engine.connect() as conn:
        content, version = conn.execute(text("select content, version from case_records where id = :i"), {"i": record_id}).one()
    assert (content, version) == ("一人目が保存した内容", 2)
    # Having looked, the second staff member saves on top of the current version.
    again = second.post(f"/cases/{case_id}/records/{record_id}/edit",
                        data={"recorded_on": "2025-06-01", "content": "二人目がまだ保存していない長い文章", "version": "2"})
    assert again.status_code == 302
    assert len(_entries(owner_engine, "record.update")) == 2


def test_api_patch_needs_if_match_and_a_stale_version_is_a_version_conflict(web, world):
    client = api_client(web, world.user("a_staff"))
    case_id = world.cases["a"]["id"]
    created = _interview(client, case_id)
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    url = f"/api/v1/cases/{case_id}/records/{created.get_json()['id']}"
    api_error(client.patch(url, json={"content": "x"}), 428, "precondition_required")
    ok = client.patch(url, json={"content": "一人目"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.get_json()["version"] == 2 and ok.headers["ETag"] == '"2"'
    error = api_error(client.patch(url, json={"content": "二人目"}, headers={"If-Match": '"1"'}), 409, "version_conflict")
    assert error["details"]["current_version"] == 2
    assert client.get(url).get_json()["content"] == "一人目"


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "progress", "recorded_on": "2025-06-01", "content": "x", "author_id": str(uuid.uuid4())}, "author_id"),
    ({"kind": "progress", "recorded_on": "2025-13-40", "content": "x"}, "recorded_on"),
    ({"kind": "progress", "recorded_on": "令和7年6月1日", "content": "x"}, "recorded_on"),
    ({"kind": "progress", "recorded_on": (date.today() + timedelta(days=3)).isoformat(), "content": "x"}, "recorded_on"),
    ({"kind": "progress", "recorded_on": "2025-06-01"}, "content"),
    ({"kind": "progress", "recorded_on": "2025-06-01", "content": "x", "place": "どこか"}, "place"),
    ({"kind": "interview", "content": "x"}, "recorded_on"),
    ({"kind": "assessment", "sections": {"life_history": "x", "favourite_food": "y"}}, "sections.favourite_food"),
    ({"kind": "assessment", "sections": {}}, "sections"),
    ({"kind": "diary", "recorded_on": "2025-06-01", "content": "x"}, "kind"),
])
def test_bad_record_input_gets_japanese_field_errors_and_changes_nothing(web, world, owner_engine, body, field):
    client = api_client(web, world.user("a_staff"))
    error = api_error(client.post(f"/api/v1/cases/{world.cases['a']['id']}/records", json=body), 422, "validation_error")
    assert field in error["details"]["fields"], error
    assert all(re.search(r"[ぁ-んァ-ン一-龥]", m) for m in error["details"]["fields"][field]), error
    assert _count(owner_engine, "case_records", case_id=str(world.cases["a"]["id"])) == 0


def test_patching_a_field_of_another_kind_or_an_unknown_field_is_refused(web, world):
    client = api_client(web, world.user("a_staff"))
    case_id = world.cases["a"]["id"]
    url = f"/api/v1/cases/{case_id}/records/{_interview(client, case_id).get_json()['id']}"
    for body, field in (({"sections": {"family": "x"}}, "sections"), ({"kind": "progress"}, "kind"),
                        ({"recorded_on": "not-a-date"}, "recorded_on"), ({"version": 5}, "version")):
        error = api_error(client.patch(url, json=body, headers={"If-Match": '"1"'}), 422, "validation_error")
        assert field in error["details"]["fields"], (body, error)
    assert client.get(url).get_json()["version"] == 1


def test_page_form_with_a_bad_date_shows_a_japanese_field_error_and_changes_nothing(web, world, owner_engine):
    client = page_client(web, world.user("a_staff"))
    response = client.post(f"/cases/{world.cases['a']['id']}/records/new",
                           data={"kind": "progress", "recorded_on": "2025-02-30", "content": "x"})
    assert response.status_code == 422
    assert "日付は YYYY-MM-DD の形式で入力してください。" in response.get_data(as_text=True)
    future = client.post(f"/cases/{world.cases['a']['id']}/records/new",
                         data={"kind": "progress", "recorded_on": (today_jst() + timedelta(days=1)).isoformat(), "content": "x"})
    assert future.status_code == 422 and "今日以前の日付を入力してください。" in future.get_data(as_text=True)
    assert _count(owner_engine, "case_records") == 0


# --- documents ---------------------------------------------------------------------------------------

def _upload(client, case_id, data: bytes, name: str, kind="request_letter", api=True):
    url = f"/api/v1/cases/{case_id}/documents" if api else f"/cases/{case_id}/documents/new"
    return client.post(url, data={"kind": kind, "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_document_is_stored_outside_the_database_under_the_center(web, world, owner_engine, uploads):
    client = api_client(web, world.user("a_staff"))
    response = _upload(client, world.cases["a"]["id"], PDF, "特別調整協力等依頼書.pdf")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["content_type"] == "application/pdf" and body["size_bytes"] == len(PDF)
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest() and body["filename"] == "特別調整協力等依頼書.pdf"
    tokyo = center_by_code_id("tokyo", web)
    path = uploads / str(tokyo) / body["id"]
    assert path.read_bytes() == PDF
    assert _files(uploads) == [path]  # no temporary file left, nothing named after the user's file
    with owner_engine.connect() as conn:
        columns = {r[0]: r[1] for r in conn.execute(text(
            "select column_name, data_type from information_schema.columns where table_name = 'case_documents'"))}
    assert "bytea" not in columns.values()  # the bytes are not in the database


def center_by_code_id(code, app):
    with app.app_context():
        return center_by_code(code).id


def test_page_upload_and_download_is_an_audited_attachment_never_sniffed_or_cached(web, world, owner_engine):
    client = page_client(web, world.user("a_staff"))
    case_id = world.cases["a"]["id"]
    assert "書類を登録" in client.get(f"/cases/{case_id}/documents/new").get_data(as_text=True)
    response = _upload(client, case_id, PDF, "依頼書.pdf", api=False)
    assert response.status_code == 302
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    link = re.search(rf'href="(/cases/{case_id}/documents/[0-9a-f-]{{36}}/download)"', page).group(1)
    assert "依頼書.pdf" in page and "特別調整協力等依頼書" in page
    download = client.get(link)
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E4%BE%9D%E9%A0%BC%E6%9B%B8.pdf" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Cache-Control"] == "no-store"
    (entry,) = _entries(owner_engine, "document.download")
    assert str(entry.person_id) == str(world.cases["a"]["person_id"])
    assert str(entry.actor_id) == str(world.user("a_staff")["id"])
    api_download = api_client(web, world.user("a_admin")).get(f"/api/v1{link.replace('/download', '/content')}")
    assert api_download.status_code == 200 and api_download.data == PDF
    assert api_download.headers["Cache-Control"] == "no-store"
    assert len(_entries(owner_engine, "document.download")) == 2


def test_upload_pretending_to_be_a_pdf_is_refused(web, world, owner_engine, uploads):
    fake = b"MZ\x90\x00\x03\x00\x00\x00 this is a program, not a PDF"
    text_as_pdf = "ただのテキストです".encode()
    api = api_client(web, world.user("a_staff"))
    for data in (fake, text_as_pdf):
        error = api_error(_upload(api, world.cases["a"]["id"], data, "依頼書.pdf"), 422, "validation_error")
        assert list(error["details"]["fields"]) == ["file"], error
    page = _upload(page_client(web, world.user("a_staff")), world.cases["a"]["id"], text_as_pdf, "依頼書.pdf", api=False)
    assert page.status_code == 422
    assert "ファイルの内容が拡張子と一致しません" in page.get_data(as_text=True)
    assert _count(owner_engine, "case_documents") == 0
    assert _files(uploads) == []


@pytest.mark.parametrize(("data", "name", "content_type"), [
    (PDF, "a.pdf", "application/pdf"), (PNG, "写真.PNG", "image/png"), (JPEG, "b.jpeg", "image/jpeg"),
    (JPEG, "c.jpg", "image/jpeg"), (DOCX, "d.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (XLSX, "e.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("経過メモ\n".encode(), "memo.txt", "text/plain; charset=utf-8"), (PDF, "no-extension", "application/pdf"),
])
def test_allowed_types_are_detected_by_content(web, world, data, name, content_type):
    response = _upload(api_client(web, world.user("a_staff")), world.cases["a"]["id"], data, name)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["content_type"] == content_type
    if name == "no-extension":
        assert response.get_json()["filename"] == "no-extension.pdf"


@pytest.mark.parametrize(("data", "name"), [
    (b"MZ\x90\x00binary", "tool.exe"), (b"GIF89a....", "x.gif"), (DOCX, "d.xlsx"), (XLSX, "e.docx"),
    (_office("application/xml"), "f.docx"), (b"PK\x03\x04not really a zip", "g.docx"),
    ("シフトJIS".encode("shift_jis"), "h.txt"), (b"", "empty.txt"), (PNG, "photo.jpg"),
])
def test_other_types_and_mismatched_extensions_are_refused(web, world, owner_engine, data, name):
    error = api_error(_upload(api_client(web, world.user("a_staff")), world.cases["a"]["id"], data, name), 422, "validation_error")
    assert "file" in error["details"]["fields"]
    assert _count(owner_engine, "case_documents") == 0


def test_fifty_megabyte_upload_is_refused_with_a_japanese_error(web, world, owner_engine, uploads):
    big = PDF + b"0" * (50 * 1024 * 1024)
    page = _upload(page_client(web, world.user("a_staff")), world.cases["a"]["id"], big, "big.pdf", api=False)
    assert page.status_code == 413
    html = page.get_data(as_text=True)
    assert "ファイルが大きすぎます" in html and '<html lang="ja">' in html
    api = _upload(api_client(web, world.user("a_staff")), world.cases["a"]["id"], big, "big.pdf")
    api_error(api, 413, "payload_too_large")
    assert _count(owner_engine, "case_documents") == 0
    assert _files(uploads) == []


def test_a_document_over_the_configured_limit_gets_a_field_error(make_app, world, owner_engine, tmp_path):
    app = make_app(WTF_CSRF_ENABLED=False, UPLOAD_ROOT=str(tmp_path / "up"), DOCUMENT_MAX_MB=1)
    big = PDF + b"0" * (1024 * 1024)
    error = api_error(_upload(api_client(app, world.user("a_staff")), world.cases["a"]["id"], big, "big.pdf"), 422, "validation_error")
    assert "1MB" in error["details"]["fields"]["file"][0]
    page = _upload(page_client(app, world.user("a_staff")), world.cases["a"]["id"], big, "big.pdf", api=False)
    assert page.status_code == 422 and "ファイルが大きすぎます。1MB 以下" in page.get_data(as_text=True)
    assert _count(owner_engine, "case_documents") == 0 and _files(tmp_path / "up") == []


def test_upload_form_without_a_file_or_with_unknown_fields_is_refused(web, world):
    api = api_client(web, world.user("a_staff"))
    url = f"/api/v1/cases/{world.cases['a']['id']}/documents"
    error = api_error(api.post(url, data={"kind": "other"}, content_type="multipart/form-data"), 422, "validation_error")
    assert "file" in error["details"]["fields"]
    error = api_error(api.post(url, data={"kind": "other", "owner": "x", "file": (io.BytesIO(PDF), "a.pdf")},
                            content_type="multipart/form-data"), 422, "validation_error")
    assert "owner" in error["details"]["fields"]
    error = api_error(api.post(url, data={"kind": "secret", "file": (io.BytesIO(PDF), "a.pdf")},
                            content_type="multipart/form-data"), 422, "validation_error")
    assert "kind" in error["details"]["fields"]
    page = page_client(web, world.user("a_staff")).post(f"/cases/{world.cases['a']['id']}/documents/new", data={"kind": "other"})
    assert page.status_code == 422 and "ファイルを選んでください。" in page.get_data(as_text=True)


def test_a_transaction_that_fails_leaves_no_orphan_file(web, world, uploads):
    root = uploads
    with web.app_context():
        set_tenant(center_by_code("tokyo").id)
        case = services.load_case(world.cases["a"]["id"])
        doc = services.upload_document(case, stream=io.BytesIO(PDF), filename="a.pdf", kind="other")
        path = storage.document_path(doc.center_id, doc.id)
        assert path.exists()  # renamed to its final name after the flush...
        db.session.rollback()
        assert not path.exists()  # ...and gone with the rollback
        services.upload_document(case, stream=io.BytesIO(PDF), filename="b.pdf", kind="other")
        db.session.close()  # ended without a commit
        assert _files(root) == []
        kept = services.upload_document(case, stream=io.BytesIO(PDF), filename="c.pdf", kind="other")
        db.session.commit()
        assert _files(root) == [storage.document_path(kept.center_id, kept.id)]


def test_a_failure_after_the_file_is_written_leaves_no_orphan_file_through_the_page(web, world, uploads, monkeypatch):
    real = services._audit

    def failing(action, *args, **kwargs):
        if action == "document.upload":
            raise RuntimeError("simulated failure after the file was renamed")
        return real(action, *args, **kwargs)

    monkeypatch.setattr(services, "_audit", failing)
    client = page_client(web, world.user("a_staff"))
    with pytest.raises(RuntimeError):
        _upload(client, world.cases["a"]["id"], PDF, "a.pdf", api=False)
    assert _files(uploads) == []


def test_filenames_are_sanitized_for_display_and_download(web, world):
    client = api_client(web, world.user("a_staff"))
    assert storage.sanitize_filename("C:\\Users\\x\\報告.TXT") == "報告.txt"
    assert storage.sanitize_filename("", "pdf") == "document.pdf"
    assert storage.sanitize_filename("x" * 300 + ".pdf") == "x" * 146 + ".pdf"
    assert storage.sanitize_filename('<script>"x".txt') == "_script__x_.txt"
    for raw, shown in (("../../etc/メモ.txt", "メモ.txt"), ("a\u202egnp.txt", "a_gnp.txt"),
                       (".hidden.txt", "hidden.txt"), ("<script>x.txt", "_script_x.txt")):
        response = _upload(client, world.cases["a"]["id"], "本文".encode(), raw)
        assert response.status_code == 201, (raw, response.get_json())
        assert response.get_json()["filename"] == shown


def test_a_document_whose_file_was_altered_is_not_served(web, world, uploads):
    client = api_client(web, world.user("a_staff"))
    body = _upload(client, world.cases["a"]["id"], PDF, "a.pdf").get_json()
    path = uploads / str(center_by_code_id("tokyo", web)) / body["id"]
    path.write_bytes(PDF.replace(b"1.7", b"1.6"))
    response = client.get(f"/api/v1/cases/{world.cases['a']['id']}/documents/{body['id']}/content")
    api_error(response, 500, "internal_error")


# --- the coordination plan ------------------------------------------------------------------------------

def _plan_form(**overrides):
    data = {"wishes": "地元で暮らしたい", "goals": "グループホームに入居する", "notes": "",
            "items-0-area": "housing", "items-0-support": "グループホームの見学", "items-0-provider": "相談支援事業所",
            "items-0-due_on": "2025-08-01",
            "items-1-area": "certificates", "items-1-support": "", "items-1-provider": "", "items-1-due_on": ""}
    data.update(overrides)
    return data


def test_every_plan_revision_is_kept_and_comparable(web, world, owner_engine):
    client = page_client(web, world.user("a_staff"))
    case_id = world.cases["a"]["id"]
    form = client.get(f"/cases/{case_id}/plans/new").get_data(as_text=True)
    for area in ("住まい", "収入・生活費", "医療・健康", "手帳・証明書", "福祉サービス", "家族・親族", "日中活動"):
        assert area in form
    created = client.post(f"/cases/{case_id}/plans/new", data=_plan_form())
    assert created.status_code == 302
    plan_url = created.headers["Location"]
    plan_id = plan_url.rsplit("/", 1)[1]
    editor = client.get(f"{plan_url}/revise").get_data(as_text=True)
    assert 'name="base_revision" value="1"' in editor and "グループホームの見学" in editor
    second = client.post(f"{plan_url}/revise", data=_plan_form(
        base_revision="1", **{"items-1-support": "療育手帳の再判定を申請", "items-1-provider": "本人・センター"}))
    assert second.status_code == 302
    third = client.post(f"{plan_url}/revise", data=_plan_form(
        base_revision="2", goals="救護施設に入所する",
        **{"items-1-support": "療育手帳の再判定を申請", "items-1-provider": "本人・センター"}))
    assert third.status_code == 302

    with owner_engine.connect() as conn:
        rows = conn.execute(text("select revision, content from plan_revisions where plan_id = :p order by revision"),
                            {"p": plan_id}).all()
    assert [r.revision for r in rows] == [1, 2, 3]
    assert rows[0].content["goals"] == "グループホームに入居する" and len(rows[0].content["items"]) == 1
    assert rows[0].content["items"][0] == {"area": "housing", "support": "グループホームの見学",
                                           "provider": "相談支援事業所", "due_on": "2025-08-01"}
    assert len(rows[1].content["items"]) == 2 and rows[2].content["goals"] == "救護施設に入所する"

    plan_page = client.get(plan_url).get_data(as_text=True)
    assert "第3版" in plan_page and "第1版" in plan_page and "救護施設に入所する" in plan_page
    old_page = client.get(f"{plan_url}?revision=1").get_data(as_text=True)
    assert "グループホームに入居する" in old_page and "救護施設に入所する" not in old_page

    compare = client.get(f"{plan_url}/compare?old=1&new=3")
    assert compare.status_code == 200
    html = compare.get_data(as_text=True)
    assert "第1版と第3版の比較" in html
    assert re.search(r'<tr class="diff-replace"><td>グループホームに入居する</td><td>救護施設に入所する</td></tr>', html)
    assert re.search(r'<tr class="diff-insert"><td class="diff-empty"></td><td>■ 手帳・証明書</td></tr>', html)
    assert "-グループホームに入居する" in html and "+救護施設に入所する" in html  # the unified diff
    default = client.get(f"{plan_url}/compare").get_data(as_text=True)
    assert "第2版と第3版の比較" in default
    assert client.get(f"{plan_url}/compare?old=1&new=9").status_code == 404
    assert client.get(f"{plan_url}/compare?old=x&new=1").status_code == 404

    api = api_client(web, world.user("a_admin"))
    detail = api.get(f"/api/v1/cases/{case_id}/plans/{plan_id}").get_json()
    assert [r["revision"] for r in detail["revisions"]] == [3, 2, 1]
    assert detail["latest"]["content"]["goals"] == "救護施設に入所する"
    first = api.get(f"/api/v1/cases/{case_id}/plans/{plan_id}/revisions/1").get_json()
    assert first["content"]["goals"] == "グループホームに入居する" and first["content"]["items"][0]["due_on"] == "2025-08-01"


def test_revising_from_a_stale_revision_is_refused_and_keeps_the_text(web, world, owner_engine):
    case_id = world.cases["a"]["id"]
    api = api_client(web, world.user("a_admin"))
    created = api.post(f"/api/v1/cases/{case_id}/plans", json={"content": {"goals": "最初の目標"}})
    assert created.status_code == 201, created.get_json()
    plan_id = created.get_json()["id"]
    assert created.get_json()["title"] == "福祉サービス等調整計画" and created.get_json()["latest_revision"] == 1
    url = f"/api/v1/cases/{case_id}/plans/{plan_id}/revisions"
    ok = api.post(url, json={"base_revision": 1, "content": {"goals": "管理者の改訂",
                                                              "items": [{"area": "income", "support": "年金の確認"}]}})
    assert ok.status_code == 201 and ok.get_json()["revision"] == 2
    error = api_error(api.post(url, json={"base_revision": 1, "content": {"goals": "古い版からの改訂"}}), 409, "version_conflict")
    assert error["details"]["current_revision"] == 2
    for body, field in (({"content": {"goals": "x"}}, "base_revision"),
                        ({"base_revision": 2, "content": {"goals": "x", "items": [{"area": "pets", "support": "x"}]}}, "content.items.0.area"),
                        ({"base_revision": 2, "content": {"items": [{"area": "housing", "support": "x", "due_on": "2025-02-31"}]}}, "content.items.0.due_on"),
                        ({"base_revision": 2, "content": {}}, "content.goals"),
                        ({"base_revision": 2, "content": {"goals": "x", "revision": 7}}, "content.revision")):
        error = api_error(api.post(url, json=body), 422, "validation_error")
        assert field in error["details"]["fields"], (body, error)

    page = page_client(web, world.user("a_staff")).post(
        f"/cases/{case_id}/plans/{plan_id}/revise", data=_plan_form(base_revision="1", goals="職員がまだ保存していない目標"))
    assert page.status_code == 409
    html = page.get_data(as_text=True)
    assert "他の職員が先にこの計画を改訂しました" in html
    assert "職員がまだ保存していない目標" in html and "管理者の改訂" in html
    assert 'name="base_revision" value="2"' in html
    assert _count(owner_engine, "plan_revisions", plan_id=plan_id) == 2


def test_plan_editor_refuses_bad_rows_with_field_errors(web, world, owner_engine):
    client = page_client(web, world.user("a_staff"))
    case_id = world.cases["a"]["id"]
    bad_date = client.post(f"/cases/{case_id}/plans/new", data=_plan_form(**{"items-0-due_on": "2025-02-31"}))
    assert bad_date.status_code == 422 and "日付は YYYY-MM-DD の形式で入力してください。" in bad_date.get_data(as_text=True)
    no_support = client.post(f"/cases/{case_id}/plans/new", data=_plan_form(**{"items-1-provider": "誰か"}))
    assert no_support.status_code == 422 and "支援内容を入力してください。" in no_support.get_data(as_text=True)
    empty = client.post(f"/cases/{case_id}/plans/new", data={"wishes": "", "goals": ""})
    assert empty.status_code == 422 and "本人の意向・目標・支援項目のいずれかを入力してください。" in empty.get_data(as_text=True)
    assert _count(owner_engine, "coordination_plans") == 0


def test_plan_print_view_shows_wareki_date(web, world):
    client = page_client(web, world.user("a_staff"))
    case_id = world.cases["a"]["id"]
    plan_url = client.post(f"/cases/{case_id}/plans/new", data=_plan_form()).headers["Location"]
    response = client.get(f"{plan_url}/print")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>福祉サービス等調整計画</h1>" in html
    assert "東京都地域生活定着支援センター" in html
    assert world.cases["a"]["person_name"] in html
    assert wareki(today_jst()) in html and "令和" in html  # the date in the Japanese era
    assert "令和7年8月1日" in html  # the item's deadline, too
    assert "records.css" in html and "style=" not in html and "<script" not in html
    assert "メインメニュー" not in html  # a clean sheet, without the application's menus
    css = client.get("/static/records.css").get_data(as_text=True)
    assert "@page" in css and "A4" in css and "@media print" in css


# --- audit ---------------------------------------------------------------------------------------------

def test_reading_a_record_is_audited(web, world, owner_engine):
    case_id, person_id = world.cases["a"]["id"], str(world.cases["a"]["person_id"])
    api = api_client(web, world.user("a_staff"))
    record_id = _interview(api, case_id).get_json()["id"]
    assert api.get(f"/api/v1/cases/{case_id}/records/{record_id}").status_code == 200
    page = page_client(web, world.user("a_admin")).get(f"/cases/{case_id}/records/{record_id}")
    assert page.status_code == 200
    reads = _entries(owner_engine, "record.read")
    assert [(r.object_id, str(r.person_id)) for r in reads] == [(record_id, person_id)] * 2
    assert [str(r.actor_id) for r in reads] == [str(world.user("a_staff")["id"]), str(world.user("a_admin")["id"])]


def test_every_change_and_read_is_audited_with_the_person(web, world, owner_engine):
    case_id, person_id = world.cases["a"]["id"], str(world.cases["a"]["person_id"])
    api = api_client(web, world.user("a_staff"))
    record_id = _interview(api, case_id).get_json()["id"]
    api.patch(f"/api/v1/cases/{case_id}/records/{record_id}", json={"content": "変更"}, headers={"If-Match": '"1"'})
    api.get(f"/api/v1/cases/{case_id}/records")
    doc = _upload(api, case_id, PDF, "a.pdf").get_json()
    api.get(f"/api/v1/cases/{case_id}/documents/{doc['id']}")
    api.get(f"/api/v1/cases/{case_id}/documents")
    plan = api.post(f"/api/v1/cases/{case_id}/plans", json={"content": {"goals": "x"}}).get_json()
    api.post(f"/api/v1/cases/{case_id}/plans/{plan['id']}/revisions", json={"base_revision": 1, "content": {"goals": "y"}})
    api.get(f"/api/v1/cases/{case_id}/plans/{plan['id']}")
    api.get(f"/api/v1/cases/{case_id}/plans")
    for action in ("record.create", "record.update", "record.list", "document.upload", "document.read", "document.list",
                   "plan.create", "plan.revise", "plan.read", "plan.list"):
        entries = _entries(owner_engine, action)
        assert entries and all(str(e.person_id) == person_id for e in entries), action
    (update,) = _entries(owner_engine, "record.update")
    assert update.details["fields"] == ["content"]
    page_client(web, world.user("a_staff")).get(f"/cases/{case_id}")
    (overview,) = _entries(owner_engine, "record.overview")
    assert str(overview.person_id) == person_id and overview.details["plans"] == 1


def test_a_refused_change_leaves_no_audit_entry(web, world, owner_engine):
    api = api_client(web, world.user("a_staff"))
    _interview(api, world.cases["a"]["id"], recorded_on="2025-99-01")
    _upload(api, world.cases["a"]["id"], b"not a pdf", "a.pdf")
    assert _entries(owner_engine, "record.create") == [] and _entries(owner_engine, "document.upload") == []


# --- isolation ---------------------------------------------------------------------------------------------

def test_records_of_another_centers_case_are_404(web, world):
    b = world.objects["records_b"]
    b_case, a_case = world.cases["b"]["id"], world.cases["a"]["id"]
    api, page = api_client(web, world.user("a_staff")), page_client(web, world.user("a_staff"))
    api_paths = ["/records", f"/records/{b['interview_id']}", "/documents", f"/documents/{b['document_id']}",
                 f"/documents/{b['document_id']}/content", "/plans", f"/plans/{b['plan_id']}",
                 f"/plans/{b['plan_id']}/revisions/1"]
    for path in api_paths:
        on_b = api.get(f"/api/v1/cases/{b_case}{path}")
        on_random = api.get(f"/api/v1/cases/{uuid.uuid4()}{path}")
        assert on_b.status_code == on_random.status_code == 404, path
        assert on_b.get_json() == on_random.get_json()
        # B's objects under A's own case are not found either.
        assert api.get(f"/api/v1/cases/{a_case}{path}").status_code in (200, 404)
        if "/" in path.strip("/"):
            assert api.get(f"/api/v1/cases/{a_case}{path}").status_code == 404, path
    page_paths = [f"/records/{b['interview_id']}", f"/records/{b['interview_id']}/edit", "/records/new",
                  f"/documents/{b['document_id']}/download", "/documents/new", f"/plans/{b['plan_id']}",
                  f"/plans/{b['plan_id']}/print", f"/plans/{b['plan_id']}/compare", f"/plans/{b['plan_id']}/revise"]
    for path in page_paths:
        on_b, on_random = page.get(f"/cases/{b_case}{path}"), page.get(f"/cases/{uuid.uuid4()}{path}")
        assert on_b.status_code == on_random.status_code == 404, path
        assert b["secret"] not in on_b.get_data(as_text=True)
    for path in page_paths[:2] + page_paths[4:5]:
        assert page.get(f"/cases/{a_case}{path}").status_code in (200, 404)
    # Writing into B's case or record is refused the same way, and changes nothing.
    assert api.patch(f"/api/v1/cases/{b_case}/records/{b['interview_id']}", json={"content": "改ざん"},
                     headers={"If-Match": '"1"'}).status_code == 404
    assert api.patch(f"/api/v1/cases/{a_case}/records/{b['interview_id']}", json={"content": "改ざん"},
                     headers={"If-Match": '"1"'}).status_code == 404
    assert _upload(api, b_case, PDF, "a.pdf").status_code == 404
    assert api.post(f"/api/v1/cases/{a_case}/plans/{b['plan_id']}/revisions",
                    json={"base_revision": 2, "content": {"goals": "改ざん"}}).status_code == 404
    with web.app_context():
        set_tenant(center_by_code("osaka").id)
        case = services.load_case(b_case)
        assert services.get_record(case, b["interview_id"]).content.startswith("乙川秘話")
        assert services.get_plan(case, b["plan_id"]).latest_revision == 2


def test_a_record_of_one_case_is_not_found_under_another_case_of_the_same_center(web, world):
    api = api_client(web, world.user("a_staff"))
    other = factories.make_case(web, "tokyo")
    record_id = _interview(api, world.cases["a"]["id"]).get_json()["id"]
    assert api.get(f"/api/v1/cases/{other['id']}/records/{record_id}").status_code == 404


def test_roles_without_case_access_get_403(web, world):
    for key in ("a_prefecture", "association", "ministry", "platform_admin"):
        api = api_client(web, world.user(key))
        assert api.get(f"/api/v1/cases/{world.cases['a']['id']}/records").status_code == 403, key
        assert api.post(f"/api/v1/cases/{world.cases['a']['id']}/plans", json={"content": {"goals": "x"}}).status_code == 403


# --- API description, pages -----------------------------------------------------------------------------

def test_openapi_document_describes_records_documents_and_plans(web):
    spec = web.test_client().get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path, methods in {
        "/api/v1/cases/{case_id}/records": {"get", "post"}, "/api/v1/cases/{case_id}/records/{record_id}": {"get", "patch"},
        "/api/v1/cases/{case_id}/documents": {"get", "post"}, "/api/v1/cases/{case_id}/documents/{document_id}": {"get"},
        "/api/v1/cases/{case_id}/documents/{document_id}/content": {"get"},
        "/api/v1/cases/{case_id}/plans": {"get", "post"}, "/api/v1/cases/{case_id}/plans/{plan_id}": {"get"},
        "/api/v1/cases/{case_id}/plans/{plan_id}/revisions": {"post"},
        "/api/v1/cases/{case_id}/plans/{plan_id}/revisions/{revision_no}": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    upload = paths["/api/v1/cases/{case_id}/documents"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    assert "application/octet-stream" in paths["/api/v1/cases/{case_id}/documents/{document_id}/content"]["get"]["responses"]["200"]["content"]


def test_records_pages_have_no_inline_style_or_script_and_are_in_english_too(web, world):
    client = page_client(web, world.user("a_staff"))
    case_id = world.cases["a"]["id"]
    record_id = _interview(api_client(web, world.user("a_staff")), case_id).get_json()["id"]
    plan_url = client.post(f"/cases/{case_id}/plans/new", data=_plan_form()).headers["Location"]
    urls = [f"/cases/{case_id}", f"/cases/{case_id}/records/new?kind=interview", f"/cases/{case_id}/records/{record_id}",
            f"/cases/{case_id}/records/{record_id}/edit", f"/cases/{case_id}/documents/new", f"/cases/{case_id}/plans/new",
            plan_url, f"{plan_url}/revise", f"{plan_url}/compare", f"{plan_url}/print"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert " style=" not in html and "<script" not in html and "<style" not in html, url
    client.post("/locale", data={"locale": "en", "next": "/dashboard"})
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Records and plans" in page and "Interview record" in page
    assert "Welfare service coordination plan" in client.get(f"{plan_url}/print").get_data(as_text=True)
