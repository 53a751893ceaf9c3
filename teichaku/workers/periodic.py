"""When each periodic job last succeeded and last failed, and which are overdue.

Why: the scheduled jobs once failed at every run for months without anyone seeing it (issue #12:
``rq cron`` enqueued pickled jobs the JSON worker could not read).  Now the scheduler marks when
it started scheduling each job, the worker records every run's outcome (RQ success and failure
callbacks, so only runs the scheduler enqueued count), and ``/healthz`` and the operator's page
``/platform/jobs`` report a job overdue when it has not succeeded within twice its period.

The records live in Redis next to the queue (one hash per job and queue name: the times and the
exception's class name, never its message, which could carry personal data).  A Redis that lost
its data forgets them; the scheduler marks its jobs again at its next pass, so the jobs are
then reported as unknown rather than overdue until they have had twice their period to run.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from croniter import croniter
from redis import Redis

from .cron import PERIODIC_JOBS

KEY_PREFIX = "teichaku:periodic"
META_KEY = "teichaku_periodic"  # the job's meta field naming its periodic job


def _key(queue_name: str, name: str) -> str:
    return f"{KEY_PREFIX}:{queue_name}:{name}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds")


def _parse(value: bytes | str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.decode() if isinstance(value, bytes) else value)


# --- written by the scheduler and the worker ---------------------------------------------------

def mark_scheduled(connection: Redis, queue_name: str, names: Iterable[str], at: datetime | None = None) -> None:
    """The scheduler schedules these jobs from now on (kept when already set): the start of the
    period a job that never ran is measured from."""
    stamp = _stamp(at or _now())
    with connection.pipeline() as pipe:
        for name in names:
            pipe.hsetnx(_key(queue_name, name), "scheduled_since", stamp)
        pipe.execute()


def record_success(job, connection: Redis, result: Any, *args, **kwargs) -> None:
    """RQ success callback of every periodic job (runs in the work horse after the job)."""
    name = job.meta.get(META_KEY)
    if name:
        connection.hset(_key(job.origin, name), mapping={"last_success": _stamp(_now())})


def record_failure(job, connection: Redis, exc_type=None, exc_value=None, traceback=None, *args, **kwargs) -> None:
    """RQ failure callback of every periodic job: the time and the exception's class name."""
    name = job.meta.get(META_KEY)
    if name:
        kind = getattr(exc_type, "__name__", None) or "unknown"
        connection.hset(_key(job.origin, name), mapping={"last_failure": _stamp(_now()), "last_failure_kind": kind})


# --- read by /healthz and the operator's page ------------------------------------------------

@dataclass(frozen=True)
class JobStatus:
    name: str
    label: str
    cron: str
    period: timedelta
    scheduled_since: datetime | None
    last_success: datetime | None
    last_failure: datetime | None
    last_failure_kind: str | None
    overdue: bool

    def as_json(self) -> dict:
        return {
            "schedule": self.cron,
            "last_success": _stamp(self.last_success) if self.last_success else None,
            "last_failure": _stamp(self.last_failure) if self.last_failure else None,
            "overdue": self.overdue,
        }


def period_of(cron_expression: str, at: datetime) -> timedelta:
    """The gap between the next two runs after ``at`` (a month for a monthly job)."""
    it = croniter(cron_expression, at.astimezone().replace(tzinfo=None))
    first, second = it.get_next(datetime), it.get_next(datetime)
    return second - first


def is_overdue(cron_expression: str, scheduled_since: datetime | None, last_success: datetime | None,
               at: datetime) -> bool:
    """Overdue: no success within twice the job's period, counting from its last success, or
    when it never succeeded, from when the scheduler began scheduling it; a job no scheduler ever
    marked is overdue (nothing schedules it)."""
    since = last_success or scheduled_since
    if since is None:
        return True
    return at - since > 2 * period_of(cron_expression, at)


def statuses(connection: Redis, queue_name: str, schedule=None, at: datetime | None = None) -> list[JobStatus]:
    """Every periodic job of ``schedule`` (default: ``workers.cron.PERIODIC_JOBS``), in its order."""
    if schedule is None:
        schedule = PERIODIC_JOBS
    at = at or _now()
    with connection.pipeline() as pipe:
        for periodic in schedule:
            pipe.hgetall(_key(queue_name, periodic.name))
        rows = pipe.execute()
    result = []
    for periodic, row in zip(schedule, rows):
        row = {(k.decode() if isinstance(k, bytes) else k): v for k, v in row.items()}
        since, success = _parse(row.get("scheduled_since")), _parse(row.get("last_success"))
        kind = row.get("last_failure_kind")
        result.append(JobStatus(
            name=periodic.name, label=periodic.label, cron=periodic.cron, period=period_of(periodic.cron, at),
            scheduled_since=since, last_success=success, last_failure=_parse(row.get("last_failure")),
            last_failure_kind=kind.decode() if isinstance(kind, bytes) else kind,
            overdue=is_overdue(periodic.cron, since, success, at),
        ))
    return result


def health_report(connection: Redis, queue_name: str) -> dict:
    """``/healthz``'s ``periodic_jobs``: each job's last success and failure, and the overdue ones."""
    found = statuses(connection, queue_name)
    return {"overdue": [s.name for s in found if s.overdue], "jobs": {s.name: s.as_json() for s in found}}
