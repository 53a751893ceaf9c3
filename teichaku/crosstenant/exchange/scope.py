"""Who works where in the case-study exchange: the author scope, the capabilities each step
needs, and who wrote a study.

An **author scope** is the tenant a draft belongs to: the signed-in center, or, for the
association, its reserved workspace (``models.ASSOCIATION_WORKSPACE``).  ``exchange_scope(actor)``
enters it; every draft function runs inside one and loads drafts only through the global tenant
filter, so another author's draft answers like a missing one (404).  The verbs of the other
modules (``authoring``, ``findings``, ``library``, ``moderation``, ``feedback``) share these helpers
so the rule of who may act lives here once.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform.centers import Center
from ...platform.errors import DomainError
from ...platform.extensions import db
from ...platform.permissions import can
from ...platform.tenancy import current_center_id, set_tenant
from ..notifications.services import emit
from .models import ASSOCIATION_WORKSPACE, CaseStudyDraft


class NotAllowed(DomainError):
    """The caller's role may not take this step (e.g. staff publishing)."""

    status, code = 403, "forbidden"


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


def own_scope() -> uuid.UUID:
    """The author scope the caller works in; 404 outside one (a reader with no scope has no drafts)."""
    scope = current_center_id()
    if scope is None:
        raise NotFound()
    return scope


def require_capability(actor, capability: str, message: str) -> None:
    """Refuse (403, ``message``) an actor whose role lacks ``capability``."""
    if not can(getattr(actor, "role", None), capability):
        raise NotAllowed(message)


def as_uuid(value) -> uuid.UUID | None:
    """An id from a URL or a form; None for anything malformed (the caller answers 404)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


def center_of(center_id) -> Center | None:
    return db.session.get(Center, center_id) if center_id else None


def author_scope_of(study_id) -> uuid.UUID | None:
    """Who wrote a study (a center or the association's workspace), from the author's own
    published draft: a cross-tenant read, so call it inside ``cross_tenant``."""
    return db.session.scalar(select(CaseStudyDraft.center_id).where(
        CaseStudyDraft.study_id == study_id, CaseStudyDraft.status == "published").limit(1))


def notify_scope(kind: str, scope: uuid.UUID | None, study_id) -> None:
    """Notify an author scope: a center's staff, or the association for its own workspace."""
    if scope is None:
        return
    if scope == ASSOCIATION_WORKSPACE:
        emit(kind, to_association=True, case_study_id=study_id)
    else:
        emit(kind, to_center_id=scope, case_study_id=study_id)
