"""Starting and stopping gunicorn servers for a benchmark (127.0.0.1 only)."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .config import ROOT, VENV_BIN

# The product's runtime variables: never inherited from the caller's shell (as ``make bench``).
RUNTIME_VARS = ("DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TEICHAKU_ENV", "PORT",
                "GUNICORN_BIND", "GUNICORN_WORKERS")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, app: str, env: dict, log_path: Path, workers: int):
        self.name, self.app, self.log_path = name, app, log_path
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in RUNTIME_VARS}
        self.env.update(env)
        self.env["GUNICORN_WORKERS"] = str(workers)
        self.proc: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        # Same settings file for every server; the command line overrides the bind and sends the
        # access log to /dev/null (gunicorn: command line > config file).
        return [str(VENV_BIN / "gunicorn"), "--config", str(ROOT / "infra" / "gunicorn.conf.py"),
                "--bind", f"127.0.0.1:{self.port}", "--access-logfile", "/dev/null",
                # gunicorn 27 listens on a control socket at a fixed path (~/.gunicorn/gunicorn.ctl)
                # by default: two servers (or a test run's) would fight over it.
                "--no-control-socket", self.app]

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def wait_ready(self, path: str = "/healthz", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                if resp.status == 200:
                    return
                last = f"{resp.status} {body[:200]!r}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: not ready after {timeout:.0f}s ({last})\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the master we started (it stops its workers); SIGKILL its group if stuck."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start the servers together, wait until each answers, stop them all on the way out."""
    try:
        for s in servers:
            s.start()
        for s in servers:
            s.wait_ready()
        yield servers
    finally:
        for s in servers:
            s.stop()
