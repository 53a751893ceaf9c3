"""Server-rendered Japanese pages."""
from __future__ import annotations

from flask import Flask


def register_pages(app: Flask) -> None:
    from . import auth, cases, center_admin, dashboard, health, platform_admin

    for module in (health, auth, dashboard, center_admin, platform_admin, cases):
        app.register_blueprint(module.bp)
    app.context_processor(_layout_context)


def _layout_context() -> dict:
    from flask_login import current_user

    from ...platform.permissions import ROLE_LABELS, Role, can

    user = current_user if getattr(current_user, "is_authenticated", False) else None
    return {
        "can": (lambda capability: bool(user) and can(user.role, capability)),
        "role_label": ROLE_LABELS.get(Role(user.role)) if user else "",
        "current_center": user.center if user else None,
    }
