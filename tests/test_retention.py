"""Retention and deletion (保存期間と削除): who is due, the monthly review, the center admin's
decision, and an erasure that removes the personal data, keeps the figures and the audit chain.

Time passes by moving the retention service's "today" forward (``later``): the case work itself
is done today through the real services and API, as staff would.
"""
from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from teichaku.crosstenant.aggregates import rollups
from teichaku.crosstenant.notifications.models import Notification, OutboxEvent
from teichaku.platform.audit.models import AuditEntry
from teichaku.platform.audit.services import verify
from teichaku.platform.auth.models import User
from teichaku.platform.centers import center_by_code
from teichaku.platform.errors import InvalidState, ValidationFailed
from teichaku.platform.extensions import db
from teichaku.platform import input_ranges
from teichaku.platform.i18n import today_jst
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.cases import services as cases
from teichaku.tenants.cases.models import Case, CaseNeed
from teichaku.tenants.persons.models import Person
from teichaku.tenants.records import services as records
from teichaku.tenants.records.models import CaseDocument, CaseRecord, CoordinationPlan, PlanRevision
from teichaku.platform.storage import document_path
from teichaku.crosstenant.retention import policy, services
from teichaku.crosstenant.retention.models import RetentionReview
from tests import factories
from tests.conftest import APP_ROLE, BACKEND
from tests.world_committees import make_agenda_item, make_meeting

SECRET_NAME = {"family_name": "消去野", "given_name": "秘太", "family_name_kana": "しょうきょの", "given_name_kana": "ひた"}
SECRETS = ("消去野", "秘太", "しょうきょの", "消去秘録", "消去秘計画", "消去秘書類", "消去秘伝言", "消去秘助言")
PDF = b"%PDF-1.4\n% retention test\n%%EOF\n"
CONSENT = {"obtained_on": "2026-01-05", "method": "written", "scope": "大阪府内での調整"}


def _later(monkeypatch, years: int = 6, days: int = 60) -> date:
    """Move the retention service's today forward (the keeping periods run out), and the input
    ranges' today with it (the dates a form accepts are counted from it)."""
    day = today_jst() + timedelta(days=365 * years + days)
    monkeypatch.setattr(services, "today_jst", lambda: day)
    monkeypatch.setattr(input_ranges, "today_jst", lambda: day)
    return day


def _tokyo(app):
    set_tenant(center_by_code("tokyo").id)


def _closed_case(app, *, case_type="coordination", person=None, **overrides) -> dict:
    """A case of center A closed today, its person with distinctive names."""
    case = factories.make_case(app, "tokyo", case_type=case_type,
                               person=person or factories.person_payload(**SECRET_NAME), **overrides)
    with app.app_context():
        _tokyo(app)
        loaded = cases.read_case(case["id"])
        cases.transition_case(loaded, "closed", expected_version=loaded.version,
                              closing={"closing_reason": "placement_secured", "outcome_placement": "group_home",
                                       "closing_note": "消去秘録の終結メモ", "outcome_municipality_name": "秘町"})
        db.session.commit()
    return case


@dataclass
class Listed:
    """A closed case whose person the monthly review has listed, as the admin's page shows it."""

    case: dict
    day: date
    review_id: uuid.UUID
    version: int


def _listed(app, monkeypatch) -> Listed:
    """Close a case, let its keeping period run out and run the review: one person waiting."""
    case = _closed_case(app)
    day = _later(monkeypatch)
    with app.app_context():
        _tokyo(app)
        services.run_review(day)
        db.session.commit()
        (review,) = services.list_reviews()
        return Listed(case, day, review.id, review.version)


def _full_file(app, api) -> dict:
    """A case with records, a plan in two revisions, a document, a need note, an agenda item and
    a transfer to Osaka (accepted) with a message and an attachment; then closed."""
    case = factories.make_case(app, "tokyo", person=factories.person_payload(**SECRET_NAME),
                               release_date=today_jst() + timedelta(days=30), destination_prefecture_code="27")
    with app.app_context():
        _tokyo(app)
        loaded = records.load_case(case["id"])
        records.create_record(loaded, {"kind": "progress", "recorded_on": today_jst(), "content": "消去秘録の支援経過"})
        plan, _rev = records.create_plan(loaded, {"content": {"wishes": "消去秘計画", "goals": "", "items": [], "notes": ""}})
        records.revise_plan(loaded, plan, {"wishes": "消去秘計画 第2版", "goals": "", "items": [], "notes": ""}, base_revision=1)
        document = records.upload_document(loaded, stream=io.BytesIO(PDF), filename="消去秘書類.pdf", kind="other")
        need = db.session.scalars(select(CaseNeed).where(CaseNeed.case_id == loaded.id)).first()
        if need is not None:
            cases.update_need(loaded, need, {"note": "消去秘録の課題"}, expected_version=need.version)
        db.session.commit()
        case["document_id"] = document.id
    meeting = make_meeting(app, "tokyo")
    make_agenda_item(app, "tokyo", meeting["id"], case["id"], question="消去秘助言がほしい", advice="消去秘助言")
    a, b = api("a_staff"), api("b_staff")
    sent = a.post("/api/v1/transfers", json={"case_id": str(case["id"]), "to_center": "osaka", "consent": CONSENT,
                                             "message": "消去秘伝言：大阪へ"})
    assert sent.status_code == 201, sent.get_json()
    transfer_id = sent.get_json()["id"]
    incoming = [i for i in b.get("/api/v1/transfers?side=receiving").get_json()["items"] if i["status"] == "requested"][0]
    assert b.post(f"/api/v1/transfers/{incoming['id']}/accept").status_code == 200
    posted = a.post(f"/api/v1/transfers/{transfer_id}/messages", content_type="multipart/form-data",
                    data={"body": "消去秘伝言その2", "files": [(io.BytesIO(PDF), "消去秘書類2.pdf")]})
    assert posted.status_code == 201, posted.get_json()
    case["transfer_id"] = transfer_id
    case["b_transfer_id"] = incoming["id"]
    with app.app_context():
        _tokyo(app)
        loaded = cases.read_case(case["id"])
        cases.transition_case(loaded, "closed", expected_version=loaded.version,
                              closing={"closing_reason": "other", "closing_note": "消去秘録の終結"})
        db.session.commit()
    return case


def _due(app, day: date) -> list[policy.Due]:
    with app.app_context():
        _tokyo(app)
        return policy.persons_due(day)


# --- who is due ------------------------------------------------------------------------------

def test_a_person_is_due_only_once_the_keeping_period_after_closing_is_over(app, world):
    case = _closed_case(app)
    five_years = policy.years_later(today_jst(), 5)
    assert [d.person_id for d in _due(app, five_years)] == [case["person_id"]]
    assert _due(app, five_years - timedelta(days=1)) == []


def test_an_open_case_of_the_same_person_keeps_the_whole_file(app, world):
    case = _closed_case(app)
    with app.app_context():
        _tokyo(app)
        cases.create_case({"case_type": "consultation", "person_id": case["person_id"]})
        db.session.commit()
    assert _due(app, date(2040, 1, 1)) == []


def test_a_center_rule_per_case_type_replaces_the_installation_default(app, world):
    _closed_case(app, case_type="consultation")
    with app.app_context():
        _tokyo(app)
        services.set_rules({"consultation": 2})
        db.session.commit()
    assert len(_due(app, policy.years_later(today_jst(), 2))) == 1
    with app.app_context():
        _tokyo(app)
        services.set_rules({"consultation": 10})
        db.session.commit()
        changes = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.rules")).all()
    assert len(changes) == 2 and changes[-1].details["after"]["consultation"] == 10
    assert _due(app, policy.years_later(today_jst(), 9)) == []


@pytest.mark.parametrize("years", [0, 31, "5"])
def test_a_rule_outside_one_to_thirty_years_is_refused_and_changes_nothing(app, world, years):
    with app.app_context():
        _tokyo(app)
        with pytest.raises(ValidationFailed):
            services.set_rules({"coordination": years})
        db.session.rollback()
        assert services.rules()["coordination"] == app.config["RETENTION_YEARS_AFTER_CLOSING"]


def test_a_provision_record_still_within_its_legal_period_holds_the_file(app, world, api):
    case = _full_file(app, api)
    # closed today; 5 years later the provision record (3 years) is over too
    assert [d.person_id for d in _due(app, policy.years_later(today_jst(), 5))] == [case["person_id"]]
    # a 1-year rule would be over before the provision record's 3 years
    with app.app_context():
        _tokyo(app)
        services.set_rules({"coordination": 1})
        db.session.commit()
    assert _due(app, policy.years_later(today_jst(), 2)) == []
    assert len(_due(app, policy.years_later(today_jst(), 3))) == 1


def test_an_open_transfer_request_holds_the_file(app, world, api):
    case = factories.make_case(app, "tokyo", person=factories.person_payload(**SECRET_NAME))
    assert api("a_staff").post("/api/v1/transfers", json={"case_id": str(case["id"]), "to_center": "osaka",
                                                          "consent": CONSENT, "message": "x"}).status_code == 201
    with app.app_context():
        _tokyo(app)
        loaded = cases.read_case(case["id"])
        cases.transition_case(loaded, "closed", expected_version=loaded.version, closing={"closing_reason": "other"})
        db.session.commit()
    assert _due(app, date(2040, 1, 1)) == []


# --- the monthly review ----------------------------------------------------------------------

def test_the_monthly_review_lists_each_due_person_once_and_tells_only_the_center_admins(app, world, monkeypatch):
    from teichaku.crosstenant.notifications.delivery import deliver
    from teichaku.platform.tenancy import account_lookup, cross_tenant

    case = _closed_case(app)
    _closed_case(app, person=factories.person_payload())
    day = _later(monkeypatch)
    with app.app_context():
        _tokyo(app)
        first = services.run_review(day)
        db.session.commit()
        second = services.run_review(day)
        db.session.commit()
        reviews = services.list_reviews()
        event_ids = db.session.scalars(select(OutboxEvent.id).where(
            OutboxEvent.kind == "retention_review_due", OutboxEvent.to_center_id == center_by_code("tokyo").id)).all()
    assert (first.listed, second.listed, second.still_due) == (2, 0, 2)
    assert case["person_id"] in {r.person_id for r in reviews} and len(event_ids) == 1
    with app.app_context():
        deliver(event_ids[0])
        db.session.commit()
        with cross_tenant("test"):
            recipients = db.session.scalars(select(Notification.recipient_user_id)
                                            .where(Notification.event_id == event_ids[0])).all()
        with account_lookup():
            roles = set(db.session.scalars(select(User.role).where(User.id.in_(recipients))))
    assert world.users["a_admin"]["id"] in recipients and roles == {"center_admin"}


def test_the_monthly_job_reviews_every_center_in_its_own_scope(app, world, monkeypatch):
    from teichaku.workers.jobs import review_retention

    _closed_case(app)
    factories.make_case(app, "osaka")  # open: nothing due there
    day = _later(monkeypatch)
    with app.app_context():
        assert review_retention() == 1
        set_tenant(center_by_code("osaka").id)
        (b_review,) = services.list_reviews()  # the world's own (tests/world_retention.py), untouched
        assert b_review.id == world.objects["retention_review_b"]["id"]
        _tokyo(app)
        assert len(services.list_reviews()) == 1


def test_a_person_no_longer_due_is_withdrawn_from_the_list(app, world, monkeypatch):
    case = _closed_case(app)
    day = _later(monkeypatch)
    with app.app_context():
        _tokyo(app)
        services.run_review(day)
        cases.create_case({"case_type": "consultation", "person_id": case["person_id"]})
        outcome = services.run_review(day)
        db.session.commit()
        status = db.session.scalar(select(RetentionReview.status))
    assert (outcome.withdrawn, status) == (1, "withdrawn")


def test_a_hold_needs_a_reason_and_a_date_and_returns_to_the_list_when_it_ends(app, world, monkeypatch):
    listed = _listed(app, monkeypatch)
    day = listed.day
    with app.app_context():
        _tokyo(app)
        with pytest.raises(ValidationFailed) as refused:
            services.hold(listed.review_id, reason=" ", until=day - timedelta(days=1), actor=None)
        assert set(refused.value.details["fields"]) == {"reason", "until"}
        services.hold(listed.review_id, reason="照会に対応中", until=day + timedelta(days=90), actor=None)
        db.session.commit()
        assert services.list_reviews() == [] and services.run_review(day + timedelta(days=30)).listed == 0
        assert services.run_review(day + timedelta(days=90)).listed == 1
        db.session.commit()
        assert [r.status for r in services.list_reviews()] == ["due"]


# --- the erasure -----------------------------------------------------------------------------

def _erase(app, monkeypatch, person_id) -> dict:
    day = _later(monkeypatch)
    with app.app_context():
        _tokyo(app)
        services.run_review(day)
        review = [r for r in services.list_reviews() if r.person_id == person_id][0]
        outcome = services.confirm_erasure(review.id, actor=None, expected_version=review.version)
        db.session.commit()
    assert outcome.erased
    return outcome.counts


def test_erasure_removes_every_personal_row_and_file_of_the_person(app, world, api, monkeypatch):
    case = _full_file(app, api)
    with app.app_context():
        doc_path = document_path(center_by_code_id(app, "tokyo"), case["document_id"])
    assert doc_path.exists()
    counts = _erase(app, monkeypatch, case["person_id"])
    assert counts["case_records"] >= 1 and counts["plan_revisions"] == 2 and counts["case_documents"] == 1
    assert counts["transfer_messages"] >= 1 and counts["transfer_message_attachments"] == 1
    # provision records: the request's and the attachment's (a file sent is a provision too)
    assert counts["committee_agenda_items"] == 1 and counts["provision_records"] == 2
    assert not doc_path.exists()
    with app.app_context():
        _tokyo(app)
        for model in (CaseRecord, CaseDocument, CoordinationPlan, PlanRevision):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0, model
        person = db.session.scalar(select(Person).where(Person.id == case["person_id"]))
        assert person.erased_at is not None and person.birth_date is None and person.sex is None
        assert person.family_name == "" and person.support_needs == ["elderly"]
        stub = db.session.scalar(select(Case).where(Case.id == case["id"]))
        assert stub.closing_note is None and stub.destination_prefecture_code == "27" and stub.status == "closed"


def test_nothing_of_the_erased_person_is_left_in_the_center_database(app, world, api, monkeypatch, owner_engine):
    case = _full_file(app, api)
    _erase(app, monkeypatch, case["person_id"])
    tokyo = center_by_code_id(app, "tokyo")
    with owner_engine.connect() as conn:
        for table in [t for t in db.metadata.sorted_tables if "center_id" in t.c]:
            rows = conn.execute(select(table).where(table.c.center_id == tokyo)).all()
            dump = repr(rows)
            for secret in SECRETS:
                assert secret not in dump, (table.name, secret)


def test_the_receiving_center_keeps_its_own_record_of_the_person(app, world, api, monkeypatch, owner_engine):
    case = _full_file(app, api)
    _erase(app, monkeypatch, case["person_id"])
    osaka = center_by_code_id(app, "osaka")
    with owner_engine.connect() as conn:
        names = conn.execute(select(Person.__table__.c.family_name).where(Person.__table__.c.center_id == osaka)).scalars().all()
    assert "消去野" in names


def test_erasure_keeps_every_figure_so_a_rollup_rebuild_reproduces_them(app, world, api, monkeypatch):
    case = _full_file(app, api)
    _closed_case(app, person=factories.person_payload(support_needs=["intellectual", "dementia"]))
    tokyo = center_by_code_id(app, "tokyo")
    with app.app_context():
        _tokyo(app)
        rollups.rebuild_center(tokyo)
        db.session.commit()
        before = rollups.stored(tokyo)
    assert sum(len(f.cells()) for f in before.values()) > 10
    _erase(app, monkeypatch, case["person_id"])
    with app.app_context():
        _tokyo(app)
        report = rollups.rebuild_center(tokyo)
        db.session.commit()
        after = rollups.stored(tokyo)
    assert report.mismatches == 0
    assert set(after) == set(before) and all(not before[y].differences(after[y]) for y in before)


def test_the_audit_chain_still_verifies_with_the_personal_values_blanked(app, world, api, monkeypatch):
    case = _full_file(app, api)
    _erase(app, monkeypatch, case["person_id"])
    with app.app_context():
        assert verify().ok
        _tokyo(app)
        about = db.session.scalars(select(AuditEntry).where(AuditEntry.person_id == case["person_id"])).all()
        erased = [e for e in about if e.action == "retention.erase"]
        assert len(erased) == 1 and "counts" in erased[0].details
        assert all(e.details is None and e.details_blanked for e in about if e.action != "retention.erase")
        assert any(e.action == "case.transition" for e in about)  # the entries themselves stay


def test_an_erased_file_cannot_be_added_to_or_changed(app, world, api, monkeypatch):
    case = _closed_case(app)
    _erase(app, monkeypatch, case["person_id"])
    with app.app_context():
        _tokyo(app)
        loaded = records.load_case(case["id"])
        with pytest.raises(InvalidState):
            records.create_record(loaded, {"kind": "progress", "recorded_on": today_jst(), "content": "後から"})
        db.session.rollback()
        with pytest.raises(InvalidState):
            cases.create_case({"case_type": "consultation", "person_id": case["person_id"]})
        db.session.rollback()
        person = db.session.scalar(select(Person).where(Person.id == case["person_id"]))
        person.family_name = "復活"
        with pytest.raises(InvalidState):
            db.session.flush()
        db.session.rollback()


def test_confirming_a_person_no_longer_due_erases_nothing(app, world, monkeypatch):
    listed = _listed(app, monkeypatch)
    case = listed.case
    with app.app_context():
        _tokyo(app)
        cases.create_case({"case_type": "consultation", "person_id": case["person_id"]})
        outcome = services.confirm_erasure(listed.review_id, actor=None, expected_version=listed.version)
        db.session.commit()
        person = db.session.scalar(select(Person).where(Person.id == case["person_id"]))
    assert not outcome.erased and person.erased_at is None and person.family_name == "消去野"


def test_a_review_is_decided_once(app, world, monkeypatch):
    case = _closed_case(app)
    _erase(app, monkeypatch, case["person_id"])
    with app.app_context():
        _tokyo(app)
        review = db.session.scalar(select(RetentionReview))
        with pytest.raises(InvalidState):
            services.confirm_erasure(review.id, actor=None)
        db.session.rollback()
        with pytest.raises(InvalidState):
            services.hold(review.id, reason="x", until=services.today_jst() + timedelta(days=1), actor=None)


@pytest.mark.skipif(BACKEND != "postgres", reason="the deletion functions exist on PostgreSQL only")
def test_the_application_role_cannot_use_the_deletion_functions_outside_an_erasure(app, world):
    from sqlalchemy.exc import DBAPIError

    case = _closed_case(app)
    with app.app_context():
        _tokyo(app)
        loaded = records.load_case(case["id"])
        note = records.create_record(loaded, {"kind": "progress", "recorded_on": today_jst(), "content": "残す"})
        db.session.commit()
        _tokyo(app)
        assert db.session.scalar(text("select current_user")) == APP_ROLE
        for sql, params in (
            ("select retention_delete_rows('case_records', :ids, :p)", {"ids": [note.id], "p": case["person_id"]}),
            ("select retention_delete_rows('audit_entries', :ids, :p)", {"ids": [uuid.uuid4()], "p": case["person_id"]}),
            ("select retention_blank_audit(:p, :o)", {"p": case["person_id"], "o": [str(case["id"])]}),
            ("select retention_erase_person(:p)", {"p": case["person_id"]}),  # a person not erased
        ):
            with pytest.raises(DBAPIError):
                db.session.execute(text(sql), params)
            db.session.rollback()
            _tokyo(app)
        with pytest.raises(DBAPIError):
            db.session.execute(text("delete from case_records"))
        db.session.rollback()
        _tokyo(app)
        assert db.session.scalar(select(func.count()).select_from(CaseRecord)) == 1


@pytest.mark.skipif(BACKEND != "postgres", reason="the deletion functions exist on PostgreSQL only")
def test_injected_sql_cannot_use_an_erased_person_to_delete_or_blank_another_live_persons_file(app, world, monkeypatch):
    """Once one person of the center is erased, SQL injected into the app's connection calls the
    SECURITY DEFINER erasure function(s) with a live person's row ids and arbitrary audit ids:
    nothing of the live person changes (the function takes the person only and finds its rows)."""
    from sqlalchemy.exc import DBAPIError

    gone = _closed_case(app)
    live = factories.make_case(app, "tokyo", person=factories.person_payload(family_name="生存者", given_name="残"))
    with app.app_context():
        _tokyo(app)
        loaded = records.load_case(live["id"])
        note = records.create_record(loaded, {"kind": "progress", "recorded_on": today_jst(), "content": "残す記録"})
        records.read_record(loaded, note.id)
        db.session.commit()
        note_id = note.id
    _erase(app, monkeypatch, gone["person_id"])

    def live_state():
        with app.app_context():
            _tokyo(app)
            rows = db.session.scalar(select(func.count()).select_from(CaseRecord).where(CaseRecord.case_id == live["id"]))
            entries = db.session.execute(select(AuditEntry.seq, AuditEntry.details_blanked).where(
                (AuditEntry.person_id == live["person_id"]) | AuditEntry.object_id.in_([str(live["id"]), str(note_id)])
            )).all()
            db.session.rollback()
            return rows, sorted(entries)

    before = live_state()
    assert before[0] == 1 and before[1] and not any(blanked for _, blanked in before[1])
    attacks = (
        # the old signatures: caller-chosen rows under the cover of the erased person
        ("select retention_delete_rows('case_records', :ids, :gone)", {"ids": [note_id], "gone": gone["person_id"]}),
        ("select retention_blank_audit(:gone, :objects)",
         {"gone": gone["person_id"], "objects": [str(live["id"]), str(note_id), str(live["person_id"])]}),
        # the new one: with the live person, and again with the erased one
        ("select retention_erase_person(:live)", {"live": live["person_id"]}),
        ("select retention_erase_person(:gone)", {"gone": gone["person_id"]}),
    )
    with app.app_context():
        for sql, params in attacks:
            _tokyo(app)
            assert db.session.scalar(text("select current_user")) == APP_ROLE
            try:
                db.session.execute(text(sql), params)
                db.session.commit()
            except DBAPIError:
                db.session.rollback()
    assert live_state() == before


# --- the pages -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def page_app(make_app):
    return make_app(WTF_CSRF_ENABLED=False)


def _signed_in(app, user: dict):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302
    return client


def _page_client(app, world, key):
    return _signed_in(app, world.users[key])


def test_the_center_admin_confirms_an_erasure_on_the_page_only_after_ticking_the_warning(app, page_app, world, monkeypatch):
    listed = _listed(app, monkeypatch)
    case, review_id, version = listed.case, listed.review_id, listed.version
    admin = _page_client(page_app, world, "a_admin")
    page = admin.get("/retention")
    assert page.status_code == 200 and "消去野" in page.get_data(as_text=True)
    unticked = admin.post(f"/retention/{review_id}/erase", data={"version": version})
    assert unticked.status_code == 422 and "元に戻せないことを確認しました" in unticked.get_data(as_text=True)
    done = admin.post(f"/retention/{review_id}/erase", data={"version": version, "confirm": "yes"})
    assert done.status_code == 302
    detail = admin.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert "消去野" not in detail and "保存期間が過ぎたため" in detail


def test_staff_cannot_reach_the_retention_pages(app, page_app, world):
    staff = _page_client(page_app, world, "a_staff")
    assert staff.get("/retention").status_code == 403
    assert staff.get("/retention/rules").status_code == 403


def test_a_bad_rule_on_the_page_is_refused_in_japanese_and_changes_nothing(app, page_app, world):
    admin = _page_client(page_app, world, "a_admin")
    response = admin.post("/retention/rules", data={"years_coordination": "0", "years_follow_up": "5",
                                                    "years_suspect_support": "5", "years_consultation": "abc"})
    assert response.status_code == 422
    assert "1年から30年の間で入力してください。" in response.get_data(as_text=True)
    with app.app_context():
        _tokyo(app)
        assert services.rules()["coordination"] == app.config["RETENTION_YEARS_AFTER_CLOSING"]


def test_the_cli_review_prints_counts_and_never_a_name(app, world, monkeypatch):
    _closed_case(app)
    _later(monkeypatch)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["retention", "review", "--center", "tokyo"])
    assert result.exit_code == 0, result.output
    assert "tokyo\tlisted 1" in result.output and "消去野" not in result.output


def center_by_code_id(app, code: str):
    with app.app_context():
        return center_by_code(code).id


def test_the_pages_of_an_erased_file_still_open_and_show_nothing_personal(app, page_app, world, api, monkeypatch):
    case = _full_file(app, api)
    _erase(app, monkeypatch, case["person_id"])
    admin = _page_client(page_app, world, "a_admin")
    for url in (f"/cases/{case['id']}", f"/transfers/{case['transfer_id']}", "/cases", "/", "/retention",
                "/transfers", "/committee/meetings"):
        response = admin.get(url, follow_redirects=True)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert not [s for s in SECRETS if s in body], url


def test_the_center_admin_downloads_the_disclosure_zip_from_the_case_page(app, page_app, world):
    import zipfile

    case = _closed_case(app)
    admin = _page_client(page_app, world, "a_admin")
    assert "開示請求" in admin.get(f"/cases/{case['id']}").get_data(as_text=True)
    response = admin.post(f"/retention/persons/{case['person_id']}/disclosure")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert "消去野" in archive.read("data.json").decode()
    staff = _page_client(page_app, world, "a_staff")
    assert "開示請求" not in staff.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert staff.post(f"/retention/persons/{case['person_id']}/disclosure").status_code == 403


def test_holding_on_the_page_shows_field_errors_in_japanese_on_that_row_then_holds(app, page_app, world, monkeypatch):
    _closed_case(app)
    _closed_case(app, person=factories.person_payload())
    day = _later(monkeypatch)
    with app.app_context():
        _tokyo(app)
        services.run_review(day)
        db.session.commit()
        first, second = services.list_reviews()
    admin = _page_client(page_app, world, "a_admin")
    bad = admin.post(f"/retention/{first.id}/hold", data={"reason": "", "until": day.isoformat(), "version": "1"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert f'id="reason-{first.id}-error"' in page and f'id="reason-{second.id}-error"' not in page
    assert f'id="reason-{first.id}"' in page and f'id="reason-{second.id}"' in page  # one label per row
    too_late = admin.post(f"/retention/{first.id}/hold",
                          data={"reason": "照会中", "until": (day + timedelta(days=365 * 6)).isoformat(), "version": "1"})
    assert too_late.status_code == 422 and "保留の期限は明日から5年以内の日付にしてください。" in too_late.get_data(as_text=True)
    held = admin.post(f"/retention/{first.id}/hold",
                      data={"reason": "照会中", "until": (day + timedelta(days=30)).isoformat(), "version": "1"})
    assert held.status_code == 302
    with app.app_context():
        _tokyo(app)
        assert [r.status for r in services.list_reviews(("held",))] == ["held"]


def test_a_decision_on_a_stale_page_is_a_version_conflict_and_changes_nothing(app, world, monkeypatch):
    from teichaku.platform.errors import VersionConflict

    listed = _listed(app, monkeypatch)
    case, day = listed.case, listed.day
    with app.app_context():
        _tokyo(app)
        services.hold(listed.review_id, reason="照会中", until=day + timedelta(days=1), actor=None,
                      expected_version=listed.version)
        services.run_review(day + timedelta(days=1))  # the hold ended: due again, a newer version
        db.session.commit()
        with pytest.raises(VersionConflict):  # the page still shows the version before the hold
            services.confirm_erasure(listed.review_id, actor=None, expected_version=listed.version)
        db.session.rollback()
        person = db.session.scalar(select(Person).where(Person.id == case["person_id"]))
        assert person.erased_at is None


def test_two_admins_confirming_at_once_erase_once_and_the_second_is_told(app, page_app, world, monkeypatch):
    from teichaku.crosstenant.retention import erasure
    from tests.races import race

    listed = _listed(app, monkeypatch)
    case, review_id, version = listed.case, listed.review_id, listed.version
    second_admin = factories.make_user(app, "center_admin", "tokyo")
    admins = {"first": _page_client(page_app, world, "a_admin"), "second": _signed_in(page_app, second_admin)}
    body = {"version": version, "confirm": "yes"}
    calls = {who: (lambda c=client: c.post(f"/retention/{review_id}/erase", data=body)) for who, client in admins.items()}
    results = race(monkeypatch, calls, "first", "second", module=erasure, name="erase_person")
    assert results["first"].status_code == 302
    assert results["second"].status_code == 409
    with app.app_context():
        _tokyo(app)
        erased = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.erase",
                                                             AuditEntry.person_id == case["person_id"])).all()
    assert len(erased) == 1


def test_two_admins_editing_the_periods_do_not_overwrite_each_other_unseen(app, page_app, world):
    first = _page_client(page_app, world, "a_admin")
    second = _signed_in(page_app, factories.make_user(app, "center_admin", "tokyo"))
    for client in (first, second):
        assert client.get("/retention/rules").status_code == 200  # both see 5 years everywhere
    seen = {f"seen_{t}": "5" for t in ("coordination", "follow_up", "suspect_support", "consultation")}
    years = {f"years_{t}": "5" for t in ("coordination", "follow_up", "suspect_support", "consultation")}
    assert first.post("/retention/rules", data={**seen, **years, "years_consultation": "3"}).status_code == 302
    late = second.post("/retention/rules", data={**seen, **years, "years_coordination": "10"})
    assert late.status_code == 409
    page = late.get_data(as_text=True)
    assert "他の人が先に保存期間を変更しました。" in page and "相談支援業務 3年" in page
    with app.app_context():
        _tokyo(app)
        assert services.rules()["consultation"] == 3 and services.rules()["coordination"] == 5
