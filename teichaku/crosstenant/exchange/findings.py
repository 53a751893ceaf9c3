"""The PII findings saved on a case-study draft: the check that makes them, the edits that move
them with their text, and the author's replacement or dismissal of each.

**The PII check** (``pii.detect``) runs on every text field when a draft is created, on every
field an edit changes, after each replacement (on that field), and once more on every field at
publication, with the author's own records as known terms: the names and kana of the center's
persons and staff (the association's accounts in its workspace).  A finding stays open until it
is replaced (its text is swapped for the suggestion or the author's words, and later findings of
the field move by the difference) or dismissed with a reason.  Replacement text is checked like
any other text: only the placeholder forms the check offers (Aさん, 某市, 70代, 令和4年度 ...)
are no finding, so a name replaced by another name is a new open finding.  A dismissal covers
exactly the span, text and kind the author judged: any other detection, even overlapping it, is
a new open finding.  Edits move findings with the text they point at (a diff of old and new
text); a finding whose text was edited is dropped and the check decides afresh.  A draft with an
open finding is ``draft`` (``settle``); ``authoring.publish_draft`` refuses it.
"""
from __future__ import annotations

import difflib
import unicodedata
import uuid
from typing import Iterable

from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.auth.models import User
from ...platform.errors import InvalidState, ValidationFailed
from ...platform.extensions import db
from ...platform.models import utcnow
from ...platform.tenancy import account_lookup, get_owned
from ...tenants.persons.models import Person
from . import lifecycle as lc
from . import pii
from .models import ASSOCIATION_WORKSPACE, CaseStudyDraft, CaseStudyFinding
from .scope import own_scope, require_capability

DIFF_LIMIT = 4_000_000  # product of the changed stretches' lengths above which edits are not diffed


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
    scope = own_scope()
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


def saved_findings(draft: CaseStudyDraft, field: str | None = None) -> list[CaseStudyFinding]:
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


def apply_edit(draft: CaseStudyDraft, field: str, new_text: str, known: list[pii.KnownTerm], *,
                ops: list[Opcode] | None = None, exempt: CaseStudyFinding | None = None) -> None:
    """Set a field's text, move its findings with the text, drop those the edit touched, and
    check the field again.  ``exempt`` is a finding the caller has placed itself (a replacement)."""
    old_text = draft.text_of(field)
    ops = ops if ops is not None else _opcodes(old_text, new_text)
    setattr(draft, field, new_text)
    kept = []
    for f in saved_findings(draft, field):
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


def settle(draft: CaseStudyDraft) -> int:
    """Flush, then set the draft's status from its open findings; returns how many are open."""
    db.session.flush()
    open_count = db.session.scalar(select(func.count()).select_from(CaseStudyFinding).where(
        CaseStudyFinding.draft_id == draft.id, CaseStudyFinding.status == "open")) or 0
    draft.status = lc.status_after_check(open_count)
    draft.checked_at = utcnow()
    db.session.flush()
    return open_count


def check_all(draft: CaseStudyDraft) -> int:
    """Check the whole text of every field of a draft against its current findings (nothing
    moves); returns how many findings are open.  Publication runs it last, so whatever was
    replaced or dismissed before, anything the check finds now that no dismissal covers
    exactly refuses it."""
    texts = [draft.text_of(f) for f in lc.TEXT_FIELDS]
    known = known_terms(*texts)
    for field in lc.TEXT_FIELDS:
        _check_field(draft, field, saved_findings(draft, field), known)
    return settle(draft)


# --- the author resolves a finding ----------------------------------------------------------------

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
    require_capability(actor, "exchange.write", "指摘に対応する権限がありません。")
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
    open_count = settle(draft)
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
    if len(value) > lc.MAX_REPLACEMENT:
        raise ValidationFailed("置き換える文字が長すぎます。", fields={"replacement": [f"{lc.MAX_REPLACEMENT}文字以内で入力してください。"]})
    field, old = finding.field, draft.text_of(finding.field)
    start, end = finding.start_offset, finding.end_offset
    if old[start:end] != finding.text:  # pragma: no cover - offsets always follow the text
        raise InvalidState("指摘の位置が本文と一致しません。もう一度確認してください。")
    new = old[:start] + value + old[end:]
    finding.status, finding.replacement = "replaced", value
    finding.start_offset, finding.end_offset = start, start + len(value)
    finding.resolved_by_id, finding.resolved_at = getattr(actor, "id", None), utcnow()
    known = known_terms(*[new if f == field else draft.text_of(f) for f in lc.TEXT_FIELDS])
    apply_edit(draft, field, new, known, ops=_splice(start, end, len(value), len(old), len(new)), exempt=finding)


def _dismiss(finding: CaseStudyFinding, reason: str | None, actor) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("問題ないと判断した理由を入力してください。", fields={"reason": ["必須項目です。"]})
    if len(reason) > lc.MAX_REASON:
        raise ValidationFailed("理由が長すぎます。", fields={"reason": [f"{lc.MAX_REASON}文字以内で入力してください。"]})
    finding.status, finding.reason = "dismissed", reason
    finding.resolved_by_id, finding.resolved_at = getattr(actor, "id", None), utcnow()


def open_findings(draft: CaseStudyDraft) -> list[CaseStudyFinding]:
    return [f for f in saved_findings(draft) if f.status == "open"]


def findings_of(draft: CaseStudyDraft) -> list[CaseStudyFinding]:
    """Every current finding of the draft, by field and position."""
    order = {f: i for i, f in enumerate(lc.TEXT_FIELDS)}
    return sorted(saved_findings(draft), key=lambda f: (order[f.field], f.start_offset))


# --- what pages and the API show ---------------------------------------------------------------------

def finding_view(f: CaseStudyFinding) -> dict:
    return {"id": f.id, "field": f.field, "start": f.start_offset, "end": f.end_offset, "text": f.text,
            "kind": f.kind, "kind_label": pii.KINDS.get(f.kind, f.kind), "suggestion": f.suggestion,
            "status": f.status, "replacement": f.replacement, "reason": f.reason, "resolved_at": f.resolved_at}
