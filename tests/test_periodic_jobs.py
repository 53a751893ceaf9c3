"""Scheduled jobs run (issue #12, "Scheduled jobs never run"): the real scheduler and a real worker,
started with exactly the deployed command lines, run every periodic job; each job's last success
is shown on ``/healthz`` and the operator's page, and a job late by twice its period is reported."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from tests import factories
from tests.conftest import REDIS_TEST_URL
from tests.crossprocess import REPO_ROOT

SYSTEMD = REPO_ROOT / "infra" / "systemd"
RUN_DEV = REPO_ROOT / "infra" / "scripts" / "run-dev.sh"
COMPOSE = REPO_ROOT / "infra" / "docker" / "compose.yaml"
INSTALL_DIR = "/opt/teichaku/app"


def _exec_start(unit: str) -> list[str]:
    """The unit's ExecStart as systemd runs it here: the install directory is this checkout and
    the specifiers of a worker instance are filled in (%H host, %i instance)."""
    text = (SYSTEMD / unit).read_text().replace("\\\n", " ")
    line = re.search(r"^ExecStart=(.+)$", text, re.MULTILINE).group(1)
    line = line.replace(INSTALL_DIR, str(REPO_ROOT)).replace("%H", socket.gethostname()).replace("%i", "test")
    return shlex.split(line)


def _run_dev_commands() -> list[list[str]]:
    """The background commands ``make run`` starts (lines ending in ``& pids+=($!)``)."""
    found = []
    for line in RUN_DEV.read_text().splitlines():
        if line.strip().endswith("& pids+=($!)"):
            found.append(shlex.split(line.strip()[: -len("& pids+=($!)")]))
    return found


def test_make_run_systemd_and_the_container_start_the_jobs_with_one_command_line():
    """One place holds the command lines (infra/scripts/teichaku-jobs.sh); nothing runs `rq cron`
    (its CronScheduler enqueues pickle, which the JSON worker cannot read)."""
    worker, scheduler = _exec_start("teichaku-worker@.service"), _exec_start("teichaku-scheduler.service")
    script = str(REPO_ROOT / "infra" / "scripts" / "teichaku-jobs.sh")
    assert worker[:2] == [script, "worker"] and scheduler == [script, "scheduler"]
    dev = _run_dev_commands()
    assert ["infra/scripts/teichaku-jobs.sh", "worker"] in dev and ["infra/scripts/teichaku-jobs.sh", "scheduler"] in dev
    compose = COMPOSE.read_text()
    assert '["infra/scripts/teichaku-jobs.sh", "worker"]' in compose
    assert '["infra/scripts/teichaku-jobs.sh", "scheduler"]' in compose
    for path in [*SYSTEMD.iterdir(), RUN_DEV, COMPOSE]:
        code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"\brq\b[\"', ]+cron", code), path


@contextlib.contextmanager
def _started(command: list[str], env: dict, log: Path):
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _queued_payloads(connection: redis.Redis, queue: str) -> dict[str, list]:
    """The queued jobs' data by function name, decoded as RQ's JSON serializer writes it (zlib +
    JSON): a pickled job would raise here, as it did in the worker."""
    payloads = {}
    for job_id in connection.lrange(f"rq:queue:{queue}", 0, -1):
        raw = connection.hget(f"rq:job:{job_id.decode()}", "data")
        payload = json.loads(zlib.decompress(raw))
        payloads[payload[0].rsplit(".", 1)[1]] = payload
    return payloads


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


@pytest.mark.slow
def test_the_deployed_scheduler_and_worker_run_every_periodic_job_json_serialised(app, world, tmp_path):
    from teichaku.workers import periodic
    from teichaku.workers.cron import PERIODIC_JOBS
    from teichaku.platform.jobs import QUEUE_NAME

    names = {p.name for p in PERIODIC_JOBS}
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    env = {**os.environ, "REDIS_URL": REDIS_TEST_URL, "TEICHAKU_TEST_CRON_RUN_ALL_AT_START": "1"}
    env.pop("RQ_CONFIG", None)
    # 1. the scheduler alone: every job is queued, as JSON
    with _started(_exec_start("teichaku-scheduler.service"), env, tmp_path / "scheduler.log") as scheduler:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not names <= set(_queued_payloads(connection, QUEUE_NAME)):
            assert scheduler.poll() is None, _tail(tmp_path / "scheduler.log")
            time.sleep(0.2)
        assert names <= set(_queued_payloads(connection, QUEUE_NAME)), _tail(tmp_path / "scheduler.log")
        # 2. a real worker, exactly as systemd starts it: each job completes once
        with _started(_exec_start("teichaku-worker@.service"), env, tmp_path / "worker.log") as worker:
            deadline = time.monotonic() + 45
            done: set[str] = set()
            while time.monotonic() < deadline and done != names:
                assert worker.poll() is None, _tail(tmp_path / "worker.log")
                done = {s.name for s in periodic.statuses(connection, QUEUE_NAME) if s.last_success}
                time.sleep(0.3)
    found = {s.name: s for s in periodic.statuses(connection, QUEUE_NAME)}
    assert done == names, (sorted(names - done), _tail(tmp_path / "worker.log"))
    assert all(s.last_failure is None for s in found.values()), _tail(tmp_path / "worker.log")
    assert "DeserializationError" not in (tmp_path / "worker.log").read_text()
    # 3. /healthz says when each succeeded, and nothing is overdue
    report = app.test_client().get("/healthz")
    assert report.status_code == 200
    jobs = report.get_json()["periodic_jobs"]
    assert jobs["overdue"] == [] and set(jobs["jobs"]) == names
    assert all(entry["last_success"] for entry in jobs["jobs"].values())


def test_the_test_only_start_up_run_is_ignored_in_production(monkeypatch):
    from teichaku.workers.scheduler import RUN_ALL_AT_START, run_all_at_start

    monkeypatch.setenv(RUN_ALL_AT_START, "1")
    monkeypatch.setenv("TEICHAKU_ENV", "development")
    assert run_all_at_start()
    monkeypatch.setenv("TEICHAKU_ENV", "production")
    assert not run_all_at_start()


def _record(connection, name: str, *, since: datetime | None = None, success: datetime | None = None,
            failure: datetime | None = None) -> None:
    from teichaku.workers import periodic
    from teichaku.platform.jobs import QUEUE_NAME

    fields = {"scheduled_since": since, "last_success": success, "last_failure": failure}
    mapping = {k: v.isoformat() for k, v in fields.items() if v}
    if failure:
        mapping["last_failure_kind"] = "OperationalError"
    connection.hset(periodic._key(QUEUE_NAME, name), mapping=mapping)


def test_a_job_without_success_for_twice_its_period_is_reported_overdue(make_app, world):
    from teichaku.workers.cron import PERIODIC_JOBS

    app = make_app(WTF_CSRF_ENABLED=False)
    now = datetime.now(timezone.utc)
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    for p in PERIODIC_JOBS:
        if p.name != "review_retention":
            _record(connection, p.name, since=now - timedelta(days=400), success=now - timedelta(seconds=50))
    # the outbox sweep runs every minute: 3 minutes without success is overdue, even though it
    # failed just now; the nightly rebuild's 30 hours are within twice a day
    _record(connection, "sweep_outbox", success=now - timedelta(minutes=3), failure=now - timedelta(seconds=10))
    _record(connection, "rebuild_rollups", success=now - timedelta(hours=30))
    # the monthly review never succeeded, but has been scheduled for only 40 days
    _record(connection, "review_retention", since=now - timedelta(days=40))
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200 and answer.get_json()["status"] == "ok"
    jobs = answer.get_json()["periodic_jobs"]
    assert jobs["overdue"] == ["sweep_outbox"]
    assert jobs["jobs"]["sweep_outbox"]["last_failure"] is not None
    assert jobs["jobs"]["review_retention"] == {"schedule": "45 20 1 * *", "last_success": None, "last_failure": None,
                                               "overdue": False}
    # the operator's page shows the same
    c = app.test_client()
    factories.sign_in(c, world.users["platform_admin"])
    page = c.get("/platform/jobs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    row = re.search(r'<tr data-job="sweep_outbox">(.*?)</tr>', html, re.S).group(1)
    assert "遅延" in row and "OperationalError" in row
    assert "遅延" not in re.search(r'<tr data-job="rebuild_rollups">(.*?)</tr>', html, re.S).group(1)


def test_a_job_no_scheduler_ever_scheduled_is_reported_overdue(app):
    """Nothing in Redis: no scheduler runs (as under `rq cron`'s broken jobs, nothing succeeds)."""
    jobs = app.test_client().get("/healthz").get_json()["periodic_jobs"]
    from teichaku.workers.cron import PERIODIC_JOBS

    assert jobs["overdue"] == [p.name for p in PERIODIC_JOBS]


def test_only_the_platform_admin_sees_the_periodic_jobs_page(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    for key in ("a_admin", "association", "ministry"):
        c = app.test_client()
        factories.sign_in(c, world.users[key])
        assert c.get("/platform/jobs").status_code == 403


def exploding_periodic_job() -> None:
    """A periodic job that fails (the failure record's test; never in the schedule)."""
    raise RuntimeError("田中一郎 090-0000-0000")  # a message that must never be recorded


def test_a_failing_periodic_job_records_its_failure_without_the_message(database):
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from teichaku.workers import periodic
    from teichaku.workers.scheduler import JsonCronJob

    connection = redis.Redis.from_url(REDIS_TEST_URL)
    queue = f"{os.environ['RQ_QUEUE']}-failing"
    JsonCronJob(queue_name=queue, func=exploding_periodic_job, cron="* * * * *").enqueue(connection)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
    schedule = [type("P", (), {"name": "exploding_periodic_job", "label": "x", "cron": "* * * * *"})()]
    (found,) = periodic.statuses(connection, queue, schedule=schedule)
    assert found.last_failure is not None and found.last_success is None
    assert found.last_failure_kind == "RuntimeError"
    stored = connection.hgetall(periodic._key(queue, "exploding_periodic_job"))
    assert not any("田中".encode() in value or b"090" in value for value in stored.values())
