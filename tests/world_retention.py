"""Retention in the shared test world: center B has a closed case whose person is due for
erasure (a review waiting for B's admin), and what the isolation sweep needs to know."""
from __future__ import annotations

from datetime import date, timedelta

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant

B_DUE_FAMILY_NAME = "乙保存"  # distinctive: a leak check can look for it in another center's answers


def extend_world(app, world) -> None:
    from teichaku.tenants.cases import services as cases
    from teichaku.crosstenant.retention import services as retention
    from tests.factories import person_payload

    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        case = cases.create_case({"case_type": "consultation", "person": person_payload(
            family_name=B_DUE_FAMILY_NAME, given_name="秘代", family_name_kana="おつほぞん", given_name_kana="ひよ")})
        cases.transition_case(case, "closed", expected_version=case.version, closing={"closing_reason": "other"})
        retention.run_review(date(2099, 1, 1))  # far enough for any keeping period
        (review,) = retention.list_reviews()
        db.session.commit()
        world.objects["retention_review_b"] = {"id": review.id, "person_id": case.person_id}


TENANT_PARAMS = {
    "review_id": lambda w: str(w.objects["retention_review_b"]["id"]),
}
PAGE_BODIES = {
    "retention.erase": {"version": "1", "confirm": "yes"},
    "retention.hold": {"reason": "改ざん", "until": (date.today() + timedelta(days=30)).isoformat(), "version": "1"},
    "retention.rules": {"years_coordination": "5", "years_follow_up": "5", "years_suspect_support": "5",
                        "years_consultation": "5"},
    "retention.disclosure": {},
}
