"""Erasing a person's personal data, leaving a statistical stub (保存期間満了による削除).

What stays is exactly what the national figures count (``crosstenant/aggregates/rules.py``), so
a rebuild of the rollups after an erasure reproduces every figure:

* the person: its id and support needs (``cases_by_need``); name, kana, birth date, sex,
  certificates and search columns go;
* each case: number, type, status, dates (requested, released, closed), facility type, requester,
  stage, closing reason, placement type and destination prefecture; every free text, name,
  municipality, checklist and link to staff or resources goes;
* its transfers (this center's side): side, status, counterpart and the dates of each step; the
  message, package, identity snapshot, consent witness and scope go;
* its pull requests: the same metadata; the identity, facility, message and comments go.

Deleted outright: records, documents (and their files), coordination plans with their
revisions, needs, reminders, committee agenda items, the transfer threads with their
attachments (and files), and the provision records (their legal keeping period is over, or
the person would not be due).  The audit entries stay, with their personal values blanked
(``details``; the chain still verifies, see ``platform/audit``).

The application role may not delete records, documents or plan revisions, nor update audit
entries: on PostgreSQL the deletions and the blanking go through one SECURITY DEFINER function,
``retention_erase_person(person)`` (migration ``h4rden0001``), which takes nothing but the person:
it acts only in the verified current center, only for a person already erased (identity gone),
finds that person's rows itself and blanks only the audit entries about the person, its cases,
transfers and pulls and the rows it deletes.  So SQL injected into the application's connection
cannot use it to delete another person's records or blank other entries.  ``plan`` lists the
same rows here for SQLite and for the files to remove.  Files are removed once the transaction
commits; a rollback keeps them.
"""
from __future__ import annotations

import uuid

from flask import g
from sqlalchemy import null, select, text, update

from ...crosstenant.exchange.models import CaseStudyDraft
from ...crosstenant.transfers.models import (
    ProvisionRecord, Transfer, TransferMessage, TransferMessageAttachment, TransferPull,
)
from ...platform.audit.models import AuditEntry
from ...platform.extensions import db
from ...platform.models import utcnow
from ...platform.tenancy import current_center_id
from ...tenants.cases.models import Case, CaseNeed, Reminder
from ...tenants.committees.models import CommitteeAgendaItem
from ...tenants.persons.models import Person
from ...tenants.records.models import CaseDocument, CaseRecord, CoordinationPlan, PlanRevision
from ...platform.storage import discard, document_path
from ...platform.transaction import on_commit


# Blanked on the stub (everything of these rows not listed here is kept).
PERSON_BLANK = {"family_name": "", "given_name": "", "family_name_kana": "", "given_name_kana": "",
                "birth_date": None, "sex": None, "certificates": [], "public_assistance": "none",
                "name_search": "", "name_grams": []}
CASE_BLANK = {"request_source": None, "probation_office": None, "facility_name": None, "release_date": None,
              "destination_municipality_name": None, "destination_municipality_code": None, "follow_up_on": None,
              "eligibility": {}, "eligibility_override_reason": None, "eligibility_override_by": None,
              "eligibility_override_at": None, "topic": None, "outcome_at_release": None, "closing_note": None,
              "outcome_municipality_name": None, "outcome_municipality_code": None, "placement_resource_id": None,
              "assigned_user_id": None}
TRANSFER_BLANK = {"message": "", "package": [], "person_snapshot": None, "consent_witness": None,
                  "consent_scope": None, "decline_comment": None}
PULL_BLANK = {"person_snapshot": None, "facility_name": None, "message": "", "refuse_comment": None,
              "consent_witness": None, "consent_scope": None}

# Deleted, children before their parents (the order of the foreign keys).
DELETED = (
    ("transfer_message_attachments", TransferMessageAttachment),
    ("transfer_messages", TransferMessage),
    ("plan_revisions", PlanRevision),
    ("coordination_plans", CoordinationPlan),
    ("case_records", CaseRecord),
    ("case_documents", CaseDocument),
    ("case_needs", CaseNeed),
    ("reminders", Reminder),
    ("committee_agenda_items", CommitteeAgendaItem),
    ("provision_records", ProvisionRecord),
)


def is_erasing() -> bool:
    """True while an erasure runs (``guard`` lets its own changes through)."""
    return bool(getattr(g, "retention_erasing", False))


def _ids(stmt) -> list[uuid.UUID]:
    return list(db.session.scalars(stmt))


def plan(person: Person, case_ids: list[uuid.UUID]) -> dict[str, list[uuid.UUID]]:
    """The ids of every row an erasure of this person (with these cases) deletes, by table."""
    transfer_ids = _ids(select(Transfer.id).where(Transfer.case_id.in_(case_ids)))
    plan_ids = _ids(select(CoordinationPlan.id).where(CoordinationPlan.case_id.in_(case_ids)))
    by_case = {"case_records": CaseRecord, "case_documents": CaseDocument, "case_needs": CaseNeed,
               "reminders": Reminder, "committee_agenda_items": CommitteeAgendaItem}
    rows = {table: _ids(select(model.id).where(model.case_id.in_(case_ids))) for table, model in by_case.items()}
    rows["coordination_plans"] = plan_ids
    rows["plan_revisions"] = _ids(select(PlanRevision.id).where(PlanRevision.plan_id.in_(plan_ids)))
    rows["transfer_messages"] = _ids(select(TransferMessage.id).where(TransferMessage.transfer_id.in_(transfer_ids)))
    rows["transfer_message_attachments"] = _ids(select(TransferMessageAttachment.id)
                                                .where(TransferMessageAttachment.transfer_id.in_(transfer_ids)))
    rows["provision_records"] = _ids(select(ProvisionRecord.id).where(ProvisionRecord.person_id == person.id))
    return rows


def erase_person(person: Person) -> dict[str, int]:
    """Erase one person of the current center in the caller's transaction (no commit).

    Returns how many rows went per table (no personal data: it goes into the audit log).
    """
    g.retention_erasing = True
    try:
        case_ids = _ids(select(Case.id).where(Case.person_id == person.id))
        doomed = plan(person, case_ids)
        _blank_person(person)
        if db.session.get_bind().dialect.name == "postgresql":
            counts = _erase_in_database(person.id)
        else:
            counts = _erase_here(person, case_ids, doomed)
        counts["cases"] = _blank(Case, CASE_BLANK, Case.id.in_(case_ids))
        counts["transfers"] = _blank(Transfer, {**TRANSFER_BLANK, "snapshot_erased_at": utcnow()},
                                     Transfer.case_id.in_(case_ids))
        counts["transfer_pulls"] = _blank(TransferPull, PULL_BLANK, TransferPull.case_id.in_(case_ids))
        _blank(CaseStudyDraft, {"source_case_id": None}, CaseStudyDraft.source_case_id.in_(case_ids))
        _remove_files_after_commit(doomed["case_documents"] + doomed["transfer_message_attachments"])
        db.session.expire_all()
        return counts
    finally:
        g.retention_erasing = False


def _blank_person(person: Person) -> None:
    for name, value in PERSON_BLANK.items():
        setattr(person, name, value)
    person.erased_at = utcnow()
    db.session.flush()


def _blank(model, values: dict, where) -> int:
    """Blank columns of the current center's rows through the ORM (the tenant filter and version apply)."""
    rows = db.session.scalars(select(model).where(where)).all()
    for row in rows:
        for name, value in values.items():
            setattr(row, name, value)
    db.session.flush()
    return len(rows)


def _erase_in_database(person_id: uuid.UUID) -> dict[str, int]:
    """PostgreSQL: the SECURITY DEFINER function deletes the person's rows and blanks its audit."""
    counts = db.session.execute(text("select retention_erase_person(:p)"), {"p": person_id}).scalar_one()
    return {table: int(counts[table]) for table, _ in DELETED} | {
        "audit_entries_blanked": int(counts["audit_entries_blanked"])}


def _erase_here(person: Person, case_ids: list[uuid.UUID], doomed: dict[str, list[uuid.UUID]]) -> dict[str, int]:
    """SQLite (no roles, no functions): the same deletions and blanking as the database function."""
    counts = {}
    for table, model in DELETED:
        ids = doomed[table]
        stmt = model.__table__.delete().where(model.__table__.c.center_id == current_center_id(),
                                              model.__table__.c.id.in_(ids))
        counts[table] = db.session.execute(stmt).rowcount if ids else 0
    owned = [*_ids(select(Transfer.id).where(Transfer.case_id.in_(case_ids))),
             *_ids(select(TransferPull.id).where(TransferPull.case_id.in_(case_ids)))]
    object_ids = [str(i) for i in [person.id, *case_ids, *owned, *(i for ids in doomed.values() for i in ids)]]
    stmt = (update(AuditEntry)
            .where(AuditEntry.center_id == current_center_id(), AuditEntry.details_blanked.is_(False),
                   (AuditEntry.person_id == person.id) | AuditEntry.object_id.in_(object_ids))
            .values(details=null(), details_blanked=True))
    counts["audit_entries_blanked"] = db.session.execute(
        stmt, execution_options={"synchronize_session": False}).rowcount
    return counts


def _remove_files_after_commit(file_ids: list[uuid.UUID]) -> None:
    """The erased documents' files go once the erasure has committed (never before: a rollback
    must find them where they were)."""
    center_id = current_center_id()
    paths = [document_path(center_id, i) for i in file_ids]
    on_commit(lambda: [discard(path) for path in paths])
