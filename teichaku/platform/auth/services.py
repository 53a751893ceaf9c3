"""Account actions: the only way to create, change, disable or authenticate an account.

Services flush and audit; the caller (view, CLI) owns the transaction.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

import pyotp
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select, update

from ..audit.services import record
from ..centers import Center, center_by_code
from ..extensions import db
from ..models import utcnow
from ..permissions import ALL_ROLES, CENTER_ROLES, PERSONAL_DATA_ROLES, Role
from ..tenancy import account_lookup, current_center_id
from .models import ApiToken, RecoveryCode, User, UserSession
from .passwords import check_policy, hash_password, needs_rehash, verify_password


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
                display_name: str = "", display_name_kana: str = "",
                two_factor_exempt: bool = False) -> User:
    """Create an account.  E-mail addresses are unique across the platform; a taken address
    gets the same message whichever center holds it."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise AccountError("ロールが正しくありません（staff, center_admin, prefecture, association, ministry, platform_admin）。") from exc
    email = normalize_email(email)
    center: Center | None = None
    if role in CENTER_ROLES:
        if not center_code:
            raise AccountError("このロールにはセンター（--center）の指定が必要です。")
        center = center_by_code(center_code)
        if center is None:
            raise AccountError("指定されたセンターが見つかりません。")
    elif center_code:
        raise AccountError("このロールはセンターに所属しません（--center は指定できません）。")
    check_policy(password, email=email)
    with account_lookup():
        taken = db.session.scalar(select(func.count()).select_from(User).where(User.email == email))
    if taken:
        raise AccountError("このメールアドレスは使用できません。")
    user = User(email=email, password_hash=hash_password(password), role=role,
                center_id=center.id if center else None, display_name=display_name.strip(),
                display_name_kana=display_name_kana.strip(), two_factor_exempt=two_factor_exempt)
    with account_lookup():
        db.session.add(user)
        db.session.flush()
    record("user.create", object_type="user", object_id=user.id, center_id=user.center_id,
           details={"role": role.value})
    return user


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
