"""Records and plans in the test world: on center B's case an interview record, a progress note,
a document (a small PDF) and a plan with two revisions; and what the isolation sweep needs to
reach ``records.*`` and ``api_records.*``."""
from __future__ import annotations

import io
from datetime import date

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.records import services

# Distinctive values, so that a leak check can't match another center's by accident.
B_INTERVIEW = {"kind": "interview", "recorded_on": date(2025, 6, 10), "place": "乙府刑務所 面会室",
               "participants": "本人、乙府刑務所福祉専門官", "content": "乙川秘話：出所後は大阪市内での生活を希望。"}
B_PROGRESS = {"kind": "progress", "recorded_on": date(2025, 6, 12), "content": "乙川秘録：療育手帳の再判定を申請。"}
B_PDF = b"%PDF-1.4\n% Otokawa secret letter\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
B_PLAN_1 = {"wishes": "乙川希望：静かな所で暮らしたい", "goals": "グループホームへの入居",
            "items": [{"area": "housing", "support": "グループホームの見学調整", "provider": "乙府センター", "due_on": date(2025, 7, 1)}],
            "notes": ""}
B_PLAN_2 = {**B_PLAN_1, "items": [*B_PLAN_1["items"],
                                  {"area": "income", "support": "生活保護の申請同行", "provider": "乙市福祉事務所", "due_on": None}]}


def extend_world(app, world) -> None:
    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        case = services.load_case(world.cases["b"]["id"])
        interview = services.create_record(case, B_INTERVIEW)
        progress = services.create_record(case, B_PROGRESS)
        document = services.upload_document(case, stream=io.BytesIO(B_PDF), filename="依頼書.pdf", kind="request_letter")
        plan, _first = services.create_plan(case, {"content": B_PLAN_1})
        services.revise_plan(case, plan, B_PLAN_2, base_revision=1)
        db.session.commit()
        world.objects["records_b"] = {
            "interview_id": interview.id, "progress_id": progress.id, "document_id": document.id,
            "document_sha256": document.sha256, "plan_id": plan.id, "latest_revision": plan.latest_revision,
            "secret": "乙川秘話",
        }


TENANT_PARAMS = {
    "record_id": lambda w: str(w.objects["records_b"]["interview_id"]),
    "document_id": lambda w: str(w.objects["records_b"]["document_id"]),
    "plan_id": lambda w: str(w.objects["records_b"]["plan_id"]),
    # B's revision number, zero-padded so that the sweep's id masking can't hit other digits
    "revision_no": lambda w: str(w.objects["records_b"]["latest_revision"]).zfill(6),
}

API_BODIES = {
    "api_records.create_record": {"kind": "progress", "recorded_on": "2025-01-05", "content": "掃引"},
    "api_records.update_record": {"content": "改ざん"},
    # no file: the case is loaded before the form is read, so B's case and a random one both 404
    "api_records.upload_document": {"kind": "other"},
    "api_records.create_plan": {"content": {"goals": "掃引"}},
    "api_records.create_revision": {"base_revision": 2, "content": {"goals": "改ざん"}},
}

PAGE_BODIES = {
    "records.record_new": {"kind": "progress", "recorded_on": "2025-01-05", "content": "掃引"},
    "records.record_edit": {"recorded_on": "2025-01-05", "content": "改ざん", "version": "1"},
    "records.document_new": {"kind": "other"},
    "records.plan_new": {"goals": "掃引"},
    "records.plan_revise": {"goals": "改ざん", "base_revision": "2"},
}
