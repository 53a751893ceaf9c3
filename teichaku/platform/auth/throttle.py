"""Sign-in throttling, per account and per IP (Flask-Limiter, counters in Redis).

Only failed attempts count (``g.signin_failed``); the limits come from configuration.  The
account key is a hash of the normalised e-mail, so no address is stored in Redis.
"""
from __future__ import annotations

import hashlib

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from ..extensions import limiter


def _account_key() -> str:
    payload = request.get_json(silent=True) if request.is_json else None
    email = (request.form.get("email") or (payload or {}).get("email") or "") if isinstance(payload or {}, dict) else ""
    if not isinstance(email, str):
        email = ""
    return "acct:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _failed(_response) -> bool:
    return bool(g.get("signin_failed"))


def throttled_signin(view):
    """Apply both sign-in limits to a view that sets ``g.signin_failed`` on failure."""
    # Shared limits: the page and the API token endpoint count against the same budget.
    view = limiter.shared_limit(lambda: current_app.config["SIGNIN_LIMIT_PER_ACCOUNT"], scope="signin-account",
                                key_func=_account_key, deduct_when=_failed)(view)
    view = limiter.shared_limit(lambda: current_app.config["SIGNIN_LIMIT_PER_IP"], scope="signin-ip",
                                key_func=get_remote_address, deduct_when=_failed)(view)
    return view
