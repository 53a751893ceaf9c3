"""Invitations: an account created without a password anyone knows, and a one-time link to set it.

The platform had no invitation mechanism (``users create`` takes a password).  A handover must
not have the platform admin choose the new center head's password, so the account is created
with a random secret nobody learns, and the invited person sets their own through
``/account/setup?token=...``.

The token is signed with the app's ``SECRET_KEY`` (itsdangerous) and carries the account id and
a fingerprint of its current password hash.  It therefore needs no table and is one-time by
construction: setting the password changes the hash, and the token no longer matches.  It
expires after ``ACCOUNT_SETUP_HOURS`` (default 72), and is void for a disabled account.  An
invitation made from the operator's pages (``auth/duties.py``) also ends at its recorded expiry
whenever the link was printed.  The link reaches the invitee by e-mail (``SMTP_HOST`` set) or
through the shell (``users invitation-link``, or ``centers handover`` which prints it); it is
never shown on the operator's pages.
"""
from __future__ import annotations

import secrets
import uuid

from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import select

from ..audit.services import record
from ..auth.models import AccountConfirmation, User
from ..auth.passwords import check_policy, hash_password
from ..auth.services import create_user, revoke_all_sessions
from ..auth.setup_links import fingerprint, lifetime_seconds, serializer, setup_url
from ..extensions import db
from ..models import utcnow
from ..tenancy import account_lookup


def invite_user(*, email: str, role: str, center_code: str | None, display_name: str = "") -> tuple[User, str]:
    """Create an account nobody can sign in to yet; returns it and its one-time setup URL."""
    user = create_user(email=email, password=secrets.token_urlsafe(32), role=role, center_code=center_code,
                       display_name=display_name)
    record("user.invite", object_type="user", object_id=user.id, center_id=user.center_id)
    return user, setup_url(user)


def user_for_token(token: str | None) -> User | None:
    """The account a valid, unexpired, unused token was issued for; None for anything else
    (one answer for every kind of failure)."""
    if not token or len(token) > 1000:
        return None
    try:
        payload = serializer().loads(token, max_age=lifetime_seconds())
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), str):
        return None
    with account_lookup():
        user = db.session.scalar(select(User).where(User.id == _uuid(payload["u"])))
    if user is None or not user.is_enabled or payload.get("p") != fingerprint(user):
        return None
    if _invitation_over(user):
        return None
    return user


def _open_invitation(user: User) -> AccountConfirmation | None:
    with account_lookup():
        return db.session.scalar(select(AccountConfirmation).where(
            AccountConfirmation.user_id == user.id, AccountConfirmation.kind == "center_admin")
            .order_by(AccountConfirmation.requested_at.desc()).limit(1))


def _invitation_over(user: User) -> bool:
    """The account's recorded invitation expired or was refused/withdrawn (a printed link then
    no longer works, whenever it was signed)."""
    invitation = _open_invitation(user)
    if invitation is None:
        return False
    return invitation.status in ("expired", "refused", "withdrawn")


def _uuid(value: str) -> uuid.UUID:
    """The id a (validly signed) token names; the nil id, which no account has, for garbage."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)


def complete_setup(user: User, password: str) -> None:
    """Set the invited account's password (the policy applies); the token is spent with it."""
    check_policy(password, email=user.email)
    with account_lookup():
        user.password_hash = hash_password(password)
        user.password_changed_at = utcnow()
        user.version += 1
        revoke_all_sessions(user)
        invitation = _open_invitation(user)
        if invitation is not None and invitation.password_set_at is None:
            invitation.password_set_at = utcnow()
        db.session.flush()
    record("user.password_setup", object_type="user", object_id=user.id, center_id=user.center_id)
