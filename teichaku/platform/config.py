"""Configuration from the environment (the contract's variables plus the README's table).

Secrets come only from the environment. ``check_production`` refuses an unsafe production
start-up: a default secret, SQLite, debug, or two-factor authentication switched off.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

DEFAULT_SECRET = "dev-insecure-secret-change-me"
ROOT = Path(__file__).resolve().parents[2]


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def from_environment() -> dict:
    """Build the Flask config mapping from environment variables."""
    env = os.environ.get("TEICHAKU_ENV", "development")
    production = env == "production"
    instance = Path(os.environ.get("TEICHAKU_INSTANCE", ROOT / "instance"))
    database_url = os.environ.get(
        "DATABASE_URL", f"sqlite:///{instance / 'teichaku.sqlite3'}"
    )
    return {
        "TEICHAKU_ENV": env,
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEFAULT_SECRET),
        # The key that signs the row-level security scope (platform/scope_token.py); unset: derived
        # from SECRET_KEY.  After changing either: `flask --app wsgi rls sync-key` (schema owner).
        "RLS_SCOPE_KEY": os.environ.get("RLS_SCOPE_KEY") or None,
        "DEBUG": _bool("FLASK_DEBUG", False),
        "DATABASE_URL": database_url,
        "APP_DATABASE_URL": os.environ.get("APP_DATABASE_URL") or None,
        "APP_DB_ROLE": os.environ.get("APP_DB_ROLE", "teichaku_app"),
        # A PostgreSQL read replica for the reporting reads (platform/reporting_reads.py): the
        # application role's URL there; unset, reporting reads the primary.
        "REPORTING_DATABASE_URL": os.environ.get("REPORTING_DATABASE_URL") or None,
        "REPORTING_MAX_LAG_SECONDS": _int("REPORTING_MAX_LAG_SECONDS", 60),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        # Redis Sentinel (docs/SCALING.md): "host:port,..."; Redis's address then comes from them.
        "REDIS_SENTINELS": os.environ.get("REDIS_SENTINELS", ""),
        "REDIS_SENTINEL_MASTER": os.environ.get("REDIS_SENTINEL_MASTER", "teichaku"),
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "teichaku"),
        "INSTANCE_PATH": str(instance),
        "UPLOAD_ROOT": os.environ.get("UPLOAD_ROOT", str(instance / "uploads")),
        # Sessions (server-side, see platform.auth.sessions)
        "SESSION_IDLE_TIMEOUT": timedelta(minutes=_int("SESSION_IDLE_MINUTES", 30)),
        "SESSION_ABSOLUTE_TIMEOUT": timedelta(hours=_int("SESSION_ABSOLUTE_HOURS", 12)),
        "SESSION_COOKIE_NAME": "teichaku_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "API_TOKEN_LIFETIME": timedelta(hours=_int("API_TOKEN_HOURS", 12)),
        # Two-factor authentication: required in production of every role (auth/services.py
        # two_factor_roles).  Outside production, when required: the roles that see personal
        # data plus TWO_FACTOR_ROLES ("all" or a comma list of roles).
        "TWO_FACTOR_REQUIRED": _bool("TWO_FACTOR_REQUIRED", production),
        "TWO_FACTOR_ROLES": os.environ.get("TWO_FACTOR_ROLES", ""),
        # Sign-in throttling (Flask-Limiter on Redis)
        "SIGNIN_LIMIT_PER_ACCOUNT": os.environ.get("SIGNIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes"),
        "SIGNIN_LIMIT_PER_IP": os.environ.get("SIGNIN_LIMIT_PER_IP", "30 per 15 minutes"),
        "RATELIMIT_HEADERS_ENABLED": False,
        "WTF_CSRF_TIME_LIMIT": None,  # the session's own timeouts bound the token
        "BABEL_DEFAULT_LOCALE": "ja",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Tokyo",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).resolve().parents[1] / "translations"),
        "MAX_CONTENT_LENGTH": _int("MAX_UPLOAD_MB", 20) * 1024 * 1024,
        "DOCUMENT_MAX_MB": _int("DOCUMENT_MAX_MB", 10),  # one uploaded document (records of a case)
        "REMINDER_DAYS": os.environ.get("REMINDER_DAYS", "3,1"),
        # 広域調整: days a receiving center has to answer, and how close a release date must be
        # before an unaccepted request is flagged (crosstenant/transfers: reminders, oversight).
        "TRANSFER_ANSWER_DAYS": _int("TRANSFER_ANSWER_DAYS", 3),
        "TRANSFER_RELEASE_WARNING_DAYS": _int("TRANSFER_RELEASE_WARNING_DAYS", 14),
        # 事例の共有: the ministry and the platform admin read the shared library only when on.
        "EXCHANGE_READABLE_BY_MINISTRY": _bool("EXCHANGE_READABLE_BY_MINISTRY", False),
        # Center handover: hours a new account's one-time set-password link stays valid.
        "ACCOUNT_SETUP_HOURS": _int("ACCOUNT_SETUP_HOURS", 72),
        # 全国集計: counts from 1 to this minus one are suppressed for everyone but the center's own
        # admin and its prefecture's viewer (crosstenant/aggregates/reporting); at least 2.
        "DISCLOSURE_THRESHOLD": _int("DISCLOSURE_THRESHOLD", 10),
        # 保存期間: years a case file is kept after its case ended, unless the center set its own
        # rule per case type (crosstenant/retention); then the monthly review lists it for erasure.
        "RETENTION_YEARS_AFTER_CLOSING": _int("RETENTION_YEARS_AFTER_CLOSING", 5),
        "JOBS_FAILURE_TTL": _int("JOBS_FAILURE_TTL", 7 * 24 * 3600),
        # Notifications (crosstenant/notifications): e-mail through SMTP when SMTP_HOST is set.
        "SMTP_HOST": os.environ.get("SMTP_HOST", ""),
        "SMTP_PORT": _int("SMTP_PORT", 25),
        "SMTP_FROM": os.environ.get("SMTP_FROM", "no-reply@teichaku.invalid"),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "OUTBOX_SWEEP_AFTER_SECONDS": _int("OUTBOX_SWEEP_AFTER_SECONDS", 30),
        "OUTBOX_SWEEP_WINDOW_SECONDS": _int("OUTBOX_SWEEP_WINDOW_SECONDS", 300),
        "OUTBOX_MAX_ATTEMPTS": _int("OUTBOX_MAX_ATTEMPTS", 8),
        # Test hook only: seconds a delivery waits before committing (ignored in production).
        "DELIVERY_TEST_DELAY": 0.0 if production else float(os.environ.get("TEICHAKU_TEST_DELIVERY_DELAY") or 0),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # flask-smorest / OpenAPI
        "API_TITLE": "Teichaku API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }


class UnsafeConfiguration(RuntimeError):
    """Raised at start-up when production settings would expose data."""


def check_production(config: dict) -> None:
    """Refuse to start in production with settings that would expose personal data."""
    if config.get("TEICHAKU_ENV") != "production":
        return
    problems = []
    if config["SECRET_KEY"] in (DEFAULT_SECRET, "", None) or len(config["SECRET_KEY"]) < 32:
        problems.append("SECRET_KEY is the default or shorter than 32 characters")
    if config.get("RLS_SCOPE_KEY") and len(str(config["RLS_SCOPE_KEY"])) < 32:
        problems.append("RLS_SCOPE_KEY is shorter than 32 characters")
    if str(config["DATABASE_URL"]).startswith("sqlite"):
        problems.append("DATABASE_URL points at SQLite")
    if config.get("DEBUG"):
        problems.append("debug is on")
    if not config.get("TWO_FACTOR_REQUIRED"):
        problems.append("two-factor authentication is off")
    if config.get("REPORTING_DATABASE_URL") and not str(config["REPORTING_DATABASE_URL"]).startswith(("postgresql", "postgres://")):
        problems.append("REPORTING_DATABASE_URL must be a PostgreSQL replica's URL")
    if not 1 <= int(config.get("RETENTION_YEARS_AFTER_CLOSING", 5)) <= 30:
        problems.append("RETENTION_YEARS_AFTER_CLOSING is outside 1..30 years")
    if int(config.get("DISCLOSURE_THRESHOLD", 10)) < 2:
        problems.append("DISCLOSURE_THRESHOLD is below 2 (small counts would be published)")
    if problems:
        raise UnsafeConfiguration("refusing to start in production: " + "; ".join(problems))
