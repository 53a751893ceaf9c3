"""The application factory (the Flask tutorial's ``create_app(test_config=None)`` seam).

Composition sits at the top of the package: this module imports every layer (the platform's
extensions, the models of every domain package, the blueprints, the CLI, the job queue) and
nothing below imports it.  Code below that needs a second app of the same configuration (the
handover CLI's application-role app) finds this factory as ``app.extensions["teichaku_app_factory"]``.

Extensions are created once in ``extensions`` and wired here in a fixed order; request hooks run
in this order: request id -> user and tenant -> permission check -> view (inside the transaction
boundary: ``platform/transaction.py``) -> headers and log.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from flask import Flask

from . import cli
from .blueprints import register as register_blueprints
from .crosstenant.aggregates import tracking as aggregates_tracking
from .crosstenant.notifications import services as notifications
from .platform import announcements
from .platform import centers as _centers  # noqa: F401  (the models of the platform)
from .platform import config as config_module
from .platform import errors, hooks, i18n, last_resort, logs
from .platform import tenancy, transaction
from .platform.audit import models as _audit  # noqa: F401
from .platform.audit.services import record as audit_record
from .platform.auth import models as _auth  # noqa: F401
from .platform.database import app_url_for, check_app_connection, ensure_app_role, is_postgres, normalize_url, with_connect_timeout
from .platform.extensions import csrf, db, limiter, login_manager, migrate
from .platform import jobs
from .platform.redis_client import limiter_storage_uri
from .platform.scope_token import check_key, derive_key
from .crosstenant.retention import guard as retention_guard

PACKAGE_DIR = Path(__file__).resolve().parent


def create_app(test_config: dict | None = None, *, database_role: str = "app") -> Flask:
    """Build the app.  ``database_role`` is ``"app"`` (web, workers) or ``"owner"`` (CLI)."""
    app = Flask(
        "teichaku",
        template_folder=str(PACKAGE_DIR / "templates"),
        static_folder=str(PACKAGE_DIR / "static"),
    )
    app.config.update(config_module.from_environment())
    if test_config:
        app.config.update(test_config)
    config_module.check_production(app.config)
    app.config["DATABASE_ROLE"] = database_role
    app.extensions["teichaku_app_factory"] = create_app
    tenancy.use_audit_writer(audit_record)  # every cross_tenant(...) is audited
    _install_session_hooks()
    announcements.use_announcer(notifications.emit)  # the account duties' events go into the outbox
    _configure_database(app, database_role)
    Path(app.config["INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)

    logs.configure(app)
    _init_extensions(app)
    _register_models()
    _register_blueprints(app)
    # Every page and API call commits once, at its end: registered before the other request
    # hooks so that its decision runs after them (Flask runs after_request hooks in reverse).
    transaction.init_app(app)

    i18n.init_app(app)
    hooks.init_app(app)
    errors.init_app(app)
    # What even the error handlers could not answer (they failed too) is answered outside Flask,
    # never by the WSGI server's bare page.
    app.wsgi_app = last_resort.LastResort(app)
    cli.init_app(app)
    for group in cli.GROUPS:
        transaction.wrap_commands(group)  # so does every command of the project

    jobs.init_app(app)

    if database_role == "app" and is_postgres(app.config["DATABASE_URL"]) and not app.config.get("SKIP_ROLE_CHECK"):
        with app.app_context():
            check_app_connection(db.engine)
            check_key(db.engine, derive_key(app.config))
    return app


def _install_session_hooks() -> None:
    """The listeners every session carries, registered here rather than by an import's side
    effect: tenant scoping and RLS settings, the after-commit actions, the erased-file guard,
    the rollups' dirty marks, the outbox's delivery."""
    tenancy.install()
    transaction.install()
    retention_guard.install()
    aggregates_tracking.install()
    notifications.install()


def _configure_database(app: Flask, database_role: str) -> None:
    owner_url = normalize_url(app.config["DATABASE_URL"])
    if owner_url.startswith("sqlite:///"):
        Path(owner_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if is_postgres(owner_url):
        # An unreachable server fails a connection in seconds (then 503), not the OS's minutes.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = with_connect_timeout(app.config.get("SQLALCHEMY_ENGINE_OPTIONS"))
    if database_role == "owner" or not is_postgres(owner_url):
        app.config["SQLALCHEMY_DATABASE_URI"] = owner_url
        return
    if not app.config.get("APP_DATABASE_URL"):
        ensure_app_role(owner_url, app.config["APP_DB_ROLE"])
    app.config["SQLALCHEMY_DATABASE_URI"] = app_url_for(owner_url, app.config.get("APP_DATABASE_URL"), app.config["APP_DB_ROLE"])
    if app.config.get("REPORTING_DATABASE_URL"):
        # The read replica of the reporting reads (platform/reporting_reads.py); the app role there.
        app.config["SQLALCHEMY_BINDS"] = {**app.config.get("SQLALCHEMY_BINDS", {}), "reporting": {
            "url": normalize_url(app.config["REPORTING_DATABASE_URL"]), "pool_pre_ping": True,
            "connect_args": {"connect_timeout": 3, "application_name": "teichaku-reporting"}}}


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(app))
    limiter.init_app(app)


def _register_models() -> None:
    """Import every models module so the mappers (and Alembic) see every table: the platform's
    own, and ``models`` of every package under ``teichaku.tenants`` and ``teichaku.crosstenant``."""
    for parent in ("teichaku.tenants", "teichaku.crosstenant"):
        try:
            package = importlib.import_module(parent)
        except ModuleNotFoundError:
            continue
        for info in pkgutil.iter_modules(package.__path__):
            if info.ispkg:
                try:
                    importlib.import_module(f"{parent}.{info.name}.models")  # by name: a new package needs no line here
                except ModuleNotFoundError as exc:
                    if exc.name != f"{parent}.{info.name}.models":
                        raise


def _register_blueprints(app: Flask) -> None:
    register_blueprints(app)
