"""Server-side sessions and bearer tokens, wired into Flask-Login's request loader.

The browser cookie (Flask's signed session) holds only a random session token; the
``user_sessions`` row is the authority, so sign-out, disabling an account, deactivating a
center or changing a password ends the session at once.  Idle and absolute timeouts are
checked on every request.  The API takes bearer tokens only, never cookies.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app, g, request, session
from sqlalchemy import select

from ..extensions import db, login_manager
from ..models import utcnow
from ..permissions import CENTER_ROLES, Role
from ..tenancy import account_lookup, set_tenant
from .models import User, UserSession
from .services import sha256, user_for_api_token

TOUCH_EVERY = timedelta(seconds=60)


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def start_session(user: User) -> None:
    """A fresh session at sign-in: the old cookie's contents (and CSRF token) are dropped."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale  # the language choice survives sign-in; nothing else does
    raw = secrets.token_urlsafe(32)
    with account_lookup():
        db.session.add(UserSession(token_hash=sha256(raw), user_id=user.id, second_factor_done=user.two_factor_enabled))
    session["sid"] = raw
    session.permanent = False
    g.signed_in_user_id = str(user.id)  # the request log's user (platform/hooks.py)


def end_session() -> None:
    raw = session.get("sid")
    if raw:
        with account_lookup():
            row = db.session.get(UserSession, sha256(raw))
            if row and row.revoked_at is None:
                row.revoked_at = utcnow()
    session.clear()


def _user_from_cookie() -> User | None:
    raw = session.get("sid")
    if not raw:
        return None
    now = utcnow()
    cfg = current_app.config
    with account_lookup():
        row = db.session.get(UserSession, sha256(raw))
        if row is None or row.revoked_at is not None:
            return None
        if now - row.last_seen_at > cfg["SESSION_IDLE_TIMEOUT"] or now - row.created_at > cfg["SESSION_ABSOLUTE_TIMEOUT"]:
            row.revoked_at = now
            g.session_expired = True
            return None
        user = db.session.scalar(select(User).where(User.id == row.user_id))
        if user is None or not user.is_active:
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            row.last_seen_at = now
    g.user_session = row
    return user


def _user_from_bearer() -> User | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    found = user_for_api_token(header[7:].strip())
    if found is None:
        return None
    user, token = found
    g.api_token = token
    return user


@login_manager.request_loader
def load_user_from_request(_request) -> User | None:
    user = _user_from_bearer() if is_api_request() else _user_from_cookie()
    if user is not None:
        g.signed_in_user_id = str(user.id)  # the request log's user (platform/hooks.py)
        set_tenant(user.center_id if Role(user.role) in CENTER_ROLES else None)
    return user
