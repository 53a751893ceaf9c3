"""Background jobs: a real ``rq worker`` subprocess when Redis answers, in-process when not."""
from __future__ import annotations

import os
import subprocess
from datetime import timedelta

import pytest
import redis
from sqlalchemy import text

from teichaku.platform.models import utcnow
from tests import factories
from tests.conftest import REDIS_TEST_URL
from tests.crossprocess import REPO_ROOT, VENV_BIN


def _old_session(owner_engine, app, world):
    c = app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    with owner_engine.begin() as conn:
        conn.execute(text("update user_sessions set created_at = :t"), {"t": utcnow() - timedelta(days=3)})


def _count_sessions(owner_engine) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text("select count(*) from user_sessions")).scalar()


@pytest.mark.slow
def test_a_real_rq_worker_runs_jobs_with_the_json_serializer(make_app, world, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    _old_session(owner_engine, app, world)
    from teichaku.workers.jobs import purge_expired_sessions
    from teichaku.platform.jobs import enqueue

    with app.app_context():
        job = enqueue(purge_expired_sessions)
    raw = redis.Redis.from_url(REDIS_TEST_URL).hget(f"rq:job:{job.id}", "data")
    import json
    import zlib

    payload = json.loads(zlib.decompress(raw))  # RQ's JSON serializer (zlib-compressed), never pickle
    assert payload[0] == "teichaku.workers.jobs.purge_expired_sessions" and payload[2] == []
    result = subprocess.run(
        [str(VENV_BIN / "rq"), "worker", "--burst", "-u", REDIS_TEST_URL, "-w", "teichaku.workers.worker.TeichakuWorker",
         "--serializer", "json", os.environ["RQ_QUEUE"]],
        cwd=REPO_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _count_sessions(owner_engine) == 0, (result.stdout + result.stderr)[-3000:]
    job.refresh()
    assert job.get_status() == "finished"


def test_jobs_run_in_process_when_redis_does_not_answer(make_app, world, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False, REDIS_AVAILABLE=False)
    _old_session(owner_engine, app, world)
    from teichaku.workers.jobs import purge_expired_sessions
    from teichaku.platform.jobs import enqueue

    with app.app_context():
        enqueue(purge_expired_sessions)
    assert _count_sessions(owner_engine) == 0


def test_jobs_carry_no_personal_data(make_app):
    """Job arguments must be ids or plain values: the periodic list has none at all."""
    from teichaku.workers import cron  # noqa: F401 - registering is the check that it imports

    app = make_app()
    assert app.config["JOBS_FAILURE_TTL"] <= 7 * 24 * 3600
