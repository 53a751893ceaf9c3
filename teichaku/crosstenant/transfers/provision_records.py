"""A center's provision records (第三者提供記録, APPI art. 29): the list the center admin reads
and its CSV export, both audited.  The records themselves are written by the verbs that provide
(``sides.record_provision``) and never changed or deleted.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import and_, select

from ...platform.audit.services import record as audit
from ...platform.csv_export import csv_bytes
from ...platform.pagination import keyset_page
from ...tenants.cases.models import Case
from ...tenants.persons.models import Person
from . import lifecycle as lc
from .models import ProvisionRecord, Transfer, TransferPull
from .sides import center_of


def provision_records(*, limit: int = 200, cursor: str | None = None) -> tuple[list[dict], str | None]:
    """The current center's provision records, newest first, with the person and recipient named
    (the center admin's own data), and the transfer or pull request by its one public id (the
    group's, as everywhere outside).  Audited."""
    stmt = (select(ProvisionRecord, Person, Case, Transfer.group_id, TransferPull.group_id)
            .join(Person, and_(Person.center_id == ProvisionRecord.center_id, Person.id == ProvisionRecord.person_id))
            .join(Case, and_(Case.center_id == ProvisionRecord.center_id, Case.id == ProvisionRecord.case_id))
            .outerjoin(Transfer, and_(Transfer.center_id == ProvisionRecord.center_id,
                                      Transfer.id == ProvisionRecord.transfer_id))
            .outerjoin(TransferPull, and_(TransferPull.center_id == ProvisionRecord.center_id,
                                          TransferPull.id == ProvisionRecord.pull_id)))
    rows, next_cursor = keyset_page(stmt, (ProvisionRecord.created_at, ProvisionRecord.id), limit, cursor)
    items = []
    for rec, person, case, transfer_id, pull_id in rows:
        recipient = center_of(rec.recipient_center_id)
        items.append({
            "id": rec.id, "provided_on": rec.provided_on, "recipient_center": recipient.code,
            "recipient_center_name": recipient.name, "person_id": rec.person_id,
            "person_name": person.full_name, "case_id": rec.case_id, "case_number": case.case_number,
            "transfer_id": transfer_id, "pull_id": pull_id, "items": rec.items,
            "consent_obtained_on": rec.consent_obtained_on,
            "consent_method": rec.consent_method, "consent_witness": rec.consent_witness,
            "consent_scope": rec.consent_scope, "basis": rec.basis, "retain_until": rec.retain_until,
            "created_at": rec.created_at,
        })
    audit("transfer.provision_records_read", object_type="provision_record", details={"count": len(items)})
    return items, next_cursor


PROVISION_COLUMNS = ("provided_on", "recipient_center", "recipient_center_name", "person_id", "person_name",
                     "case_number", "items", "consent_obtained_on", "consent_method", "consent_witness",
                     "consent_scope", "basis", "retain_until", "transfer_id", "pull_id")


def export_provision_records() -> bytes:
    """Every provision record of the current center as CSV (the export is audited)."""
    items, cursor, everything = [], None, []
    while True:
        items, cursor = provision_records(limit=200, cursor=cursor)
        everything.extend(items)
        if not cursor:
            break
    audit("transfer.provision_records_export", object_type="provision_record", details={"count": len(everything)})

    def cell(item, column):
        value = item[column]
        if column == "items":
            return " / ".join(i["label"] for i in value)
        if column == "consent_method":
            return lc.CONSENT_METHODS.get(value, value)
        if column == "basis":
            return lc.PROVISION_BASES.get(value, value)
        return value.isoformat() if isinstance(value, (date, datetime)) else (str(value) if isinstance(value, uuid.UUID) else value)

    return csv_bytes(PROVISION_COLUMNS, [[cell(item, c) for c in PROVISION_COLUMNS] for item in everything])
