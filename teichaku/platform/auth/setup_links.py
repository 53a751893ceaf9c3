"""One-time set-password links: signed tokens that name an account and the hash they replace.

Why here, in ``platform/auth``: the account services (a prefecture official's link, the setup
e-mail), the separation of duties and the invitations (``platform/handover/invitations.py``) all
make or check these links; the invitations create accounts with ``auth.services``, so the link
mechanism sits below both.  See the invitations' docstring for the token's design.
"""
from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from flask import current_app
from itsdangerous import URLSafeTimedSerializer

from .models import User

SALT = "teichaku.account-setup"
DEFAULT_HOURS = 72
SETUP_PATH = "/account/setup"


def serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


def setup_token(user: User) -> str:
    return serializer().dumps({"u": str(user.id), "p": fingerprint(user)})


def setup_url(user: User) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    return f"{base}{SETUP_PATH}?{urlencode({'token': setup_token(user)})}"


def lifetime_seconds() -> int:
    """``ACCOUNT_SETUP_HOURS`` from the app's configuration (``platform/config.py``)."""
    hours = current_app.config.get("ACCOUNT_SETUP_HOURS") or DEFAULT_HOURS
    return int(hours) * 3600
