"""A transfer's package (資料): what a request may carry besides the minimum identity.

The sending center chooses items of its case (face sheets, records, plans at their latest
revision, documents; nothing by default); on acceptance the items are read from the sending
center (inside ``cross_tenant``) and copied into the receiving center's new case through its own
records service, each noted with where it came from.  Nothing here commits.
"""
from __future__ import annotations

import io
import uuid
from datetime import date

from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform import storage
from ...platform.centers import Center
from ...platform.errors import ValidationFailed
from ...platform.extensions import db
from ...platform.i18n import today_jst
from ...tenants.cases.models import Case
from ...tenants.records import services as records
from ...tenants.records.lifecycle import DOCUMENT_LABELS, RECORD_LABELS
from ...tenants.records.models import CaseDocument, CaseRecord, CoordinationPlan, PlanRevision
from . import lifecycle as lc
from .models import Transfer



def package_choices(case: Case) -> list[dict]:
    """Items of a case that a request may carry, with their labels (nothing is chosen by default).

    Face sheets (assessments), interview records and progress notes, each plan at its latest
    revision, documents.
    """
    choices = []
    case_records = db.session.scalars(select(CaseRecord).where(CaseRecord.case_id == case.id)
                                      .order_by(CaseRecord.recorded_on, CaseRecord.created_at))
    for rec in case_records:
        kind = "face_sheet" if rec.kind == "assessment" else "record"
        choices.append({"kind": kind, "id": str(rec.id),
                        "label": f"{RECORD_LABELS[rec.kind]}（{rec.recorded_on.isoformat()}）"})
    for plan in db.session.scalars(select(CoordinationPlan).where(CoordinationPlan.case_id == case.id)
                                   .order_by(CoordinationPlan.created_at)):
        choices.append({"kind": "plan", "id": str(plan.id), "revision": plan.latest_revision,
                        "label": f"{plan.title}（第{plan.latest_revision}版）"})
    for doc in db.session.scalars(select(CaseDocument).where(CaseDocument.case_id == case.id)
                                  .order_by(CaseDocument.created_at)):
        choices.append({"kind": "document", "id": str(doc.id),
                        "label": f"{DOCUMENT_LABELS.get(doc.kind, doc.kind)}: {doc.filename}"})
    order = list(lc.PACKAGE_KINDS)
    return sorted(choices, key=lambda c: order.index(c["kind"]))


def resolve_package(case: Case, package: list[dict] | None) -> list[dict]:
    """The chosen items, each checked to belong to this case (another center's or a missing item
    answers 404, like any other id)."""
    if not package:
        return []
    available = {(c["kind"], c["id"]): c for c in package_choices(case)}
    chosen, seen = [], set()
    for item in package:
        kind = item.get("kind")
        if kind not in lc.PACKAGE_KINDS:
            raise ValidationFailed("資料の種類が正しくありません。", fields={"package.kind": ["選択肢にない値です。"]})
        key = (kind, str(item.get("id")))
        if key not in available:
            raise NotFound()
        if key not in seen:
            seen.add(key)
            chosen.append(available[key])
    return chosen


def read_package(sending: Transfer) -> list[dict]:
    """The chosen items' content from the sending center (inside ``cross_tenant``), as plain data."""
    items = []
    center_id, case_id = sending.center_id, sending.case_id
    for item in sending.package or []:
        kind, ident = item["kind"], uuid.UUID(item["id"])
        if kind in ("face_sheet", "record"):
            rec = db.session.execute(select(CaseRecord).where(
                CaseRecord.center_id == center_id, CaseRecord.case_id == case_id, CaseRecord.id == ident)).scalar_one_or_none()
            if rec is None:
                items.append({**item, "missing": True})
                continue
            data = {"kind": rec.kind, "recorded_on": rec.recorded_on}
            if rec.kind == "assessment":
                data["sections"] = dict(rec.sections or {})
            else:
                data["content"] = rec.content or ""
                if rec.kind == "interview":
                    data["place"], data["participants"] = rec.place, rec.participants
            items.append({**item, "record": data})
        elif kind == "plan":
            plan = db.session.execute(select(CoordinationPlan).where(
                CoordinationPlan.center_id == center_id, CoordinationPlan.case_id == case_id,
                CoordinationPlan.id == ident)).scalar_one_or_none()
            rev = None
            if plan is not None:
                rev = db.session.execute(select(PlanRevision).where(
                    PlanRevision.center_id == center_id, PlanRevision.plan_id == plan.id,
                    PlanRevision.revision == item.get("revision", plan.latest_revision))).scalar_one_or_none()
            if rev is None:
                items.append({**item, "missing": True})
                continue
            items.append({**item, "plan": {"title": plan.title, "revision": rev.revision, "content": dict(rev.content)}})
        elif kind == "document":
            doc = db.session.execute(select(CaseDocument).where(
                CaseDocument.center_id == center_id, CaseDocument.case_id == case_id, CaseDocument.id == ident)).scalar_one_or_none()
            data = storage.open_verified(doc.center_id, doc.id, doc.size_bytes, doc.sha256) if doc else None
            if data is None:
                items.append({**item, "missing": True})
                continue
            items.append({**item, "document": {"filename": doc.filename, "kind": doc.kind, "bytes": data}})
    return items


def copy_package(case: Case, items: list[dict], from_center: Center, sent_on: date) -> list[dict]:
    """Copy the items into the receiving center's case (current tenant scope), each noted with
    where it came from; returns the receiving row's package (labels and the copies' ids)."""
    out, lines = [], []
    for item in items:
        entry = {"kind": item["kind"], "label": item["label"]}
        if item.get("missing"):
            entry["missing"] = True
            lines.append(f"・{item['label']}（送付元で見つからなかったため受領できませんでした）")
        elif "record" in item:
            rec = records.create_record(case, item["record"])
            entry["copied_id"] = str(rec.id)
            lines.append(f"・{item['label']}")
        elif "plan" in item:
            plan = item["plan"]
            title = f"{plan['title']}（{from_center.name} 第{plan['revision']}版の写し）"[:200]
            copy, _rev = records.create_plan(case, {"title": title, "content": plan["content"]})
            entry["copied_id"] = str(copy.id)
            lines.append(f"・{item['label']}")
        elif "document" in item:
            doc = item["document"]
            copy = records.upload_document(case, stream=io.BytesIO(doc["bytes"]), filename=doc["filename"],
                                           kind=doc["kind"], note=f"広域調整で{from_center.name}から受領"[:500])
            entry["copied_id"] = str(copy.id)
            lines.append(f"・{item['label']}")
        out.append(entry)
    note = [f"広域調整により{from_center.name}からの依頼（{sent_on.isoformat()}）を受け入れました。",
            "受領した資料: " + ("" if lines else "なし（本人確認のための最小限の情報のみ）"), *lines]
    records.create_record(case, {"kind": "progress", "recorded_on": today_jst(), "content": "\n".join(note)})
    return out
