"""Account actions: the only way to create, change, disable or authenticate an account.

Services flush and audit; the caller (view, CLI) owns the transaction.
"""
from __future__ import annotations

import hashlib
import secrets
import smtplib
import uuid
from datetime import datetime, timedelta

import pyotp
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select, update

from ..audit.services import record
from ..centers import Center, Prefecture, center_by_code, prefecture_by_code
from ..extensions import db
from ..logs import get_logger
from ..mail import fixed_message, send_now
from ..models import utcnow
from ..permissions import ALL_ROLES, CENTER_ROLES, PERSONAL_DATA_ROLES, Role
from ..tenancy import account_lookup, current_center_id
from .models import ApiToken, RecoveryCode, User, UserSession
from .passwords import check_policy, hash_password, needs_rehash, verify_password
from .setup_links import lifetime_seconds, setup_url


class AccountError(ValueError):
    """An account change that is refused; the message is Japanese and safe to show."""


class InvalidCredentials(Exception):
    """Sign-in failed.  Deliberately says nothing about which part was wrong."""


class OtpRequired(Exception):
    """Password correct; the account has two-factor authentication and no code was given."""

    def __init__(self, user: User):
        self.user = user


class OtpEnrollmentRequired(Exception):
    """Password correct; this role must enrol in two-factor authentication first."""

    def __init__(self, user: User):
        self.user = user


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalize_email(email: str) -> str:
    """The one form an address is stored and looked up in: email-validator's normal form (the
    domain through IDNA/UTS-46, so full-width letters and dots become ASCII; the local part NFC),
    then lower case.  Raises ``AccountError`` for something that is not an address."""
    try:
        return validate_email((email or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError("メールアドレスの形式が正しくありません。") from exc


def signin_address(raw: object) -> str | None:
    """The address a sign-in attempt names, exactly as the account lookup resolves it, or None
    for a blank, non-text or malformed one (which can name no account).

    The lookup (``authenticate``) and the per-account throttle both use this one function: were
    they to normalise differently, each spelling of one address (full-width letters, upper case)
    would reach the same account through a fresh throttle bucket."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return normalize_email(raw)
    except AccountError:
        return None


# --- creating and managing accounts ----------------------------------------------------------

def create_user(*, email: str, password: str, role: str, center_code: str | None = None,
                prefecture_code: str | None = None, display_name: str = "", display_name_kana: str = "",
                two_factor_exempt: bool = False) -> User:
    """Create an account.  E-mail addresses are unique across the platform; a taken address
    gets the same message whichever center holds it.

    Staff and center admins belong to the center ``center_code``.  A prefecture official belongs
    to a prefecture: ``prefecture_code`` (JIS X 0401), or the prefecture of the center
    ``center_code`` (the contract's ``users create --role prefecture --center CODE``); it is
    never created inside a center's scope (see ``_affiliation``).  Raises ``AccountError`` (and
    ``PasswordPolicyError`` for a weak password)."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise AccountError("ロールが正しくありません（staff, center_admin, prefecture, association, ministry, platform_admin）。") from exc
    email = normalize_email(email)
    center, prefecture = _affiliation(role, center_code, prefecture_code)
    check_policy(password, email=email)
    with account_lookup():
        taken = db.session.scalar(select(func.count()).select_from(User).where(User.email == email))
    if taken:
        raise AccountError("このメールアドレスは使用できません。")
    user = User(email=email, password_hash=hash_password(password), role=role,
                center_id=center.id if center else None, prefecture_code=prefecture.code if prefecture else None,
                display_name=display_name.strip(), display_name_kana=display_name_kana.strip(),
                two_factor_exempt=two_factor_exempt)
    with account_lookup():
        db.session.add(user)
        db.session.flush()
    details = {"role": role.value, **({"prefecture": prefecture.code} if prefecture else {})}
    record("user.create", object_type="user", object_id=user.id, center_id=user.center_id, details=details)
    return user


def _affiliation(role: Role, center_code: str | None, prefecture_code: str | None) -> tuple[Center | None, Prefecture | None]:
    """Where an account of ``role`` belongs: a center, a prefecture, or nowhere.

    A prefecture official confirms the figures of every center of its prefecture, so no center
    may mint one: refused inside any center's scope, whatever the door (a page, an API, a job);
    the operator's pages and the shell run with no center."""
    if role in CENTER_ROLES:
        if prefecture_code:
            raise AccountError("このロールは都道府県に所属しません。")
        if not center_code:
            raise AccountError("このロールにはセンター（--center）の指定が必要です。")
        center = center_by_code(center_code)
        if center is None:
            raise AccountError("指定されたセンターが見つかりません。")
        return center, None
    if role == Role.PREFECTURE:
        if current_center_id() is not None:
            raise AccountError("都道府県担当者のアカウントは、運用管理者だけが作成できます。")
        if center_code and prefecture_code:
            raise AccountError("都道府県は、センター（--center）か都道府県のどちらか一方で指定してください。")
        if center_code:
            center = center_by_code(center_code)
            if center is None:
                raise AccountError("指定されたセンターが見つかりません。")
            prefecture_code = center.prefecture_code
        prefecture = prefecture_by_code(prefecture_code)
        if prefecture is None:
            raise AccountError("都道府県担当者には都道府県の指定が必要です（--center にその都道府県のセンターを指定）。")
        return None, prefecture
    if center_code or prefecture_code:
        raise AccountError("このロールはセンターに所属しません（--center は指定できません）。")
    return None, None


def create_center_account(*, email: str, password: str, role: str, display_name: str = "",
                          display_name_kana: str = "") -> User:
    """Center user management's one door: an account of the current center, staff or center
    admin only.  Raises ``AccountError`` for any other role (a prefecture official above all:
    the operator creates those) and outside a center's scope."""
    center_id = current_center_id()
    if center_id is None:
        raise AccountError("センターのアカウントは、センターの管理画面から作成してください。")
    try:
        role = Role(role)
    except ValueError as exc:
        raise AccountError("ロールが正しくありません。") from exc
    if role not in CENTER_ROLES:
        raise AccountError("センターで作成できるのは、センター職員とセンター長のアカウントだけです。")
    center = db.session.scalar(select(Center).where(Center.id == center_id))
    return create_user(email=email, password=password, role=role, center_code=center.code,
                       display_name=display_name, display_name_kana=display_name_kana)


def users_of_current_center() -> list[User]:
    center_id = current_center_id()
    return list(db.session.scalars(select(User).where(User.center_id == center_id).order_by(User.created_at)))


def get_center_user(user_id) -> User | None:
    """A user of the current center by id (None for another center's, as for a missing one)."""
    try:
        user_id = uuid.UUID(str(user_id))
    except ValueError:
        return None
    return db.session.scalar(select(User).where(User.id == user_id, User.center_id == current_center_id()))


# --- prefecture officials (the operator's) -----------------------------------------------------
#
# A prefecture official confirms the figures of its prefecture's centers, so it is created and
# managed only by the operator: ``users create`` on the shell (the hosting operator's trust
# boundary), or invited from the operator's pages (/platform/prefectures) by a one-time
# set-password link (the account-setup mechanism of ``handover.invitations``), which goes to the
# invitee by e-mail when ``SMTP_HOST`` is set and is otherwise printed only on the shell
# (``users prefecture-link EMAIL``): the web operator never sees it and never knows the password.

SETUP_EMAIL_SUBJECT = "【Teichaku】アカウントのパスワード設定のご案内"
SETUP_EMAIL_BODY = (
    "Teichaku に、あなたの都道府県担当者のアカウントが作成されました。\n"
    "次のリンクから、ご自身でパスワードを設定してください（{hours}時間有効、一度だけ使えます）。\n"
    "\n"
    "{link}\n"
    "\n"
    "心当たりがない場合は、このメールを破棄してください。返信はできません。\n"
)


def prefecture_officials() -> list[User]:
    """Every prefecture official, by prefecture (the operator's list)."""
    with account_lookup():
        return list(db.session.scalars(select(User).where(User.role == Role.PREFECTURE.value)
                                       .order_by(User.prefecture_code, User.created_at)))


def get_prefecture_official(user_id) -> User | None:
    """A prefecture official by id; None for any other account, as for a missing one."""
    try:
        user_id = uuid.UUID(str(user_id))
    except ValueError:
        return None
    with account_lookup():
        return db.session.scalar(select(User).where(User.id == user_id, User.role == Role.PREFECTURE.value))


def set_prefecture_official_active(user: User, active: bool) -> None:
    """The operator disables (sessions and tokens end now) or re-enables a prefecture official.
    Its row is in no center's scope: the change is written through the account lookup."""
    with account_lookup():
        set_user_active(user, active)
        db.session.flush()


def invite_prefecture_official(*, email: str, prefecture_code: str, display_name: str = "") -> User:
    """Create a prefecture official nobody can sign in to yet (a random password nobody learns);
    its owner sets the password through the one-time link (``send_setup_email`` after the commit,
    or ``prefecture_setup_link`` on the shell).  Raises ``AccountError``."""
    user = create_user(email=email, password=secrets.token_urlsafe(32), role=Role.PREFECTURE,
                       prefecture_code=prefecture_code, display_name=display_name)
    record("user.invite", object_type="user", object_id=user.id,
           details={"role": Role.PREFECTURE.value, "prefecture": user.prefecture_code})
    return user


def prefecture_setup_link(email: str) -> str:
    """A fresh one-time set-password link of an active prefecture official (the shell's
    ``users prefecture-link``: the hosting operator hands it over when no e-mail can be sent).
    Audited.  Raises ``AccountError`` for any other account."""
    try:
        email = normalize_email(email)
    except AccountError:
        email = ""
    with account_lookup():
        user = db.session.scalar(select(User).where(User.email == email, User.role == Role.PREFECTURE.value))
    if user is None or not user.active:
        raise AccountError("有効な都道府県担当者のアカウントが見つかりません。")
    record("user.setup_link", object_type="user", object_id=user.id)
    return setup_url(user)


def send_setup_email(user: User) -> bool:
    """Send the account's one-time set-password link to its own address, when SMTP is set.

    Call after the commit that created the account.  True when the SMTP server took it; False
    when SMTP is not set or failed (logged with the account id and an error code only): the
    hosting operator then prints the link with ``users prefecture-link``."""
    if not current_app.config.get("SMTP_HOST"):
        return False
    body = SETUP_EMAIL_BODY.format(link=setup_url(user), hours=lifetime_seconds() // 3600)
    try:
        send_now(fixed_message(user.email, SETUP_EMAIL_SUBJECT, body))
    except (smtplib.SMTPException, OSError) as exc:
        get_logger("teichaku.accounts").warning("setup_email_failed", user_id=str(user.id), error=type(exc).__name__)
        return False
    return True


def set_user_active(user: User, active: bool) -> None:
    """Disable (or re-enable) an account; a disabled account's sessions and tokens end now."""
    user.active = active
    user.version += 1
    if not active:
        revoke_all_sessions(user)
    record("user.activate" if active else "user.disable", object_type="user", object_id=user.id)


def change_password(user: User, current_password: str, new_password: str) -> None:
    if not verify_password(user.password_hash, current_password):
        raise AccountError("現在のパスワードが正しくありません。")
    check_policy(new_password, email=user.email)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.version += 1
    revoke_all_sessions(user)
    record("user.password_change", object_type="user", object_id=user.id)


def revoke_all_sessions(user: User, *, keep_session: str | None = None) -> None:
    """End the account's browser sessions and API tokens; ``keep_session`` (a token hash) spares
    the session making the change."""
    now = utcnow()
    sessions = update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    if keep_session is not None:
        sessions = sessions.where(UserSession.token_hash != keep_session)
    with account_lookup():
        db.session.execute(sessions.values(revoked_at=now).execution_options(synchronize_session=False))
        db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now))


# --- authentication --------------------------------------------------------------------------

def two_factor_roles(config) -> frozenset[Role]:
    """The roles that must enrol when ``TWO_FACTOR_REQUIRED`` is on: every role in production
    (no setting lowers it there); elsewhere ``TWO_FACTOR_ROLES`` ("all" or a comma list),
    by default the roles that see personal data (the contract's minimum)."""
    if config.get("TEICHAKU_ENV") == "production":
        return ALL_ROLES
    raw = (config.get("TWO_FACTOR_ROLES") or "").strip().lower()
    if raw == "all":
        return ALL_ROLES
    chosen = {Role(part.strip()) for part in raw.split(",") if part.strip() in {r.value for r in Role}}
    return frozenset(chosen) | PERSONAL_DATA_ROLES


def two_factor_required(user: User) -> bool:
    """Whether the account must use a second factor.  The demo accounts' exemption (``make
    run``) counts only outside production."""
    config = current_app.config
    exempt = user.two_factor_exempt and config.get("TEICHAKU_ENV") != "production"
    return bool(config["TWO_FACTOR_REQUIRED"] and Role(user.role) in two_factor_roles(config) and not exempt)


def authenticate(email: str, password: str, otp: str | None = None, *, enforce_enrollment: bool) -> User:
    """Check e-mail, password and (where enabled) the one-time code.

    Raises ``InvalidCredentials`` for any failure of e-mail, password, code, disabled account or
    deactivated center (one message for all), ``OtpRequired`` when a code is needed and missing,
    ``OtpEnrollmentRequired`` when ``enforce_enrollment`` and the role must enrol first.
    """
    address = signin_address(email)
    with account_lookup():
        user = db.session.scalar(select(User).where(User.email == address)) if address else None
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.is_active:
        record("auth.signin_failed", object_type="user", object_id=user.id if user else None,
               center_id=user.center_id if user else None)
        raise InvalidCredentials()
    if user.two_factor_enabled:
        if not otp:
            raise OtpRequired(user)
        if not verify_second_factor(user, otp):
            record("auth.otp_failed", object_type="user", object_id=user.id, center_id=user.center_id)
            raise InvalidCredentials()
    elif enforce_enrollment and two_factor_required(user):
        raise OtpEnrollmentRequired(user)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def verify_second_factor(user: User, code: str) -> bool:
    """A TOTP code (not replayed) or an unused recovery code."""
    code = (code or "").replace(" ", "").replace("-", "").strip()
    if code.isdigit() and len(code) == 6 and user.totp_secret:
        totp = pyotp.TOTP(user.totp_secret)
        now = utcnow()
        for drift in (0, -1, 1):
            at = now + timedelta(seconds=30 * drift)
            step = int(at.timestamp()) // 30
            if totp.at(at) == code and (user.totp_last_step is None or step > user.totp_last_step):
                with account_lookup():  # flushed here: a national account's row is visible only so
                    user.totp_last_step = step
                    db.session.flush()
                return True
        return False
    with account_lookup():
        rc = db.session.scalar(select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == sha256(code.lower()),
            RecoveryCode.used_at.is_(None)))
        if rc is None:
            return False
        rc.used_at = utcnow()
    record("auth.recovery_code_used", object_type="user", object_id=user.id, center_id=user.center_id)
    return True


# --- two-factor enrolment ---------------------------------------------------------------------

def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="Teichaku")


def _prove_second_factor_owner(user: User, password: str | None, current_code: str | None) -> None:
    """Changing or removing a second factor takes the password *and* a current code (or an
    unused recovery code): a borrowed session alone cannot swap in the attacker's device."""
    if not verify_password(user.password_hash, password or ""):
        raise AccountError("パスワードまたは現在の確認コードが正しくありません。")
    if not verify_second_factor(user, current_code or ""):
        record("auth.otp_failed", object_type="user", object_id=user.id, center_id=user.center_id)
        raise AccountError("パスワードまたは現在の確認コードが正しくありません。")


def enable_totp(user: User, secret: str, code: str, *, password: str | None = None,
                current_code: str | None = None, keep_session: str | None = None) -> list[str]:
    """Turn on TOTP after the user proves the authenticator works; returns recovery codes
    (shown once, stored hashed).  Replacing an enabled second factor needs the password and a
    current code, and ends the account's other sessions and its API tokens."""
    changing = user.two_factor_enabled
    if changing:
        _prove_second_factor_owner(user, password, current_code)
    if not pyotp.TOTP(secret).verify((code or "").strip(), valid_window=1):
        raise AccountError("確認コードが正しくありません。認証アプリの6桁の数字を入力してください。")
    if changing:
        revoke_all_sessions(user, keep_session=keep_session)
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    user.totp_last_step = None
    user.version += 1
    codes = [secrets.token_hex(5) for _ in range(10)]
    with account_lookup():
        db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id))
        for c in codes:
            db.session.add(RecoveryCode(user_id=user.id, code_hash=sha256(c)))
    record("user.totp_change" if changing else "user.totp_enable", object_type="user", object_id=user.id,
           center_id=user.center_id)
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def disable_totp(user: User, password: str, current_code: str | None = None, *,
                 keep_session: str | None = None) -> None:
    """Remove the second factor: the password and a current code, then every other session and
    every API token of the account ends."""
    if two_factor_required(user):
        raise AccountError("この役割では二要素認証を無効にできません。")
    _prove_second_factor_owner(user, password, current_code)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.version += 1
    with account_lookup():
        db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id))
    revoke_all_sessions(user, keep_session=keep_session)
    record("user.totp_disable", object_type="user", object_id=user.id, center_id=user.center_id)


# --- API tokens -------------------------------------------------------------------------------

def issue_api_token(user: User) -> tuple[str, datetime]:
    """A bearer token: returned once, stored as its SHA-256."""
    raw = secrets.token_urlsafe(32)
    expires_at = utcnow() + current_app.config["API_TOKEN_LIFETIME"]
    with account_lookup():
        db.session.add(ApiToken(user_id=user.id, token_hash=sha256(raw), expires_at=expires_at))
    record("auth.token_issue", object_type="user", object_id=user.id, center_id=user.center_id)
    return raw, expires_at


def user_for_api_token(raw: str) -> tuple[User, ApiToken] | None:
    with account_lookup():  # one round trip: token, account and center
        row = db.session.execute(
            select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == sha256(raw))
        ).first()
    if row is None:
        return None
    token, user = row
    if token.revoked_at is not None or token.expires_at <= utcnow() or not user.is_active:
        return None
    return user, token


def revoke_api_token(token: ApiToken) -> None:
    token.revoked_at = utcnow()
    record("auth.token_revoke", object_type="user", object_id=token.user_id)


def pending_user(user_id: str) -> User | None:
    """The account waiting for its second factor (sign-in step two)."""
    try:
        user_id = uuid.UUID(user_id)
    except (ValueError, TypeError):
        return None
    with account_lookup():
        user = db.session.scalar(select(User).where(User.id == user_id))
    return user if user is not None and user.is_active else None


def record_signin(user: User) -> None:
    record("auth.signin", object_type="user", object_id=user.id, center_id=user.center_id)
