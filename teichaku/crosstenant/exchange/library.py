"""The shared library (事例ライブラリ): which study and which version each reader may read, the
search, and a study as pages and the API show it.

**Who reads which version**: other centers read only a study's current version (the latest the
association has not withdrawn; none left: the study is gone for them); the author and the
association read every version, withdrawn ones included (``search.shown_version_no`` is the one
rule, for the list, the search and a study's page).  A study is never shown with its author:
only the center it chose to show.
"""
from __future__ import annotations

from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform.centers import Center
from ...platform.extensions import db
from ...platform.tenancy import current_center_id
from . import lifecycle as lc
from . import search
from .authoring import clean_tags, draft_view, get_open_draft, is_author, own_drafts
from .models import CaseStudy, CaseStudyVersion, CaseStudyWithdrawal, HelpfulMark
from .scope import as_uuid, center_of, is_association


def sees_history(actor, study_id) -> bool:
    """The association (moderating) and the author see a hidden study and every version of a
    study, withdrawn ones included; nobody else does."""
    return is_association(actor) or is_author(study_id)


def get_study(study_id, *, actor) -> CaseStudy | None:
    """A study of the library the caller may read; None when missing, hidden from the caller, or
    with no version the caller may read (every version withdrawn)."""
    study_id = as_uuid(study_id)
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


def withdrawals(study_id) -> dict[int, CaseStudyWithdrawal]:
    rows = db.session.scalars(select(CaseStudyWithdrawal).where(CaseStudyWithdrawal.study_id == study_id))
    return {w.version_no: w for w in rows}


def versions_of(study: CaseStudy, *, history: bool) -> list[dict]:
    """The versions the caller may open: every one, with its withdrawal, for the author and the
    association; only the shown one for everyone else."""
    if not history:
        shown = search.readable_version(study.id, history=False)
        return [{"version": shown.version_no, "published_at": shown.published_at}] if shown else []
    withdrawn = withdrawals(study.id)
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
    return search.find_studies(q=q, tags=clean_tags(tags), include_hidden=is_association(actor), limit=limit,
                               cursor=cursor)


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
        withdrawal = withdrawals(study.id).get(version.version_no)
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
