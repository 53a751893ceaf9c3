"""Sign-in throttling, per account and per IP (Flask-Limiter, counters in Redis).

Only failed attempts count (``g.signin_failed``); the limits come from configuration.

Why it is shaped this way (issue #12):
- The account bucket is keyed on the account the attempt reaches: the address normalised by
  ``services.signin_address``, the very function the account lookup uses (so six spellings of one
  address share one bucket), and on the second-factor step the pending account itself.  The key
  is a hash, so no address is stored in Redis.
- An attempt that names no account (blank, junk) has no account bucket at all: one shared
  "empty address" bucket would let five such failures lock everyone out.  It still spends the
  per-IP budget.
- Only POSTs are limited: the sign-in pages always render (a GET never spends anything, and a
  429 there would lock out people who merely share an account name or an office's address).
"""
from __future__ import annotations

import hashlib
from typing import Callable

from flask import current_app, g, request, session
from flask_limiter.util import get_remote_address

from ..extensions import limiter
from . import services

LIMITED_METHODS = ["POST"]


def _hashed(address: str) -> str:
    return "acct:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def _attempted_email() -> object:
    """The ``email`` of the form or of the JSON body (whatever type it has)."""
    if request.is_json:
        payload = request.get_json(silent=True)
        return payload.get("email") if isinstance(payload, dict) else None
    return request.form.get("email")


def address_account_key() -> str | None:
    """The account bucket of a password attempt: the address as the lookup resolves it."""
    address = services.signin_address(_attempted_email())
    return _hashed(address) if address else None


def pending_account_key() -> str | None:
    """The account bucket of the second-factor step: the account whose password was given.

    Same key as that account's password attempts (its stored address is already normalised),
    so codes guessed on the page and on the API spend one budget."""
    pending = session.get("pending_2fa")
    user = services.pending_user(pending.get("user_id")) if isinstance(pending, dict) else None
    return _hashed(user.email) if user is not None else None


def _cached(key_func: Callable[[], str | None]) -> Callable[[], str | None]:
    """Compute the key once per request (the exemption check and the limit both ask for it)."""
    def key() -> str | None:
        if "signin_account_key" not in g:
            g.signin_account_key = key_func()
        return g.signin_account_key
    return key


def _failed(_response) -> bool:
    return bool(g.get("signin_failed"))


def throttled_signin(view=None, *, account_key: Callable[[], str | None] = address_account_key):
    """Apply both sign-in limits to a view that sets ``g.signin_failed`` on failure.

    ``account_key`` names the account bucket (None: the attempt names no account, only the
    per-IP budget applies)."""
    def decorate(view):
        key = _cached(account_key)
        # Shared limits: the page and the API token endpoint count against the same budget.
        view = limiter.shared_limit(lambda: current_app.config["SIGNIN_LIMIT_PER_ACCOUNT"], scope="signin-account",
                                    key_func=lambda: key() or "", exempt_when=lambda: request.method not in LIMITED_METHODS or key() is None,
                                    methods=LIMITED_METHODS, deduct_when=_failed)(view)
        view = limiter.shared_limit(lambda: current_app.config["SIGNIN_LIMIT_PER_IP"], scope="signin-ip",
                                    key_func=get_remote_address, methods=LIMITED_METHODS, deduct_when=_failed)(view)
        return view
    return decorate(view) if view is not None else decorate
