"""Records, documents and plans on a case: the only way to create, read (audited) and change them.

Every function takes a case already loaded for the current center (``load_case``), so a record
of another center's case answers exactly like a missing one.  Reads and changes are audited with
the case's ``person_id``; nothing here commits (the view or job does).
"""
from __future__ import annotations

import difflib
import uuid
from datetime import date

from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.auth.models import User
from ...platform.errors import DomainError, PreconditionRequired, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.pagination import keyset_page
from ...platform.i18n import today_jst, wareki
from ...platform.logs import get_logger
from ...platform.models import utcnow
from ...platform.tenancy import current_center_id, get_owned
from ..cases.models import Case
from ...platform import storage
from .lifecycle import AREA_LABELS, ASSESSMENT_SECTIONS, PLAN_AREAS
from .models import CaseDocument, CaseRecord, CoordinationPlan, PlanRevision
from .schemas import check_record_fields

CONFLICT_MESSAGE = "他の職員が先に更新しました。最新の内容を確認してから再度保存してください。"
DEFAULT_PLAN_TITLE = "福祉サービス等調整計画"
log = get_logger("teichaku.records")


# --- the case ----------------------------------------------------------------------------------

def load_case(case_id) -> Case:
    """The current center's case, or 404 (another center's case answers like a missing one)."""
    case = get_owned(Case, case_id)
    if case is None:
        raise NotFound()
    return case


def _actor_id(actor) -> uuid.UUID | None:
    return getattr(actor, "id", None)


def _audit(action: str, case: Case, object_type: str, object_id=None, details: dict | None = None) -> None:
    audit(action, object_type=object_type, object_id=object_id, person_id=case.person_id,
          details={"case_id": str(case.id), **(details or {})})


def user_names(ids) -> dict[uuid.UUID, str]:
    """Display names of the current center's accounts (authors of records)."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(User.id, User.display_name, User.email).where(User.id.in_(wanted), User.center_id == current_center_id())
    ).all()
    return {row.id: row.display_name or row.email for row in rows}


# --- cursor pagination (newest first) ------------------------------------------------------------

def _page(model, stmt, limit: int, cursor: str | None):
    return keyset_page(stmt, (model.created_at, model.id), limit, cursor)


# --- the case page's section ------------------------------------------------------------------------

def case_overview(case: Case) -> dict:
    """What the case page lists: records, documents and plans (titles and dates only)."""
    records = list(db.session.scalars(
        select(CaseRecord).where(CaseRecord.case_id == case.id)
        .order_by(CaseRecord.recorded_on.desc(), CaseRecord.created_at.desc())))
    documents = list(db.session.scalars(
        select(CaseDocument).where(CaseDocument.case_id == case.id).order_by(CaseDocument.created_at.desc())))
    plans = list(db.session.scalars(
        select(CoordinationPlan).where(CoordinationPlan.case_id == case.id).order_by(CoordinationPlan.created_at.desc())))
    revisions = {}
    if plans:
        for rev in db.session.scalars(select(PlanRevision).where(PlanRevision.plan_id.in_([p.id for p in plans]))
                                      .order_by(PlanRevision.revision.desc())):
            revisions.setdefault(rev.plan_id, []).append(rev)
    names = user_names([r.author_id for r in records] + [d.uploaded_by_id for d in documents]
                       + [r.author_id for revs in revisions.values() for r in revs])
    _audit("record.overview", case, "case", case.id,
           {"records": len(records), "documents": len(documents), "plans": len(plans)})
    return {"records": records, "documents": documents, "plans": plans, "revisions": revisions, "names": names}


# --- records ---------------------------------------------------------------------------------------

def _check_date(value: date | None) -> None:
    if value is not None and value > today_jst():
        raise ValidationFailed("記録日に未来の日付は指定できません。", fields={"recorded_on": ["今日以前の日付を入力してください。"]})


def _clean_sections(sections: dict | None) -> dict | None:
    if sections is None:
        return None
    return {key: (sections.get(key) or "").strip() for key in ASSESSMENT_SECTIONS if (sections.get(key) or "").strip()}


def _kind_fields(kind: str, data: dict, *, creating: bool) -> None:
    try:
        check_record_fields(kind, data, creating=creating)
    except ValidationError as exc:
        raise ValidationFailed("入力内容に誤りがあります。", fields=exc.messages) from exc


def create_record(case: Case, data: dict, *, author=None) -> CaseRecord:
    """Add an assessment, interview record or progress note to a case."""
    kind = data["kind"]
    _kind_fields(kind, data, creating=True)
    recorded_on = data.get("recorded_on") or today_jst()
    _check_date(recorded_on)
    rec = CaseRecord(
        case_id=case.id, kind=kind, recorded_on=recorded_on,
        place=((data.get("place") or "").strip() or None) if kind == "interview" else None,
        participants=((data.get("participants") or "").strip() or None) if kind == "interview" else None,
        content=data.get("content") if kind != "assessment" else None,
        sections=_clean_sections(data.get("sections")) if kind == "assessment" else None,
        author_id=_actor_id(author),
    )
    db.session.add(rec)
    db.session.flush()
    _audit("record.create", case, "case_record", rec.id, {"kind": kind, "recorded_on": recorded_on})
    return rec


def get_record(case: Case, record_id) -> CaseRecord:
    """A record of this case (404 otherwise), without auditing: ``read_record`` shows it."""
    rec = get_owned(CaseRecord, record_id)
    if rec is None or rec.case_id != case.id:
        raise NotFound()
    return rec


def read_record(case: Case, record_id) -> CaseRecord:
    """A record of this case, and the audited read of it."""
    rec = get_record(case, record_id)
    _audit("record.read", case, "case_record", rec.id, {"kind": rec.kind})
    return rec


def update_record(case: Case, rec: CaseRecord, changes: dict, *, expected_version: int | None, editor=None) -> CaseRecord:
    """Change a record if the caller saw its current version (two staff never overwrite each other)."""
    if expected_version is None:
        raise PreconditionRequired("If-Match ヘッダーで版番号を指定してください。")
    if expected_version != rec.version:
        raise VersionConflict(CONFLICT_MESSAGE, details={"current_version": rec.version})
    changes = dict(changes)
    _kind_fields(rec.kind, changes, creating=False)
    if "recorded_on" in changes:
        if changes["recorded_on"] is None:
            raise ValidationFailed("入力内容に誤りがあります。", fields={"recorded_on": ["必須項目です。"]})
        _check_date(changes["recorded_on"])
    if "sections" in changes:
        changes = {**changes, "sections": _clean_sections(changes["sections"])}
    for key in ("place", "participants"):
        if key in changes:
            changes[key] = (changes[key] or "").strip() or None
    changed = sorted(k for k, v in changes.items() if getattr(rec, k) != v)
    if changed:
        for key in changed:
            setattr(rec, key, changes[key])
        rec.updated_by_id = _actor_id(editor)
        rec.updated_at = utcnow()
        db.session.flush()
        _audit("record.update", case, "case_record", rec.id, {"kind": rec.kind, "fields": changed, "version": rec.version})
    return rec


def list_records(case: Case, *, limit: int = 50, cursor: str | None = None, kind: str | None = None):
    stmt = select(CaseRecord).where(CaseRecord.case_id == case.id)
    if kind:
        stmt = stmt.where(CaseRecord.kind == kind)
    rows, next_cursor = _page(CaseRecord, stmt, limit, cursor)
    _audit("record.list", case, "case", case.id, {"kind": kind})
    return rows, next_cursor


# --- documents -------------------------------------------------------------------------------------

class DocumentUnavailable(DomainError):
    """The stored file is missing or no longer matches its hash (a fault of the server, not the user)."""

    status, code = 500, "internal_error"


def upload_document(case: Case, *, stream, filename: str | None, kind: str, note: str | None = None,
                    uploader=None) -> CaseDocument:
    """Store an uploaded file outside the database and its row inside, together or not at all."""
    center_id = case.center_id
    document_id = uuid.uuid4()
    try:
        staged = storage.stage(center_id, document_id, stream, filename)
    except storage.UploadRefused as exc:
        raise ValidationFailed(exc.message, fields={"file": [exc.message]},
                               details={"too_large": True} if exc.too_large else None) from exc
    try:
        doc = CaseDocument(
            id=document_id, case_id=case.id, kind=kind, filename=storage.sanitize_filename(filename, staged.type_name),
            content_type=staged.content_type, size_bytes=staged.size, sha256=staged.sha256,
            note=(note or "").strip() or None, uploaded_by_id=_actor_id(uploader),
        )
        db.session.add(doc)
        db.session.flush()
    except BaseException:
        storage.discard(staged.temp_path)
        raise
    storage.commit_staged(db.session(), staged, center_id, document_id)
    _audit("document.upload", case, "case_document", doc.id,
           {"kind": kind, "filename": doc.filename, "size_bytes": doc.size_bytes, "sha256": doc.sha256})
    return doc


def get_document(case: Case, document_id) -> CaseDocument:
    doc = get_owned(CaseDocument, document_id)
    if doc is None or doc.case_id != case.id:
        raise NotFound()
    return doc


def read_document(case: Case, document_id) -> CaseDocument:
    doc = get_document(case, document_id)
    _audit("document.read", case, "case_document", doc.id, {"kind": doc.kind})
    return doc


def download_document(case: Case, document_id) -> tuple[CaseDocument, bytes]:
    """The document's bytes (checked against the stored size and hash); the download is audited."""
    doc = get_document(case, document_id)
    data = storage.open_verified(doc.center_id, doc.id, doc.size_bytes, doc.sha256)
    if data is None:
        log.error("document_file_missing_or_altered", document_id=str(doc.id))
        raise DocumentUnavailable("ファイルを読み出せませんでした。センターの管理者に連絡してください。")
    _audit("document.download", case, "case_document", doc.id, {"filename": doc.filename, "sha256": doc.sha256})
    return doc, data


def list_documents(case: Case, *, limit: int = 50, cursor: str | None = None):
    rows, next_cursor = _page(CaseDocument, select(CaseDocument).where(CaseDocument.case_id == case.id), limit, cursor)
    _audit("document.list", case, "case", case.id)
    return rows, next_cursor


# --- the coordination plan ------------------------------------------------------------------------------

def _content_json(content: dict) -> dict:
    """The stored form of a plan's content (dates as ISO strings, areas in a fixed order)."""
    items = []
    for item in content.get("items") or []:
        due = item.get("due_on")
        items.append({
            "area": item["area"], "support": (item.get("support") or "").strip(),
            "provider": (item.get("provider") or "").strip(),
            "due_on": due.isoformat() if isinstance(due, date) else (due or None),
        })
    items.sort(key=lambda i: PLAN_AREAS.index(i["area"]))  # stable: keeps the order within an area
    return {"wishes": (content.get("wishes") or "").strip(), "goals": (content.get("goals") or "").strip(),
            "items": items, "notes": (content.get("notes") or "").strip()}


def content_out(content: dict) -> dict:
    """Stored content -> the API's shape (dates as dates)."""
    out = _content_json(content)
    for item in out["items"]:
        item["due_on"] = date.fromisoformat(item["due_on"]) if item["due_on"] else None
    return out


def create_plan(case: Case, data: dict, *, author=None) -> tuple[CoordinationPlan, PlanRevision]:
    """Start a coordination plan for a case with its first revision."""
    plan = CoordinationPlan(case_id=case.id, title=(data.get("title") or DEFAULT_PLAN_TITLE).strip() or DEFAULT_PLAN_TITLE,
                            latest_revision=1, created_by_id=_actor_id(author))
    db.session.add(plan)
    db.session.flush()
    rev = PlanRevision(plan_id=plan.id, revision=1, content=_content_json(data["content"]), author_id=_actor_id(author))
    db.session.add(rev)
    db.session.flush()
    _audit("plan.create", case, "coordination_plan", plan.id, {"revision": 1})
    return plan, rev


def get_plan(case: Case, plan_id) -> CoordinationPlan:
    plan = get_owned(CoordinationPlan, plan_id)
    if plan is None or plan.case_id != case.id:
        raise NotFound()
    return plan


def revisions_of(plan: CoordinationPlan) -> list[PlanRevision]:
    """Every revision of a plan, newest first."""
    return list(db.session.scalars(
        select(PlanRevision).where(PlanRevision.plan_id == plan.id).order_by(PlanRevision.revision.desc())))


def _revision(plan: CoordinationPlan, number) -> PlanRevision:
    try:
        number = int(str(number))
    except (TypeError, ValueError):
        raise NotFound() from None
    rev = db.session.execute(
        select(PlanRevision).where(PlanRevision.plan_id == plan.id, PlanRevision.revision == number)
    ).scalar_one_or_none()
    if rev is None:
        raise NotFound()
    return rev


def read_plan(case: Case, plan_id, revision=None, *, action: str = "plan.read") -> tuple[CoordinationPlan, PlanRevision]:
    """A plan and one of its revisions (the latest by default); the read is audited."""
    plan = get_plan(case, plan_id)
    rev = _revision(plan, plan.latest_revision if revision in (None, "") else revision)
    _audit(action, case, "coordination_plan", plan.id, {"revision": rev.revision})
    return plan, rev


def revise_plan(case: Case, plan: CoordinationPlan, content: dict, *, base_revision: int | None,
                author=None) -> PlanRevision:
    """Add the next revision.  Old revisions are never edited; a revision based on anything but
    the latest is refused (another staff member revised the plan meanwhile)."""
    if base_revision is None:
        raise ValidationFailed("入力内容に誤りがあります。", fields={"base_revision": ["必須項目です。"]})
    if base_revision != plan.latest_revision:
        raise VersionConflict(CONFLICT_MESSAGE, details={"current_revision": plan.latest_revision})
    number = plan.latest_revision + 1
    plan.latest_revision = number
    plan.updated_at = utcnow()
    db.session.flush()  # the plan's version check: a concurrent revision fails here
    rev = PlanRevision(plan_id=plan.id, revision=number, content=_content_json(content), author_id=_actor_id(author))
    db.session.add(rev)
    db.session.flush()
    _audit("plan.revise", case, "coordination_plan", plan.id, {"revision": number, "base_revision": base_revision})
    return rev


def list_plans(case: Case, *, limit: int = 50, cursor: str | None = None):
    rows, next_cursor = _page(CoordinationPlan, select(CoordinationPlan).where(CoordinationPlan.case_id == case.id),
                              limit, cursor)
    _audit("plan.list", case, "case", case.id)
    return rows, next_cursor


def plan_text(content: dict) -> list[str]:
    """The plan as lines of text, as printed: what revisions are compared on."""
    c = _content_json(content)
    lines = ["【本人の意向】", *(c["wishes"].splitlines() or ["（記載なし）"]), "",
             "【目標】", *(c["goals"].splitlines() or ["（記載なし）"]), "", "【支援の内容】"]
    if not c["items"]:
        lines.append("（記載なし）")
    for item in c["items"]:
        lines.append(f"■ {AREA_LABELS[item['area']]}")
        lines.extend(f"  支援内容: {line}" if i == 0 else f"            {line}"
                     for i, line in enumerate(item["support"].splitlines() or [""]))
        lines.append(f"  担当: {item['provider'] or '（未定）'}")
        lines.append(f"  期限: {wareki(date.fromisoformat(item['due_on'])) if item['due_on'] else '（未定）'}")
    lines += ["", "【備考】", *(c["notes"].splitlines() or ["（記載なし）"])]
    return lines


def compare_revisions(case: Case, plan_id, old, new) -> dict:
    """Two revisions side by side (rows of ``tag, old line, new line``) and as a unified diff."""
    plan = get_plan(case, plan_id)
    left, right = _revision(plan, old), _revision(plan, new)
    a, b = plan_text(left.content), plan_text(right.content)
    rows = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows.extend(("equal", a[i], b[j]) for i, j in zip(range(i1, i2), range(j1, j2)))
            continue
        old_lines, new_lines = a[i1:i2], b[j1:j2]
        for k in range(max(len(old_lines), len(new_lines))):
            rows.append((tag, old_lines[k] if k < len(old_lines) else None, new_lines[k] if k < len(new_lines) else None))
    unified = list(difflib.unified_diff(a, b, fromfile=f"第{left.revision}版", tofile=f"第{right.revision}版", lineterm=""))
    _audit("plan.compare", case, "coordination_plan", plan.id, {"from": left.revision, "to": right.revision})
    return {"plan": plan, "old": left, "new": right, "rows": rows, "unified": unified,
            "changed": any(tag != "equal" for tag, _, _ in rows)}
