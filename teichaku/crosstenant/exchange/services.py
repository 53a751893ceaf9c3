"""The case-study exchange (事例の共有): the only way to write, check, resolve, publish, correct,
hide, read, question and mark a case study.  Pages, the API and the CLI all call these.

Who works where:

* An **author scope** is the tenant a draft belongs to: the signed-in center, or, for the
  association, its reserved workspace (``models.ASSOCIATION_WORKSPACE``).  ``exchange_scope(actor)``
  enters it; every draft function below runs inside one and loads drafts only through the global
  tenant filter, so another author's draft answers like a missing one (404).
* **The PII check** (``pii.detect``) runs on every text field when a draft is created, on every
  field an edit changes, after each replacement (on that field), and once more on every field
  at publication, with the author's own records as known terms: the names and kana of the
  center's persons and staff (the association's accounts in its workspace).  A finding stays
  open until it is replaced (its text is swapped for the suggestion or the author's words, and
  later findings of the field move by the difference) or dismissed with a reason.  Replacement
  text is checked like any other text: only the placeholder forms the check offers (Aさん,
  某市, 70代, 令和4年度 ...) are no finding, so a name replaced by another name is a new open
  finding.  A dismissal covers exactly the span, text and kind the author judged: any other
  detection, even overlapping it, is a new open finding.  Edits move findings with the text
  they point at (a diff of old and new text); a finding whose text was edited is dropped and
  the check decides afresh.  A draft with an open finding is ``draft``; publishing it is
  refused with 422 (``UnresolvedFindings``).
* **Publishing** (the center head, or the association's moderator for its own studies) copies
  the checked text into the shared library as the study's next version; nothing else leaves
  the author.  It names the draft version the head reviewed (the page always, the API with
  ``If-Match``): a draft changed since is a 409.  Corrections start from the latest published
  version (``start_correction``).
* **Who reads which version**: other centers read only a study's current version (the latest
  the association has not withdrawn; none left: the study is gone for them); the author and the
  association read every version (``search.shown_version_no`` is the one rule, for the list,
  the search and a study's page).  The association withdraws a single version with a reason
  (``withdraw_version``, audited).
* **Cross-tenant steps** (routing a question to a hidden author, writing the other side's copy
  of a message, the association hiding a study) run inside ``tenancy.cross_tenant(
  "exchange.<verb>")``, which is audited.

Services flush and audit (``platform.audit.services.record``); the view, command or job owns the
transaction.  Raises ``ValidationFailed`` (422), ``UnresolvedFindings`` (422),
``VersionConflict`` (409), ``InvalidState`` (409), ``NotAllowed`` (403) and
``werkzeug.exceptions.NotFound`` (a draft, finding, study or case that is not the caller's to see).
"""
from __future__ import annotations

import difflib
import unicodedata
import uuid
from contextlib import contextmanager
from typing import Iterable, Iterator

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.auth.models import User
from ...platform.centers import Center
from ...platform.errors import DomainError, InvalidState, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.models import utcnow
from ...platform.permissions import can
from ...platform.tenancy import account_lookup, cross_tenant, current_center_id, get_owned, set_tenant
from ...tenants.cases.models import Case
from ...tenants.persons.models import Person
from . import lifecycle as lc
from . import pii, search
from .models import (
    ASSOCIATION_WORKSPACE, CaseStudy, CaseStudyDraft, CaseStudyFinding, CaseStudyMessage, CaseStudyVersion,
    CaseStudyWithdrawal, HelpfulMark,
)

CONFLICT_MESSAGE = "他の職員が先に更新しました。最新の内容を確認してから再度保存してください。"
DIFF_LIMIT = 4_000_000  # product of the changed stretches' lengths above which edits are not diffed
MAX_REPLACEMENT, MAX_REASON, MAX_MESSAGE = 200, 1000, 4000


class NotAllowed(DomainError):
    """The caller's role may not take this step (e.g. staff publishing)."""

    status, code = 403, "forbidden"


class UnresolvedFindings(ValidationFailed):
    """Publishing refused: the PII check has open findings.  The check's results are flushed
    before this is raised, so the caller may commit them (the view does) and show them."""


# --- scopes ---------------------------------------------------------------------------------------

def is_association(actor) -> bool:
    return getattr(actor, "role", None) == "association"


@contextmanager
def exchange_scope(actor) -> Iterator[uuid.UUID | None]:
    """Run the enclosed code in the actor's author scope: a center user's own center (the
    request's tenant already), or the association's workspace for its moderators.  Other readers
    (the ministry and the platform admin, where allowed) have none: yields None, and every draft
    function then answers 404."""
    if not is_association(actor):
        yield current_center_id()
        return
    previous = current_center_id()
    set_tenant(ASSOCIATION_WORKSPACE)
    try:
        yield ASSOCIATION_WORKSPACE
    finally:
        set_tenant(previous)


def _scope() -> uuid.UUID:
    scope = current_center_id()
    if scope is None:
        raise NotFound()
    return scope


def _require(actor, capability: str, message: str) -> None:
    if not can(getattr(actor, "role", None), capability):
        raise NotAllowed(message)


def center_of(center_id) -> Center | None:
    return db.session.get(Center, center_id) if center_id else None


# --- the author's own records as known terms ---------------------------------------------------------

def _fold(text: str) -> str:
    """Like the detector folds names: NFKC, katakana as hiragana, no spaces."""
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in text if not ch.isspace())


def _person_names() -> Iterable[tuple[str, str]]:
    rows = db.session.execute(select(Person.family_name, Person.given_name, Person.family_name_kana,
                                     Person.given_name_kana).where(Person.erased_at.is_(None)))
    for family, given, family_kana, given_kana in rows:
        yield f"{family} {given}", "known_person"
        yield f"{family_kana} {given_kana}", "known_person"


def _staff_names(scope: uuid.UUID) -> Iterable[tuple[str, str]]:
    if scope == ASSOCIATION_WORKSPACE:
        with account_lookup():
            rows = db.session.execute(select(User.display_name, User.display_name_kana).where(User.role == "association")).all()
    else:
        rows = db.session.execute(select(User.display_name, User.display_name_kana).where(User.center_id == scope)).all()
    for name, kana in rows:
        yield name, "known_staff"
        yield kana, "known_staff"


def _mentioned(name: str, folded_text: str) -> bool:
    """Whether the name, or its family or given part (2+ characters), occurs in the text."""
    parts = [p for p in unicodedata.normalize("NFKC", name).split() if p]
    candidates = [_fold(name)] + [_fold(p) for p in parts if len(p) >= 2]
    return any(c and len(c) >= 2 and c in folded_text for c in candidates)


def known_terms(*texts: str) -> list[pii.KnownTerm]:
    """The names and kana of the author scope's persons and staff that occur in ``texts`` (the
    detector matches them exactly; a center's thousands of other names need not be passed)."""
    scope = _scope()
    folded = "\n".join(_fold(t) for t in texts)
    names = [*_person_names(), *_staff_names(scope)]
    return [pii.KnownTerm(name, kind) for name, kind in dict.fromkeys(names) if name and _mentioned(name, folded)]


# --- keeping findings attached to their text ----------------------------------------------------------

Opcode = tuple[str, int, int, int, int]


def _opcodes(old: str, new: str) -> list[Opcode]:
    """How ``old`` became ``new``: the common head and tail, and a diff of the stretch between
    (one replaced block when that stretch is too long to diff)."""
    limit = min(len(old), len(new))
    head = 0
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    old_mid, new_mid = old[head:len(old) - tail], new[head:len(new) - tail]
    ops: list[Opcode] = [("equal", 0, head, 0, head)] if head else []
    if len(old_mid) * len(new_mid) <= DIFF_LIMIT:
        matcher = difflib.SequenceMatcher(None, old_mid, new_mid, autojunk=False)
        ops += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]
    elif old_mid or new_mid:
        ops.append(("replace", head, len(old) - tail, head, len(new) - tail))
    if tail:
        ops.append(("equal", len(old) - tail, len(old), len(new) - tail, len(new)))
    return ops


def _splice(start: int, end: int, length: int, old_length: int, new_length: int) -> list[Opcode]:
    """The opcodes of replacing ``[start, end)`` with ``length`` characters."""
    return [("equal", 0, start, 0, start), ("replace", start, end, start, start + length),
            ("equal", end, old_length, start + length, new_length)]


def _moved(ops: list[Opcode], start: int, end: int) -> tuple[int, int] | None:
    """Where an untouched span went; None when the edit touched it."""
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal" and i1 <= start and end <= i2:
            return start - i1 + j1, end - i1 + j1
    return None


def _findings(draft: CaseStudyDraft, field: str | None = None) -> list[CaseStudyFinding]:
    stmt = select(CaseStudyFinding).where(CaseStudyFinding.draft_id == draft.id)
    if field is not None:
        stmt = stmt.where(CaseStudyFinding.field == field)
    return list(db.session.scalars(stmt.order_by(CaseStudyFinding.field, CaseStudyFinding.start_offset)))


def _standing(f: CaseStudyFinding, d: pii.Finding) -> bool:
    """Whether detection ``d`` is finding ``f`` already decided: still open at the same text, or
    dismissed for exactly this span, text and kind (a dismissal covers what the author judged,
    nothing wider, nothing else).  A replaced finding covers nothing: its replacement is text
    like any other, and what the check finds in it is a new finding."""
    if (f.start_offset, f.end_offset, f.text) != (d.start, d.end, d.text):
        return False
    return f.status == "open" or (f.status == "dismissed" and f.kind == d.kind)


def _check_field(draft: CaseStudyDraft, field: str, kept: list[CaseStudyFinding], known: list[pii.KnownTerm]) -> None:
    """Run the detector on the whole of one field and reconcile with the findings that survived
    the edit: a detection a kept finding already stands for (``_standing``) stays that finding;
    any other detection, replacement text included, is a new open finding; a kept open finding
    no longer detected is dropped.  Only the detector's own placeholder forms (Aさん, 某市, 70代,
    令和4年度 ...) are never detected, so only they are exempt."""
    text = draft.text_of(field)
    detected = pii.detect(text, known_terms=known) if text else []
    confirmed = set()
    for d in detected:
        existing = next((f for f in kept if _standing(f, d)), None)
        if existing is not None:
            confirmed.add(existing.id)
            continue
        db.session.add(CaseStudyFinding(
            id=uuid.uuid4(), center_id=draft.center_id, draft_id=draft.id, field=field, start_offset=d.start,
            end_offset=d.end, text=d.text, kind=d.kind, suggestion=(d.suggestion or None) and d.suggestion[:200],
            status="open", created_at=utcnow()))
    for f in kept:
        if f.status == "open" and f.id not in confirmed:
            db.session.delete(f)


def _apply_edit(draft: CaseStudyDraft, field: str, new_text: str, known: list[pii.KnownTerm], *,
                ops: list[Opcode] | None = None, exempt: CaseStudyFinding | None = None) -> None:
    """Set a field's text, move its findings with the text, drop those the edit touched, and
    check the field again.  ``exempt`` is a finding the caller has placed itself (a replacement)."""
    old_text = draft.text_of(field)
    ops = ops if ops is not None else _opcodes(old_text, new_text)
    setattr(draft, field, new_text)
    kept = []
    for f in _findings(draft, field):
        if exempt is not None and f.id == exempt.id:
            kept.append(f)
            continue
        span = _moved(ops, f.start_offset, f.end_offset)
        if span is None:
            db.session.delete(f)
            continue
        f.start_offset, f.end_offset = span
        kept.append(f)
    db.session.flush()
    _check_field(draft, field, kept, known)


def _settle(draft: CaseStudyDraft) -> int:
    """Flush, then set the draft's status from its open findings; returns how many are open."""
    db.session.flush()
    open_count = db.session.scalar(select(func.count()).select_from(CaseStudyFinding).where(
        CaseStudyFinding.draft_id == draft.id, CaseStudyFinding.status == "open")) or 0
    draft.status = lc.status_after_check(open_count)
    draft.checked_at = utcnow()
    db.session.flush()
    return open_count


def _check_all(draft: CaseStudyDraft) -> int:
    """Check the whole text of every field of a draft against its current findings (nothing
    moves); returns how many findings are open.  Publication runs it last, so whatever was
    replaced or dismissed before, anything the check finds now that no dismissal covers
    exactly refuses it."""
    texts = [draft.text_of(f) for f in lc.TEXT_FIELDS]
    known = known_terms(*texts)
    for field in lc.TEXT_FIELDS:
        _check_field(draft, field, _findings(draft, field), known)
    return _settle(draft)


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


def _clean_tags(tags) -> list[str]:
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


# --- drafts ------------------------------------------------------------------------------------------

def create_draft(data: dict, *, actor) -> CaseStudyDraft:
    """A new study's first draft, checked at once.  ``data``: title, background, actions,
    outcomes, reference?, tags?, show_center?, case_id? (a case of the author's center: its case
    type and support needs become the tags when none are given)."""
    _scope()
    _require(actor, "exchange.write", "事例を作成する権限がありません。")
    fields = {f: _clean_text(f, data.get(f)) for f in lc.TEXT_FIELDS}
    case = _source_case(data["case_id"]) if data.get("case_id") else None
    tags = _clean_tags(data.get("tags")) if data.get("tags") is not None else (tags_from_case(case) if case else [])
    draft = CaseStudyDraft(id=uuid.uuid4(), study_id=uuid.uuid4(), status="draft", tags=tags,
                           show_center=bool(data.get("show_center", False)) and not is_association(actor),
                           source_case_id=case.id if case else None, created_by_id=getattr(actor, "id", None),
                           **fields)
    db.session.add(draft)
    db.session.flush()
    open_count = _check_all(draft)
    audit("case_study.create", object_type="case_study", object_id=draft.study_id,
          details={"draft_id": draft.id, "open_findings": open_count, "from_case": bool(case), "tags": tags})
    return draft


def get_open_draft(study_id) -> CaseStudyDraft | None:
    """The author scope's draft of a study still being written; None for anybody else's."""
    study_id = _uuid(study_id)
    if study_id is None or current_center_id() is None:
        return None
    return db.session.scalar(select(CaseStudyDraft).where(
        CaseStudyDraft.study_id == study_id, CaseStudyDraft.status.in_(lc.OPEN_DRAFT_STATUSES)))


def get_open_draft_or_404(study_id) -> CaseStudyDraft:
    """The draft being written; a study the caller published with no draft open is 409 (make a
    correction first), anything else 404."""
    draft = get_open_draft(study_id)
    if draft is None:
        if is_author(_uuid(study_id)):
            raise InvalidState("この事例は公開済みです。内容を変えるには修正版を作成してください。")
        raise NotFound()
    return draft


PUBLISH_CONFLICT_MESSAGE = ("確認した後に内容が変更されています。最新の内容と指摘を確認してから、"
                            "もう一度「承認して公開する」を押してください。")


def _check_version(draft: CaseStudyDraft, expected_version: int | None, message: str = CONFLICT_MESSAGE) -> None:
    if expected_version is not None and expected_version != draft.version:
        raise VersionConflict(message, details={"current_version": draft.version})


def update_draft(draft: CaseStudyDraft, changes: dict, *, expected_version: int | None, actor) -> CaseStudyDraft:
    """Edit a draft (optimistic lock: ``expected_version``); every changed text field is checked
    again and its findings follow the text."""
    _require(actor, "exchange.write", "事例を編集する権限がありません。")
    lc.require_draft_action("edit", draft.status)
    _check_version(draft, expected_version)
    texts = {f: _clean_text(f, changes[f]) for f in lc.TEXT_FIELDS if f in changes}
    changed = [f for f, value in texts.items() if value != draft.text_of(f)]
    if changed:
        known = known_terms(*[texts.get(f, draft.text_of(f)) for f in lc.TEXT_FIELDS])
        for field in changed:
            _apply_edit(draft, field, texts[field], known)
    if "tags" in changes:
        draft.tags = _clean_tags(changes["tags"])
    if "show_center" in changes and not is_association(actor):
        draft.show_center = bool(changes["show_center"])
    draft.updated_at = utcnow()  # a new version even when only findings moved
    open_count = _settle(draft)
    audit("case_study.update", object_type="case_study", object_id=draft.study_id,
          details={"draft_id": draft.id, "changed": changed, "tags": draft.tags, "show_center": draft.show_center,
                   "open_findings": open_count})
    return draft


def get_finding(draft: CaseStudyDraft, finding_id) -> CaseStudyFinding:
    """A finding of this draft; another draft's (or center's) finding answers 404."""
    finding = get_owned(CaseStudyFinding, finding_id)
    if finding is None or finding.draft_id != draft.id:
        raise NotFound()
    return finding


def resolve_finding(draft: CaseStudyDraft, finding: CaseStudyFinding, action: str, *, actor,
                    replacement: str | None = None, reason: str | None = None) -> CaseStudyFinding:
    """Resolve an open finding: ``replace`` its text (with the suggestion unless a replacement
    is given; later findings of the field move, and the field is checked again so nothing new
    slips in), or ``dismiss`` it as not personal with a reason (recorded)."""
    _require(actor, "exchange.write", "指摘に対応する権限がありません。")
    lc.require_draft_action("resolve", draft.status)
    if finding.status != "open":
        raise InvalidState("この指摘は対応済みです。", details={"status": finding.status})
    if action == "replace":
        _replace(draft, finding, replacement, actor)
    elif action == "dismiss":
        _dismiss(finding, reason, actor)
    else:
        raise ValidationFailed("action は replace または dismiss を指定してください。",
                               fields={"action": ["replace または dismiss を指定してください。"]})
    draft.updated_at = utcnow()
    open_count = _settle(draft)
    audit(f"case_study.finding_{'replace' if action == 'replace' else 'dismiss'}", object_type="case_study",
          object_id=draft.study_id,
          details={"draft_id": draft.id, "finding_id": finding.id, "field": finding.field, "kind": finding.kind,
                   "text": finding.text, "replacement": finding.replacement, "reason": finding.reason,
                   "open_findings": open_count})
    return finding


def _replace(draft: CaseStudyDraft, finding: CaseStudyFinding, replacement: str | None, actor) -> None:
    value = (replacement if replacement is not None else finding.suggestion) or ""
    value = " ".join(value.split())
    if not value:
        raise ValidationFailed("置き換える文字を入力してください。", fields={"replacement": ["必須項目です。"]})
    if len(value) > MAX_REPLACEMENT:
        raise ValidationFailed("置き換える文字が長すぎます。", fields={"replacement": [f"{MAX_REPLACEMENT}文字以内で入力してください。"]})
    field, old = finding.field, draft.text_of(finding.field)
    start, end = finding.start_offset, finding.end_offset
    if old[start:end] != finding.text:  # pragma: no cover - offsets always follow the text
        raise InvalidState("指摘の位置が本文と一致しません。もう一度確認してください。")
    new = old[:start] + value + old[end:]
    finding.status, finding.replacement = "replaced", value
    finding.start_offset, finding.end_offset = start, start + len(value)
    finding.resolved_by_id, finding.resolved_at = getattr(actor, "id", None), utcnow()
    known = known_terms(*[new if f == field else draft.text_of(f) for f in lc.TEXT_FIELDS])
    _apply_edit(draft, field, new, known, ops=_splice(start, end, len(value), len(old), len(new)), exempt=finding)


def _dismiss(finding: CaseStudyFinding, reason: str | None, actor) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("問題ないと判断した理由を入力してください。", fields={"reason": ["必須項目です。"]})
    if len(reason) > MAX_REASON:
        raise ValidationFailed("理由が長すぎます。", fields={"reason": [f"{MAX_REASON}文字以内で入力してください。"]})
    finding.status, finding.reason = "dismissed", reason
    finding.resolved_by_id, finding.resolved_at = getattr(actor, "id", None), utcnow()


def open_findings(draft: CaseStudyDraft) -> list[CaseStudyFinding]:
    return [f for f in _findings(draft) if f.status == "open"]


def findings_of(draft: CaseStudyDraft) -> list[CaseStudyFinding]:
    """Every current finding of the draft, by field and position."""
    order = {f: i for i, f in enumerate(lc.TEXT_FIELDS)}
    return sorted(_findings(draft), key=lambda f: (order[f.field], f.start_offset))


# --- publishing -------------------------------------------------------------------------------------

def publish_draft(draft: CaseStudyDraft, *, actor, expected_version: int | None = None) -> CaseStudyVersion:
    """Approve and publish a checked draft as the study's next version (the center head; the
    association's moderator in its workspace).  ``expected_version`` is the draft version the
    head reviewed: a draft changed since is refused (``VersionConflict``, 409), so what is
    published is what was approved.  The check then runs once more on the whole text of every
    field (a person registered since, or a name typed as a "replacement", would be caught): any
    open finding refuses publication with ``UnresolvedFindings`` (422) after flushing what the
    check found."""
    _require(actor, "exchange.publish", "事例を承認・公開できるのはセンター長（管理者）です。")
    _lock(draft)
    if draft.status == "published":
        lc.require_draft_action("publish", draft.status)
    _check_version(draft, expected_version, PUBLISH_CONFLICT_MESSAGE)
    open_count = _check_all(draft)
    if open_count:
        raise UnresolvedFindings(f"個人を特定できる可能性のある箇所が{open_count}件残っています。すべて対応してから公開してください。",
                                 details={"open_findings": open_count})
    lc.require_draft_action("publish", draft.status)
    scope, now = _scope(), utcnow()
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
    _require(actor, "exchange.write", "事例を修正する権限がありません。")
    study_id = _uuid(study_id)
    previous = _published_draft(study_id) if study_id else None
    if previous is None:
        raise NotFound()
    _lock(previous)  # two corrections started at once: the second waits, then finds the first
    if get_open_draft(study_id) is not None:
        raise InvalidState("この事例には編集中の修正版があります。")
    study = db.session.get(CaseStudy, study_id)
    latest = _version(study_id, study.latest_version)
    draft = CaseStudyDraft(id=uuid.uuid4(), study_id=study_id, based_on_version=latest.version_no, status="draft",
                           tags=list(latest.tags or []), show_center=previous.show_center,
                           created_by_id=getattr(actor, "id", None), **{f: getattr(latest, f) for f in lc.TEXT_FIELDS})
    db.session.add(draft)
    db.session.flush()
    for old in _findings(previous):
        if old.status != "open":
            db.session.add(CaseStudyFinding(
                id=uuid.uuid4(), center_id=draft.center_id, draft_id=draft.id, field=old.field,
                start_offset=old.start_offset, end_offset=old.end_offset, text=old.text, kind=old.kind,
                suggestion=old.suggestion, status=old.status, replacement=old.replacement, reason=old.reason,
                resolved_by_id=old.resolved_by_id, resolved_at=old.resolved_at, created_at=utcnow()))
    db.session.flush()
    open_count = _check_all(draft)
    audit("case_study.correction_start", object_type="case_study", object_id=study_id,
          details={"draft_id": draft.id, "based_on_version": latest.version_no, "open_findings": open_count})
    return draft


# --- the library ---------------------------------------------------------------------------------------

def _uuid(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


def _version(study_id, number: int) -> CaseStudyVersion | None:
    return db.session.scalar(select(CaseStudyVersion).where(CaseStudyVersion.study_id == study_id,
                                                             CaseStudyVersion.version_no == number))


def sees_history(actor, study_id) -> bool:
    """The association (moderating) and the author see a hidden study and every version of a
    study, withdrawn ones included; nobody else does."""
    return is_association(actor) or is_author(study_id)


def get_study(study_id, *, actor) -> CaseStudy | None:
    """A study of the library the caller may read; None when missing, hidden from the caller, or
    with no version the caller may read (every version withdrawn)."""
    study_id = _uuid(study_id)
    study = db.session.get(CaseStudy, study_id) if study_id else None
    if study is None:
        return None
    history = sees_history(actor, study.id)
    if study.status == "hidden" and not history:
        return None
    if search.readable_version(study.id, history=history) is None:
        return None
    return study


def get_study_or_404(study_id, *, actor) -> CaseStudy:
    study = get_study(study_id, actor=actor)
    if study is None:
        raise NotFound()
    return study


def read_version(study: CaseStudy, number: int | None = None, *, actor) -> CaseStudyVersion:
    """The version shown to the caller, or another by its number: any version for the author
    and the association, only the current one for everyone else (``search.readable_version``);
    404 otherwise."""
    version = search.readable_version(study.id, number, history=sees_history(actor, study.id))
    if version is None:
        raise NotFound()
    return version


def _withdrawals(study_id) -> dict[int, CaseStudyWithdrawal]:
    rows = db.session.scalars(select(CaseStudyWithdrawal).where(CaseStudyWithdrawal.study_id == study_id))
    return {w.version_no: w for w in rows}


def versions_of(study: CaseStudy, *, history: bool) -> list[dict]:
    """The versions the caller may open: every one, with its withdrawal, for the author and the
    association; only the shown one for everyone else."""
    if not history:
        shown = search.readable_version(study.id, history=False)
        return [{"version": shown.version_no, "published_at": shown.published_at}] if shown else []
    withdrawn = _withdrawals(study.id)
    rows = db.session.execute(select(CaseStudyVersion.version_no, CaseStudyVersion.published_at)
                              .where(CaseStudyVersion.study_id == study.id).order_by(CaseStudyVersion.version_no))
    return [{"version": n, "published_at": at, **_withdrawal_view(withdrawn.get(n))} for n, at in rows]


def _withdrawal_view(w: CaseStudyWithdrawal | None) -> dict:
    if w is None:
        return {"withdrawn": False}
    return {"withdrawn": True, "withdrawn_at": w.withdrawn_at, "withdrawn_reason": w.reason}


def marked_helpful(study_id) -> bool:
    """Whether the caller's center marked the study (False outside a center)."""
    if current_center_id() is None:
        return False
    return db.session.scalar(select(HelpfulMark.id).where(HelpfulMark.study_id == study_id)) is not None


def find_studies(*, actor, q: str | None = None, tags: list[str] | None = None, limit: int = 50,
                 cursor: str | None = None) -> tuple[list[tuple[CaseStudy, CaseStudyVersion]], str | None]:
    """Search or browse the library (the association also sees hidden studies, marked)."""
    return search.find_studies(q=q, tags=_clean_tags(tags), include_hidden=is_association(actor), limit=limit,
                               cursor=cursor)


def own_drafts(*, tags: list[str] | None = None, limit: int = 200) -> list[CaseStudyDraft]:
    """The author scope's drafts still being written, most recently changed first."""
    if current_center_id() is None:
        return []
    wanted = set(_clean_tags(tags))
    rows = db.session.scalars(select(CaseStudyDraft).where(CaseStudyDraft.status.in_(lc.OPEN_DRAFT_STATUSES))
                              .order_by(CaseStudyDraft.updated_at.desc(), CaseStudyDraft.id.desc()).limit(limit))
    return [d for d in rows if wanted <= set(d.tags or [])]


# --- moderation (the association) ----------------------------------------------------------------------

def _author_scope_of(study_id) -> uuid.UUID | None:
    """Who wrote a study (a center or the association's workspace), from the author's own
    published draft: a cross-tenant read, so call it inside ``cross_tenant``."""
    return db.session.scalar(select(CaseStudyDraft.center_id).where(
        CaseStudyDraft.study_id == study_id, CaseStudyDraft.status == "published").limit(1))


def _notify_scope(kind: str, scope: uuid.UUID | None, study_id) -> None:
    from ..notifications.services import emit

    if scope is None:
        return
    if scope == ASSOCIATION_WORKSPACE:
        emit(kind, to_association=True, case_study_id=study_id)
    else:
        emit(kind, to_center_id=scope, case_study_id=study_id)


def _clean_reason(reason: str | None, missing: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(missing, fields={"reason": ["必須項目です。"]})
    if len(reason) > MAX_REASON:
        raise ValidationFailed("理由が長すぎます。", fields={"reason": [f"{MAX_REASON}文字以内で入力してください。"]})
    return reason


def hide_study(study_id, reason: str, *, actor) -> CaseStudy:
    """The association hides a published study from every reader but the author, with a reason
    (the author center is notified)."""
    _require(actor, "exchange.moderate", "事例を非表示にできるのは全国協議会です。")
    reason = _clean_reason(reason, "非表示にする理由を入力してください。")
    with cross_tenant("exchange.moderate"):
        study = _lock_study(study_id)
        study.status = lc.require_study_action("hide", study.status)
        study.hidden_at, study.hidden_reason, study.hidden_by_id = utcnow(), reason, getattr(actor, "id", None)
        db.session.flush()
        author = _author_scope_of(study.id)
        if author != ASSOCIATION_WORKSPACE:
            _notify_scope("case_study_hidden", author, study.id)
    audit("case_study.hide", object_type="case_study", object_id=study.id, details={"reason": reason})
    return study


def unhide_study(study_id, *, actor) -> CaseStudy:
    """The association shows a hidden study again (the reason it was hidden stays in the log)."""
    _require(actor, "exchange.moderate", "事例を再表示できるのは全国協議会です。")
    with cross_tenant("exchange.moderate"):
        study = _lock_study(study_id)
        study.status = lc.require_study_action("unhide", study.status)
        study.hidden_at = study.hidden_reason = study.hidden_by_id = None
        db.session.flush()
    audit("case_study.unhide", object_type="case_study", object_id=study.id)
    return study


def withdraw_version(study_id, version_no, reason: str, *, actor) -> CaseStudy:
    """The association withdraws one published version (取り下げ), with a reason: from then on
    only the author and the association read it, and the study's current version becomes the
    latest one not withdrawn (none left: the study is gone from every other center's list,
    search and page).  Permanent and audited; a withdrawn version stays withdrawn.  The author
    center is notified (its inbox links to the study, where it reads the reason)."""
    _require(actor, "exchange.moderate", "版を取り下げられるのは全国協議会です。")
    reason = _clean_reason(reason, "取り下げる理由を入力してください。")
    number = int(version_no) if str(version_no or "").strip().isdigit() else 0
    with cross_tenant("exchange.moderate"):
        study = _lock_study(study_id)
        if number < 1 or _version(study.id, number) is None:
            raise NotFound()
        if number in _withdrawals(study.id):
            raise InvalidState("この版はすでに取り下げられています。", details={"version": number})
        db.session.add(CaseStudyWithdrawal(id=uuid.uuid4(), study_id=study.id, version_no=number, reason=reason,
                                           withdrawn_at=utcnow(), withdrawn_by_id=getattr(actor, "id", None)))
        db.session.flush()
        study.current_version = _latest_not_withdrawn(study.id)
        db.session.flush()
        author = _author_scope_of(study.id)
        if author != ASSOCIATION_WORKSPACE:
            _notify_scope("case_study_version_withdrawn", author, study.id)
    audit("case_study.withdraw_version", object_type="case_study", object_id=study.id,
          details={"version": number, "reason": reason, "current_version": study.current_version})
    return study


def _latest_not_withdrawn(study_id) -> int | None:
    withdrawn = select(CaseStudyWithdrawal.version_no).where(CaseStudyWithdrawal.study_id == study_id)
    return db.session.scalar(select(func.max(CaseStudyVersion.version_no)).where(
        CaseStudyVersion.study_id == study_id, CaseStudyVersion.version_no.not_in(withdrawn)))


def _lock_study(study_id) -> CaseStudy:
    study_id = _uuid(study_id)
    study = db.session.scalar(select(CaseStudy).where(CaseStudy.id == study_id).with_for_update()) if study_id else None
    if study is None:
        raise NotFound()
    return study


# --- questions and 参考になった ---------------------------------------------------------------------

def _clean_body(body: str | None) -> str:
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationFailed("本文を入力してください。", fields={"body": ["必須項目です。"]})
    if len(body) > MAX_MESSAGE:
        raise ValidationFailed("本文が長すぎます。", fields={"body": [f"{MAX_MESSAGE}文字以内で入力してください。"]})
    return body


def _readable_published(study_id, actor) -> CaseStudy:
    study = get_study_or_404(study_id, actor=actor)
    if study.status != "published":
        raise InvalidState("非表示の事例には質問や「参考になった」はできません。")
    return study


def _message_pair(study: CaseStudy, asker_center_id, from_side: str, body: str, actor,
                  author_scope_id: uuid.UUID) -> CaseStudyMessage:
    """Write the writer's copy (own scope) and the other side's (inside ``cross_tenant``)."""
    own_side = from_side
    pair_id, now = uuid.uuid4(), utcnow()
    own = CaseStudyMessage(id=uuid.uuid4(), study_id=study.id, pair_id=pair_id, side=own_side,
                           asker_center_id=asker_center_id, from_side=from_side, author_id=getattr(actor, "id", None),
                           body=body, created_at=now)
    db.session.add(own)
    db.session.flush()
    other_scope = author_scope_id if own_side == "asker" else asker_center_id
    with cross_tenant(f"exchange.{'question' if own_side == 'asker' else 'answer'}"):
        db.session.add(CaseStudyMessage(id=uuid.uuid4(), center_id=other_scope, study_id=study.id, pair_id=pair_id,
                                        side="author" if own_side == "asker" else "asker",
                                        asker_center_id=asker_center_id, from_side=from_side, author_id=None,
                                        body=body, created_at=now))
        db.session.flush()
    return own


def ask_question(study_id, body: str, *, actor) -> CaseStudyMessage:
    """A center asks the author of a published study a question (the author is notified; the
    asking center never learns who the author is when the center is not shown)."""
    _require(actor, "exchange.feedback", "質問できるのはセンターの職員です。")
    own = _scope()
    study = _readable_published(study_id, actor)
    if is_author(study.id):
        raise InvalidState("自センターの事例には質問できません。")
    body = _clean_body(body)
    with cross_tenant("exchange.question"):
        author = _author_scope_of(study.id)
    if author is None:  # pragma: no cover - a published study always has its author's draft
        raise NotFound()
    message = _message_pair(study, own, "asker", body, actor, author)
    _notify_scope("case_study_question", author, study.id)
    audit("case_study.question", object_type="case_study", object_id=study.id, details={"message_id": message.id})
    return message


def answer_question(study_id, asker_center: Center | None, body: str, *, actor) -> CaseStudyMessage:
    """The author answers a center's question thread (that center is notified)."""
    _require(actor, "exchange.write", "回答する権限がありません。")
    scope = _scope()
    study_id = _uuid(study_id)
    if study_id is None or not is_author(study_id) or asker_center is None:
        raise NotFound()
    asked = db.session.scalar(select(CaseStudyMessage.id).where(
        CaseStudyMessage.study_id == study_id, CaseStudyMessage.asker_center_id == asker_center.id).limit(1))
    if asked is None:
        raise NotFound()
    study = db.session.get(CaseStudy, study_id)
    message = _message_pair(study, asker_center.id, "author", _clean_body(body), actor, scope)
    _notify_scope("case_study_answer", asker_center.id, study.id)
    audit("case_study.answer", object_type="case_study", object_id=study.id,
          details={"message_id": message.id, "asker_center": asker_center.code})
    return message


def threads(study_id) -> list[dict]:
    """The caller's question threads on a study, oldest message first: every asking center's for
    the author; its own for an asking center.  Only the asking center is ever named."""
    if current_center_id() is None:
        return []
    rows = db.session.scalars(select(CaseStudyMessage).where(CaseStudyMessage.study_id == study_id)
                              .order_by(CaseStudyMessage.asker_center_id, CaseStudyMessage.created_at))
    out: dict = {}
    for m in rows:
        thread = out.setdefault(m.asker_center_id, {"asker_center": center_of(m.asker_center_id), "messages": []})
        thread["messages"].append(m)
    return list(out.values())


def mark_helpful(study_id, *, actor) -> CaseStudy:
    """参考になった: once per center and study (a second mark changes nothing); not one's own."""
    _require(actor, "exchange.feedback", "「参考になった」はセンターの職員が付けます。")
    _scope()
    study = _readable_published(study_id, actor)
    if is_author(study.id):
        raise InvalidState("自センターの事例には付けられません。")
    try:
        with db.session.begin_nested():
            db.session.add(HelpfulMark(id=uuid.uuid4(), study_id=study.id, marked_by_id=getattr(actor, "id", None)))
    except IntegrityError:
        return study  # already marked by this center
    db.session.execute(update(CaseStudy).where(CaseStudy.id == study.id)
                       .values(helpful_count=CaseStudy.helpful_count + 1).execution_options(synchronize_session=False))
    db.session.refresh(study)
    audit("case_study.helpful", object_type="case_study", object_id=study.id)
    return study


# --- what pages and the API show ---------------------------------------------------------------------

def finding_view(f: CaseStudyFinding) -> dict:
    return {"id": f.id, "field": f.field, "start": f.start_offset, "end": f.end_offset, "text": f.text,
            "kind": f.kind, "kind_label": pii.KINDS.get(f.kind, f.kind), "suggestion": f.suggestion,
            "status": f.status, "replacement": f.replacement, "reason": f.reason, "resolved_at": f.resolved_at}


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


def center_view(center: Center | None) -> dict | None:
    return {"code": center.code, "name": center.name} if center else None


def study_view(study: CaseStudy, version: CaseStudyVersion, *, actor, full: bool = True) -> dict:
    """A library study as the caller may see it: never its author, only the center it chose to
    show.  ``full`` adds the versions, the caller's mark and whether the caller wrote it.  Only
    the author and the association learn of versions other than the shown one (and of
    withdrawals); for everyone else the shown version is the latest."""
    history = is_association(actor) if not full else sees_history(actor, study.id)
    view = {
        "id": study.id, "status": study.status, "publisher": version.publisher,
        "center": center_view(center_of(version.shown_center_id)),
        "published_version": version.version_no,
        "latest_version": study.latest_version if history else version.version_no,
        "published_at": version.published_at, "first_published_at": study.first_published_at,
        "helpful_count": study.helpful_count, "tags": list(version.tags or []),
        **{f: getattr(version, f) for f in lc.TEXT_FIELDS},
    }
    if study.status == "hidden":
        view.update(hidden_at=study.hidden_at, hidden_reason=study.hidden_reason)
    if history:
        withdrawal = _withdrawals(study.id).get(version.version_no)
        view.update(current_version=study.current_version, **_withdrawal_view(withdrawal))
    if full:
        author = is_author(study.id)
        view.update(versions=versions_of(study, history=history), marked_helpful=marked_helpful(study.id),
                    is_author=author)
        draft = get_open_draft(study.id) if author else None
        if draft is not None:
            view["draft"] = draft_view(draft)
    return view


def read_case_study(study_id, *, actor, version_no: int | None = None) -> dict:
    """What ``GET …/<id>`` shows: the library study (its latest or a given version, with the
    author's open correction), else the caller's own draft of a study never published."""
    study = get_study(study_id, actor=actor)
    if study is not None:
        return study_view(study, read_version(study, version_no, actor=actor), actor=actor)
    draft = get_open_draft(study_id)
    if draft is None or version_no is not None:
        raise NotFound()
    return draft_view(draft)


def library_page(*, actor, q: str | None = None, tags: list[str] | None = None, limit: int = 50,
                 cursor: str | None = None) -> tuple[list[dict], str | None]:
    """A page of ``GET /case-studies``: the library (ranked when searching, else newest first),
    preceded on the first page of a plain listing by the caller's drafts of studies not yet
    published (a correction shows on its study instead)."""
    rows, next_cursor = find_studies(actor=actor, q=q, tags=tags, limit=limit, cursor=cursor)
    items = [study_view(s, v, actor=actor, full=False) for s, v in rows]
    if not (q and q.strip()) and not cursor:
        drafts = [draft_view(d) for d in own_drafts(tags=tags) if d.based_on_version is None]
        items = drafts + items
    return items, next_cursor


def message_view(message: CaseStudyMessage) -> dict:
    """A thread message as its reader sees it: who wrote it by side only, never by name."""
    return {"id": message.id, "from_side": message.from_side, "mine": message.from_side == message.side,
            "body": message.body, "created_at": message.created_at}
