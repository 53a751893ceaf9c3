"""Reporting reads: from a PostgreSQL read replica when one is configured and fresh, else the primary.

``REPORTING_DATABASE_URL`` names the application role on a streaming replica (docs/SCALING.md);
the app then has a second engine (the Flask-SQLAlchemy bind ``reporting``).  The reporting
services (``crosstenant/aggregates/figures``) send their read-only queries through ``rows`` /
``scalar`` here, so the national dashboard's heavy reads leave the primary to the case work.

* Each read on the replica is a short transaction of its own, begun in the caller's scope: the
  Session hooks of ``platform.tenancy`` send the tenant and cross-tenant settings that row-level
  security checks (the replica enforces the same policies as the primary).
* The replica is skipped, and the primary read instead, while it is unreachable (for
  ``DOWN_SECONDS``) or further behind than ``REPORTING_MAX_LAG_SECONDS``.  The lag is measured at
  most every ``LAG_CHECK_SECONDS`` per process; ``lag_seconds()`` lets a caller move its "every
  change before this moment is counted" (``as_of``) back by as much.
* Without the setting (development, SQLite, the CLI as the schema owner) every read goes to the
  primary through ``db.session``, as before.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import structlog
from flask import current_app, has_app_context
from psycopg import OperationalError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .extensions import db

BIND = "reporting"
LAG_CHECK_SECONDS = 10.0
DOWN_SECONDS = 30.0
log = structlog.get_logger(__name__)

# Seconds the replica is behind: 0 when it has replayed all it received (an idle primary sends
# nothing, so the age of the last replayed transaction alone would look like lag), or when the
# database is not a standby at all (a dedicated reporting copy).
LAG_SQL = text(
    "select case when not pg_is_in_recovery() then 0"
    " when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0"
    " else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0) end"
)


@dataclass
class _ReplicaState:
    checked_at: float = float("-inf")
    lag: float = 0.0
    down_until: float = float("-inf")


def _engine():
    if not has_app_context() or not current_app.config.get("REPORTING_DATABASE_URL"):
        return None
    return db.engines.get(BIND)


def _usable(engine) -> _ReplicaState | None:
    """The replica's state if reads may go there now, else None (down, or too far behind)."""
    state = current_app.extensions.setdefault("teichaku_reporting_replica", _ReplicaState())  # one per app
    now = time.monotonic()
    if now < state.down_until:
        return None
    if now - state.checked_at >= LAG_CHECK_SECONDS:
        try:
            with engine.connect() as conn:
                state.lag = float(conn.execute(LAG_SQL).scalar() or 0)
        except DBAPIError as exc:
            _mark_down(state, exc)
            return None
        state.checked_at = now
        if state.lag > current_app.config["REPORTING_MAX_LAG_SECONDS"]:
            log.warning("reporting_replica_behind", lag_seconds=round(state.lag, 1))  # once per check
    if state.lag > current_app.config["REPORTING_MAX_LAG_SECONDS"]:
        return None
    return state


def _mark_down(state: _ReplicaState, exc: BaseException) -> None:
    state.down_until = time.monotonic() + DOWN_SECONDS
    log.warning("reporting_replica_unreachable", error=type(exc).__name__, retry_in_seconds=DOWN_SECONDS)


def _read(query: Callable[[Session], Any]) -> Any:
    engine = _engine()
    state = _usable(engine) if engine is not None else None
    if state is not None:
        try:
            with Session(bind=engine) as session:
                return query(session)
        except DBAPIError as exc:
            if not exc.connection_invalidated and not _is_connection_error(exc):
                raise  # a wrong query is a bug, not an outage: do not hide it
            _mark_down(state, exc)
    return query(db.session)


def _is_connection_error(exc: DBAPIError) -> bool:
    return isinstance(getattr(exc, "orig", None), OperationalError)


def rows(stmt) -> list:
    """Every row of a read-only statement."""
    return _read(lambda session: session.execute(stmt).all())


def scalar(stmt) -> Any:
    """The first column of the first row of a read-only statement."""
    return _read(lambda session: session.scalar(stmt))


def lag_seconds() -> float:
    """How far behind the figures may be: the replica's lag when reads go there, else 0."""
    engine = _engine()
    state = _usable(engine) if engine is not None else None
    return state.lag if state is not None else 0.0


def replica_in_use() -> bool:
    """Whether reporting reads go to the replica right now (for /healthz and the tests)."""
    engine = _engine()
    return engine is not None and _usable(engine) is not None
