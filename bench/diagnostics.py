"""Where the time goes, measured next to the load: CPU seconds of the server processes, and what
the database backends are waiting on.

* ``ProcessCPU``: user+system CPU of a gunicorn master's workers and of the PostgreSQL backends
  connected to the bench database (``/proc``; Linux only, zeros elsewhere).  CPU per request is
  much less sensitive than req/s to other load on the machine.
* ``WaitSampler``: polls ``pg_stat_activity`` (as the superuser) every 50 ms and counts the
  active backends of the bench database by wait event (``CPU`` when not waiting), e.g.
  ``Lock:transactionid`` for backends queued behind a row lock.
"""
from __future__ import annotations

import os
import threading
from collections import Counter

import psycopg

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def _pids() -> list[int]:
    try:
        return [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return []


class ProcessCPU:
    def __init__(self, master_pid: int, db_name: str):
        self.master_pid, self.needle = master_pid, f" {db_name} ".encode()

    def _cpu(self, pids) -> float:
        total = 0
        for pid in pids:
            st = _stat(pid)
            if st:
                total += int(st[11]) + int(st[12])  # utime, stime
        return total / _TICK

    def snapshot(self) -> tuple[float, float]:
        """(CPU seconds of the gunicorn workers, of the bench database's backends) so far."""
        workers, backends = [], []
        for pid in _pids():
            st = _stat(pid)
            if st and int(st[1]) == self.master_pid:
                workers.append(pid)
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if self.needle in f.read().replace(b"\0", b" ") + b" ":
                        backends.append(pid)
            except OSError:
                pass
        return self._cpu(workers), self._cpu(backends)


class WaitSampler:
    def __init__(self, admin_url: str, db_name: str, interval: float = 0.05):
        self.admin_url, self.db_name, self.interval = admin_url, db_name, interval
        self.counts: Counter = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                while not self._stop.is_set():
                    rows = conn.execute(
                        "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity"
                        " WHERE datname = %s AND state = 'active' AND backend_type = 'client backend'",
                        (self.db_name,)).fetchall()
                    self.counts.update(r[0] for r in rows)
                    self.samples += 1
                    self._stop.wait(self.interval)
        except psycopg.Error:
            pass

    def __enter__(self) -> "WaitSampler":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def average_waits(samplers: list[WaitSampler]) -> dict:
    """Mean number of active backends per sample, by wait event (most frequent first)."""
    counts: Counter = Counter()
    samples = 0
    for s in samplers:
        counts.update(s.counts)
        samples += s.samples
    return {k: round(v / samples, 3) for k, v in counts.most_common(8)} if samples else {}
