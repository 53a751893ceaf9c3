"""Separation of duties: what one person may not do alone.

* The web operator (``platform_admin``) never chooses a center admin's password and never sees
  its set-password link.  It *invites* a center's first admin (refused while the center has a
  usable admin or a live invitation); the link goes to the invitee by e-mail when ``SMTP_HOST``
  is set, otherwise only the shell prints it (``flask --app wsgi users invitation-link EMAIL``).
  The invited account stays unusable (no sign-in, no token, no inbox) until an association
  account confirms it.  The web in-place handover invites the new head the same way.
* Every new center admin (invitation, handover, the center admin's own user management, the
  CLI) is announced in the inbox of the association and of the center's admins.
* A lost second factor: a center admin resets its own center's staff; any other account is reset
  by the operator's request *and* an association account's confirmation.  Audited and announced
  to the account itself.

The shell (``users create``, ``centers handover``) is the hosting operator's trust boundary:
whoever has it has the database, so those commands do not wait for a confirmation.

Services flush and audit; the caller (view, CLI) owns the transaction.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from ..announcements import announce
from ..audit.services import record
from ..centers import Center
from ..extensions import db
from ..handover.invitations import invite_user
from ..mail import fixed_message, send_now
from ..models import utcnow
from ..permissions import Role
from ..tenancy import account_lookup
from .models import AccountConfirmation, RecoveryCode, User
from .services import normalize_email, revoke_all_sessions
from .setup_links import setup_url

CENTER_ADMIN = "center_admin"
SECOND_FACTOR_RESET = "second_factor_reset"

INVITATION_SUBJECT = "【Teichaku】センター長（管理者）アカウントへの招待"
INVITATION_BODY = (
    "Teichaku のセンター長（管理者）アカウントに招待されました。\n"
    "次のリンクを開いて、ご自身でパスワードを設定してください（一度だけ有効です）。\n"
    "\n"
    "{link}\n"
    "\n"
    "パスワードの設定後、全国協議会がアカウントを確認するとログインできるようになります。\n"
    "心当たりのない場合は、このメールを破棄してください。返信はできません。\n"
)

STATUS_LABELS = {
    "invited": "招待済み（パスワード未設定）",
    "password_set": "パスワード設定済み（全国協議会の確認待ち）",
    "pending": "全国協議会の確認待ち",
    "confirmed": "確認済み",
    "refused": "確認されませんでした",
    "withdrawn": "取り消し",
    "expired": "期限切れ",
}


class DutyError(ValueError):
    """A refused request; the message is Japanese and safe to show."""


# --- invitations of center admins -------------------------------------------------------------

def _live_invitations(center: Center) -> list[AccountConfirmation]:
    with account_lookup():
        rows = db.session.scalars(
            select(AccountConfirmation).join(User, User.id == AccountConfirmation.user_id)
            .where(AccountConfirmation.kind == CENTER_ADMIN, AccountConfirmation.decision.is_(None),
                   User.center_id == center.id)).all()
    return list(rows)


def has_usable_admin(center: Center) -> bool:
    """An enabled, confirmed center admin exists (the center is not waiting for a first admin)."""
    with account_lookup():
        return db.session.scalar(select(User.id).where(
            User.center_id == center.id, User.role == Role.CENTER_ADMIN.value, User.active.is_(True),
            User.awaiting_confirmation.is_(False)).limit(1)) is not None


def invite_first_admin(center: Center, *, email: str, display_name: str, actor: User) -> User:
    """The operator invites a center's first admin (see the module doc).  Refused while the center
    has a usable admin or a live invitation; an expired invitation is withdrawn first."""
    if has_usable_admin(center):
        raise DutyError("このセンターには有効なセンター長（管理者）がいます。追加はセンター長自身が行います。")
    for invitation in _live_invitations(center):
        if invitation.status != "expired":
            raise DutyError("このセンターには確認待ちの招待があります。期限切れになるか、全国協議会が判断するまで待ってください。")
        _withdraw(invitation, actor)
    user, _url = invite_user(email=email, role=Role.CENTER_ADMIN.value, center_code=center.code,
                             display_name=display_name)
    hold_for_confirmation(user, actor=actor)
    return user


def hold_for_confirmation(user: User, *, actor: User | None) -> AccountConfirmation:
    """Make a just-invited center admin wait for an association account's confirmation; announce it."""
    hours = int(current_app.config.get("ACCOUNT_SETUP_HOURS") or 72)
    with account_lookup():
        user.awaiting_confirmation = True
        confirmation = AccountConfirmation(kind=CENTER_ADMIN, user_id=user.id, requested_by_id=getattr(actor, "id", None),
                                           requested_at=utcnow(), expires_at=utcnow() + timedelta(hours=hours))
        db.session.add(confirmation)
        db.session.flush()
    record("user.confirmation_requested", object_type="user", object_id=user.id, center_id=user.center_id,
           details={"kind": CENTER_ADMIN})
    announce_center_admin(user)
    return confirmation


def announce_center_admin(user: User) -> None:
    """Every new center admin reaches the inbox of the association and of its center's admins
    (ids and a kind only in the outbox row)."""
    if user.role != Role.CENTER_ADMIN.value or user.center_id is None:
        return
    announce("center_admin_added", to_center_id=user.center_id, to_association=True)


def send_invitation(user: User) -> bool:
    """E-mail the invitee its one-time link when ``SMTP_HOST`` is set (call after the commit).
    False when there is no SMTP: the shell then prints the link (``users invitation-link``)."""
    if not current_app.config.get("SMTP_HOST"):
        return False
    send_now(fixed_message(user.email, INVITATION_SUBJECT, INVITATION_BODY.format(link=setup_url(user))))
    record("user.invitation_sent", object_type="user", object_id=user.id, center_id=user.center_id)
    return True


def invitation_link(email: str) -> str:
    """The set-password link of a pending invitation, for the shell only (``users
    invitation-link``).  Refused for anything but an invited account that has not set its
    password and whose invitation has not expired."""
    email = normalize_email(email)
    with account_lookup():
        user = db.session.scalar(select(User).where(User.email == email))
        invitation = db.session.scalar(select(AccountConfirmation).where(
            AccountConfirmation.user_id == user.id, AccountConfirmation.kind == CENTER_ADMIN,
            AccountConfirmation.decision.is_(None))) if user else None
    if user is None or invitation is None or invitation.status != "invited" or not user.is_enabled:
        raise DutyError("このアドレスには有効な招待がありません（パスワード設定済み、期限切れ、または招待されていません）。")
    record("user.invitation_link_shown", object_type="user", object_id=user.id, center_id=user.center_id,
           details={"via": "cli"})
    return setup_url(user)


def invitations_of_center(center: Center) -> list[AccountConfirmation]:
    """The center's invitations, newest first, for the operator's page (status only)."""
    with account_lookup():
        return list(db.session.scalars(
            select(AccountConfirmation).join(User, User.id == AccountConfirmation.user_id)
            .where(AccountConfirmation.kind == CENTER_ADMIN, User.center_id == center.id)
            .order_by(AccountConfirmation.requested_at.desc())))


def open_invitation(user: User) -> AccountConfirmation | None:
    """The undecided center-admin confirmation of an account, if any."""
    with account_lookup():
        return db.session.scalar(select(AccountConfirmation).where(
            AccountConfirmation.user_id == user.id, AccountConfirmation.kind == CENTER_ADMIN,
            AccountConfirmation.decision.is_(None)))


def _withdraw(invitation: AccountConfirmation, actor: User | None) -> None:
    with account_lookup():
        invitation.decision = "withdrawn"
        invitation.decided_at = utcnow()
        invitation.decided_by_id = getattr(actor, "id", None)
        invitation.user.active = False
        invitation.user.version += 1
        revoke_all_sessions(invitation.user)
        db.session.flush()
    record("user.invitation_withdrawn", object_type="user", object_id=invitation.user_id,
           center_id=invitation.user.center_id)


# --- second factor: reset -----------------------------------------------------------------------

def reset_staff_second_factor(user: User, actor: User) -> None:
    """A center admin resets the lost second factor of a staff member of its own center."""
    if user.role != Role.STAFF.value or user.center_id != actor.center_id or user.id == actor.id:
        raise DutyError("センター長がリセットできるのは、自センターの職員の二要素認証だけです。")
    if not user.two_factor_enabled:
        raise DutyError("このアカウントは二要素認証を使っていません。")
    clear_second_factor(user, actor_id=actor.id, confirmed_by_id=None)


def request_second_factor_reset(email: str, actor: User) -> AccountConfirmation:
    """The operator asks to reset the second factor of a non-staff account; an association
    account must confirm before anything changes."""
    try:
        email = normalize_email(email)
    except ValueError as exc:
        raise DutyError(str(exc)) from exc
    with account_lookup():
        user = db.session.scalar(select(User).where(User.email == email))
    if user is None or not user.two_factor_enabled:
        raise DutyError("二要素認証を使っているアカウントが見つかりません。")
    if user.role == Role.STAFF.value:
        raise DutyError("センター職員の二要素認証は、そのセンターのセンター長がリセットします。")
    if user.id == actor.id:
        raise DutyError("自分自身の二要素認証のリセットは依頼できません。")
    with account_lookup():
        pending = db.session.scalar(select(AccountConfirmation.id).where(
            AccountConfirmation.user_id == user.id, AccountConfirmation.kind == SECOND_FACTOR_RESET,
            AccountConfirmation.decision.is_(None)))
        if pending:
            raise DutyError("このアカウントには確認待ちのリセット依頼があります。")
        confirmation = AccountConfirmation(kind=SECOND_FACTOR_RESET, user_id=user.id, requested_by_id=actor.id,
                                           requested_at=utcnow())
        db.session.add(confirmation)
        db.session.flush()
    record("user.totp_reset_requested", object_type="user", object_id=user.id, center_id=user.center_id)
    announce("confirmation_requested", to_association=True)
    return confirmation


def second_factor_resets() -> list[AccountConfirmation]:
    """Reset requests, newest first (the operator's page: status only)."""
    with account_lookup():
        return list(db.session.scalars(select(AccountConfirmation).where(
            AccountConfirmation.kind == SECOND_FACTOR_RESET).order_by(AccountConfirmation.requested_at.desc()).limit(100)))


def clear_second_factor(user: User, *, actor_id: uuid.UUID | None, confirmed_by_id: uuid.UUID | None) -> None:
    """Remove the account's second factor and recovery codes, end its sessions and tokens,
    audit, and tell the account (inbox; e-mail if on).  It enrols again at its next sign-in."""
    with account_lookup():
        user.totp_secret = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        user.version += 1
        db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id))
        revoke_all_sessions(user)
        db.session.flush()
    record("user.totp_reset", object_type="user", object_id=user.id, center_id=user.center_id,
           details={"by": str(actor_id) if actor_id else None,
                    "confirmed_by": str(confirmed_by_id) if confirmed_by_id else None})
    announce("second_factor_reset", to_user_id=user.id)


# --- the association's confirmations ------------------------------------------------------------

def pending_confirmations() -> list[AccountConfirmation]:
    """What waits for an association account, oldest first (expired invitations left out)."""
    with account_lookup():
        rows = list(db.session.scalars(select(AccountConfirmation).where(AccountConfirmation.decision.is_(None))
                                       .order_by(AccountConfirmation.requested_at)))
    return [row for row in rows if row.status != "expired"]


def get_pending(confirmation_id) -> AccountConfirmation | None:
    try:
        confirmation_id = uuid.UUID(str(confirmation_id))
    except ValueError:
        return None
    with account_lookup():
        row = db.session.scalar(select(AccountConfirmation).where(AccountConfirmation.id == confirmation_id))
    return row if row is not None and row.decision is None and row.status != "expired" else None


def decide(confirmation: AccountConfirmation, actor: User, *, confirm: bool) -> None:
    """An association account confirms or refuses.  Nobody decides about their own account or
    their own request; a decided confirmation stays decided."""
    if actor.role != Role.ASSOCIATION.value:
        raise DutyError("確認できるのは全国協議会のアカウントだけです。")
    if actor.id in (confirmation.user_id, confirmation.requested_by_id):
        raise DutyError("自分自身のアカウントや自分の依頼は確認できません。")
    if confirmation.decision is not None:
        raise DutyError("この依頼はすでに判断されています。")
    user = confirmation.user
    with account_lookup():
        confirmation.decision = "confirmed" if confirm else "refused"
        confirmation.decided_by_id = actor.id
        confirmation.decided_at = utcnow()
        if confirmation.kind == CENTER_ADMIN:
            if confirm:
                user.awaiting_confirmation = False
            else:
                user.active = False
                revoke_all_sessions(user)
            user.version += 1
        db.session.flush()
    record("user.confirmation_" + confirmation.decision, object_type="user", object_id=user.id,
           center_id=user.center_id, details={"kind": confirmation.kind})
    if confirmation.kind == SECOND_FACTOR_RESET and confirm:
        clear_second_factor(user, actor_id=confirmation.requested_by_id, confirmed_by_id=actor.id)
