"""事例の共有 (case-study exchange): the draft → checked → published workflow with the PII check,
resolving findings (replace moves later offsets, dismiss records a reason), publication refused
while a finding is open (a person of the center's own records above all), immutable published
versions and corrections, drafts private to their author, the library shared with every center
and the association but not the ministry, the association's hide and its own studies with no
center shown, Japanese search on PostgreSQL and SQLite, questions through the outbox, 参考になった,
the audit log, and the pages."""
from __future__ import annotations

import json
import re
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import Uuid, bindparam, create_engine, select, text

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from tests import factories
from tests.conftest import APP_ROLE, BACKEND, REDIS_TEST_URL
from tests.helpers import ok
from tests.races import race

BACKGROUND = ("センターの職員は相談支援の経験が少ないため、外部の専門職から助言を得る仕組みが必要だった。"
              "認知症の疑いのある対象者への対応に苦慮していた。")
ACTIONS = "月1回の定例会を開催し、福祉サービス等調整計画について助言を得た。触法障害者の支援について委員と協議した。"
OUTCOMES = "支援の質が安定し、職員の入れ替わりがあっても運営できるようになった。研修を年2回開催した。"
CLEAN = {"title": "検討委員会で支援の質を高めた取組み", "background": BACKGROUND, "actions": ACTIONS, "outcomes": OUTCOMES,
         "tags": ["review_committee", "coordination", "dementia"]}
PERSONAL = "令和5年3月14日に72歳の田中太郎さんが出所した。"
# A's person: a name the detector does not know as a name; only the center's records do.
RECORDED = {"family_name": "蒼穹", "given_name": "晴", "family_name_kana": "そうきゅう", "given_name_kana": "はる"}


def _create(api, key="a_staff", **overrides):
    return ok(api(key).post("/api/v1/case-studies", json={**CLEAN, **overrides}), 201)


def _published(api, author="a_staff", admin="a_admin", **overrides) -> dict:
    draft = _create(api, author, **overrides)
    assert draft["status"] == "checked", draft["pii_findings"]
    return ok(api(admin).post(f"/api/v1/case-studies/{draft['id']}/publish"))


def _resolve(api, study, finding, key="a_staff", **body):
    return api(key).post(f"/api/v1/case-studies/{study['id']}/findings/{finding['id']}/resolve", json=body)


def _audit_actions(owner_engine, study_id: str) -> list[str]:
    with owner_engine.connect() as conn:
        return conn.execute(text("select action from audit_entries where action like 'case_study.%' and object_id = :id"
                                 " order by occurred_at, seq"), {"id": study_id}).scalars().all()


def _inbox(api, key) -> list[tuple[str, str]]:
    """The user's exchange notifications (the world's transfers notify too)."""
    items = ok(api(key).get("/api/v1/notifications"))["items"]
    return [(n["kind"], n["case_study_id"]) for n in items if n["kind"].startswith("case_study_")]


def center_by_code_id(app, code):
    with app.app_context():
        return center_by_code(code).id


def _deliver_pending(app) -> None:
    from teichaku.crosstenant.notifications.delivery import deliver
    from teichaku.crosstenant.notifications.models import OutboxEvent

    with app.app_context():
        pending = db.session.scalars(select(OutboxEvent.id).where(OutboxEvent.delivered_at.is_(None))).all()
        db.session.commit()
    for event_id in pending:
        with app.app_context():
            deliver(event_id)


# --- writing and the PII check ------------------------------------------------------------------------

def test_a_new_study_answers_201_draft_with_its_findings_in_code_points(api):
    body = {**CLEAN, "background": BACKGROUND + PERSONAL}
    created = _create(api, background=body["background"])
    assert created["status"] == "draft" and uuid.UUID(created["id"])
    assert {"id", "field", "start", "end", "text", "kind"} <= set(created["pii_findings"][0])
    kinds = {f["kind"] for f in created["pii_findings"]}
    assert {"date", "age"} <= kinds and kinds & {"person_name", "known_person"}  # 太郎 is also a world person's name
    for f in created["pii_findings"]:
        assert body[f["field"]][f["start"]:f["end"]] == f["text"]


def test_a_clean_study_is_checked_and_published_by_the_center_head_only(api):
    draft = _create(api)
    assert draft["status"] == "checked" and draft["pii_findings"] == []
    refused = api("a_staff").post(f"/api/v1/case-studies/{draft['id']}/publish")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    published = ok(api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish"))
    assert published["status"] == "published" and published["published_version"] == 1
    assert published["center"] is None  # the author chose nothing: the center stays hidden
    for reader in ("b_staff", "c_admin", "association"):
        seen = ok(api(reader).get(f"/api/v1/case-studies/{draft['id']}"))
        assert seen["title"] == CLEAN["title"] and seen["center"] is None
    again = api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_state"


def test_a_center_shown_by_choice_is_the_only_center_a_reader_learns(api):
    study = _published(api, show_center=True)
    assert ok(api("b_staff").get(f"/api/v1/case-studies/{study['id']}"))["center"]["code"] == "tokyo"


def test_publishing_with_an_unresolved_finding_is_refused_with_422(api):
    draft = _create(api, outcomes=OUTCOMES + "連絡先は03-1234-5678です。")
    response = api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"
    assert response.get_json()["error"]["details"]["open_findings"] == 1
    assert api("b_staff").get(f"/api/v1/case-studies/{draft['id']}").status_code == 404


def test_a_draft_naming_a_person_of_the_centers_records_cannot_be_published_until_resolved(app, api, world):
    factories.make_case(app, "tokyo", person=factories.person_payload(**RECORDED))
    draft = _create(api, actions=ACTIONS + "支援会議で蒼穹の意向を確認した。")
    finding = next(f for f in draft["pii_findings"] if f["kind"] == "known_person")
    assert finding["text"] == "蒼穹" and draft["status"] == "draft"
    assert api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish").status_code == 422
    resolved = ok(_resolve(api, draft, finding, action="replace"))
    assert resolved["status"] == "checked" and "蒼穹" not in resolved["actions"]
    published = ok(api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish"))
    assert "蒼穹" not in published["actions"] and "Aさん" in published["actions"]


def test_a_person_registered_after_the_draft_was_written_is_caught_at_publication(app, api, world):
    draft = _create(api, actions=ACTIONS + "支援会議で蒼穹の意向を確認した。")
    assert draft["status"] == "checked"  # nobody of that name in the records yet
    factories.make_case(app, "tokyo", person=factories.person_payload(**RECORDED))
    response = api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish")
    assert response.status_code == 422
    after = ok(api("a_staff").get(f"/api/v1/case-studies/{draft['id']}"))
    assert after["status"] == "draft" and [f["kind"] for f in after["pii_findings"]] == ["known_person"]


def test_another_centers_person_is_no_known_term_of_this_center(app, api, world):
    factories.make_case(app, "osaka", person=factories.person_payload(**RECORDED))
    draft = _create(api, actions=ACTIONS + "支援会議で蒼穹の意向を確認した。")
    assert draft["status"] == "checked"


def test_replacing_a_finding_moves_the_later_findings_of_the_field(api):
    background = "田中太郎さんと面談した。連絡先は03-1234-5678です。"
    draft = _create(api, background=background)
    name, phone = sorted((f for f in draft["pii_findings"] if f["field"] == "background"), key=lambda f: f["start"])
    assert phone["kind"] == "phone"
    after = ok(_resolve(api, draft, name, action="replace", replacement="本人"))
    moved = next(f for f in after["pii_findings"] if f["id"] == phone["id"])
    delta = len("本人") - len(name["text"])
    assert (moved["start"], moved["end"]) == (phone["start"] + delta, phone["end"] + delta)
    assert after["background"][moved["start"]:moved["end"]] == "03-1234-5678"
    replaced = next(f for f in after["pii_findings"] if f["id"] == name["id"])
    assert replaced["status"] == "replaced" and after["background"][replaced["start"]:replaced["end"]] == "本人"
    assert after["background"].startswith("本人と面談した。")


def test_replace_uses_the_suggestion_by_default_and_checks_the_field_again(api):
    draft = _create(api, background=BACKGROUND + "田中太郎さんと山田花子さんに面談した。")
    first = min((f for f in draft["pii_findings"] if f["field"] == "background"), key=lambda f: f["start"])
    after = ok(_resolve(api, draft, first, action="replace"))
    assert first["suggestion"] in after["background"]
    open_ = [f for f in after["pii_findings"] if f["status"] == "open"]
    assert [f["text"] for f in open_] == ["山田花子さん"]
    assert after["background"][open_[0]["start"]:open_[0]["end"]] == "山田花子さん"


def test_dismissing_needs_a_reason_which_is_recorded_and_audited(api, owner_engine):
    draft = _create(api, background=BACKGROUND + PERSONAL)
    date_finding = next(f for f in draft["pii_findings"] if f["kind"] == "date")
    missing = _resolve(api, draft, date_finding, action="dismiss")
    assert missing.status_code == 422 and "reason" in missing.get_json()["error"]["details"]["fields"]
    after = ok(_resolve(api, draft, date_finding, action="dismiss", reason="制度の施行日で、個人の日付ではない"))
    dismissed = next(f for f in after["pii_findings"] if f["id"] == date_finding["id"])
    assert dismissed["status"] == "dismissed" and dismissed["reason"] == "制度の施行日で、個人の日付ではない"
    with owner_engine.connect() as conn:
        details = conn.execute(text("select details from audit_entries where action = 'case_study.finding_dismiss'")).scalar()
    details = details if isinstance(details, dict) else json.loads(details)
    assert details["reason"] == "制度の施行日で、個人の日付ではない" and details["kind"] == "date"
    again = _resolve(api, draft, date_finding, action="replace")
    assert again.status_code == 409


def test_a_dismissal_survives_an_edit_elsewhere_in_the_field(api):
    draft = _create(api, background=PERSONAL + BACKGROUND)
    date_finding = next(f for f in draft["pii_findings"] if f["kind"] == "date")
    after = ok(_resolve(api, draft, date_finding, action="dismiss", reason="公表済みの日付"))
    edited = ok(api("a_staff").patch(f"/api/v1/case-studies/{draft['id']}", json={"background": "【経緯】" + after["background"]},
                                      headers={"If-Match": f'"{after["version"]}"'}))
    kept = next(f for f in edited["pii_findings"] if f["id"] == date_finding["id"])
    assert kept["status"] == "dismissed" and (kept["start"], kept["end"]) == (date_finding["start"] + 4, date_finding["end"] + 4)


def test_editing_text_runs_the_check_again_under_optimistic_locking(api):
    draft = _create(api)
    url = f"/api/v1/case-studies/{draft['id']}"
    assert api("a_staff").patch(url, json={"outcomes": "x"}).status_code == 428
    changed = ok(api("a_staff").patch(url, json={"outcomes": OUTCOMES + "電話は03-1234-5678。"},
                                       headers={"If-Match": f'"{draft["version"]}"'}))
    assert changed["status"] == "draft" and [f["kind"] for f in changed["pii_findings"]] == ["phone"]
    stale = api("a_staff").patch(url, json={"title": "別の題"}, headers={"If-Match": f'"{draft["version"]}"'})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "version_conflict"
    bad = api("a_staff").patch(url, json={"tags": ["no_such_tag"]}, headers={"If-Match": f'"{changed["version"]}"'})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "validation_error"


def test_a_study_started_from_a_case_takes_only_its_type_and_needs(app, api, world):
    case = factories.make_case(app, "tokyo", case_type="follow_up",
                               person=factories.person_payload(support_needs=["intellectual", "elderly"]))
    draft = _create(api, tags=None, case_id=str(case["id"]))
    assert draft["tags"] == ["follow_up", "elderly", "intellectual"] and draft["source_case_id"] == str(case["id"])
    assert draft["background"] == BACKGROUND
    foreign = api("a_staff").post("/api/v1/case-studies", json={**CLEAN, "case_id": str(world.cases["b"]["id"])})
    assert foreign.status_code == 404


# --- versions ------------------------------------------------------------------------------------------

def test_published_versions_do_not_change_and_a_correction_is_the_next_version(app, api, owner_engine):
    study = _published(api)
    url = f"/api/v1/case-studies/{study['id']}"
    patch = api("a_staff").patch(url, json={"title": "書き換え"}, headers={"If-Match": '"1"'})
    assert patch.status_code == 409
    draft = ok(api("a_staff").post(f"{url}/revisions"), 201)
    assert draft["based_on_version"] == 1 and draft["status"] == "checked"
    assert api("a_staff").post(f"{url}/revisions").status_code == 409  # one correction at a time
    ok(api("a_staff").patch(url, json={"title": "検討委員会の運営（改訂）"}, headers={"If-Match": f'"{draft["version"]}"'}))
    assert ok(api("b_staff").get(url))["title"] == CLEAN["title"]  # readers see version 1 until v2 is out
    v2 = ok(api("a_admin").post(f"{url}/publish"))
    assert (v2["published_version"], v2["title"]) == (2, "検討委員会の運営（改訂）")
    latest = ok(api("b_staff").get(url))
    assert latest["title"] == "検討委員会の運営（改訂）" and [v["version"] for v in latest["versions"]] == [2]
    assert [v["version"] for v in ok(api("a_staff").get(url))["versions"]] == [1, 2]  # the author: the history
    old = ok(api("a_staff").get(f"{url}?version=1"))
    assert (old["published_version"], old["title"]) == (1, CLEAN["title"])
    assert api("a_staff").get(f"{url}?version=3").status_code == 404
    if BACKEND == "postgres":
        engine = create_engine(str(owner_engine.url).replace("teichaku_owner@", f"{APP_ROLE}@"))
        with engine.connect() as conn, pytest.raises(Exception, match="permission denied"):
            conn.execute(text("update case_study_versions set title = 'x'"))
        engine.dispose()


@pytest.mark.skipif(BACKEND != "postgres", reason="row locks are PostgreSQL's")
def test_two_publications_of_one_draft_at_once_leave_one_version(app, api, world, monkeypatch, owner_engine):
    from teichaku.crosstenant.exchange import search

    world.users["a_admin2"] = factories.make_user(app, "center_admin", "tokyo")
    draft = _create(api)
    admins = {key: api(key) for key in ("a_admin", "a_admin2")}
    # The first publication holds the draft's lock (stopped right after indexing) when the second asks.
    results = race(monkeypatch, {key: (lambda c=client: c.post(f"/api/v1/case-studies/{draft['id']}/publish"))
                                 for key, client in admins.items()}, "a_admin", "a_admin2",
                   module=search, name="index_version")
    assert (results["a_admin"].status_code, results["a_admin2"].status_code) == (200, 409)
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from case_study_versions where study_id = :i"),
                            {"i": draft["id"]}).scalar() == 1


# --- isolation and who reads ----------------------------------------------------------------------------

def test_a_draft_of_one_center_is_404_for_every_other_center_and_the_association(api):
    draft = _create(api, background=BACKGROUND + PERSONAL)
    finding = draft["pii_findings"][0]
    url = f"/api/v1/case-studies/{draft['id']}"
    random_url = f"/api/v1/case-studies/{uuid.uuid4()}"
    for key in ("b_staff", "b_admin", "association"):
        client = api(key)
        answers = [client.get(url), client.get(random_url)]
        assert [a.status_code for a in answers] == [404, 404] and answers[0].get_json() == answers[1].get_json()
        assert client.patch(url, json={"title": "x"}, headers={"If-Match": f'"{draft["version"]}"'}).status_code == 404
        assert client.post(f"{url}/findings/{finding['id']}/resolve", json={"action": "replace"}).status_code == 404
        listed = ok(client.get("/api/v1/case-studies"))
        assert draft["id"] not in [i["id"] for i in listed["items"]]
    assert api("b_admin").post(f"{url}/publish").status_code == 404
    mine = ok(api("a_admin").get("/api/v1/case-studies"))
    assert draft["id"] in [i["id"] for i in mine["items"]]


def test_the_ministry_and_the_platform_admin_cannot_read_studies_by_default(api):
    study = _published(api)
    for key in ("ministry", "platform_admin", "a_prefecture"):
        assert api(key).get("/api/v1/case-studies").status_code == 403
        assert api(key).get(f"/api/v1/case-studies/{study['id']}").status_code == 403


def test_a_setting_lets_the_ministry_read_the_library(make_app, api, world):
    study = _published(api)
    app = make_app(EXCHANGE_READABLE_BY_MINISTRY=True)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {factories.api_token(app.test_client(), world.users['ministry'])}"
    assert ok(client.get(f"/api/v1/case-studies/{study['id']}"))["title"] == CLEAN["title"]
    assert client.post("/api/v1/case-studies", json=CLEAN).status_code == 403


# --- the association ---------------------------------------------------------------------------------

def test_the_association_hides_a_study_with_a_reason_and_shows_it_again(app, api, world, owner_engine):
    study = _published(api)
    url = f"/api/v1/case-studies/{study['id']}"
    assert api("a_admin").post(f"{url}/hide", json={"reason": "x"}).status_code == 403
    assert api("association").post(f"{url}/hide", json={}).status_code == 422
    hidden = ok(api("association").post(f"{url}/hide", json={"reason": "施設名が特定できるため確認中"}))
    assert hidden["status"] == "hidden"
    assert api("b_staff").get(url).status_code == 404
    assert study["id"] not in [i["id"] for i in ok(api("b_staff").get("/api/v1/case-studies"))["items"]]
    own = ok(api("a_staff").get(url))
    assert own["status"] == "hidden" and own["hidden_reason"] == "施設名が特定できるため確認中"
    _deliver_pending(app)
    assert _inbox(api, "a_staff") == [("case_study_hidden", study["id"])]
    assert api("association").post(f"{url}/hide", json={"reason": "again"}).status_code == 409
    assert ok(api("association").post(f"{url}/unhide"))["status"] == "published"
    assert ok(api("b_staff").get(url))["status"] == "published"


def test_the_association_publishes_a_study_with_no_center_through_the_same_check(app, api, world):
    draft = _create(api, "association", background=BACKGROUND + "田中太郎さんと面談した。", show_center=True)
    finding = draft["pii_findings"][0]
    assert draft["status"] == "draft" and draft["show_center"] is False
    assert api("association").post(f"/api/v1/case-studies/{draft['id']}/publish").status_code == 422
    ok(_resolve(api, draft, finding, key="association", action="replace"))
    published = ok(api("association").post(f"/api/v1/case-studies/{draft['id']}/publish"))
    assert published["publisher"] == "association" and published["center"] is None
    seen = ok(api("a_staff").get(f"/api/v1/case-studies/{draft['id']}"))
    assert seen["publisher"] == "association" and seen["is_author"] is False
    ok(api("a_staff").post(f"/api/v1/case-studies/{draft['id']}/questions", json={"body": "資料はありますか。"}), 201)
    _deliver_pending(app)
    assert _inbox(api, "association") == [("case_study_question", draft["id"])]
    threads = ok(api("association").get(f"/api/v1/case-studies/{draft['id']}/questions"))["items"]
    assert threads[0]["asker_center"]["code"] == "tokyo"


def test_the_moderators_service_publishes_a_source_example_for_a_cli_loader(app, world):
    """The service a loader of the seven source examples calls: create, resolve, publish."""
    from teichaku.crosstenant.exchange import authoring, findings, scope

    moderator = SimpleNamespace(id=world.users["association"]["id"], role="association", center_id=None)
    with app.app_context():
        with scope.exchange_scope(moderator):
            draft = authoring.create_draft({**CLEAN, "outcomes": OUTCOMES + "（平成22年10月に発足）"}, actor=moderator)
            for finding in findings.open_findings(draft):
                findings.resolve_finding(draft, finding, "dismiss", actor=moderator, reason="組織の発足時期で個人の日付ではない")
            version = authoring.publish_draft(draft, actor=moderator)
            db.session.commit()
            assert (version.publisher, version.shown_center_id, version.version_no) == ("association", None, 1)


# --- questions and 参考になった ------------------------------------------------------------------------

def test_a_question_reaches_the_author_centers_inbox_through_the_outbox_and_the_answer_comes_back(app, api, world, owner_engine):
    study = _published(api)
    url = f"/api/v1/case-studies/{study['id']}"
    assert api("a_staff").post(f"{url}/questions", json={"body": "自分に"}).status_code == 409
    asked = ok(api("b_staff").post(f"{url}/questions", json={"body": "委員の謝金はどうしましたか。"}), 201)
    assert asked["from_side"] == "asker" and asked["mine"] is True
    with owner_engine.connect() as conn:
        events = conn.execute(text("select to_center_id, to_association, case_study_id from outbox_events"
                                   " where kind = 'case_study_question'")).all()
    mine = [(uuid.UUID(str(c)), bool(a)) for c, a, s in events if uuid.UUID(str(s)) == uuid.UUID(study["id"])]
    assert mine == [(center_by_code_id(app, "tokyo"), False)]
    _deliver_pending(app)
    for key in ("a_staff", "a_admin"):
        assert _inbox(api, key) == [("case_study_question", study["id"])]
    assert _inbox(api, "c_staff") == []
    author_threads = ok(api("a_staff").get(f"{url}/questions"))["items"]
    assert author_threads[0]["asker_center"]["code"] == "osaka"
    ok(api("a_staff").post(f"{url}/answers", json={"asker_center": "osaka", "body": "県の予算で支払いました。"}), 201)
    assert api("a_staff").post(f"{url}/answers", json={"asker_center": "fukuoka", "body": "x"}).status_code == 404
    _deliver_pending(app)
    assert ("case_study_answer", study["id"]) in _inbox(api, "b_staff")
    assert ("case_study_question", study["id"]) not in _inbox(api, "b_staff")
    asker_view = api("b_staff").get(f"{url}/questions")
    assert [m["from_side"] for m in asker_view.get_json()["items"][0]["messages"]] == ["asker", "author"]
    assert "tokyo" not in asker_view.get_data(as_text=True) and "東京" not in asker_view.get_data(as_text=True)
    assert ok(api("c_staff").get(f"{url}/questions"))["items"] == []


def test_helpful_counts_once_per_center_and_not_for_the_author(api):
    study = _published(api)
    url = f"/api/v1/case-studies/{study['id']}/helpful"
    assert ok(api("b_staff").post(url))["helpful_count"] == 1
    assert ok(api("b_admin").post(url))["helpful_count"] == 1  # the same center
    assert ok(api("c_staff").post(url))["helpful_count"] == 2
    assert api("a_staff").post(url).status_code == 409
    assert api("association").post(url).status_code == 403
    seen = ok(api("b_staff").get(f"/api/v1/case-studies/{study['id']}"))
    assert seen["helpful_count"] == 2 and seen["marked_helpful"] is True


def test_every_step_is_written_to_the_audit_log(api, owner_engine):
    draft = _create(api, background=BACKGROUND + "田中太郎さんと面談した。連絡先は03-1234-5678です。")
    first, second = draft["pii_findings"][:2]
    ok(_resolve(api, draft, first, action="replace"))
    ok(_resolve(api, draft, second, action="dismiss", reason="センターの代表番号"))
    ok(api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish"))
    ok(api("b_staff").post(f"/api/v1/case-studies/{draft['id']}/questions", json={"body": "質問"}), 201)
    ok(api("b_staff").post(f"/api/v1/case-studies/{draft['id']}/helpful"))
    ok(api("association").post(f"/api/v1/case-studies/{draft['id']}/hide", json={"reason": "確認"}))
    ok(api("association").post(f"/api/v1/case-studies/{draft['id']}/unhide"))
    assert _audit_actions(owner_engine, draft["id"]) == [
        "case_study.create", "case_study.finding_replace", "case_study.finding_dismiss", "case_study.publish",
        "case_study.question", "case_study.helpful", "case_study.hide", "case_study.unhide"]


# --- search --------------------------------------------------------------------------------------------

LIBRARY = {
    "dementia": {"title": "認知症の方の受入先を開拓した取組み", "background": "認知症の疑いがある高齢者の受入先が不足していた。",
                 "tags": ["receiving_places", "dementia"]},
    "offence": {"title": "触法障害者の地域生活を支える連携", "background": "触法障害者の支援に地域の理解が必要だった。",
                "tags": ["regional_network", "intellectual"]},
    "grouphome": {"title": "グループホームとの顔の見える関係づくり", "background": "グループホームの職員と定期的に情報交換した。",
                  "tags": ["partner_community"]},
    "training": {"title": "研修動画の作成", "background": "養護老人ホーム向けに制度を説明する研修動画を作った。",
                 "tags": ["training"]},
}


def _library(api) -> dict[str, str]:
    return {key: _published(api, **{**CLEAN, **fields, "actions": ACTIONS.replace("触法障害者", "対象者"),
                                    "outcomes": OUTCOMES})["id"] for key, fields in LIBRARY.items()}


def _search(api, query, *tags, key="b_staff"):
    params = {"q": query} if query else {}
    if tags:
        params["tag"] = list(tags)
    return [i["id"] for i in ok(api(key).get("/api/v1/case-studies", query_string=params))["items"]]


def test_search_finds_two_character_words_and_kana_variants_ranked_with_tag_filters(api):
    ids = _library(api)
    assert _search(api, "認知")[0] == ids["dementia"]  # 認知 inside 認知症
    assert ids["dementia"] in _search(api, "認知症")
    assert _search(api, "触法") == [ids["offence"]]
    assert _search(api, "にんちしょう")[0] == ids["dementia"]  # kana finds kanji
    assert _search(api, "ニンチ")[0] == ids["dementia"]
    assert _search(api, "ぐるーぷほーむ") == [ids["grouphome"]]
    assert _search(api, "研修 動画") == [ids["training"]]
    assert _search(api, "認知", "receiving_places") == [ids["dementia"]]
    assert _search(api, "認知", "training") == []
    assert _search(api, "", "intellectual") == [ids["offence"]]
    assert _search(api, "存在しない語句") == []
    assert _search(api, "!!!") == []


def test_search_ranks_a_title_match_above_a_body_match(api):
    body_only = _published(api, title="地域の連携", background="ここで触法という語が本文にだけ出てくる。")["id"]
    in_title = _published(api, title="触法の事例", background="本文にはない。")["id"]
    assert _search(api, "触法")[:2] == [in_title, body_only]


def test_search_pages_with_a_cursor(api):
    ids = [_published(api, title=f"認知症の支援 その{n}")["id"] for n in range(3)]
    first = ok(api("b_staff").get("/api/v1/case-studies", query_string={"q": "認知症", "limit": 2}))
    second = ok(api("b_staff").get("/api/v1/case-studies", query_string={"q": "認知症", "limit": 2,
                                                                           "cursor": first["next_cursor"]}))
    assert sorted([i["id"] for i in first["items"] + second["items"]]) == sorted(ids)
    assert second["next_cursor"] is None
    bad = api("b_staff").get("/api/v1/case-studies", query_string={"cursor": "!!"})
    assert bad.status_code == 422


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory):
    """A second app on a SQLite database of its own (FTS5), migrated and seeded."""
    from flask_migrate import upgrade

    from teichaku.app import create_app
    from teichaku.platform.centers import seed_centers

    path = tmp_path_factory.mktemp("sqlite-search") / "search.sqlite3"
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "REDIS_URL": REDIS_TEST_URL,
                      "RATELIMIT_STORAGE_URI": REDIS_TEST_URL, "JOBS_IN_PROCESS": True}, database_role="owner")
    with app.app_context():
        upgrade()
        seed_centers()
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_search_on_sqlite_finds_two_character_words_and_kana_variants(sqlite_app):
    from teichaku.crosstenant.exchange import authoring, search

    with sqlite_app.app_context():
        assert db.engine.dialect.name == "sqlite"
        tokyo = center_by_code("tokyo").id
        admin = SimpleNamespace(id=uuid.uuid4(), role="center_admin", center_id=tokyo)
        set_tenant(tokyo)
        ids = {}
        for key, fields in LIBRARY.items():
            draft = authoring.create_draft({**CLEAN, **fields, "actions": "定例会を開いた。", "outcomes": "連携が進んだ。"},
                                           actor=admin)
            authoring.publish_draft(draft, actor=admin)
            ids[key] = draft.study_id
        db.session.commit()

        def found(q, tags=()):
            return [s.id for s, _v in search.find_studies(q=q, tags=list(tags))[0]]
        assert found("認知")[0] == ids["dementia"]
        assert found("触法") == [ids["offence"]]
        assert found("にんちしょう")[0] == ids["dementia"]
        assert found("ぐるーぷほーむ") == [ids["grouphome"]]
        assert found("認知", ["training"]) == []
        assert found("", ["intellectual"]) == [ids["offence"]]


def test_the_index_and_the_query_use_the_same_tokenizer():
    from teichaku.crosstenant.exchange import search

    doc = set(search.terms("認知症の疑いがある触法障害者のグループホーム"))
    assert {"認知", "認知症", "ニンチ", "ニンチショウ", "触法", "障害", "障害者", "グループ", "ホーム"} <= doc
    query = search.parse_query("認知 にんちしょう")
    assert query.tsquery().count("&") >= 1 and "'ニンチショウ'" in query.tsquery()
    assert not search.parse_query("。、！")
    assert "'" not in "".join(search.terms("O'Reilly & (x) | y"))  # no query operator survives


# --- pages ---------------------------------------------------------------------------------------------

@pytest.fixture()
def pages(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    clients = {}

    def as_user(key):
        if key not in clients:
            client = app.test_client()
            assert factories.sign_in(client, world.users[key]).status_code == 302
            clients[key] = client
        return clients[key]
    return as_user


def test_pages_write_resolve_publish_and_find_from_another_center(pages, app, world):
    staff = pages("a_staff")
    form = {"title": "認知症の方の受入れ", "background": "田中太郎さんと面談した。" + BACKGROUND, "actions": ACTIONS,
            "outcomes": OUTCOMES, "reference": "", "themes": ["receiving_places"], "support_needs": ["dementia"]}
    created = staff.post("/case-studies/new", data=form)
    assert created.status_code == 302
    edit_url = created.headers["Location"]
    page = staff.get(edit_url).get_data(as_text=True)
    assert '<mark class="pii-open"' in page and "置き換える" in page and "問題なし" in page
    assert "style=" not in page and "<script" not in page
    replace_url = re.search(r'action="(/case-studies/[^"]+/replace)"', page).group(1)
    assert staff.post(replace_url, data={}).status_code == 302
    page = staff.get(edit_url).get_data(as_text=True)
    assert "田中太郎" not in page.split('id="check-background"')[1].split("</div>")[0]
    assert "承認して公開する" not in page  # staff do not publish
    admin = pages("a_admin")
    page = admin.get(edit_url).get_data(as_text=True)
    publish_url = re.search(r'action="(/case-studies/[^"]+/publish)"', page).group(1)
    detail = admin.post(publish_url, data={"version": _reviewed_version(page)})
    assert detail.status_code == 302
    found = pages("b_staff").get("/case-studies", query_string={"q": "認知"}).get_data(as_text=True)
    assert "認知症の方の受入れ" in found and "センター名非公開" in found
    study_page = pages("b_staff").get(detail.headers["Location"]).get_data(as_text=True)
    assert "参考になった" in study_page and "質問を送る" in study_page and "Aさん" in study_page


def _reviewed_version(page: str) -> str:
    """The draft version the publish form carries (the one the head has on screen)."""
    form = page.split('/publish"', 1)[1].split("</form>", 1)[0]
    return re.search(r'name="version" value="(\d+)"', form).group(1)


def test_the_dismiss_form_without_a_reason_re_renders_with_422_and_changes_nothing(pages):
    staff = pages("a_staff")
    created = staff.post("/case-studies/new", data={"title": "題", "background": PERSONAL, "actions": ACTIONS, "outcomes": OUTCOMES})
    page = staff.get(created.headers["Location"]).get_data(as_text=True)
    dismiss_url = re.search(r'action="(/case-studies/[^"]+/dismiss)"', page).group(1)
    refused = staff.post(dismiss_url, data={"reason": ""})
    assert refused.status_code == 422 and '<mark class="pii-open"' in refused.get_data(as_text=True)


def test_the_new_page_from_a_case_checks_its_type_and_needs_and_shows_nothing_personal(pages, app, world):
    case = factories.make_case(app, "tokyo", person=factories.person_payload(family_name="秘名字", support_needs=["mental"]))
    page = pages("a_staff").get(f"/case-studies/new?case_id={case['id']}").get_data(as_text=True)
    assert re.search(r'value="coordination"[^>]*checked|checked[^>]*value="coordination"', page)
    assert re.search(r'value="mental"[^>]*checked|checked[^>]*value="mental"', page)
    assert "秘名字" not in page and case["case_number"] not in page
    assert pages("a_staff").get(f"/case-studies/new?case_id={world.cases['b']['id']}").status_code == 404


def test_the_nav_links_to_the_library_for_readers_only(pages):
    assert "/case-studies" in pages("a_staff").get("/dashboard").get_data(as_text=True)
    assert "/case-studies" in pages("association").get("/dashboard").get_data(as_text=True)
    assert 'href="/case-studies"' not in pages("ministry").get("/dashboard").get_data(as_text=True)


def test_the_association_hides_from_the_study_page(pages, api):
    study = _published(api)
    moderator = pages("association")
    assert "非表示にする" in moderator.get(f"/case-studies/{study['id']}").get_data(as_text=True)
    assert moderator.post(f"/case-studies/{study['id']}/hide", data={"reason": ""}).status_code == 422
    assert moderator.post(f"/case-studies/{study['id']}/hide", data={"reason": "確認のため"}).status_code == 302
    assert pages("b_staff").get(f"/case-studies/{study['id']}").status_code == 404
    assert "再び表示する" in moderator.get(f"/case-studies/{study['id']}").get_data(as_text=True)


# --- the database holds the line too -------------------------------------------------------------------

@pytest.mark.skipif(BACKEND != "postgres", reason="row-level security exists only on PostgreSQL")
def test_rls_keeps_drafts_to_their_author_and_lets_no_scope_write_the_library(api, owner_engine):
    _create(api, background=BACKGROUND + PERSONAL)
    _published(api)
    with owner_engine.connect() as conn:
        published = conn.execute(text("select count(*) from case_study_versions")).scalar()
    engine = create_engine(str(owner_engine.url).replace("teichaku_owner@", f"{APP_ROLE}@"))
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from case_study_drafts")).scalar() == 0
        assert conn.execute(text("select count(*) from case_study_findings")).scalar() == 0
        assert conn.execute(text("select count(*) from case_study_versions")).scalar() == published >= 2  # shared
        with pytest.raises(Exception, match="row-level security"):
            conn.execute(text("update case_studies set helpful_count = 99"))
    engine.dispose()


# --- the publishing gate (issue 12) ----------------------------------------------------------------
# 1. replacement text is checked like the rest, and the last check before publication sees the
#    whole text; 2. publication names the version reviewed; 3. superseded and withdrawn versions
#    are the author's and the association's only.

NAMED = "面談では山田花子さんの希望を聞いた。"


def _open(draft: dict) -> list[tuple[str, str]]:
    return [(f["kind"], f["text"]) for f in draft["pii_findings"] if f["status"] == "open"]


def test_replacing_a_name_with_another_name_and_phone_is_still_a_finding(api):
    draft = _create(api, background=NAMED + BACKGROUND)
    name = next(f for f in draft["pii_findings"] if f["kind"] == "person_name")
    after = ok(_resolve(api, draft, name, action="replace", replacement="田中一郎さん（090-1234-5678）"))
    assert after["status"] == "draft"
    assert {("person_name", "田中一郎さん"), ("phone", "090-1234-5678")} <= set(_open(after))
    refused = api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish")
    assert refused.status_code == 422 and refused.get_json()["error"]["details"]["open_findings"] == 2
    assert api("b_staff").get(f"/api/v1/case-studies/{draft['id']}").status_code == 404


def test_replacing_a_name_with_the_same_name_is_still_a_finding(api):
    draft = _create(api, background=NAMED + BACKGROUND)
    name = next(f for f in draft["pii_findings"] if f["kind"] == "person_name")
    after = ok(_resolve(api, draft, name, action="replace", replacement=name["text"]))
    assert after["status"] == "draft" and _open(after) == [("person_name", "山田花子さん")]
    assert api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish").status_code == 422


def test_replacing_a_name_with_initials_is_still_a_finding(api):
    """Initials are no placeholder: the product offers one letter (Aさん), not TKさん."""
    draft = _create(api, background=NAMED + BACKGROUND)
    name = next(f for f in draft["pii_findings"] if f["kind"] == "person_name")
    after = ok(_resolve(api, draft, name, action="replace", replacement="Y.H.さん"))
    assert after["status"] == "draft" and _open(after) == [("honorific", "Y.H.さん")]
    suggestion = next(f["suggestion"] for f in after["pii_findings"] if f["status"] == "open")
    assert suggestion == "Aさん"


def test_the_offered_placeholders_are_the_replacements_that_pass_the_check(api):
    text = ("令和5年3月14日に72歳の山田花子さんが大阪市北区梅田の府中刑務所から出所した。"
            "連絡先は03-1234-5678、〒530-0001。グループホームつばさに入居した。")
    draft = _create(api, background=text + BACKGROUND)
    assert len(draft["pii_findings"]) == 8
    for finding in sorted(draft["pii_findings"], key=lambda f: -f["start"]):
        draft = ok(_resolve(api, draft, finding, action="replace"))  # the one-click suggestion
    assert draft["status"] == "checked" and _open(draft) == []
    assert draft["background"].startswith("令和4年度に70代のAさんが某市の〇〇刑務所から出所した。")
    published = ok(api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish",
                                         headers={"If-Match": f'"{draft["version"]}"'}))
    assert published["status"] == "published"


def test_a_name_left_in_text_marked_replaced_is_caught_by_the_check_at_publication(api, owner_engine):
    """Text stored under an earlier replacement (e.g. by the old rules) is no exemption: the
    final check reads the whole text of every field afresh."""
    draft = _create(api, background=NAMED + BACKGROUND)
    name = next(f for f in draft["pii_findings"] if f["kind"] == "person_name")
    replaced = ok(_resolve(api, draft, name, action="replace"))
    assert replaced["status"] == "checked" and replaced["background"].startswith("面談ではAさんの")
    with owner_engine.begin() as conn:  # the replaced span now holds a name again, status still checked
        conn.execute(text("update case_study_drafts set background = replace(background, 'Aさん', '田中一郎さん')"
                          " where study_id = :id").bindparams(bindparam("id", type_=Uuid)), {"id": uuid.UUID(draft["id"])})
    refused = api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish")
    assert refused.status_code == 422
    after = ok(api("a_staff").get(f"/api/v1/case-studies/{draft['id']}"))
    assert after["status"] == "draft" and _open(after) == [("person_name", "田中一郎さん")]
    assert api("b_staff").get(f"/api/v1/case-studies/{draft['id']}").status_code == 404


def test_a_dismissed_guess_does_not_cover_a_registered_person_of_the_same_name(app, api, world):
    draft = _create(api, background="面談では山本健一さんの希望を聞いた。" + BACKGROUND)
    guess = next(f for f in draft["pii_findings"] if f["kind"] == "person_name")
    dismissed = ok(_resolve(api, draft, guess, action="dismiss", reason="架空の人物名の例示"))
    assert dismissed["status"] == "checked"
    factories.make_case(app, "tokyo", person=factories.person_payload(
        family_name="山本", given_name="健一", family_name_kana="やまもと", given_name_kana="けんいち"))
    refused = api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish")
    assert refused.status_code == 422
    after = ok(api("a_staff").get(f"/api/v1/case-studies/{draft['id']}"))
    assert _open(after) == [("known_person", "山本健一さん")]
    assert [f["status"] for f in after["pii_findings"] if f["id"] == guess["id"]] == ["dismissed"]


def test_a_dismissal_still_stands_for_exactly_the_span_it_was_given_for(api):
    draft = _create(api, outcomes=OUTCOMES + "連絡先は03-1234-5678です。")
    phone = draft["pii_findings"][0]
    ok(_resolve(api, draft, phone, action="dismiss", reason="センターの代表番号"))
    published = ok(api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish"))
    assert "03-1234-5678" in published["outcomes"]


def test_publish_with_a_stale_version_is_a_conflict(api):
    draft = _create(api)
    url = f"/api/v1/case-studies/{draft['id']}"
    reviewed = draft["version"]
    changed = ok(api("a_staff").patch(url, json={"outcomes": OUTCOMES + "対象者の状況も説明した。"},
                                       headers={"If-Match": f'"{reviewed}"'}))
    assert changed["status"] == "checked" and changed["version"] != reviewed
    stale = api("a_admin").post(f"{url}/publish", headers={"If-Match": f'"{reviewed}"'})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "version_conflict"
    assert stale.get_json()["error"]["details"]["current_version"] == changed["version"]
    assert api("b_staff").get(url).status_code == 404  # nothing went out
    assert api("a_admin").post(f"{url}/publish", headers={"If-Match": "junk"}).status_code == 422
    published = ok(api("a_admin").post(f"{url}/publish", headers={"If-Match": f'"{changed["version"]}"'}))
    assert published["outcomes"].endswith("対象者の状況も説明した。")


def test_publish_without_if_match_still_works_for_existing_clients(api):
    draft = _create(api)
    assert ok(api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish"))["status"] == "published"


def test_the_openapi_document_names_if_match_and_409_on_publish(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    publish = spec["paths"]["/api/v1/case-studies/{study_id}/publish"]["post"]
    header = next(p for p in publish["parameters"] if p["in"] == "header" and p["name"] == "If-Match")
    assert header["required"] is False
    assert {"200", "409", "422"} <= set(publish["responses"])
    assert "version_conflict" in publish["responses"]["409"]["description"]
    assert "post" in spec["paths"]["/api/v1/case-studies/{study_id}/withdraw"]


def test_the_publish_page_refuses_a_version_changed_since_the_head_reviewed_it(pages, api):
    draft = _create(api)
    admin = pages("a_admin")
    page = admin.get(f"/case-studies/{draft['id']}/edit").get_data(as_text=True)
    reviewed = _reviewed_version(page)
    assert reviewed == str(draft["version"])
    ok(api("a_staff").patch(f"/api/v1/case-studies/{draft['id']}", json={"title": "差し替えた題"},
                             headers={"If-Match": f'"{draft["version"]}"'}))
    stale = admin.post(f"/case-studies/{draft['id']}/publish", data={"version": reviewed})
    body = stale.get_data(as_text=True)
    assert stale.status_code == 409 and "確認した後に内容が変更されています" in body and "差し替えた題" in body
    missing = admin.post(f"/case-studies/{draft['id']}/publish", data={})
    assert missing.status_code == 422 and "確認した版が指定されていません" in missing.get_data(as_text=True)
    assert api("b_staff").get(f"/api/v1/case-studies/{draft['id']}").status_code == 404
    fresh = _reviewed_version(admin.get(f"/case-studies/{draft['id']}/edit").get_data(as_text=True))
    assert admin.post(f"/case-studies/{draft['id']}/publish", data={"version": fresh}).status_code == 302
    assert ok(api("b_staff").get(f"/api/v1/case-studies/{draft['id']}"))["title"] == "差し替えた題"


def _two_versions(api, **overrides) -> tuple[str, str]:
    """A study published twice: version 1 with ``overrides``, version 2 corrected to CLEAN."""
    study = _published(api, **overrides)
    url = f"/api/v1/case-studies/{study['id']}"
    draft = ok(api("a_staff").post(f"{url}/revisions"), 201)
    ok(api("a_staff").patch(url, json={k: CLEAN[k] for k in ("title", "background")},
                             headers={"If-Match": f'"{draft["version"]}"'}))
    assert ok(api("a_admin").post(f"{url}/publish"))["published_version"] == 2
    return study["id"], url


LEAKED = {"title": "遠隔地の施設との連携", "background": "施設の職員と週1回の電話で触法の経緯を共有した。"}


def test_other_centers_cannot_read_superseded_versions(api, pages):
    study_id, url = _two_versions(api, **LEAKED)
    for reader in ("b_staff", "c_admin"):
        assert api(reader).get(f"{url}?version=1").status_code == 404
        seen = ok(api(reader).get(url))
        assert (seen["published_version"], seen["latest_version"]) == (2, 2)
        assert [v["version"] for v in seen["versions"]] == [2] and "current_version" not in seen
    assert pages("b_staff").get(f"/case-studies/{study_id}?version=1").status_code == 404
    assert LEAKED["title"] not in pages("b_staff").get(f"/case-studies/{study_id}").get_data(as_text=True)
    for history in ("a_staff", "association"):
        old = ok(api(history).get(f"{url}?version=1"))
        assert old["title"] == LEAKED["title"] and [v["version"] for v in old["versions"]] == [1, 2]
    assert LEAKED["title"] in pages("association").get(f"/case-studies/{study_id}?version=1").get_data(as_text=True)


def test_withdrawn_current_version_falls_back_to_the_last_not_withdrawn(app, api, owner_engine):
    study_id, url = _two_versions(api, **LEAKED)  # version 1: LEAKED; version 2: CLEAN's title
    assert study_id in _search(api, "検討委員会") and study_id not in _search(api, "遠隔地")
    withdrawn = ok(api("association").post(f"{url}/withdraw", json={"version": 2, "reason": "施設名が特定できる"}))
    assert withdrawn["current_version"] == 1 and [v["withdrawn"] for v in withdrawn["versions"]] == [False, True]
    seen = ok(api("b_staff").get(url))
    assert (seen["published_version"], seen["latest_version"], seen["title"]) == (1, 1, LEAKED["title"])
    assert [v["version"] for v in seen["versions"]] == [1]
    assert api("b_staff").get(f"{url}?version=2").status_code == 404
    listed = {i["id"]: i for i in ok(api("b_staff").get("/api/v1/case-studies"))["items"]}
    assert listed[study_id]["title"] == LEAKED["title"]
    assert study_id in _search(api, "遠隔地") and study_id not in _search(api, "検討委員会")
    assert ok(api("b_staff").post(f"{url}/helpful"))["helpful_count"] == 1
    author = ok(api("a_staff").get(f"{url}?version=2"))
    assert author["withdrawn"] is True and author["withdrawn_reason"] == "施設名が特定できる"
    _deliver_pending(app)
    assert ("case_study_version_withdrawn", study_id) in _inbox(api, "a_admin")
    assert ("case_study_version_withdrawn", study_id) not in _inbox(api, "b_staff")
    with owner_engine.connect() as conn:
        details = conn.execute(text("select details from audit_entries where action = 'case_study.withdraw_version'"
                                    " and object_id = :id"), {"id": study_id}).scalar()
    details = details if isinstance(details, dict) else json.loads(details)
    assert (details["version"], details["reason"], details["current_version"]) == (2, "施設名が特定できる", 1)


def test_withdrawing_every_version_removes_the_study_from_other_centers(api):
    study = _published(api, **LEAKED)
    url = f"/api/v1/case-studies/{study['id']}"
    assert study["id"] in _search(api, "触法") and study["id"] in _search(api, "")
    ok(api("association").post(f"{url}/withdraw", json={"version": 1, "reason": "本人が特定できる"}))
    for reader in ("b_staff", "c_admin"):
        assert api(reader).get(url).status_code == 404
        assert study["id"] not in _search(api, "触法", key=reader) and study["id"] not in _search(api, "", key=reader)
        assert api(reader).post(f"{url}/questions", json={"body": "質問"}).status_code == 404
    assert api("b_staff").get(f"{url}/questions").status_code == 404
    own = ok(api("a_staff").get(url))
    assert own["withdrawn"] is True and own["current_version"] is None and own["title"] == LEAKED["title"]
    assert study["id"] in _search(api, "触法", key="association")


def test_the_withdrawn_leak_stays_out_when_the_author_publishes_a_correction(api):
    study = _published(api, **LEAKED)
    url = f"/api/v1/case-studies/{study['id']}"
    ok(api("association").post(f"{url}/withdraw", json={"version": 1, "reason": "本人が特定できる"}))
    draft = ok(api("a_staff").post(f"{url}/revisions"), 201)
    ok(api("a_staff").patch(url, json={"background": CLEAN["background"]}, headers={"If-Match": f'"{draft["version"]}"'}))
    ok(api("a_admin").post(f"{url}/publish"))
    seen = ok(api("b_staff").get(url))
    assert seen["published_version"] == 2 and seen["background"] == CLEAN["background"]
    assert api("b_staff").get(f"{url}?version=1").status_code == 404


def test_only_the_association_withdraws_a_version_and_only_with_a_reason(api):
    study = _published(api)
    url = f"/api/v1/case-studies/{study['id']}"
    for key in ("a_admin", "b_admin", "a_staff"):
        assert api(key).post(f"{url}/withdraw", json={"version": 1, "reason": "x"}).status_code == 403
    assert api("association").post(f"{url}/withdraw", json={"version": 1}).status_code == 422
    assert api("association").post(f"{url}/withdraw", json={"version": 1, "reason": "  "}).status_code == 422
    assert api("association").post(f"{url}/withdraw", json={"version": "x", "reason": "r"}).status_code == 422
    assert api("association").post(f"{url}/withdraw", json={"version": 9, "reason": "r"}).status_code == 404
    assert api("association").post(f"/api/v1/case-studies/{uuid.uuid4()}/withdraw",
                                   json={"version": 1, "reason": "r"}).status_code == 404
    ok(api("association").post(f"{url}/withdraw", json={"version": 1, "reason": "確認"}))
    again = api("association").post(f"{url}/withdraw", json={"version": 1, "reason": "確認"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_state"


def test_the_association_withdraws_a_version_from_the_study_page(pages, api):
    study_id, _url = _two_versions(api, **LEAKED)
    moderator = pages("association")
    page = moderator.get(f"/case-studies/{study_id}?version=1").get_data(as_text=True)
    assert "第1版を取り下げる" in page
    assert moderator.post(f"/case-studies/{study_id}/withdraw", data={"version": "1", "reason": ""}).status_code == 422
    assert moderator.post(f"/case-studies/{study_id}/withdraw",
                          data={"version": "1", "reason": "施設名が特定できる"}).status_code == 302
    page = moderator.get(f"/case-studies/{study_id}?version=1").get_data(as_text=True)
    assert "取り下げ済み" in page and "施設名が特定できる" in page and "第1版を取り下げる" not in page
    assert pages("a_staff").get(f"/case-studies/{study_id}?version=1").status_code == 200
    assert pages("b_staff").get(f"/case-studies/{study_id}?version=1").status_code == 404
    assert pages("a_admin").post(f"/case-studies/{study_id}/withdraw",
                                 data={"version": "2", "reason": "x"}).status_code == 403


def test_withdrawn_versions_leave_the_sqlite_list_and_search_too(sqlite_app):
    from teichaku.crosstenant.exchange import authoring, moderation, search

    with sqlite_app.app_context():
        tokyo = center_by_code("tokyo").id
        admin = SimpleNamespace(id=uuid.uuid4(), role="center_admin", center_id=tokyo)
        moderator = SimpleNamespace(id=uuid.uuid4(), role="association", center_id=None)
        set_tenant(tokyo)
        draft = authoring.create_draft({**CLEAN, **LEAKED, "actions": "定例会を開いた。", "outcomes": "連携が進んだ。",
                                        "title": "取り下げ検証の事例"}, actor=admin)
        authoring.publish_draft(draft, actor=admin)
        db.session.commit()
        study_id = draft.study_id

        def found(q):
            return [s.id for s, _v in search.find_studies(q=q)[0]]
        assert study_id in found("取り下げ検証") and study_id in found("")
        set_tenant(None)
        moderation.withdraw_version(study_id, 1, "確認", actor=moderator)
        db.session.commit()
        assert study_id not in found("取り下げ検証") and study_id not in found("")
        assert study_id in [s.id for s, _v in search.find_studies(q="取り下げ検証", include_hidden=True)[0]]
