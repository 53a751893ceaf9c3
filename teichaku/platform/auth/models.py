"""Account tables.

``users`` carries a nullable ``center_id`` (staff and center admins belong to one center; the
other roles to none) and a nullable ``prefecture_code`` (a prefecture official, 都道府県の担当者,
belongs to a prefecture, JIS X 0401 "01".."47", never to a center: it confirms the figures of
every center of its prefecture, so no center may own, see or manage it).  The database checks
both pairings.  It is a platform table, not a tenant-owned one: the row level security policy
lets a tenant see its own accounts (a prefecture official, like the association's accounts, is
in no center's), and ``tenancy.account_lookup`` opens it for sign-in.  Sessions and tokens hang
off users and are stored hashed.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import AwareDateTime, utcnow


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('staff','center_admin','prefecture','association','ministry','platform_admin')",
            name="role",
        ),
        CheckConstraint(
            "(role IN ('staff','center_admin')) = (center_id IS NOT NULL)",
            name="center_matches_role",
        ),
        CheckConstraint(
            "(role = 'prefecture') = (prefecture_code IS NOT NULL)",
            name="prefecture_matches_role",
        ),
        CheckConstraint(
            "prefecture_code IS NULL OR (prefecture_code >= '01' AND prefecture_code <= '47')",
            name="prefecture_code",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    center_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("centers.id"), index=True)
    prefecture_code: Mapped[str | None] = mapped_column(String(2))  # JIS X 0401; prefecture officials only
    display_name: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    display_name_kana: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # refuses a replayed code
    two_factor_exempt: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # A center admin invited from the operator's pages: unusable (no sign-in, no token, no inbox)
    # until an association account confirms it (two people; see platform/auth/duties.py).
    awaiting_confirmation: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    password_changed_at = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    center = relationship("Center", lazy="joined")

    # Flask-Login protocol -------------------------------------------------------------
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        """May sign in and be served: enabled, confirmed, and its center (if any) active."""
        return self.is_enabled and not self.awaiting_confirmation

    @property
    def is_enabled(self) -> bool:
        """Enabled with an active center, confirmed or not (an invitee may set its password)."""
        return self.active and (self.center is None or self.center.active)

    def get_id(self) -> str:
        return str(self.id)

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None


class RecoveryCode(db.Model):
    __tablename__ = "recovery_codes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(AwareDateTime)


class UserSession(db.Model):
    """A signed-in browser.  The cookie holds only the random token; the row is the authority."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    last_seen_at = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    second_factor_done: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(AwareDateTime)


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    expires_at = mapped_column(AwareDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(AwareDateTime)


CONFIRMATION_KINDS = ("center_admin", "second_factor_reset")
CONFIRMATION_DECISIONS = ("confirmed", "refused", "withdrawn")


class AccountConfirmation(db.Model):
    """A change to an account that a second person, an association account, must confirm.

    ``center_admin``: a center admin invited from the operator's pages (first admin or in-place
    handover); the account stays unusable until confirmed.  ``second_factor_reset``: the
    operator asked to clear an account's lost second factor; nothing changes until confirmed.
    A platform table (ids and timestamps only, no ``center_id``): the services read it through
    ``account_lookup`` and the permission table decides who may.
    """

    __tablename__ = "account_confirmations"
    __table_args__ = (
        CheckConstraint("kind IN ('center_admin','second_factor_reset')", name="kind"),
        CheckConstraint("decision IS NULL OR decision IN ('confirmed','refused','withdrawn')", name="decision"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    requested_at = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(AwareDateTime)  # the set-password link's end
    password_set_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(AwareDateTime)

    user = relationship("User", foreign_keys=[user_id], lazy="joined")

    @property
    def status(self) -> str:
        """invited / password_set / confirmed / refused / withdrawn / expired (status only)."""
        if self.decision:
            return self.decision
        if self.kind == "center_admin" and self.password_set_at is None and self.expires_at and self.expires_at <= utcnow():
            return "expired"
        if self.kind == "center_admin":
            return "password_set" if self.password_set_at else "invited"
        return "pending"
