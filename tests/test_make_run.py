"""`make run`'s script on a bare set-up: SQLite by default, worker and scheduler when Redis answers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import REDIS_TEST_URL
from tests.crossprocess import REPO_ROOT, free_port


def _run_dev(tmp_path, redis_url):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_DATABASE_URL", "TEICHAKU_ENV")}
    port = free_port()
    env.update({"TEICHAKU_INSTANCE": str(tmp_path / "instance"), "REDIS_URL": redis_url, "PORT": str(port), "GUNICORN_WORKERS": "1"})
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(["infra/scripts/run-dev.sh"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, port, log


def _wait_healthy(port, proc, log, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, open(log.name).read()[-4000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return response.status, response.read().decode()
        except OSError:
            time.sleep(0.5)
    pytest.fail("make run never answered /healthz:\n" + open(log.name).read()[-4000:])


def _stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_make_run_serves_sqlite_with_a_worker_and_the_scheduler(tmp_path, database):
    proc, port, log = _run_dev(tmp_path, REDIS_TEST_URL)
    try:
        status, body = _wait_healthy(port, proc, log)
        assert status == 200 and '"database":"ok"' in body.replace(" ", "")
        output = open(log.name).read()
        assert "worker and scheduler started" in output
        assert "staff@tokyo.demo.teichaku.jp" in output  # how to sign in is printed
        assert (tmp_path / "instance" / "teichaku.sqlite3").exists()
        # the scheduler really runs: it marks every periodic job as scheduled (none overdue)
        deadline = time.time() + 30
        while time.time() < deadline:
            _, body = _wait_healthy(port, proc, log)
            if json.loads(body)["periodic_jobs"]["overdue"] == []:
                break
            time.sleep(0.5)
        assert json.loads(body)["periodic_jobs"]["overdue"] == [], open(log.name).read()[-4000:]
    finally:
        _stop(proc)


@pytest.mark.slow
def test_make_run_without_redis_warns_once_and_runs_jobs_in_process(tmp_path, database):
    proc, port, log = _run_dev(tmp_path, "redis://127.0.0.1:1/0")
    try:
        status, body = _wait_healthy(port, proc, log)
        assert status == 200 and "not_used" in body
        output = open(log.name).read()
        assert output.count("WARNING: Redis does not answer") == 1
    finally:
        _stop(proc)
