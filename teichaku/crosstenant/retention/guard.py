"""An erased person's file stays a stub: nothing may be added to it or changed in it.

One session hook rather than a check in every service: a new record, document, plan, need,
reminder, agenda item or transfer on a case of an erased person, or any change to such a case
or person, is refused with ``InvalidState`` (409) before anything reaches the database.  The
erasure itself (``erasure.is_erasing``) is the only writer let through.
"""
from __future__ import annotations

import uuid

from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ...crosstenant.transfers.models import Transfer, TransferPull
from ...platform.errors import InvalidState
from ...tenants.cases.models import Case, CaseNeed, Reminder
from ...tenants.committees.models import CommitteeAgendaItem
from ...tenants.persons.models import Person
from ...tenants.records.models import CaseDocument, CaseRecord, CoordinationPlan
from .erasure import is_erasing

# Rows hanging off a case (``case_id``) that would add to or change an erased file.
ON_A_CASE = (CaseRecord, CaseDocument, CoordinationPlan, CaseNeed, Reminder, CommitteeAgendaItem, Transfer,
             TransferPull)


def _erased_among(session: Session, ids: set[uuid.UUID], people: set[uuid.UUID]) -> bool:
    with session.no_autoflush:
        if people and session.scalars(select(Person.id).where(Person.id.in_(people),
                                                               Person.erased_at.isnot(None))).first():
            return True
        if ids and session.scalars(select(Case.id).join(Person, Person.id == Case.person_id)
                                   .where(Person.center_id == Case.center_id, Case.id.in_(ids),
                                          Person.erased_at.isnot(None))).first():
            return True
    return False


def _refuse_changes_to_erased_files(session: Session, flush_context, instances) -> None:
    if is_erasing():
        return
    people = {obj.id for obj in session.dirty if isinstance(obj, Person) and session.is_modified(obj)}
    people |= {obj.person_id for obj in session.new if isinstance(obj, Case) and obj.person_id is not None}
    case_ids = {obj.case_id for obj in list(session.new) + list(session.dirty)
                if isinstance(obj, ON_A_CASE) and getattr(obj, "case_id", None) is not None}
    case_ids |= {obj.id for obj in session.dirty if isinstance(obj, Case) and session.is_modified(obj)}
    if (people or case_ids) and _erased_among(session, case_ids, people):
        raise InvalidState(_("保存期間が過ぎて個人情報を削除した記録です。変更も追加もできません。"))


def install() -> None:
    """Refuse any change to an erased person's file, at every flush (called once by the app
    factory; idempotent)."""
    for name, listener in (("before_flush", _refuse_changes_to_erased_files),):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
