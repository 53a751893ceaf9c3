"""Password hashing (argon2) and the password policy.

The policy follows NIST SP 800-63B, which suits Japanese offices better than forced rotation:
at least 12 characters, no upper limit below 128, any characters (full-width included), and
common passwords (and one- or two-character repeats) refused.  No periodic expiry.
"""
from __future__ import annotations

import unicodedata
from importlib import resources

import os

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 128
def _make_hasher() -> PasswordHasher:
    """argon2id with the library's RFC 9106 low-memory defaults; ``ARGON2_PROFILE=cheapest``
    (tests only: a refused setting in production) keeps the suite fast on two cores."""
    if os.environ.get("ARGON2_PROFILE") == "cheapest" and os.environ.get("TEICHAKU_ENV") != "production":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


_hasher = _make_hasher()
# A valid hash of a random password: verifying against it keeps timing equal for unknown e-mails.
_DUMMY_HASH = _hasher.hash("teichaku-timing-equaliser-not-a-password")


class PasswordPolicyError(ValueError):
    """The password breaks the policy; the message is Japanese and safe to show."""


def _common_passwords() -> frozenset[str]:
    text = resources.files("teichaku.platform").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


COMMON = _common_passwords()


def check_policy(password: str, *, email: str = "") -> None:
    password = unicodedata.normalize("NFKC", password or "")
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"パスワードは{MIN_LENGTH}文字以上にしてください。")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"パスワードは{MAX_LENGTH}文字以内にしてください。")
    lowered = password.lower()
    if lowered in COMMON or lowered.rstrip("0123456789!@#") in COMMON or len(set(lowered)) <= 2:
        raise PasswordPolicyError("推測されやすいパスワードは使えません。別のパスワードにしてください。")


def hash_password(password: str) -> str:
    return _hasher.hash(unicodedata.normalize("NFKC", password))


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, unicodedata.normalize("NFKC", password or "")) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
