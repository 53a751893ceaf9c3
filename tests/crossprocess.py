"""Helpers for tests that cross processes: a real gunicorn serving ``wsgi:app``.

Not a test module.  Use the context manager directly::

    with serve_gunicorn() as base_url:
        ...

or the function-scoped fixture, imported into a test module::

    from tests.crossprocess import live_server  # noqa: F401

The server inherits ``os.environ``, which holds this run's DATABASE_URL, REDIS_URL, SECRET_KEY,
TEICHAKU_INSTANCE and APP_DB_ROLE once the ``database`` fixture has run, so it serves the same
database (as the application role) that the in-process fixtures write to.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
GUNICORN = VENV_BIN / "gunicorn"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, limit: int = 8000) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-limit:]


def _healthz_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (graceful) to the master; SIGKILL its process group if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # The group is the one this helper created (start_new_session), so only gunicorn's
        # master and its workers are in it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def serve_gunicorn(port: int | None = None, *, extra_env: dict | None = None) -> Iterator[str]:
    """Start ``gunicorn --config infra/gunicorn.conf.py ... wsgi:app`` from the repository root,
    wait for ``/healthz`` to answer 200, yield the base URL, and stop the server at exit."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = os.environ.copy()
    if extra_env:
        env.update(extra_env)
    command = [
        str(GUNICORN), "--config", "infra/gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "wsgi:app",
    ]
    with tempfile.TemporaryDirectory(prefix="teichaku-gunicorn-") as logs:
        out_path, err_path = Path(logs) / "stdout.log", Path(logs) / "stderr.log"
        # Files, not pipes: nobody reads the pipes while the tests run, and a full pipe would
        # block the server's access log.
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            status = None
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"gunicorn exited with code {process.returncode} before /healthz answered.\n"
                        f"--- stderr ---\n{_tail(err_path)}\n--- stdout ---\n{_tail(out_path)}",
                        pytrace=False,
                    )
                status = _healthz_status(base_url + "/healthz")
                if status == 200:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"gunicorn did not answer 200 on /healthz within {STARTUP_TIMEOUT:.0f} s "
                        f"(last status: {status}).\n--- stderr ---\n{_tail(err_path)}",
                        pytrace=False,
                    )
                time.sleep(0.1)
            yield base_url
        finally:
            _stop(process)


@pytest.fixture()
def live_server(database) -> Iterator[str]:
    """A gunicorn serving this run's database; yields its base URL (``http://127.0.0.1:PORT``).

    Function-scoped: the server stops before ``clean_state`` truncates the tables, so no
    worker connection holds a lock the truncation waits for."""
    with serve_gunicorn() as base_url:
        yield base_url
