"""The aggregates' RQ jobs: recompute a dirty slice, sweep forgotten ones, rebuild every night.

* ``recompute_slice(center_id, fiscal_year)``: scheduled after each commit that marked a slice
  (``tracking``).  Scheduled a moment later rather than queued at once: every commit of the same
  slice within a window of ``DEBOUNCE_SECONDS`` shares one job (one job id per slice and window,
  ``unique``), so a burst of changes costs one recomputation, and the job leaves the main queue
  to the scheduler (``rq worker --with-scheduler``) until then.  Without Redis (development)
  the job runs at once, in-process.
* ``sweep_dirty_slices``: every minute from ``rq cron``: recomputes the slices whose last mark
  is older than ``SWEEP_AFTER_SECONDS`` (their job was lost: Redis down at commit time, a
  worker killed, a key evicted).
* ``rebuild_rollups``: every night from ``rq cron`` (and ``flask aggregates rebuild``):
  recomputes every slice from the rows, counts the cells of clean slices that differed from
  what was stored (``mismatches``: 0 unless something is wrong), logs them and records the run
  in ``rollup_runs``.

Jobs carry ids and years only, open their own app context (``platform.jobs.job``) and set
their tenant themselves, one center at a time: a rollup is computed inside its center's scope.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterable

from flask import current_app, g
from rq import Retry, get_current_job
from rq.exceptions import DuplicateJobError
from sqlalchemy.exc import SQLAlchemyError

from ...platform.centers import list_centers
from ...platform.extensions import db
from ...platform.logs import get_logger
from ...platform.models import utcnow
from ...platform.tenancy import set_tenant
from ...platform.jobs import enqueue, get_queue, job
from .models import RollupRun
from .rollups import dirty_slices, rebuild_center, refresh_slice

log = get_logger("teichaku.aggregates")

DEBOUNCE_SECONDS = 2  # commits of one slice within this window share one recomputation
JOB_TTL = 24 * 3600  # a job waits at most a day in Redis; the sweep recomputes anyway
SWEEP_AFTER_SECONDS = 60  # a slice marked longer ago than this has lost its job
SWEEP_BUDGET_SECONDS = 30.0  # one sweep stops after this long; the next one goes on
REBUILD_TIMEOUT_SECONDS = 3600
MISMATCH_LOG_LIMIT = 20  # mismatched slices logged one by one per rebuild (all are counted)


class RecomputeFailed(RuntimeError):
    """A recomputation failed.  The message holds ids and a short code only (RQ keeps it)."""


# --- scheduling after a commit --------------------------------------------------------------------

def job_id(center_id, fiscal_year: int, at: float) -> str:
    """One job per slice and debounce window."""
    return f"aggregates-{center_id}-{fiscal_year}-{int(at // DEBOUNCE_SECONDS)}"


def schedule_recomputation(slices: Iterable[tuple[uuid.UUID, int]]) -> int:
    """Schedule ``recompute_slice`` for each slice at the end of its debounce window; a Redis
    failure is logged (ids only) and left to the sweep.  Returns how many jobs were scheduled."""
    app = current_app._get_current_object()
    scheduled = 0
    # A fresh app context: its own session (the committing one may not run SQL now) and no
    # tenant or signed-in user, exactly as in a worker, when the job runs in-process.
    with app.app_context():
        g._login_user = None
        queue = get_queue(app)
        now = time.time()
        run_at = datetime.fromtimestamp((now // DEBOUNCE_SECONDS + 1) * DEBOUNCE_SECONDS + 1, tz=timezone.utc)
        for center_id, year in sorted(slices, key=lambda s: (str(s[0]), s[1])):
            try:
                if not queue.is_async:
                    enqueue(recompute_slice, str(center_id), int(year))  # runs now, in-process
                else:
                    queue.enqueue_at(run_at, recompute_slice, str(center_id), int(year),
                                     job_id=job_id(center_id, year, now), unique=True, ttl=JOB_TTL,
                                     retry=Retry(max=3, interval=[5, 30, 120]), result_ttl=600,
                                     failure_ttl=app.config["JOBS_FAILURE_TTL"])
                scheduled += 1
            except DuplicateJobError:
                pass  # this window's job for the slice is already scheduled
            except Exception as exc:  # noqa: BLE001 - Redis down: the sweep recomputes the slice
                log.warning("aggregates_schedule_failed", center_id=str(center_id), fiscal_year=year,
                            error=type(exc).__name__)
    return scheduled


# --- the jobs --------------------------------------------------------------------------------------

@job
def recompute_slice(center_id: str, fiscal_year: int) -> str:
    """RQ job: recompute one (center, fiscal year) if it is still dirty, in one transaction.
    Returns ``clean``, ``unchanged`` or ``written``; raises (ids and a code) so RQ retries."""
    center = uuid.UUID(str(center_id))
    try:
        set_tenant(center)
        return refresh_slice(center, int(fiscal_year)).status
    except SQLAlchemyError as exc:
        db.session.rollback()  # the failed transaction ends before the tenant is reset below
        code = type(exc).__name__
        log.warning("aggregates_recompute_failed", center_id=str(center), fiscal_year=fiscal_year, error=code)
        raise RecomputeFailed(f"slice {center}/{fiscal_year}: {code}") from None
    finally:
        set_tenant(None)


@job
def sweep_dirty_slices(older_than_seconds: float | None = None, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> int:
    """RQ job (every minute): recompute the slices whose last mark is older than
    ``SWEEP_AFTER_SECONDS`` (``older_than_seconds`` overrides), center by center, each slice in a
    transaction of its own, until the budget is spent.  Returns the slices recomputed."""
    cutoff = utcnow() - timedelta(seconds=SWEEP_AFTER_SECONDS if older_than_seconds is None else older_than_seconds)
    deadline = time.monotonic() + budget_seconds
    done = 0
    for center_id in [c.id for c in list_centers()]:
        set_tenant(center_id)
        try:
            for year, _last in dirty_slices(center_id, older_than=cutoff):
                if time.monotonic() > deadline:
                    log.info("aggregates_sweep_budget_spent", recomputed=done)
                    return done
                if refresh_slice(center_id, year).status != "clean":
                    done += 1
                db.session.commit()  # one slice per transaction: its advisory lock is held briefly
        finally:
            db.session.rollback()
            set_tenant(None)
    if done:
        log.info("aggregates_sweep", recomputed=done)
    return done


@job
def rebuild_rollups(fiscal_year: int | None = None, triggered_by: str = "nightly") -> dict:
    """RQ job (nightly) and ``flask aggregates rebuild``: recompute every slice (of one fiscal
    year, or all), center by center, each center in one transaction; record the run and whether
    it reproduced the stored rollups exactly.  Returns the run's figures.

    While it runs, its progress is in the RQ job's meta (``progress``); the ``rollup_runs`` row
    is written once, with the outcome, and committed by the job itself: a run that failed, or a
    ``flask aggregates rebuild`` exiting 1 on mismatches, keeps its record."""
    started = utcnow()
    run = RollupRun(id=uuid.uuid4(), kind="rebuild", triggered_by=triggered_by, status="running",
                    fiscal_year=fiscal_year, started_at=started, as_of=started,
                    centers=0, slices=0, cells=0, mismatches=0, pending_slices=0)
    center_ids = [c.id for c in list_centers()]
    mismatched_slices = 0
    try:
        for center_id in center_ids:
            set_tenant(center_id)
            report = rebuild_center(center_id, fiscal_year)
            db.session.commit()  # one center per transaction: its slices' advisory locks are held briefly
            _add_to_run(run, report, log_budget=max(0, MISMATCH_LOG_LIMIT - mismatched_slices))
            mismatched_slices += len(report.mismatched)
            _report_progress(run, len(center_ids))
    except Exception:
        db.session.rollback()
        set_tenant(None)
        _record_run(run, "failed")
        log.error("aggregates_rebuild_failed", run_id=str(run.id))
        raise
    set_tenant(None)
    _record_run(run, "done")
    figures = {**run_summary(run), "mismatched_slices": mismatched_slices}
    (log.warning if run.mismatches else log.info)("aggregates_rebuild", **figures)
    return figures


def _report_progress(run: RollupRun, total_centers: int) -> None:
    """Under RQ, the rebuild's progress in its job's meta (counts only); called directly (the
    CLI, a test) there is no job and nothing to report."""
    current = get_current_job()
    if current is None:
        return
    current.meta["progress"] = {"centers_done": run.centers, "centers": total_centers, "slices": run.slices,
                                "mismatches": run.mismatches}
    current.save_meta()


def _record_run(run: RollupRun, status: str) -> None:
    run.status, run.finished_at = status, utcnow()
    db.session.add(run)
    db.session.commit()  # the run's record is the outcome: it stays when the job raises or the CLI exits 1


def _add_to_run(run: RollupRun, report, *, log_budget: int) -> None:
    """Add a center's rebuild to the run; log its mismatched slices (codes and counts only), at
    most ``log_budget`` of them (a rollup table emptied by hand would otherwise flood the log)."""
    run.centers += 1
    run.slices += report.slices
    run.cells += report.cells
    run.mismatches += report.mismatches
    run.pending_slices += report.pending_slices
    for year, families in list(report.mismatched.items())[:log_budget]:
        log.warning("aggregates_rebuild_mismatch", run_id=str(run.id), center=report.center_code,
                    fiscal_year=year, cells_by_family=families)


def run_summary(run: RollupRun) -> dict:
    """A run as plain values (ids, counts, times: no personal data)."""
    return {
        "run_id": str(run.id), "status": run.status, "triggered_by": run.triggered_by, "fiscal_year": run.fiscal_year,
        "started_at": run.started_at.isoformat(), "as_of": run.as_of.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "centers": run.centers, "slices": run.slices, "cells": run.cells, "mismatches": run.mismatches,
        "pending_slices": run.pending_slices, "reproduced": run.status == "done" and run.mismatches == 0,
    }
