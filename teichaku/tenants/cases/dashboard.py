"""The center dashboard: what staff open every morning."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from ...platform.audit.services import record
from ...platform.extensions import db
from ...platform.i18n import today_jst
from .lifecycle import FINAL_STATUSES
from .models import Case
from .services import open_reminders


def center_overview() -> dict:
    today = today_jst()
    open_cases = Case.status.notin_(FINAL_STATUSES)
    by_type_status = db.session.execute(
        select(Case.case_type, Case.status, func.count()).where(open_cases).group_by(Case.case_type, Case.status)
    ).all()
    by_type: dict[str, int] = {}
    for case_type, _status, n in by_type_status:
        by_type[case_type] = by_type.get(case_type, 0) + n
    upcoming = list(db.session.scalars(
        select(Case).where(Case.release_date >= today, Case.release_date <= today + timedelta(days=30),
                           Case.status.notin_(FINAL_STATUSES + ("released",))).order_by(Case.release_date).limit(30)))
    overdue = list(db.session.scalars(
        select(Case).where(Case.follow_up_on < today, open_cases).order_by(Case.follow_up_on).limit(30)))
    recent = list(db.session.scalars(select(Case).order_by(Case.updated_at.desc()).limit(10)))
    record("dashboard.read", object_type="case")
    return {
        "open_by_type": by_type,
        "open_by_type_status": [(t, s, n) for t, s, n in sorted(by_type_status)],
        "upcoming_releases": upcoming,
        "overdue_follow_ups": overdue,
        "recent": recent,
        "reminders": open_reminders(),
        "today": today,
    }
