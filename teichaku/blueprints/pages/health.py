"""``/healthz``: the database and Redis, for load balancers and ``make run``'s readiness check."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from ...platform.extensions import db
from ...platform.redis_client import connection, redis_available

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {"database": "ok", "redis": "ok"}
    healthy = True
    try:
        db.session.execute(text("select 1"))
        db.session.rollback()
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = "error"
        healthy = False
    if redis_available(current_app):
        try:
            connection().ping()
        except Exception:  # noqa: BLE001
            checks["redis"] = "error"
            healthy = False
    else:
        # Development without Redis: jobs run in-process, so the app is still usable.
        checks["redis"] = "not_used"
    status = 200 if healthy else 503
    return jsonify({"status": "ok" if healthy else "error", **checks}), status
