"""Pull requests in the test world: center B (osaka) asks center C (fukuoka) to start a transfer
for its person 乙川, so that center A (tokyo) sees nothing of it; and what the isolation sweep
needs to reach ``transfer_pulls.*`` and ``api_transfer_pulls.*``.

Pulls carry no metadata for the association (it is refused every pull route), so ``pull_id`` is a
plain tenant parameter for every role.
"""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant


def extend_world(app, world) -> None:
    from teichaku.crosstenant.transfers import pulls
    from teichaku.tenants.cases.models import Case

    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        case = db.session.scalar(db.select(Case).where(Case.id == world.cases["b"]["id"]))
        actor = SimpleNamespace(id=world.users["b_staff"]["id"], display_name="", role="staff")
        row = pulls.request_pull(
            case, center_by_code("fukuoka"),
            {"obtained_on": date(2025, 6, 1), "method": "written", "scope": "福岡のセンターへ伝えること"},
            "乙川秘開始依頼：家族から相談がありました。", actor)
        db.session.commit()
        world.objects["transfer_pulls_b"] = {"asking_id": row.id, "group_id": row.group_id}


TENANT_PARAMS = {
    # the pull's one public id (the group's): what A would have to guess to reach B's pull
    "pull_id": lambda w: str(w.objects["transfer_pulls_b"]["group_id"]),
}

CONSENT = {"obtained_on": "2025-06-01", "method": "written"}
API_BODIES = {
    "api_transfer_pulls.create_pull": {"case_id": "<case_id>", "to_center": "fukuoka", "consent": CONSENT,
                                       "message": "掃引"},
    "api_transfer_pulls.refuse_pull": {"comment": "掃引"},
    "api_transfer_pulls.cancel_pull": None,
}
PAGE_BODIES = {
    "transfer_pulls.new": {"to_center": "fukuoka", "consent_obtained_on": "2025-06-01", "consent_method": "written",
                           "message": "掃引"},
    "transfer_pulls.refuse": {"comment": "掃引"},
    "transfer_pulls.cancel": {},
    "transfer_pulls.confirm": {"consent_obtained_on": "2025-06-01", "consent_method": "written", "message": "掃引"},
}
