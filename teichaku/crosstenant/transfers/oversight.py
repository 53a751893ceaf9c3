"""The association's view of transfers: every sent request as metadata (centers, status, dates,
deadlines; never the person, the message, the package or a case), and the yearly compliance
report per center.  Reads run inside ``tenancy.cross_tenant("transfers.oversee" / ".report")``
and are audited.  Nothing here commits.
"""
from __future__ import annotations

import statistics
from datetime import date

from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform.audit.services import record as audit
from ...platform.centers import Center
from ...platform.csv_export import csv_bytes
from ...platform.extensions import db
from ...platform.i18n import fiscal_year_label, jst_date, today_jst
from ...platform.pagination import keyset_page
from ...platform.tenancy import cross_tenant
from ..aggregates import rules as count_rules
from .deadlines import answer_days, release_warning_days
from .groups import current_of, receiving_rows, sending_by_public_id
from .models import Transfer
from .sides import center_of


# --- metadata -----------------------------------------------------------------------------------------

def _metadata(sending: Transfer, receiving: list[Transfer], today: date) -> dict:
    """What the association may see of a transfer: centers, status, dates, deadlines; never the
    person's name, kana or birth date, the message, the package or the sending side's case."""
    current = current_of(receiving)
    sent_on = jst_date(current.sent_at if current else sending.sent_at)
    answered = jst_date(sending.accepted_at or sending.declined_at)
    end = answered or jst_date(sending.withdrawn_at) or today
    days_waiting = (end - sent_on).days if sent_on else None
    release = sending.release_date
    days_to_release = (release - today).days if release else None
    is_open = sending.status == "requested"
    overdue = is_open and ((days_waiting or 0) >= answer_days()
                           or (days_to_release is not None and days_to_release <= release_warning_days()))
    sender, receiver = center_of(sending.center_id), center_of(sending.counterpart_center_id)
    return {
        "id": sending.public_id, "number": sending.number, "status": sending.status,
        "from_center": sender.code, "from_center_name": sender.name,
        "to_center": receiver.code, "to_center_name": receiver.name,
        "receiving_case_id": current.case_id if current is not None and sending.status in ("accepted", "completed") else None,
        "created_at": sending.created_at, "requested_at": sending.requested_at, "sent_at": current.sent_at if current else sending.sent_at,
        "accepted_at": sending.accepted_at, "declined_at": sending.declined_at, "withdrawn_at": sending.withdrawn_at,
        "completed_at": sending.completed_at, "decline_reason": sending.decline_reason,
        "days_waiting": days_waiting, "release_date": release, "days_to_release": days_to_release,
        "overdue": overdue, "past_release": bool(is_open and release is not None and release < today),
        "flagged_at": current.flagged_at if current else None,
        "reminder_count": current.reminder_count if current else 0,
        "reminded_at": current.reminded_at if current else None,
        "reassign_count": sending.reassign_count,
        "history": [{"to_center": center_of(r.center_id).code, "to_center_name": center_of(r.center_id).name,
                     "status": r.status, "sent_at": r.sent_at, "answered_at": r.answered_at,
                     "reassigned_at": r.reassigned_at} for r in receiving],
    }


def oversight_list(*, limit: int = 50, cursor: str | None = None, status: str | None = None,
                   overdue_only: bool = False) -> tuple[list[dict], str | None]:
    """Every sent request of every center, newest first, as metadata (the association)."""
    today = today_jst()
    with cross_tenant("transfers.oversee"):
        stmt = select(Transfer).where(Transfer.side == "sending", Transfer.sent_at.is_not(None))
        if status:
            stmt = stmt.where(Transfer.status == status)
        if overdue_only:
            stmt = stmt.where(Transfer.status == "requested")
        # Overdue requests are picked from the 500 newest after the cursor, in one page.
        rows, next_cursor = keyset_page(stmt, (Transfer.created_at, Transfer.id), 500 if overdue_only else limit, cursor)
        receiving = _receiving_by_group([r.group_id for r in rows])
        items = [_metadata(row, receiving.get(row.group_id, []), today) for row in rows]
    audit("transfer.oversee_list", object_type="transfer", details={"status": status, "overdue_only": overdue_only})
    if overdue_only:
        return [i for i in items if i["overdue"]][:limit], None
    return items, next_cursor


def _receiving_by_group(group_ids) -> dict:
    out: dict = {}
    if not group_ids:
        return out
    for r in db.session.scalars(select(Transfer).where(Transfer.side == "receiving", Transfer.group_id.in_(group_ids))
                                .order_by(Transfer.created_at, Transfer.id)):
        out.setdefault(r.group_id, []).append(r)
    return out


def oversight_detail(transfer_id) -> dict:
    """One sent request's metadata by its public id (the same the two centers use), for the association."""
    with cross_tenant("transfers.oversee"):
        sending = sending_by_public_id(transfer_id)
        if sending is None:
            raise NotFound()
        meta = _metadata(sending, receiving_rows(sending.group_id), today_jst())
    audit("transfer.oversee_read", object_type="transfer", object_id=sending.id)
    return meta


# --- the compliance report ----------------------------------------------------------------------------

def compliance_report(fiscal_year: int) -> dict:
    """Per center and fiscal year (requests counted in the year they reached the center):
    requests received, answered, answered within ``TRANSFER_ANSWER_DAYS`` days, the median days
    to answer, still unanswered, requests left open past the release date (unanswered with the
    release passed, or answered only after it), reassigned away; and requests sent."""
    today, limit_days = today_jst(), answer_days()
    start, end = count_rules.fiscal_year_moments(fiscal_year)
    with cross_tenant("transfers.report"):
        rows = list(db.session.scalars(select(Transfer).where(Transfer.sent_at >= start, Transfer.sent_at < end)))
        centers = {c.id: c for c in db.session.scalars(select(Center))}
    stats: dict = {}

    def line(center_id):
        return stats.setdefault(center_id, {"received": 0, "answered": 0, "answered_within_deadline": 0, "days": [],
                                            "unanswered": 0, "open_past_release": 0, "reassigned_away": 0,
                                            "withdrawn_before_answer": 0, "sent": 0})

    for r in rows:
        if r.side == "sending":
            line(r.center_id)["sent"] += 1
            continue
        s = line(r.center_id)
        s["received"] += 1
        counted = count_rules.transfer_row(r.side, r.sent_at, r.accepted_at, r.declined_at)
        answered_on, days = count_rules.answered_on(counted), count_rules.days_to_answer(counted)
        if days is not None:
            s["answered"] += 1
            s["days"].append(days)
            s["answered_within_deadline"] += int(days <= limit_days)
            if r.release_date is not None and answered_on > r.release_date:
                s["open_past_release"] += 1
        elif r.status == "requested":
            s["unanswered"] += 1
            if r.release_date is not None and r.release_date < today:
                s["open_past_release"] += 1
        elif r.status == "reassigned":
            s["reassigned_away"] += 1
        elif r.status == "withdrawn":
            s["withdrawn_before_answer"] += 1
    all_days = [day for s in stats.values() for day in s["days"]]
    out_rows = []
    for center_id, s in sorted(stats.items(), key=lambda kv: (centers[kv[0]].prefecture_code, centers[kv[0]].code)):
        days = s.pop("days")
        out_rows.append({"center": centers[center_id].code, "center_name": centers[center_id].name, **s,
                         "median_days_to_answer": statistics.median(days) if days else None})
    totals = {k: sum(r[k] for r in out_rows) for k in ("received", "answered", "answered_within_deadline", "unanswered",
                                                        "open_past_release", "reassigned_away", "withdrawn_before_answer", "sent")}
    totals.update(center=None, center_name=None, median_days_to_answer=statistics.median(all_days) if all_days else None)
    audit("transfer.compliance_report", object_type="transfer", object_id=str(fiscal_year))
    return {"fiscal_year": fiscal_year, "fiscal_year_label": fiscal_year_label(fiscal_year), "answer_days": limit_days,
            "as_of": today, "rows": out_rows, "total": totals}


REPORT_COLUMNS = ("center", "center_name", "received", "answered", "answered_within_deadline", "median_days_to_answer",
                  "unanswered", "open_past_release", "reassigned_away", "withdrawn_before_answer", "sent")


def compliance_report_csv(report: dict) -> bytes:
    return csv_bytes(REPORT_COLUMNS, [[r[c] for c in REPORT_COLUMNS] for r in [*report["rows"], report["total"]]])
