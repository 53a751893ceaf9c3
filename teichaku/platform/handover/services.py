"""受託法人の変更 inside one installation: the center, its records and its history stay; the
people change.

``hand_over_center`` does it in the caller's transaction (the page or the CLI commits):

1. every active account of the old operator in the center (``staff`` and ``center_admin``) is
   disabled, and its sessions and API tokens end at once (an entry per account in the
   center's own audit chain).  ``prefecture`` accounts belong to the prefecture that
   commissions the center, not to the operator, and stay;
2. the new operator is recorded (``center_operators``) and the change is written to the
   platform's audit chain with the old and new operator names;
3. the new center admin is invited: an account with no known password and a one-time link to
   set one (``invitations``).  From the operator's pages (``requires_confirmation``) the account
   waits for an association account's confirmation and the link goes to the invitee by e-mail
   or through the shell, never to the page (``auth/duties.py``); the shell's ``centers
   handover`` (the hosting operator's trust boundary) prints it and needs no confirmation.
   Either way the new center admin is announced to the association.

The new center admin may re-enable a former account of someone who stays on with the new
operator (center admin's accounts page).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..audit.services import record
from ..auth.duties import announce_center_admin, hold_for_confirmation
from ..auth.models import User
from ..auth.services import AccountError, normalize_email, revoke_all_sessions
from ..centers import Center
from ..extensions import db
from ..permissions import Role
from ..tenancy import account_lookup, cross_tenant
from .invitations import invite_user
from .models import CenterOperator

OPERATOR_ROLES = (Role.STAFF.value, Role.CENTER_ADMIN.value)
MAX_OPERATOR_NAME = 200


class HandoverError(ValueError):
    """The handover is refused; the message is Japanese and safe to show."""


@dataclass
class HandoverResult:
    center_code: str
    previous_operator: str | None
    operator_name: str
    deactivated: int
    new_admin: User
    setup_url: str


def current_operator(center: Center) -> CenterOperator | None:
    return db.session.scalar(select(CenterOperator).where(CenterOperator.center_id == center.id)
                             .order_by(CenterOperator.started_at.desc()).limit(1))


def operator_history(center: Center) -> list[CenterOperator]:
    return list(db.session.scalars(select(CenterOperator).where(CenterOperator.center_id == center.id)
                                   .order_by(CenterOperator.started_at.desc())))


def operator_accounts(center: Center, *, active_only: bool = True) -> list[User]:
    """The accounts a handover disables: the center's staff and center admins."""
    stmt = select(User).where(User.center_id == center.id, User.role.in_(OPERATOR_ROLES))
    if active_only:
        stmt = stmt.where(User.active.is_(True))
    with account_lookup():
        return list(db.session.scalars(stmt.order_by(User.created_at)))


def hand_over_center(center: Center, *, operator_name: str, new_admin_email: str, new_admin_name: str = "",
                     actor=None, requires_confirmation: bool = True) -> HandoverResult:
    """Move ``center`` to a new operator (see the module doc).  Flushes and audits, never commits."""
    operator_name = _clean_operator_name(operator_name)
    new_admin_email = _free_email(new_admin_email)
    previous = current_operator(center)
    deactivated = _deactivate_operator_accounts(center)
    _record_operator(center, operator_name, actor)
    admin, url = invite_user(email=new_admin_email, role=Role.CENTER_ADMIN.value, center_code=center.code,
                             display_name=new_admin_name)
    if requires_confirmation:
        hold_for_confirmation(admin, actor=actor)
    else:
        announce_center_admin(admin)
    record("center.handover", object_type="center", object_id=center.id,
           details={"center": center.code, "previous_operator": previous.operator_name if previous else None,
                    "operator": operator_name, "deactivated": deactivated, "new_admin_id": str(admin.id)})
    return HandoverResult(center_code=center.code, previous_operator=previous.operator_name if previous else None,
                          operator_name=operator_name, deactivated=deactivated, new_admin=admin, setup_url=url)


def _clean_operator_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise HandoverError("新しい受託法人の名称を入力してください。")
    if len(name) > MAX_OPERATOR_NAME:
        raise HandoverError(f"受託法人の名称は{MAX_OPERATOR_NAME}文字以内にしてください。")
    return name


def _free_email(email: str) -> str:
    """Checked before anything changes, so a taken address refuses the whole handover."""
    try:
        email = normalize_email(email)
    except AccountError as exc:
        raise HandoverError(str(exc)) from exc
    with account_lookup():
        taken = db.session.scalar(select(User.id).where(User.email == email))
    if taken:
        raise HandoverError("このメールアドレスは使用できません。")
    return email


def _deactivate_operator_accounts(center: Center) -> int:
    """Disable the old operator's accounts; their sessions and tokens end now."""
    accounts = operator_accounts(center)
    with account_lookup():
        for user in accounts:
            user.active = False
            user.version += 1
            revoke_all_sessions(user)
        db.session.flush()
    for user in accounts:
        record("user.disable", object_type="user", object_id=user.id, center_id=center.id,
               details={"reason": "center_handover"})
    return len(accounts)


def _record_operator(center: Center, operator_name: str, actor) -> None:
    with cross_tenant("centers.handover"):
        db.session.add(CenterOperator(center_id=center.id, operator_name=operator_name,
                                      recorded_by_id=getattr(actor, "id", None)))
        db.session.flush()
