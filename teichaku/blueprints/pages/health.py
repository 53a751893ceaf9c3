"""``/healthz``: the database and Redis, for load balancers and ``make run``'s readiness check
(and, when one is configured, whether the reporting replica is in use), and when each periodic
job last succeeded (``periodic_jobs``: a job with no success within twice its period is listed
in ``overdue``; still 200, since a late nightly job is no reason to take a web server out of the
load balancer: monitoring alerts on a non-empty ``overdue``).  A component that fails makes it
503 and says ``"error"`` (``"database": "error"`` while PostgreSQL is unreachable); the check
itself never raises."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from ...platform import reporting_reads
from ...platform.errors import forget_database_state
from ...platform.extensions import db
from ...platform.redis_client import connection, redis_available
from ...workers import periodic
from ...platform.jobs import QUEUE_NAME

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {"database": "ok", "redis": "ok"}
    healthy = True
    try:
        db.session.execute(text("select 1"))
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = "error"
        healthy = False
        forget_database_state()  # nothing after this (the request's end, its log) touches it again
    if redis_available(current_app):
        try:
            connection().ping()
        except Exception:  # noqa: BLE001
            checks["redis"] = "error"
            healthy = False
        checks["periodic_jobs"] = _periodic_jobs() if checks["redis"] == "ok" else "error"
    else:
        # Development without Redis: jobs run in-process, so the app is still usable.
        checks["redis"] = "not_used"
        checks["periodic_jobs"] = "not_used"  # no scheduler runs without Redis
    # A replica of the reporting reads that is down or behind is reported but not unhealthy: the
    # figures fall back to the primary (platform/reporting_reads.py).
    if current_app.config.get("REPORTING_DATABASE_URL"):
        checks["reporting_replica"] = "ok" if reporting_reads.replica_in_use() else "skipped"
    status = 200 if healthy else 503
    return jsonify({"status": "ok" if healthy else "error", **checks}), status


def _periodic_jobs() -> dict | str:
    try:
        return periodic.health_report(connection(), QUEUE_NAME)
    except Exception:  # noqa: BLE001 - the report must not turn the health check into a 500
        current_app.logger.exception("periodic job report failed")
        return "error"
