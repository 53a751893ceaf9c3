"""A worker process's app: built once per process by the app factory, which the job plumbing
(``platform.jobs``, below) cannot import; this module names the factory to it.

Imported by the worker class (``workers.worker``), so every ``rq worker -w
teichaku.workers.worker.TeichakuWorker`` process can run jobs.
"""
from __future__ import annotations

import os

from ..app import create_app
from ..platform import jobs
from ..platform.extensions import db
from ..platform.jobs import worker_app

jobs.use_app_factory(create_app)

__all__ = ["dispose_engine_after_fork", "worker_app"]


def dispose_engine_after_fork() -> None:
    """Called in each forked work horse: connections must never cross a fork."""
    app = worker_app()
    with app.app_context():
        db.engine.dispose(close=False)
    os.environ.setdefault("TEICHAKU_WORK_HORSE", "1")
