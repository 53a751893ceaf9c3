"""Background-job plumbing: the queue, ``enqueue`` and the ``job`` decorator.

A platform service: the domain services below the workers (notifications, aggregates) start jobs
and define job functions, so the plumbing sits under them all.  The job functions of the
platform and the tenants and the periodic schedule live in ``teichaku.workers``, above.

``enqueue`` is the one way to start background work.  With Redis down in development, jobs run
at once in the calling process (RQ on fakeredis with ``is_async=False``), as the contract says.

A job runs in an app context of its own.  In a worker process that app is built once, by the
factory the composition layer names with ``use_app_factory`` (``teichaku.workers.context``, which
the worker class imports): the platform never imports the app factory, which sits above it.
"""
from __future__ import annotations

import functools
import os
from typing import Callable

import fakeredis
from flask import Flask, current_app, has_app_context
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from .extensions import db
from .redis_client import connection, redis_available
from .transaction import transactional

# The queue's name; a test run uses its own (two runs may share one Redis database).
QUEUE_NAME = os.environ.get("RQ_QUEUE", "teichaku")

_app_factory: Callable[[], Flask] | None = None
_app: Flask | None = None


def init_app(app: Flask) -> None:
    app.extensions["teichaku_queue"] = None


def get_queue(app: Flask | None = None) -> Queue:
    app = app or current_app
    queue = app.extensions.get("teichaku_queue")
    if queue is None:
        if redis_available(app) and not app.config.get("JOBS_IN_PROCESS"):
            queue = Queue(QUEUE_NAME, connection=connection(app), serializer=JSONSerializer)
        else:
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


def use_app_factory(factory: Callable[[], Flask]) -> None:
    """Name how this process builds the app its jobs run in (called by the composition layer)."""
    global _app_factory
    _app_factory = factory


def worker_app() -> Flask:
    """The Flask app of this worker process (built once, as the application role).

    Raises ``RuntimeError`` when no factory was named: run workers with the worker class
    ``teichaku.workers.worker.TeichakuWorker``, which names it."""
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        if _app_factory is None:
            raise RuntimeError("no app factory for jobs: run rq worker with -w teichaku.workers.worker.TeichakuWorker")
        _app = _app_factory()
    return _app


def job(func):
    """Run ``func`` in an app context with its own session, inside the transaction boundary (it
    commits once when the job ends, rolls back when it raises); the job sets its tenant itself."""
    bounded = transactional(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():  # in-process execution (development without Redis, tests)
            return bounded(*args, **kwargs)
        with worker_app().app_context():
            try:
                return bounded(*args, **kwargs)
            finally:
                db.session.remove()

    return wrapper
