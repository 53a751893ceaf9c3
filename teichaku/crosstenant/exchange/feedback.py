"""Other centers' feedback on a published study: questions to its author (answered in a thread
per asking center) and 参考になった.

A question is routed to an author the asker may not know (the center is shown only when the
author chose so): each message is written twice, the writer's copy in its own scope and the
other side's inside ``tenancy.cross_tenant("exchange.question" | "exchange.answer")``, which is
audited.  Only the asking center is ever named in a thread.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.centers import Center
from ...platform.errors import InvalidState, ValidationFailed
from ...platform.extensions import db
from ...platform.models import utcnow
from ...platform.tenancy import cross_tenant, current_center_id
from . import lifecycle as lc
from .authoring import is_author
from .library import get_study_or_404
from .models import CaseStudy, CaseStudyMessage, HelpfulMark
from .scope import as_uuid, author_scope_of, center_of, notify_scope, own_scope, require_capability


def _clean_body(body: str | None) -> str:
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationFailed("本文を入力してください。", fields={"body": ["必須項目です。"]})
    if len(body) > lc.MAX_MESSAGE:
        raise ValidationFailed("本文が長すぎます。", fields={"body": [f"{lc.MAX_MESSAGE}文字以内で入力してください。"]})
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
    require_capability(actor, "exchange.feedback", "質問できるのはセンターの職員です。")
    own = own_scope()
    study = _readable_published(study_id, actor)
    if is_author(study.id):
        raise InvalidState("自センターの事例には質問できません。")
    body = _clean_body(body)
    with cross_tenant("exchange.question"):
        author = author_scope_of(study.id)
    if author is None:  # pragma: no cover - a published study always has its author's draft
        raise NotFound()
    message = _message_pair(study, own, "asker", body, actor, author)
    notify_scope("case_study_question", author, study.id)
    audit("case_study.question", object_type="case_study", object_id=study.id, details={"message_id": message.id})
    return message


def answer_question(study_id, asker_center: Center | None, body: str, *, actor) -> CaseStudyMessage:
    """The author answers a center's question thread (that center is notified)."""
    require_capability(actor, "exchange.write", "回答する権限がありません。")
    scope = own_scope()
    study_id = as_uuid(study_id)
    if study_id is None or not is_author(study_id) or asker_center is None:
        raise NotFound()
    asked = db.session.scalar(select(CaseStudyMessage.id).where(
        CaseStudyMessage.study_id == study_id, CaseStudyMessage.asker_center_id == asker_center.id).limit(1))
    if asked is None:
        raise NotFound()
    study = db.session.get(CaseStudy, study_id)
    message = _message_pair(study, asker_center.id, "author", _clean_body(body), actor, scope)
    notify_scope("case_study_answer", asker_center.id, study.id)
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
    require_capability(actor, "exchange.feedback", "「参考になった」はセンターの職員が付けます。")
    own_scope()
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

def message_view(message: CaseStudyMessage) -> dict:
    """A thread message as its reader sees it: who wrote it by side only, never by name."""
    return {"id": message.id, "from_side": message.from_side, "mine": message.from_side == message.side,
            "body": message.body, "created_at": message.created_at}
