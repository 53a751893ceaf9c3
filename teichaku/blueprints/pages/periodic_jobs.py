"""定期ジョブ (``/platform/jobs``): the operator sees when each periodic job last succeeded or
failed and which are overdue (``workers.periodic``).  Job names and times only."""
from __future__ import annotations

from flask import Blueprint, render_template

from ...platform.redis_client import connection, redis_available
from ...workers import periodic
from ...platform.jobs import QUEUE_NAME

bp = Blueprint("periodic_jobs", __name__, url_prefix="/platform/jobs")


@bp.get("")
def index():
    jobs = periodic.statuses(connection(), QUEUE_NAME) if redis_available() else None
    return render_template("periodic_jobs/index.html", jobs=jobs)
