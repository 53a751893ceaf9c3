"""Case studies in the test world: center B (osaka) has a draft naming its person 乙川 (a known
person finding, unresolved) and a published study that center C (fukuoka) asked a question on;
and what the isolation sweep needs to reach ``case_studies.*`` and ``api_case_studies.*``.

``study_id`` and ``finding_id`` point at B's *draft*: nobody but B may see it, so for every
other role they must answer like a random id (404).  B's published study is the shared
library's, readable by every center: it is not a path parameter of the sweep.
"""
from __future__ import annotations

from types import SimpleNamespace

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant

CLEAN = {
    "background": "職員の経験が少なく、外部の専門職から助言を得る仕組みが必要だった。",
    "actions": "月1回の定例会を開き、調整計画について助言を得た。",
    "outcomes": "支援の質が安定した。",
    "tags": ["review_committee", "coordination"],
}


def _actor(world, key: str, code: str) -> SimpleNamespace:
    user = world.users[key]
    return SimpleNamespace(id=user["id"], role=user["role"], center_id=center_by_code(code).id, display_name="")


def extend_world(app, world) -> None:
    from teichaku.crosstenant.exchange import authoring, feedback, findings

    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        draft = authoring.create_draft({**CLEAN, "title": "乙川さんの支援から学んだこと",
                                        "background": "面談では乙川秘子の希望を聞いた。"},
                                       actor=_actor(world, "b_staff", "osaka"))
        finding = findings.open_findings(draft)[0]
        published = authoring.create_draft({**CLEAN, "title": "検討委員会の運営"}, actor=_actor(world, "b_staff", "osaka"))
        authoring.publish_draft(published, actor=_actor(world, "b_admin", "osaka"))
        db.session.commit()
        ids = {"draft_study_id": draft.study_id, "finding_id": finding.id, "published_study_id": published.study_id}
    with app.app_context():
        set_tenant(center_by_code("fukuoka").id)
        feedback.ask_question(ids["published_study_id"], "委員の選び方を教えてください。",
                              actor=_actor(world, "c_staff", "fukuoka"))
        db.session.commit()
    world.objects["case_studies_b"] = ids


TENANT_PARAMS = {
    "study_id": lambda w: str(w.objects["case_studies_b"]["draft_study_id"]),
    "finding_id": lambda w: str(w.objects["case_studies_b"]["finding_id"]),
}

TEXT = {"title": "掃引", "background": "掃引", "actions": "掃引", "outcomes": "掃引"}
API_BODIES = {
    "api_case_studies.create_case_study": {**TEXT, "case_id": "<case_id>"},
    "api_case_studies.update_case_study": {"title": "改ざん"},
    "api_case_studies.resolve_finding": {"action": "dismiss", "reason": "掃引"},
    "api_case_studies.publish_case_study": None,
    "api_case_studies.correct_case_study": None,
    "api_case_studies.ask_question": {"body": "掃引"},
    "api_case_studies.answer_question": {"asker_center": "fukuoka", "body": "掃引"},
    "api_case_studies.mark_helpful": None,
    "api_case_studies.hide_case_study": {"reason": "掃引"},
    "api_case_studies.unhide_case_study": None,
    "api_case_studies.withdraw_case_study_version": {"version": 1, "reason": "掃引"},
}
PAGE_BODIES = {
    "case_studies.new": {**TEXT, "case_id": "<case_id>"},
    "case_studies.edit": {**TEXT, "title": "改ざん", "version": "1"},
    "case_studies.replace_finding": {"replacement": "掃引"},
    "case_studies.dismiss_finding": {"reason": "掃引"},
    "case_studies.publish": {"version": "1"},
    "case_studies.correct": {},
    "case_studies.ask": {"body": "掃引"},
    "case_studies.answer": {"asker_center": "fukuoka", "body": "掃引"},
    "case_studies.helpful": {},
    "case_studies.hide": {"reason": "掃引"},
    "case_studies.unhide": {},
    "case_studies.withdraw": {"version": "1", "reason": "掃引"},
}
