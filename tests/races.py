"""Two people acting at the same moment: the tests' one way to stage a race.

``race`` starts ``first`` with one step of it slowed down (``module.name`` pauses right after it
ran, while the caller's transaction still holds its row locks), then starts ``second`` during that
pause, and returns both answers.  The rule under test decides what each answer must be: one wins,
the other is refused (409) or sees the winner's result, and nothing is done twice.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable


def race(monkeypatch, calls: dict[str, Callable[[], Any]], first: str, second: str, *, module, name: str,
         pause: float = 0.5, head_start: float = 0.2) -> dict[str, Any]:
    original = getattr(module, name)

    def slowly(*args, **kwargs):
        result = original(*args, **kwargs)
        time.sleep(pause)
        return result

    monkeypatch.setattr(module, name, slowly)
    results: dict[str, Any] = {}

    def run(which: str) -> None:
        results[which] = calls[which]()

    try:
        leader = threading.Thread(target=run, args=(first,))
        leader.start()
        time.sleep(head_start)
        follower = threading.Thread(target=run, args=(second,))
        follower.start()
        leader.join(30)
        follower.join(30)
    finally:
        monkeypatch.setattr(module, name, original)
    return results
