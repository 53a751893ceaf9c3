"""Network activities in the shared test world, and what the isolation sweep needs to know."""
from __future__ import annotations

from datetime import date

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.activities.services import create_activity

# Distinctive: a leak check can look for it in another center's answers.
B_ACTIVITY_TITLE = "乙区秘匿地域福祉支援検討会"


def make_activity(app, center: str, **overrides) -> dict:
    with app.app_context():
        set_tenant(center_by_code(center).id)
        data = {"held_on": date(2025, 6, 10), "activity_type": "regional_support_meeting", "title": "地域福祉支援検討会",
                "place": "センター会議室", "participants": {"welfare": 5, "justice": 2}}
        data.update(overrides)
        activity = create_activity(data)
        db.session.commit()
        return {"id": activity.id, "title": activity.title, "center": center, "version": activity.version}


def extend_world(app, world) -> None:
    world.objects["activity_b"] = make_activity(
        app, "osaka", title=B_ACTIVITY_TITLE, place="大阪市内の会議室", organisations="乙区相談支援事業所",
        minutes="乙区の受け入れ先について協議した。", participants={"welfare": 7, "medical": 3, "police": 1})


TENANT_PARAMS = {
    "activity_id": lambda w: str(w.objects["activity_b"]["id"]),
}
API_BODIES = {
    "api_activities.create_activity": {"held_on": "2025-07-01", "activity_type": "regional_training",
                                       "title": "地域福祉研修", "participants": {"welfare": 1}},
    "api_activities.update_activity": {"title": "改ざん", "participants": {"welfare": 99}},
}
PAGE_BODIES = {
    "activities.new": {},
    "activities.edit": {"held_on": "2025-06-10", "activity_type": "other", "title": "改ざん",
                        "participants_welfare": "99", "version": "1"},
}
