"""The association's moderation of the library: hide a study (and show it again), withdraw one
version (取り下げ).  Each step runs inside ``tenancy.cross_tenant("exchange.moderate")``, which is
audited, and the author center is notified of a hidden study or a withdrawn version.
"""
from __future__ import annotations

import uuid

from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.errors import InvalidState, ValidationFailed
from ...platform.extensions import db
from ...platform.models import utcnow
from ...platform.tenancy import cross_tenant
from ...platform.input_ranges import small_int
from . import lifecycle as lc
from . import search
from .library import withdrawals
from .models import ASSOCIATION_WORKSPACE, CaseStudy, CaseStudyVersion, CaseStudyWithdrawal
from .scope import as_uuid, author_scope_of, notify_scope, require_capability


def _clean_reason(reason: str | None, missing: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(missing, fields={"reason": ["必須項目です。"]})
    if len(reason) > lc.MAX_REASON:
        raise ValidationFailed("理由が長すぎます。", fields={"reason": [f"{lc.MAX_REASON}文字以内で入力してください。"]})
    return reason


def hide_study(study_id, reason: str, *, actor) -> CaseStudy:
    """The association hides a published study from every reader but the author, with a reason
    (the author center is notified)."""
    require_capability(actor, "exchange.moderate", "事例を非表示にできるのは全国協議会です。")
    reason = _clean_reason(reason, "非表示にする理由を入力してください。")
    with cross_tenant("exchange.moderate"):
        study = _lock_study(study_id)
        study.status = lc.require_study_action("hide", study.status)
        study.hidden_at, study.hidden_reason, study.hidden_by_id = utcnow(), reason, getattr(actor, "id", None)
        db.session.flush()
        author = author_scope_of(study.id)
        if author != ASSOCIATION_WORKSPACE:
            notify_scope("case_study_hidden", author, study.id)
    audit("case_study.hide", object_type="case_study", object_id=study.id, details={"reason": reason})
    return study


def unhide_study(study_id, *, actor) -> CaseStudy:
    """The association shows a hidden study again (the reason it was hidden stays in the log)."""
    require_capability(actor, "exchange.moderate", "事例を再表示できるのは全国協議会です。")
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
    require_capability(actor, "exchange.moderate", "版を取り下げられるのは全国協議会です。")
    reason = _clean_reason(reason, "取り下げる理由を入力してください。")
    number = small_int(version_no) or 0
    with cross_tenant("exchange.moderate"):
        study = _lock_study(study_id)
        if number < 1 or search.readable_version(study.id, number, history=True) is None:
            raise NotFound()
        if number in withdrawals(study.id):
            raise InvalidState("この版はすでに取り下げられています。", details={"version": number})
        db.session.add(CaseStudyWithdrawal(id=uuid.uuid4(), study_id=study.id, version_no=number, reason=reason,
                                           withdrawn_at=utcnow(), withdrawn_by_id=getattr(actor, "id", None)))
        db.session.flush()
        study.current_version = _latest_not_withdrawn(study.id)
        db.session.flush()
        author = author_scope_of(study.id)
        if author != ASSOCIATION_WORKSPACE:
            notify_scope("case_study_version_withdrawn", author, study.id)
    audit("case_study.withdraw_version", object_type="case_study", object_id=study.id,
          details={"version": number, "reason": reason, "current_version": study.current_version})
    return study


def _latest_not_withdrawn(study_id) -> int | None:
    withdrawn = select(CaseStudyWithdrawal.version_no).where(CaseStudyWithdrawal.study_id == study_id)
    return db.session.scalar(select(func.max(CaseStudyVersion.version_no)).where(
        CaseStudyVersion.study_id == study_id, CaseStudyVersion.version_no.not_in(withdrawn)))


def _lock_study(study_id) -> CaseStudy:
    study_id = as_uuid(study_id)
    study = db.session.scalar(select(CaseStudy).where(CaseStudy.id == study_id).with_for_update()) if study_id else None
    if study is None:
        raise NotFound()
    return study
