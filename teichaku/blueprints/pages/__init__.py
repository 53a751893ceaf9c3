"""Server-rendered Japanese pages."""
from __future__ import annotations

import importlib
import pkgutil

from flask import Flask, abort, request
from flask_login import current_user

from ...platform import input_ranges
from ...platform.centers import prefecture_by_code
from ...platform.permissions import ROLE_LABELS, Role, can
from ...tenants.cases import lifecycle


def register_pages(app: Flask) -> None:
    """Register the ``bp`` of every module in this package (a new page module needs no wiring;
    its endpoints still need entries in the permission table, or they answer 403)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "bp"):
            app.register_blueprint(module.bp)
    app.context_processor(_layout_context)
    app.before_request(_refuse_bad_query_text)
    app.jinja_env.globals["L"] = lifecycle  # label tables, usable inside imported macros too


def _refuse_bad_query_text() -> None:
    """A page's query string keeps to the input ranges' text rule too (forms check their own
    fields, ``forms.RangedForm``; some pages read a query argument directly): a NUL is a 422."""
    if not request.path.startswith("/api/") and input_ranges.text_problems(request.args):
        abort(422)


def _layout_context() -> dict:
    user = current_user if getattr(current_user, "is_authenticated", False) else None
    return {
        "can": (lambda capability: bool(user) and can(user.role, capability)),
        "role_label": ROLE_LABELS.get(Role(user.role)) if user else "",
        "current_center": user.center if user else None,
        # a prefecture official belongs to a prefecture, not a center: the header names it
        "current_prefecture": prefecture_by_code(user.prefecture_code) if user and user.prefecture_code else None,
    }
