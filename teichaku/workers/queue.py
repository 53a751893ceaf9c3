"""Enqueueing jobs: a real RQ queue when Redis answers, in-process execution when it does not.

``enqueue`` is the one way to start background work.  With Redis down in development, jobs run
at once in the calling process (RQ on fakeredis with ``is_async=False``), as the contract says.
"""
from __future__ import annotations

from flask import Flask, current_app
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from ..platform.redis_client import connection, redis_available

import os

# The queue's name; a test run uses its own (two runs may share one Redis database).
QUEUE_NAME = os.environ.get("RQ_QUEUE", "teichaku")


def init_app(app: Flask) -> None:
    app.extensions["teichaku_queue"] = None


def get_queue(app: Flask | None = None) -> Queue:
    app = app or current_app
    queue = app.extensions.get("teichaku_queue")
    if queue is None:
        if redis_available(app) and not app.config.get("JOBS_IN_PROCESS"):
            queue = Queue(QUEUE_NAME, connection=connection(app), serializer=JSONSerializer)
        else:
            import fakeredis

            queue = Queue(QUEUE_NAME, connection=fakeredis.FakeRedis(), serializer=JSONSerializer, is_async=False)
        app.extensions["teichaku_queue"] = queue
    return queue


def enqueue(func, *args, job_id: str | None = None, retries: int = 5, ttl: int | None = None):
    """Queue ``func(*args)``; args must be ids and plain values (JSON), never personal data.

    ``ttl``: seconds a job may wait in the queue before Redis drops it (for jobs whose work is
    recorded elsewhere, such as the notification outbox, which re-enqueues what was dropped)."""
    app = current_app._get_current_object()
    return get_queue(app).enqueue(
        func, *args, job_id=job_id, ttl=ttl,
        retry=Retry(max=retries, interval=[5, 15, 60, 300, 900]),
        failure_ttl=app.config["JOBS_FAILURE_TTL"],
        result_ttl=3600,
    )
