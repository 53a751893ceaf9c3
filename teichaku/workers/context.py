"""Running a job inside the app: one app per worker process, a fresh session per job."""
from __future__ import annotations

import functools
import os

from ..platform.extensions import db

_app = None


def worker_app():
    """The Flask app of this worker process (built once, as the application role)."""
    global _app
    if _app is None:
        from flask import current_app, has_app_context

        if has_app_context():
            return current_app._get_current_object()
        from ..app import create_app

        _app = create_app()
    return _app


def job(func):
    """Run ``func`` in an app context with its own session; the job sets its tenant itself."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from flask import has_app_context

        if has_app_context():  # in-process execution (development without Redis, tests)
            return func(*args, **kwargs)
        with worker_app().app_context():
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return wrapper


def dispose_engine_after_fork() -> None:
    """Called in each forked work horse: connections must never cross a fork."""
    app = worker_app()
    with app.app_context():
        db.engine.dispose(close=False)
    os.environ.setdefault("TEICHAKU_WORK_HORSE", "1")
