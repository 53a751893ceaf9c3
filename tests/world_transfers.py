"""Transfers in the test world: center B (osaka) asks center C (fukuoka) to take its person 乙川
on, sending B's interview record along, and writes in the thread with a file attached (B's own
copy of the file is B's object), so that center A (tokyo) sees nothing of it; and what
the isolation sweep needs to reach ``transfers.*`` and ``api_transfers.*``.

The association legitimately sees every sent transfer as metadata (never the person): for it,
``transfer_id`` is not a foreign id that must answer 404 but one it may use, like a center's
code.  ``ASSOCIATION_REFERENCE_PARAMS`` names those parameters for the sweep (see the report of
issue 4: the sweep's wiring for per-role reference parameters).
"""
from __future__ import annotations

import io
from datetime import date
from types import SimpleNamespace

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant


def extend_world(app, world) -> None:
    from teichaku.crosstenant.transfers import groups, threads, workflow
    from teichaku.tenants.cases.models import Case

    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        case = db.session.scalar(db.select(Case).where(Case.id == world.cases["b"]["id"]))
        package = []
        if "records_b" in world.objects:  # the records world comes first (modules are read in name order)
            package = [{"kind": "record", "id": str(world.objects["records_b"]["interview_id"])}]
        actor = SimpleNamespace(id=world.users["b_staff"]["id"], display_name="", role="staff")
        row = workflow.request_transfer(
            case, center_by_code("fukuoka"),
            {"obtained_on": date(2025, 6, 1), "method": "oral_with_witness", "witness": "乙府刑務所 福祉専門官",
             "scope": "福岡県での生活の調整"},
            "乙川秘依頼：福岡市での生活を希望しています。", package, actor)
        db.session.commit()
        receiving = groups.counterpart(row)
        db.session.commit()
        # B writes in the thread with a file attached: B's own copy is B's object for the sweep.
        message = threads.post_message(row, "乙川の資料を添付します。", actor,
                                       files=[(io.BytesIO(b"%PDF-1.4\n% sweep\n%%EOF\n"), "乙川資料.pdf")])
        db.session.commit()
        attachment_id = threads.message_view(message)["attachments"][0]["id"]
        db.session.commit()
        world.objects["transfers_b"] = {"sending_id": row.id, "receiving_id": receiving.id, "group_id": row.group_id,
                                        "attachment_id": attachment_id}


TENANT_PARAMS = {
    # the transfer's one public id (the group's), which B, C and the association all use
    "transfer_id": lambda w: str(w.objects["transfers_b"]["group_id"]),
    "attachment_id": lambda w: str(w.objects["transfers_b"]["attachment_id"]),  # B's own copy of a file
}

# For the association, B's transfer id is one it may use (metadata only): see the module docstring.
ASSOCIATION_REFERENCE_PARAMS = {"transfer_id"}

CONSENT = {"obtained_on": "2025-06-01", "method": "written"}
API_BODIES = {
    "api_transfers.create_transfer": {"case_id": "<case_id>", "to_center": "fukuoka", "consent": CONSENT, "message": "掃引"},
    "api_transfers.accept_transfer": {"person_id": "<person_id>"},
    "api_transfers.decline_transfer": {"reason": "no_capacity", "comment": "掃引"},
    "api_transfers.withdraw_transfer": None,
    "api_transfers.approve_transfer": None,
    "api_transfers.complete_transfer": None,
    "api_transfers.post_message": {"body": "掃引"},
    "api_transfers.share_update": {"body": "掃引"},
    # the current receiving center: refused (422), so that even an allowed caller changes nothing
    "api_transfers.reassign_transfer": {"to_center": "fukuoka"},
    "api_transfers.remind_transfer": None,
}
PAGE_BODIES = {
    "transfers.new": {"to_center": "fukuoka", "consent_obtained_on": "2025-06-01", "consent_method": "written",
                      "message": "掃引"},
    "transfers.accept": {"person_id": "<person_id>"},
    "transfers.decline": {"reason": "no_capacity", "comment": "掃引"},
    "transfers.withdraw": {},
    "transfers.approve": {},
    "transfers.complete": {},
    "transfers.message": {"body": "掃引"},
    "transfers.share_update": {"body": "掃引"},
    "transfers.remind": {},
    "transfers.reassign": {"to_center": "fukuoka"},
}
