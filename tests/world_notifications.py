"""Notifications in the test world: center B's staff has a delivered notification, and what the
isolation sweep needs to reach ``notifications.*``, ``deliveries.*`` and ``api_notifications.*``."""
from __future__ import annotations

from sqlalchemy import select

from teichaku.crosstenant.notifications.delivery import deliver
from teichaku.crosstenant.notifications.models import Notification
from teichaku.crosstenant.notifications.services import emit
from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import cross_tenant, set_tenant


def extend_world(app, world) -> None:
    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        event = emit("transfer_requested", to_center_id=center_by_code("osaka").id)
        db.session.commit()
        event_id = event.id
    with app.app_context():  # delivery runs like a job: its own context, no tenant
        assert deliver(event_id) == "delivered"
    with app.app_context():
        with cross_tenant("tests.world"):
            notification_id = db.session.scalar(select(Notification.id).where(
                Notification.event_id == event_id, Notification.recipient_user_id == world.users["b_staff"]["id"]))
        db.session.commit()
    assert notification_id is not None
    world.objects["notification_b"] = {"id": notification_id, "event_id": event_id}


TENANT_PARAMS = {
    "notification_id": lambda w: str(w.objects["notification_b"]["id"]),
    # a delivered event: the retry button answers 404 for it, as for a random id
    "event_id": lambda w: str(w.objects["notification_b"]["event_id"]),
}

API_BODIES = {
    "api_notifications.mark_read": {},
}

PAGE_BODIES = {
    "notifications.read": {},
    "notifications.read_all": {},
    "notifications.preferences": {"email_notifications": "y"},
    "deliveries.retry": {},
}
