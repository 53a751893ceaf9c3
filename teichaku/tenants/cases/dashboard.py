"""The center dashboard's figures: open cases by type, releases coming up."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from ...platform.extensions import db
from ...platform.i18n import today_jst
from .models import Case

CLOSED_STATUSES = ("closed",)


def center_overview() -> dict:
    today = today_jst()
    by_type = dict(db.session.execute(
        select(Case.case_type, func.count()).where(Case.status.notin_(CLOSED_STATUSES)).group_by(Case.case_type)
    ).all())
    upcoming = list(db.session.scalars(
        select(Case).where(Case.release_date >= today, Case.release_date <= today + timedelta(days=30),
                           Case.status.notin_(CLOSED_STATUSES)).order_by(Case.release_date).limit(20)
    ))
    return {"open_by_type": by_type, "upcoming_releases": upcoming, "today": today}
