"""The notifications benchmark's driver: ``python -m bench.notifications_driver PHASE OUT [--k=v]``.

Runs in a process of its own (its environment names the bench database, Redis and this run's
queue) and emits events through the product's service, as the transfers service does: in the
sending center's scope, ``emit(...)`` then commit (the after-commit hook enqueues the delivery).

* ``steady --rate=R --seconds=S``: R events per second, each committed on its own, paced on a
  fixed schedule (no catch-up bursts beyond the schedule).
* ``burst --events=N``: N events in one transaction, one commit.

Writes ``{"event_ids": [...], "elapsed_s", "committed_at"}`` to OUT.
"""
from __future__ import annotations

import json
import random
import sys
import time
import uuid
from datetime import datetime, timezone


def main(argv: list[str]) -> int:
    phase, out = argv[0], argv[1]
    knobs = dict(a[2:].split("=", 1) for a in argv[2:])
    from teichaku.crosstenant.notifications.services import emit
    from teichaku.app import create_app
    from teichaku.platform.centers import list_centers
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import set_tenant

    app = create_app()
    rng = random.Random(20260401)
    event_ids: list[str] = []
    with app.app_context():
        centers = [c.id for c in list_centers()]
        db.session.commit()

        def one():
            sender, receiver = rng.sample(centers, 2)
            set_tenant(sender)
            event = emit("transfer_requested", to_center_id=receiver, transfer_id=uuid.uuid4())
            event_ids.append(str(event.id))

        started = time.perf_counter()
        if phase == "steady":
            rate, seconds = float(knobs.get("rate", 50)), float(knobs.get("seconds", 20))
            total = int(rate * seconds)
            for i in range(total):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                one()
                db.session.commit()
        elif phase == "burst":
            for _ in range(int(knobs.get("events", 1000))):
                one()
            db.session.commit()
        else:
            raise SystemExit(f"unknown phase {phase!r}")
        committed_at = datetime.now(timezone.utc)
        elapsed = time.perf_counter() - started
    with open(out, "w") as f:
        json.dump({"event_ids": event_ids, "elapsed_s": elapsed, "committed_at": committed_at.isoformat()}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
