"""A case study's drafts: write, edit, publish and correct (the author's workflow).

A draft belongs to its author scope (``scope``) and moves ``draft`` → ``checked`` →
``published`` as its PII findings (``findings``) are resolved.  **Publishing** (the center head,
or the association's moderator for its own studies) copies the checked text into the shared
library as the study's next version; nothing else leaves the author.  It names the draft version
the head reviewed (the page always, the API with ``If-Match``): a draft changed since is a 409.
The check runs once more over the whole text at publication; an open finding refuses it with 422
(``UnresolvedFindings``).  Corrections start from the latest published version
(``start_correction``).
"""
from __future__ import annotations

import uuid

from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.errors import InvalidState, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.models import utcnow
from ...platform.tenancy import current_center_id, get_owned
from ...tenants.cases.models import Case
from . import lifecycle as lc
from . import search
from .findings import apply_edit, check_all, finding_view, findings_of, known_terms, saved_findings, settle
from .models import ASSOCIATION_WORKSPACE, CaseStudy, CaseStudyDraft, CaseStudyFinding, CaseStudyVersion
from .scope import as_uuid, is_association, own_scope, require_capability

CONFLICT_MESSAGE = "他の職員が先に更新しました。最新の内容を確認してから再度保存してください。"
PUBLISH_CONFLICT_MESSAGE = ("確認した後に内容が変更されています。最新の内容と指摘を確認してから、"
                            "もう一度「承認して公開する」を押してください。")


class UnresolvedFindings(ValidationFailed):
    """Publishing refused: the PII check has open findings.  The check's results are flushed
    before this is raised, so the caller may commit them (the view does) and show them."""


# --- input -----------------------------------------------------------------------------------------

def _clean_text(field: str, value) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if field == "title":
        text = " ".join(text.split())
    text = text.strip() if field == "title" else text.strip("\n ")
    if len(text) > lc.MAX_LENGTHS[field]:
        raise ValidationFailed("入力が長すぎます。", fields={field: [f"{lc.MAX_LENGTHS[field]}文字以内で入力してください。"]})
    if field in lc.REQUIRED_FIELDS and not text:
        raise ValidationFailed("必須項目が入力されていません。", fields={field: ["必須項目です。"]})
    return text


def clean_tags(tags) -> list[str]:
    tags = list(tags or [])
    unknown = [t for t in tags if t not in lc.TAG_LABELS]
    if unknown:
        raise ValidationFailed("タグが正しくありません。", fields={"tags": ["選択肢にない値です。"]})
    if len(set(tags)) > lc.MAX_TAGS:
        raise ValidationFailed("タグが多すぎます。", fields={"tags": [f"{lc.MAX_TAGS}個以内で選んでください。"]})
    return lc.ordered_tags(tags)


def tags_from_case(case: Case) -> list[str]:
    """What a study started from a case takes from it: the case type and the person's support
    needs (tags only; the text is the author's, nothing personal is copied)."""
    return lc.ordered_tags([case.case_type, *(case.person.support_needs or [])])


def _source_case(case_id) -> Case:
    case = get_owned(Case, case_id) if case_id else None
    if case is None:
        raise NotFound()
    return case


# --- writing ----------------------------------------------------------------------------------------

def create_draft(data: dict, *, actor) -> CaseStudyDraft:
    """A new study's first draft, checked at once.  ``data``: title, background, actions,
    outcomes, reference?, tags?, show_center?, case_id? (a case of the author's center: its case
    type and support needs become the tags when none are given)."""
    own_scope()
    require_capability(actor, "exchange.write", "事例を作成する権限がありません。")
    fields = {f: _clean_text(f, data.get(f)) for f in lc.TEXT_FIELDS}
    case = _source_case(data["case_id"]) if data.get("case_id") else None
    tags = clean_tags(data.get("tags")) if data.get("tags") is not None else (tags_from_case(case) if case else [])
    draft = CaseStudyDraft(id=uuid.uuid4(), study_id=uuid.uuid4(), status="draft", tags=tags,
                           show_center=bool(data.get("show_center", False)) and not is_association(actor),
                           source_case_id=case.id if case else None, created_by_id=getattr(actor, "id", None),
                           **fields)
    db.session.add(draft)
    db.session.flush()
    open_count = check_all(draft)
    audit("case_study.create", object_type="case_study", object_id=draft.study_id,
          details={"draft_id": draft.id, "open_findings": open_count, "from_case": bool(case), "tags": tags})
    return draft


def get_open_draft(study_id) -> CaseStudyDraft | None:
    """The author scope's draft of a study still being written; None for anybody else's."""
    study_id = as_uuid(study_id)
    if study_id is None or current_center_id() is None:
        return None
    return db.session.scalar(select(CaseStudyDraft).where(
        CaseStudyDraft.study_id == study_id, CaseStudyDraft.status.in_(lc.OPEN_DRAFT_STATUSES)))


def get_open_draft_or_404(study_id) -> CaseStudyDraft:
    """The draft being written; a study the caller published with no draft open is 409 (make a
    correction first), anything else 404."""
    draft = get_open_draft(study_id)
    if draft is None:
        if is_author(as_uuid(study_id)):
            raise InvalidState("この事例は公開済みです。内容を変えるには修正版を作成してください。")
        raise NotFound()
    return draft


def _check_version(draft: CaseStudyDraft, expected_version: int | None, message: str = CONFLICT_MESSAGE) -> None:
    if expected_version is not None and expected_version != draft.version:
        raise VersionConflict(message, details={"current_version": draft.version})


def update_draft(draft: CaseStudyDraft, changes: dict, *, expected_version: int | None, actor) -> CaseStudyDraft:
    """Edit a draft (optimistic lock: ``expected_version``); every changed text field is checked
    again and its findings follow the text."""
    require_capability(actor, "exchange.write", "事例を編集する権限がありません。")
    lc.require_draft_action("edit", draft.status)
    _check_version(draft, expected_version)
    texts = {f: _clean_text(f, changes[f]) for f in lc.TEXT_FIELDS if f in changes}
    changed = [f for f, value in texts.items() if value != draft.text_of(f)]
    if changed:
        known = known_terms(*[texts.get(f, draft.text_of(f)) for f in lc.TEXT_FIELDS])
        for field in changed:
            apply_edit(draft, field, texts[field], known)
    if "tags" in changes:
        draft.tags = clean_tags(changes["tags"])
    if "show_center" in changes and not is_association(actor):
        draft.show_center = bool(changes["show_center"])
    draft.updated_at = utcnow()  # a new version even when only findings moved
    open_count = settle(draft)
    audit("case_study.update", object_type="case_study", object_id=draft.study_id,
          details={"draft_id": draft.id, "changed": changed, "tags": draft.tags, "show_center": draft.show_center,
                   "open_findings": open_count})
    return draft


# --- publishing -------------------------------------------------------------------------------------

def publish_draft(draft: CaseStudyDraft, *, actor, expected_version: int | None = None) -> CaseStudyVersion:
    """Approve and publish a checked draft as the study's next version (the center head; the
    association's moderator in its workspace).  ``expected_version`` is the draft version the
    head reviewed: a draft changed since is refused (``VersionConflict``, 409), so what is
    published is what was approved.  The check then runs once more on the whole text of every
    field (a person registered since, or a name typed as a "replacement", would be caught): any
    open finding refuses publication with ``UnresolvedFindings`` (422) after flushing what the
    check found."""
    require_capability(actor, "exchange.publish", "事例を承認・公開できるのはセンター長（管理者）です。")
    _lock(draft)
    if draft.status == "published":
        lc.require_draft_action("publish", draft.status)
    _check_version(draft, expected_version, PUBLISH_CONFLICT_MESSAGE)
    open_count = check_all(draft)
    if open_count:
        raise UnresolvedFindings(f"個人を特定できる可能性のある箇所が{open_count}件残っています。すべて対応してから公開してください。",
                                 details={"open_findings": open_count})
    lc.require_draft_action("publish", draft.status)
    scope, now = own_scope(), utcnow()
    publisher = "association" if scope == ASSOCIATION_WORKSPACE else "center"
    study = db.session.scalar(select(CaseStudy).where(CaseStudy.id == draft.study_id).with_for_update())
    number = (study.latest_version if study else 0) + 1
    version = CaseStudyVersion(
        id=uuid.uuid4(), study_id=draft.study_id, version_no=number, publisher=publisher, published_at=now,
        shown_center_id=scope if publisher == "center" and draft.show_center else None,
        tags=list(draft.tags or []), **{f: draft.text_of(f) for f in lc.TEXT_FIELDS})
    if study is None:
        study = CaseStudy(id=draft.study_id, publisher=publisher, status="published", latest_version=number,
                          current_version=number, helpful_count=0, first_published_at=now, last_published_at=now)
        db.session.add(study)
        db.session.flush()
    else:
        study.latest_version, study.current_version, study.last_published_at = number, number, now
    db.session.add(version)
    search.index_version(version)
    draft.status, draft.published_version = "published", number
    draft.approved_by_id, draft.approved_at = getattr(actor, "id", None), now
    db.session.flush()
    audit("case_study.publish", object_type="case_study", object_id=draft.study_id,
          details={"draft_id": draft.id, "version": number, "show_center": version.shown_center_id is not None,
                   "publisher": publisher})
    return version


def _lock(draft: CaseStudyDraft) -> None:
    """Lock a draft's row and re-read it, so that two publications (or corrections) of the same
    draft at once leave one outcome: the second sees the first's and is refused (409)."""
    db.session.refresh(draft, with_for_update=True)


def _published_draft(study_id) -> CaseStudyDraft | None:
    """The author scope's latest published draft of a study (None: not the author)."""
    return db.session.scalar(select(CaseStudyDraft).where(
        CaseStudyDraft.study_id == study_id, CaseStudyDraft.status == "published")
        .order_by(CaseStudyDraft.published_version.desc()).limit(1))


def is_author(study_id) -> bool:
    return current_center_id() is not None and _published_draft(study_id) is not None


def start_correction(study_id, *, actor) -> CaseStudyDraft:
    """A correction: a new draft of a published study, from its latest version, to be published
    as the next version.  Dismissals and replacements of the last published draft still stand
    where the text is unchanged.  Only the author; one open draft at a time."""
    require_capability(actor, "exchange.write", "事例を修正する権限がありません。")
    study_id = as_uuid(study_id)
    previous = _published_draft(study_id) if study_id else None
    if previous is None:
        raise NotFound()
    _lock(previous)  # two corrections started at once: the second waits, then finds the first
    if get_open_draft(study_id) is not None:
        raise InvalidState("この事例には編集中の修正版があります。")
    study = db.session.get(CaseStudy, study_id)
    latest = search.readable_version(study_id, study.latest_version, history=True)  # the author reads every version
    draft = CaseStudyDraft(id=uuid.uuid4(), study_id=study_id, based_on_version=latest.version_no, status="draft",
                           tags=list(latest.tags or []), show_center=previous.show_center,
                           created_by_id=getattr(actor, "id", None), **{f: getattr(latest, f) for f in lc.TEXT_FIELDS})
    db.session.add(draft)
    db.session.flush()
    for old in saved_findings(previous):
        if old.status != "open":
            db.session.add(CaseStudyFinding(
                id=uuid.uuid4(), center_id=draft.center_id, draft_id=draft.id, field=old.field,
                start_offset=old.start_offset, end_offset=old.end_offset, text=old.text, kind=old.kind,
                suggestion=old.suggestion, status=old.status, replacement=old.replacement, reason=old.reason,
                resolved_by_id=old.resolved_by_id, resolved_at=old.resolved_at, created_at=utcnow()))
    db.session.flush()
    open_count = check_all(draft)
    audit("case_study.correction_start", object_type="case_study", object_id=study_id,
          details={"draft_id": draft.id, "based_on_version": latest.version_no, "open_findings": open_count})
    return draft


# --- the author's drafts, as pages and the API show them ----------------------------------------------

def own_drafts(*, tags: list[str] | None = None, limit: int = 200) -> list[CaseStudyDraft]:
    """The author scope's drafts still being written, most recently changed first."""
    if current_center_id() is None:
        return []
    wanted = set(clean_tags(tags))
    rows = db.session.scalars(select(CaseStudyDraft).where(CaseStudyDraft.status.in_(lc.OPEN_DRAFT_STATUSES))
                              .order_by(CaseStudyDraft.updated_at.desc(), CaseStudyDraft.id.desc()).limit(limit))
    return [d for d in rows if wanted <= set(d.tags or [])]


def draft_view(draft: CaseStudyDraft) -> dict:
    findings = findings_of(draft)
    return {
        "id": draft.study_id, "draft_id": draft.id, "status": draft.status, "version": draft.version,
        "based_on_version": draft.based_on_version, "tags": list(draft.tags or []), "show_center": draft.show_center,
        "source_case_id": draft.source_case_id, "created_at": draft.created_at, "updated_at": draft.updated_at,
        "open_findings": sum(1 for f in findings if f.status == "open"),
        "pii_findings": [finding_view(f) for f in findings],
        **{f: draft.text_of(f) for f in lc.TEXT_FIELDS},
    }
