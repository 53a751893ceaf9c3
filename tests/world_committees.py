"""The review committee in the shared test world, and what the isolation sweep needs to know."""
from __future__ import annotations

from datetime import date

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.committees import services

# Distinctive: a leak check can look for them in another center's answers.
B_MEMBER_NAME = "乙野秘委員"
B_QUESTION = "乙区秘匿の相談内容: 退所後の居所について"


def make_member(app, center: str, **overrides) -> dict:
    with app.app_context():
        set_tenant(center_by_code(center).id)
        data = {"name": "検討太郎", "name_kana": "けんとうたろう", "profession": "psychiatrist",
                "affiliation": "県立病院", "observer": False}
        data.update(overrides)
        member = services.create_member(data)
        db.session.commit()
        return {"id": member.id, "name": member.name, "version": member.version}


def make_meeting(app, center: str, **overrides) -> dict:
    with app.app_context():
        set_tenant(center_by_code(center).id)
        data = {"held_on": date(2025, 7, 10), "place": "センター会議室", "notes": "", "attendee_ids": []}
        data.update(overrides)
        meeting = services.create_meeting(data)
        db.session.commit()
        return {"id": meeting.id, "version": meeting.version}


def make_agenda_item(app, center: str, meeting_id, case_id, *, question: str = "住まいの確保について助言がほしい",
                     advice: str | None = None) -> dict:
    with app.app_context():
        set_tenant(center_by_code(center).id)
        meeting = services.get_meeting(meeting_id)
        item = services.add_agenda_item(meeting, {"case_id": case_id, "question": question})
        if advice:
            services.record_advice(item, advice, expected_version=item.version)
        db.session.commit()
        return {"id": item.id, "version": item.version, "round": item.round}


def extend_world(app, world) -> None:
    member = make_member(app, "osaka", name=B_MEMBER_NAME, name_kana="おつのひいいん", profession="lawyer",
                         affiliation="乙区法律事務所", observer=True)
    meeting = make_meeting(app, "osaka", held_on=date(2025, 7, 10), place="乙区会議室", notes="乙区の議事録",
                           attendee_ids=[member["id"]])
    item = make_agenda_item(app, "osaka", meeting["id"], world.cases["b"]["id"], question=B_QUESTION,
                            advice="乙区秘匿の助言")
    world.objects.update(b_member_id=member["id"], b_meeting_id=meeting["id"], b_item_id=item["id"])


TENANT_PARAMS = {
    "committee_member_id": lambda w: str(w.objects["b_member_id"]),
    "committee_meeting_id": lambda w: str(w.objects["b_meeting_id"]),
    "committee_item_id": lambda w: str(w.objects["b_item_id"]),
}
API_BODIES = {
    "api_committees.create_member": {"name": "改ざん委員", "name_kana": "かいざん", "profession": "other"},
    "api_committees.update_member": {"affiliation": "改ざん"},
    "api_committees.create_meeting": {"held_on": "2025-08-01", "place": "改ざん"},
    "api_committees.update_meeting": {"place": "改ざん"},
    "api_committees.create_agenda_item": {"case_id": "<case_id>", "question": "改ざん"},
    "api_committees.update_agenda_item": {"question": "改ざん"},
    "api_committees.delete_agenda_item": None,
    "api_committees.record_advice": {"advice": "改ざん"},
    "api_committees.record_follow_up": {"follow_up": "改ざん", "follow_up_on": "2025-08-01"},
}
PAGE_BODIES = {
    "committees.member_new": {},
    "committees.member_edit": {"name": "改ざん", "name_kana": "かいざん", "profession": "other", "version": "1"},
    "committees.meeting_new": {},
    "committees.meeting_edit": {"held_on": "2025-08-01", "place": "改ざん", "version": "1"},
    "committees.agenda_item_new": {"case_id": "<case_id>", "question": "改ざん"},
    "committees.agenda_item_edit": {"question": "改ざん", "version": "1"},
    "committees.agenda_item_remove": {"version": "1"},
    "committees.advice": {"advice": "改ざん", "version": "1"},
    "committees.follow_up": {"follow_up": "改ざん", "follow_up_on": "2025-08-01", "version": "1"},
}
