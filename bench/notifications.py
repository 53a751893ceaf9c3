"""Notifications benchmark: cross-tenant events delivered to inboxes by 2 real ``rq worker``s.

Set-up: a bench database of its own (48 centers, ``BENCH_NOTIF_STAFF`` staff and center admins
per center, 2 or 3), Redis ``BENCH_REDIS_URL`` with a queue of this run's own, and two
``rq worker -w teichaku.workers.worker.TeichakuWorker --serializer json`` processes (forking a
work horse per job, as in production).

A driver process (``bench.notifications_driver``) emits events through the product's service
(``notifications.services.emit`` in a center's scope, then commit: the after-commit hook
enqueues the delivery), each from a random center to another random center:

* **steady**: ``BENCH_NOTIF_RATE`` events per second (default 50) for ``BENCH_NOTIF_SECONDS``
  (default 20).  Latency per event = the inbox rows' insert time (``notifications.delivered_at``,
  written in the delivery transaction) minus the event's time (``outbox_events.created_at``, set
  in the emitting transaction just before its commit).  Target: p95 < 1 s.
* **capacity**: ``BENCH_NOTIF_BURST`` events (default 1000) written in one transaction (one
  commit enqueues them all), then the time until the last one is delivered: events and
  notifications delivered per second with 2 workers.

Figures go to ``bench-results/notifications.json``.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg
import redis

from .config import RESULTS_DIR, ROOT, VENV_BIN, Settings
from .database import APP_ROLE, bench_database
from .registry import benchmark
from .report import write_json
from .server import RUNTIME_VARS

NAME = "notifications"
TARGET_P95_S = 1.0
WORKERS = 2


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _no_seed(bdb, settings) -> dict:
    return {}


def _create_recipients(bdb, per_center: int) -> int:
    """Staff and a center admin in every center, as the schema owner.  They never sign in (the
    password hash matches nothing), so no argon2 hashing is needed."""
    from teichaku.app import create_app
    from teichaku.platform.auth.models import User
    from teichaku.platform.centers import Center
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import account_lookup

    from .database import owner_app_config

    app = create_app(owner_app_config(bdb), database_role="owner")
    n = 0
    with app.app_context():
        with account_lookup():
            for center in db.session.scalars(db.select(Center)):
                for i in range(per_center):
                    role = "center_admin" if i == 0 else "staff"
                    db.session.add(User(email=f"bench-notif-{i}@{center.code}.example.jp", password_hash="!no-login",
                                        role=role, center_id=center.id, display_name="ベンチ 職員",
                                        email_notifications=False))
                    n += 1
            db.session.flush()
        db.session.commit()
        db.engine.dispose()
    return n


def _env(bdb, queue: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in RUNTIME_VARS}
    env.update({
        "DATABASE_URL": bdb.owner_url,
        "APP_DB_ROLE": APP_ROLE,
        "REDIS_URL": bdb.redis_url,
        "SECRET_KEY": bdb.secret_key,
        "RQ_QUEUE": queue,
        "TEICHAKU_ENV": "development",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    })
    env.pop("TEICHAKU_TEST_DELIVERY_DELAY", None)
    return env


def _start_workers(env: dict, log_dir: Path) -> list[subprocess.Popen]:
    procs = []
    for i in range(WORKERS):
        log = open(log_dir / f"notifications-worker-{i}.log", "wb")
        procs.append(subprocess.Popen(
            [str(VENV_BIN / "rq"), "worker", "-u", env["REDIS_URL"], "-w", "teichaku.workers.worker.TeichakuWorker",
             "--serializer", "json", "--logging_level", "WARNING", env["RQ_QUEUE"]],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))
        log.close()
    return procs


def _wait_workers(redis_url: str, queue: str, procs: list[subprocess.Popen], timeout: float = 60) -> None:
    from rq import Queue, Worker

    connection = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"rq worker exited with {p.returncode}")
        if len(Worker.all(queue=Queue(queue, connection=connection))) >= len(procs):
            return
        time.sleep(0.2)
    raise RuntimeError("rq workers did not register in time")


def _stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)  # warm shutdown: finish the current job
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def _drive(env: dict, phase: str, out: Path, **knobs) -> dict:
    args = [sys.executable, "-m", "bench.notifications_driver", phase, str(out)]
    args += [f"--{k}={v}" for k, v in knobs.items()]
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"driver {phase} failed:\n{result.stderr[-4000:]}")
    return json.loads(out.read_text())


def _wait_delivered(dsn: str, event_ids: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            left = conn.execute("select count(*) from outbox_events where id = any(%s) and delivered_at is null",
                                (event_ids,)).fetchone()[0]
        if left == 0:
            return True
        time.sleep(0.25)
    return False


def _per_event(dsn: str, event_ids: list[str]) -> list[tuple]:
    """(event created_at, last inbox insert time, notifications) per delivered event."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select e.created_at, max(n.delivered_at), count(n.id) from outbox_events e"
            " join notifications n on n.event_id = e.id where e.id = any(%s) group by e.id, e.created_at",
            (event_ids,)).fetchall()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def _duplicates(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select count(*) from (select 1 from notifications group by event_id, recipient_user_id"
                            " having count(*) > 1) d").fetchone()[0]


@benchmark(NAME, "cross-tenant notifications: delivered/s with 2 rq workers, p95 commit-to-inbox at 50 events/s")
def run() -> dict:
    settings = Settings.from_env()
    rate = _int("BENCH_NOTIF_RATE", 50)
    seconds = _int("BENCH_NOTIF_SECONDS", 20)
    burst = _int("BENCH_NOTIF_BURST", 1000)
    per_center = max(2, min(3, _int("BENCH_NOTIF_STAFF", 3)))
    queue = f"teichaku-bench-{secrets.token_hex(5)}"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="teichaku-bench-notif-") as tmp_name, \
            bench_database(settings, _no_seed, staff="tenant", reuse=False, analyze_after_seed=False) as bdb:
        tmp = Path(tmp_name)
        users = _create_recipients(bdb, per_center)
        env = _env(bdb, queue)
        procs = _start_workers(env, RESULTS_DIR)
        connection = redis.Redis.from_url(bdb.redis_url)
        try:
            _wait_workers(bdb.redis_url, queue, procs)
            # warm-up: each worker forks its first horses, connections and caches settle
            warm = _drive(env, "steady", tmp / "warmup.json", rate=rate, seconds=2)
            _wait_delivered(bdb.owner_dsn, warm["event_ids"], 30)

            steady = _drive(env, "steady", tmp / "steady.json", rate=rate, seconds=seconds)
            all_delivered = _wait_delivered(bdb.owner_dsn, steady["event_ids"], 120)
            rows = _per_event(bdb.owner_dsn, steady["event_ids"])
            latencies = [(last - created).total_seconds() for created, last, _ in rows]
            notifications = sum(n for _, _, n in rows)
            first = min(created for created, _, _ in rows)
            last = max(done for _, done, _ in rows)
            span = (last - first).total_seconds()
            steady_fig = {
                "events": len(steady["event_ids"]), "target_rate": rate, "seconds": seconds,
                "achieved_rate": round(len(steady["event_ids"]) / steady["elapsed_s"], 1),
                "delivered_events": len(rows), "all_delivered": all_delivered and len(rows) == len(steady["event_ids"]),
                "notifications": notifications,
                "notifications_per_s": round(notifications / span, 1) if span else None,
                "latency_s": {"p50": round(_percentile(latencies, 50), 3), "p95": round(_percentile(latencies, 95), 3),
                              "p99": round(_percentile(latencies, 99), 3), "max": round(max(latencies), 3),
                              "mean": round(statistics.fmean(latencies), 3)},
            }

            capacity = _drive(env, "burst", tmp / "burst.json", events=burst)
            cap_delivered = _wait_delivered(bdb.owner_dsn, capacity["event_ids"], 600)
            rows = _per_event(bdb.owner_dsn, capacity["event_ids"])
            committed = datetime.fromisoformat(capacity["committed_at"])
            drain = (max(done for _, done, _ in rows) - committed).total_seconds() if rows else None
            capacity_fig = {
                "events": len(capacity["event_ids"]), "all_delivered": cap_delivered and len(rows) == len(capacity["event_ids"]),
                "notifications": sum(n for _, _, n in rows), "drain_s": round(drain, 2) if drain else None,
                "events_per_s": round(len(rows) / drain, 1) if drain else None,
                "notifications_per_s": round(sum(n for _, _, n in rows) / drain, 1) if drain else None,
            }
            duplicates = _duplicates(bdb.owner_dsn)
        finally:
            _stop_workers(procs)
            keys = list(connection.scan_iter(match=f"*{queue}*"))
            if keys:
                connection.delete(*keys)

    figures = {
        "benchmark": NAME, "workers": WORKERS, "recipients_per_center": per_center, "recipients_total": users,
        "target_p95_s": TARGET_P95_S, "steady": steady_fig, "capacity": capacity_fig,
        "duplicate_inbox_entries": duplicates,
        "ok": bool(steady_fig["all_delivered"] and capacity_fig["all_delivered"] and duplicates == 0
                   and steady_fig["latency_s"]["p95"] < TARGET_P95_S),
        "note": "latency = inbox insert time (in the delivery transaction) - event time (in the emitting "
                "transaction, just before its commit); jobs fork a work horse each, as in production",
    }
    write_json(NAME, figures)
    s, c = steady_fig, capacity_fig
    print(f"steady {s['events']} events at {s['achieved_rate']}/s (target {rate}/s): "
          f"{s['notifications']} notifications, {s['notifications_per_s']}/s; commit->inbox "
          f"p50 {s['latency_s']['p50']*1000:.0f} ms, p95 {s['latency_s']['p95']*1000:.0f} ms, "
          f"p99 {s['latency_s']['p99']*1000:.0f} ms, max {s['latency_s']['max']*1000:.0f} ms (target p95 < {TARGET_P95_S:.0f} s)")
    print(f"capacity with {WORKERS} workers: {c['events']} events in {c['drain_s']} s = {c['events_per_s']} events/s, "
          f"{c['notifications_per_s']} notifications/s; duplicates {duplicates}; ok={figures['ok']}")
    return figures
