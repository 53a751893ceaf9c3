"""Two people acting at the same moment: the tests' one way to stage a race.

``race`` starts ``first`` and stops it right after one step (``module.name``), while its
transaction still holds its row locks; then starts ``second``, and lets ``first`` go on (and
commit) only once ``second`` is waiting on one of those locks, or has already answered.  Both
answers come back; the rule under test decides what each must be: one wins, the other is refused
(409) or sees the winner's result, and nothing is done twice.

Nothing depends on how fast the machine is: no head start or pause is guessed, the order is
observed (PostgreSQL's ``pg_locks``), so the race runs the same way alone, after other tests or on
a busy machine.  On SQLite, which has no such view, ``first`` holds for ``pause`` seconds instead.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

TIMEOUT = 30  # seconds either side may take before the race counts as hung
WAITING_ON_A_LOCK = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE NOT l.granted AND a.datname = current_database() AND a.pid <> pg_backend_pid()")


def race(monkeypatch, calls: dict[str, Callable[[], Any]], first: str, second: str, *, module, name: str,
         pause: float = 0.5) -> dict[str, Any]:
    """Run ``calls[first]`` and ``calls[second]`` in two threads, ``second`` asking while ``first``
    holds the locks it took up to ``module.name``; the answers by key (an exception of either
    side is raised here)."""
    original = getattr(module, name)
    leader_ident: list[int] = []
    reached, second_done = threading.Event(), threading.Event()

    def slowly(*args, **kwargs):
        result = original(*args, **kwargs)
        if threading.get_ident() in leader_ident and not reached.is_set():
            reached.set()
            _hold_until_waited_on(second_done, pause)
        return result

    monkeypatch.setattr(module, name, slowly)
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def run(which: str) -> None:
        try:
            results[which] = calls[which]()
        except BaseException as error:  # raised again in the test's own thread below
            errors[which] = error

    def run_first() -> None:
        leader_ident.append(threading.get_ident())
        run(first)

    def run_second() -> None:
        try:
            run(second)
        finally:
            second_done.set()

    try:
        leader = threading.Thread(target=run_first)
        leader.start()
        deadline = time.monotonic() + TIMEOUT
        while not reached.wait(0.01) and leader.is_alive() and time.monotonic() < deadline:
            pass  # until the leader ran the step (it now holds its locks), or ended without it
        follower = threading.Thread(target=run_second)
        follower.start()
        leader.join(TIMEOUT)
        follower.join(TIMEOUT)
        assert not leader.is_alive() and not follower.is_alive(), "a side of the race hung (a deadlock?)"
    finally:
        monkeypatch.setattr(module, name, original)
    for which in (first, second):
        if which in errors:
            raise errors[which]
    return results


def _hold_until_waited_on(second_done: threading.Event, pause: float) -> None:
    """Keep the leader's transaction open until another session of the test database waits on a
    lock (the second side, blocked by the leader), or the second side has answered without one."""
    url = make_url(os.environ["DATABASE_URL"])  # the schema owner's, set by the ``database`` fixture
    if not url.drivername.startswith("postgresql"):
        second_done.wait(pause)
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + TIMEOUT
            while not second_done.is_set() and time.monotonic() < deadline:
                if conn.execute(WAITING_ON_A_LOCK).scalar():
                    return
                conn.rollback()  # a fresh snapshot of pg_locks at each look
                second_done.wait(0.02)
    finally:
        engine.dispose()
