"""The person's disclosure request (開示請求): one ZIP with everything the center holds about one
person (data.json, a readable Japanese index.html, the files), only the center's own rows of
that person, the access log without details or IP addresses, and the export itself audited."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from flask import g
from sqlalchemy import select, text

from teichaku.platform.audit.services import record as audit_record
from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.i18n import today_jst
from teichaku.platform.tenancy import set_tenant
from teichaku.crosstenant.retention.disclosure_request import ACCESS_LOG_COLUMNS, DisclosurePackage, build_disclosure
from tests import factories

PDF = b"%PDF-1.7\n% disclosure test letter\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ATTACHED_PDF = b"%PDF-1.4\n% attached to the thread\n%%EOF\n"
CONSENT = {"obtained_on": date(2025, 6, 1), "method": "written", "scope": "大阪府での生活の調整"}
SCRIPT = "<script>alert(1)</script>"
STAFF_NAME = "開示担当職員"
# Values that must never leave in the package: an audit entry's details and its IP address.
AUDIT_SECRET = "監査詳細の秘密値"
AUDIT_IP = "198.51.100.23"
# Another person of the same center, and a person of another center.
OTHER_NAME, OTHER_RECORD, OTHER_QUESTION = "別人秘子", "別人の秘密記録です。", "別人の住まいの相談"
FOREIGN_NAME, FOREIGN_RECORD = "他県秘人", "他県の秘密記録です。"
HEADINGS = ("本人の情報", "ケース", "記録", "調整計画", "書類", "検討委員会", "広域調整", "第三者提供記録", "閲覧・変更の記録")


# --- fixtures and helpers ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def _web(make_app, tmp_path_factory):
    root = tmp_path_factory.mktemp("disclosure") / "uploads"
    return make_app(UPLOAD_ROOT=str(root)), root


@pytest.fixture()
def web(_web):
    """An app with uploads under a temporary root, emptied before each test."""
    app, root = _web
    shutil.rmtree(root, ignore_errors=True)
    return app


def _actor(user: dict, name: str = STAFF_NAME) -> SimpleNamespace:
    return SimpleNamespace(id=user["id"], role=user["role"], display_name=name)


def _as(center: str, actor: SimpleNamespace) -> None:
    """Work as ``actor`` in ``center``: the tenant scope, and the actor the audit entries name."""
    set_tenant(center_by_code(center).id)
    g.audit_actor = actor


def _person_case(**overrides) -> dict:
    return {"case_type": "coordination", "release_date": today_jst() + timedelta(days=10),
            "person": factories.person_payload(family_name="開示", given_name="花子", family_name_kana="かいじ",
                                               given_name_kana="はなこ", birth_date=date(1952, 5, 6), sex="female"),
            **overrides}


def _build_person_world(app) -> dict:
    """Tokyo's person 開示花子 with two cases and something in every section; tokyo's other person
    and osaka's own person, each with distinctive values a leak check can look for."""
    from teichaku.crosstenant.transfers import pulls
    from teichaku.crosstenant.transfers import threads, workflow
    from teichaku.crosstenant.transfers.models import Transfer
    from teichaku.tenants.cases.services import create_case, raise_reminders
    from teichaku.tenants.committees import services as committees
    from teichaku.tenants.records import services as records

    staff = factories.make_user(app, "staff", "tokyo", display_name=STAFF_NAME)
    b_staff = factories.make_user(app, "staff", "osaka", display_name="大阪職員")
    out: dict = {"staff": staff}
    with app.app_context():
        _as("tokyo", _actor(staff))
        case = create_case(_person_case(facility_name="府中刑務所"), created_by=_actor(staff))
        second = create_case({"case_type": "consultation", "person_id": case.person_id, "requester_type": "family",
                              "topic": "家族からの住まいの相談"})
        interview = records.create_record(case, {"kind": "interview", "recorded_on": date(2025, 6, 10), "place": "面会室",
                                                 "participants": "本人", "content": f"面談の記録 {SCRIPT}"})
        progress = records.create_record(second, {"kind": "progress", "recorded_on": date(2025, 6, 12),
                                                  "content": "開示花子さんの支援経過。"})
        document = records.upload_document(case, stream=io.BytesIO(PDF), filename="依頼書.pdf", kind="request_letter")
        plan, _first = records.create_plan(case, {"content": {"wishes": "静かな所で暮らしたい", "goals": "グループホーム",
                                                              "items": [], "notes": ""}})
        records.revise_plan(case, plan, {"wishes": "静かな所で暮らしたい", "goals": "グループホームへの入居",
                                         "items": [], "notes": "第二版"}, base_revision=1)
        raise_reminders(today=case.release_date - timedelta(days=3))
        meeting = committees.create_meeting({"held_on": date(2025, 7, 10), "place": "センター会議室",
                                             "notes": f"会議録：{OTHER_NAME}についても検討"})
        item = committees.add_agenda_item(meeting, {"case_id": case.id, "question": "退所後の居所について助言がほしい"})
        transfer = workflow.request_transfer(case, center_by_code("osaka"), CONSENT, "大阪府での生活を希望しています。",
                                              [{"kind": "record", "id": str(interview.id)}], _actor(staff))
        pull = pulls.request_pull(case, center_by_code("fukuoka"), CONSENT, "福岡の施設に入所中です。", _actor(staff))
        db.session.commit()
        threads.post_message(transfer, "資料を添付します。", _actor(staff),
                             files=[(io.BytesIO(ATTACHED_PDF), "添付資料.pdf")])
        with app.test_request_context(environ_base={"REMOTE_ADDR": AUDIT_IP}):
            audit_record("case.read", object_type="case", object_id=case.id, person_id=case.person_id,
                         details={"note": AUDIT_SECRET})
        _as("tokyo", _actor(staff))  # the request's teardown ended its scope
        out.update(person_id=case.person_id, case_ids={case.id, second.id}, interview_id=interview.id,
                   progress_id=progress.id, document_id=document.id, plan_id=plan.id, item_id=item.id,
                   transfer_id=transfer.id, pull_id=pull.id, meeting_id=meeting.id)
        _add_other_person(records, committees, create_case, meeting)
        db.session.commit()

        # Osaka answers in the thread (its message lands in tokyo's copy of the thread too).
        _as("osaka", _actor(b_staff, "大阪職員"))
        receiving = db.session.scalar(select(Transfer).where(Transfer.group_id == transfer.group_id))
        threads.post_message(receiving, "大阪からの返信です。", _actor(b_staff, "大阪職員"))
        foreign = create_case(_person_case(person=factories.person_payload(family_name=FOREIGN_NAME, given_name="一郎")))
        records.create_record(foreign, {"kind": "progress", "recorded_on": date(2025, 6, 12), "content": FOREIGN_RECORD})
        out["foreign_person_id"] = foreign.person_id
        db.session.commit()
    return out


def _add_other_person(records, committees, create_case, meeting) -> None:
    """Tokyo's second person: a case, a record, a document and an agenda item in the same meeting."""
    other = create_case(_person_case(person=factories.person_payload(family_name=OTHER_NAME, given_name="二子")))
    records.create_record(other, {"kind": "progress", "recorded_on": date(2025, 6, 13), "content": OTHER_RECORD})
    records.upload_document(other, stream=io.BytesIO(b"other person's secret letter\n"), filename="別人.txt", kind="other")
    committees.add_agenda_item(meeting, {"case_id": other.id, "question": OTHER_QUESTION})


def _export(app, person_id, center: str = "tokyo") -> DisclosurePackage:
    """Build the package in ``center``'s scope and commit (as the page's view does)."""
    with app.app_context():
        set_tenant(center_by_code(center).id)
        package = build_disclosure(person_id)
        db.session.commit()
        return package


def _open(package: DisclosurePackage) -> tuple[dict, str, dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(contents["data.json"].decode("utf-8")), contents["index.html"].decode("utf-8"), contents


@pytest.fixture()
def exported(web):
    ids = _build_person_world(web)
    package = _export(web, ids["person_id"])
    data, html, contents = _open(package)
    return SimpleNamespace(ids=ids, package=package, data=data, html=html, contents=contents)


# --- what the package holds ------------------------------------------------------------------------

def test_package_holds_the_person_every_case_record_plan_revision_and_agenda_item(exported):
    data, ids = exported.data, exported.ids
    assert exported.package.filename == f"disclosure-{ids['person_id']}-{today_jst():%Y%m%d}.zip"
    assert exported.package.filename.isascii()
    assert data["person"]["id"] == str(ids["person_id"]) and data["person"]["family_name"] == "開示"
    assert data["person"]["birth_date"] == "1952-05-06"
    assert "name_search" not in data["person"] and "name_grams" not in data["person"]
    assert {c["id"] for c in data["cases"]} == {str(i) for i in ids["case_ids"]}
    coordination = next(c for c in data["cases"] if c["case_type"] == "coordination")
    assert len(coordination["needs"]) == 7 and coordination["reminders"]
    assert {r["id"] for r in data["records"]} == {str(ids["interview_id"]), str(ids["progress_id"])}
    assert any(SCRIPT in (r["content"] or "") for r in data["records"])
    [plan] = data["plans"]
    assert plan["id"] == str(ids["plan_id"]) and [r["revision"] for r in plan["revisions"]] == [1, 2]
    assert plan["revisions"][1]["content"]["notes"] == "第二版"
    [item] = data["committee_agenda_items"]
    assert item["id"] == str(ids["item_id"]) and item["meeting"]["held_on"] == "2025-07-10"
    assert item["meeting"]["place"] == "センター会議室"
    counts = exported.package.counts
    assert counts["cases"] == 2 and counts["records"] == 2 and counts["plans"] == 1 and counts["plan_revisions"] == 2
    assert counts["committee_agenda_items"] == 1 and counts["person"] == 1


def test_package_holds_document_and_attachment_bytes_identical_to_what_was_stored(exported):
    data, contents = exported.data, exported.contents
    [document] = data["documents"]
    assert document["id"] == str(exported.ids["document_id"]) and document["file_missing"] is False
    assert document["file"] == f"files/documents/{document['id']}-依頼書.pdf"
    assert contents[document["file"]] == PDF
    assert hashlib.sha256(contents[document["file"]]).hexdigest() == document["sha256"]
    [transfer] = data["transfers"]
    [attachment] = transfer["attachments"]
    assert attachment["file"] == f"files/attachments/{attachment['id']}-添付資料.pdf"
    assert contents[attachment["file"]] == ATTACHED_PDF
    assert exported.package.counts["files"] == 2 and exported.package.counts["files_missing"] == 0


def test_package_holds_the_transfer_thread_pull_and_provision_records(exported):
    data, ids = exported.data, exported.ids
    [transfer] = data["transfers"]
    assert transfer["id"] == str(ids["transfer_id"]) and transfer["side"] == "sending"
    assert [m["body"] for m in transfer["messages"]] == ["資料を添付します。", "大阪からの返信です。"]
    [pull] = data["transfer_pulls"]
    assert pull["id"] == str(ids["pull_id"]) and pull["side"] == "asking"
    provisions = data["provision_records"]
    assert {p["transfer_id"] for p in provisions} == {str(ids["transfer_id"]), None}
    assert {p["pull_id"] for p in provisions} == {str(ids["pull_id"]), None}
    assert all(p["person_id"] == str(ids["person_id"]) for p in provisions)
    # the centers named (recipients, counterparts, message authors) with their names, for the reader
    assert {c["code"] for c in data["centers"].values()} == {"tokyo", "osaka", "fukuoka"}
    counts = exported.package.counts
    assert (counts["transfers"], counts["transfer_messages"], counts["transfer_attachments"]) == (1, 2, 1)
    # the request's, the attachment's (a file sent is a provision too) and the pull's
    assert counts["transfer_pulls"] == 1 and counts["provision_records"] == 3


def test_access_log_shows_who_did_what_but_never_audit_details_nor_ip(exported):
    log = exported.data["access_log"]
    actions = {e["action"] for e in log}
    assert {"case.create", "record.create", "document.upload", "plan.create", "plan.revise", "transfer.request",
            "transfer.provide", "transfer_pull.request", "case.read"} <= actions
    assert all(tuple(e) == ACCESS_LOG_COLUMNS for e in log)
    assert STAFF_NAME in {e["actor_name"] for e in log}
    assert "staff" in {e["actor_role"] for e in log}
    for name, blob in exported.contents.items():
        assert AUDIT_SECRET.encode() not in blob, name
        assert AUDIT_IP.encode() not in blob, name
    assert exported.package.counts["access_log"] == len(log)


def test_the_export_itself_is_audited_with_its_counts(exported, owner_engine):
    with owner_engine.connect() as conn:
        rows = conn.execute(text(
            "select object_type, object_id, person_id, details from audit_entries where action = 'person.disclosure_export'"
            " and center_id = (select id from centers where code = 'tokyo')")).all()
    [(object_type, object_id, person_id, details)] = rows
    details = json.loads(details) if isinstance(details, str) else details
    assert object_type == "person" and object_id == str(exported.ids["person_id"])
    assert str(person_id).replace("-", "") == exported.ids["person_id"].hex
    assert details == {"counts": exported.package.counts}


def test_a_second_export_lists_the_first_one_in_the_access_log(web, exported):
    again = _export(web, exported.ids["person_id"])
    data, html, _contents = _open(again)
    assert "person.disclosure_export" in {e["action"] for e in data["access_log"]}
    assert "開示請求への回答" in html


# --- what the package never holds --------------------------------------------------------------------

def test_nothing_of_another_person_of_the_same_center(exported):
    for name, blob in exported.contents.items():
        for secret in (OTHER_NAME, OTHER_RECORD, OTHER_QUESTION, "other person's secret letter"):
            assert secret.encode() not in blob, (name, secret)
    assert not any(name.endswith("別人.txt") for name in exported.contents)


def test_nothing_of_another_center_and_its_person_is_not_found_here(web, exported):
    for name, blob in exported.contents.items():
        for secret in (FOREIGN_NAME, FOREIGN_RECORD):
            assert secret.encode() not in blob, (name, secret)
    with web.app_context():
        set_tenant(center_by_code("tokyo").id)
        with pytest.raises(LookupError):
            build_disclosure(exported.ids["foreign_person_id"])
        set_tenant(None)
        with pytest.raises(LookupError):
            build_disclosure(exported.ids["person_id"])
        db.session.rollback()


# --- index.html ----------------------------------------------------------------------------------------

def test_index_html_is_japanese_with_every_heading_and_escapes_record_content(exported):
    html = exported.html
    assert html.startswith("<!DOCTYPE html>") and '<html lang="ja">' in html
    for heading in HEADINGS:
        assert f"<h2>{heading}" in html, heading
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "開示 花子" in html
    assert "令和7年6月10日" in html and "昭和27年5月6日" in html  # recorded_on and birth date in the era
    assert "面談記録" in html and "コーディネート業務" in html  # codes shown by their Japanese label
    assert 'href="files/documents/' in html and "http://" not in html and "https://" not in html
    assert STAFF_NAME in html
    assert "<script" not in html.replace("&lt;script", "")


# --- a file gone from the disk ------------------------------------------------------------------------

def test_a_document_whose_file_is_missing_is_listed_and_the_export_still_succeeds(web):
    from teichaku.tenants.cases.services import create_case
    from teichaku.platform import storage
    from teichaku.tenants.records import services as records

    with web.app_context():
        set_tenant(center_by_code("tokyo").id)
        case = create_case(_person_case())
        kept = records.upload_document(case, stream=io.BytesIO(PDF), filename="残る書類.pdf", kind="other")
        lost = records.upload_document(case, stream=io.BytesIO(b"%PDF-1.4\n% lost\n%%EOF\n"), filename="失われた.pdf",
                                       kind="other")
        db.session.commit()
        storage.document_path(lost.center_id, lost.id).unlink()
        person_id, kept_id, lost_id = case.person_id, kept.id, lost.id
    package = _export(web, person_id)
    data, html, contents = _open(package)
    documents = {d["id"]: d for d in data["documents"]}
    assert documents[str(lost_id)]["file"] is None and documents[str(lost_id)]["file_missing"] is True
    assert documents[str(lost_id)]["filename"] == "失われた.pdf"
    assert contents[documents[str(kept_id)]["file"]] == PDF
    assert [n for n in contents if n.startswith("files/")] == [documents[str(kept_id)]["file"]]
    assert package.counts["documents"] == 2 and package.counts["files_missing"] == 1
    assert "ファイルを読み出せなかった" in html
