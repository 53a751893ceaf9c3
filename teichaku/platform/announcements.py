"""Announcements: how the platform puts an event into the cross-tenant outbox.

The outbox, its kinds (with the inbox's Japanese text), the inboxes and the delivery live in
``crosstenant/notifications``: the kinds name transfers, case studies and retention reviews,
which the platform knows nothing of.  Yet the account duties (``platform/auth/duties.py``) must
announce a new center admin, a change waiting for the association's confirmation and a reset
second factor, written like every other event: one outbox row in the caller's transaction.

So the platform holds only this seam and the app factory names the writer
(``use_announcer(emit)`` in ``teichaku/app.py``), as it names the audit writer of
``tenancy.cross_tenant``.  Without a writer ``announce`` refuses: an announcement is never
dropped silently, and nothing is announced outside an app built by the factory.
"""
from __future__ import annotations

import uuid
from typing import Callable

# The outbox writer (``crosstenant.notifications.services.emit``), named by the app factory.
_announcer: Callable[..., object] | None = None


def use_announcer(writer: Callable[..., object]) -> None:
    """Name the outbox writer (the app factory does, once per process)."""
    global _announcer
    _announcer = writer


def announce(kind: str, *, to_center_id: uuid.UUID | None = None, to_association: bool = False,
             to_user_id: uuid.UUID | None = None) -> None:
    """Write one outbox event of ``kind`` in the caller's open transaction (no commit).

    Raises ``RuntimeError`` when no writer was named (see the module doc)."""
    if _announcer is None:
        raise RuntimeError("announce has no outbox writer: build the app with teichaku.app.create_app")
    _announcer(kind, to_center_id=to_center_id, to_association=to_association, to_user_id=to_user_id)
