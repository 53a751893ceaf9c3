"""Case work in the test world: center B's need and reminder, and the sweep's view of case routes."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.i18n import today_jst
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.cases.models import Case, CaseNeed, Reminder
from teichaku.tenants.cases.services import raise_reminders


def extend_world(app, world) -> None:
    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        case = db.session.scalar(select(Case).where(Case.id == world.cases["b"]["id"]))
        case.release_date = today_jst() + timedelta(days=3)
        db.session.flush()
        raise_reminders()
        world.objects["b_need_id"] = db.session.scalar(select(CaseNeed.id).where(CaseNeed.case_id == case.id).limit(1))
        world.objects["b_reminder_id"] = db.session.scalar(select(Reminder.id).where(Reminder.case_id == case.id).limit(1))
        db.session.commit()
    assert world.objects["b_need_id"] and world.objects["b_reminder_id"]


TENANT_PARAMS = {
    "need_id": lambda w: str(w.objects["b_need_id"]),
    "reminder_id": lambda w: str(w.objects["b_reminder_id"]),
    "assigned_user_id": lambda w: str(w.users["b_staff"]["id"]),
}

# B's person is called 乙川: searching for it from center A must find nothing.
API_BODIES = {
    "api_cases.search_cases": {"q": "オトガワ", "assigned_user_id": "<b staff>"},
    "api_cases.search_persons": {"q": "おとがわ"},
    "api_cases.transition_case": {"to_status": "assessing"},
    "api_cases.open_follow_up": None,
    "api_cases.set_eligibility": {"elderly_or_disabled": True},
    "api_cases.override_eligibility": {"reason": "本人の強い希望があるため"},
    "api_cases.update_need": {"status": "in_progress"},
}
PAGE_BODIES = {
    "cases.list": {"q": "おとがわ", "assigned_user_id": "<b staff>"},  # the kana: a hit would show 乙川
    "cases.eligibility": {"version": "1", "elderly_or_disabled": "y"},
    "cases.override": {"version": "1", "reason": "本人の強い希望があるため"},
    "cases.transition": {"version": "1", "to_status": "assessing"},
    "cases.follow_up": {"version": "1"},
    "cases.need": {},
    "reminders.dismiss": {},
}
