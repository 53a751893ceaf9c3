"""Notifications of cross-tenant events: a transactional outbox, RQ delivery, inboxes, e-mail.

* ``services.emit(kind, to_center_id=..., to_association=..., transfer_id=...)`` writes one row
  of ``outbox_events`` in the caller's transaction.  After the commit a flush hook (installed by the app factory) enqueues
  ``delivery.deliver_event(event_id)``; if Redis is down the row waits for the sweep.
* ``delivery.deliver_event`` resolves the recipients, writes one ``notifications`` row per
  recipient (unique per event and recipient, so a second run is a no-op) and marks the event
  delivered, in one transaction; then sends e-mail (links only, at-least-once).
* ``delivery.sweep_outbox`` (every minute, ``workers/cron.py``) re-enqueues whatever is not
  delivered: the outbox, not Redis, is the source of truth.
"""
