"""Which database role the process connects as, and the start-up checks on it.

Migrations and the CLI run as the schema owner (``DATABASE_URL``).  The web app and the workers
run as the application role (``APP_DATABASE_URL``, or ``teichaku_app`` on the same server), which
owns nothing, is not a superuser and has no BYPASSRLS, so row-level security binds it.  Start-up
refuses an application connection that could bypass the policies.
"""
from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


class UnsafeDatabaseRole(RuntimeError):
    """The application role could bypass row-level security."""


# Seconds a new PostgreSQL connection may take: an unreachable server (packets dropped rather
# than refused) then fails the request quickly with 503 instead of holding a worker for minutes.
CONNECT_TIMEOUT_SECONDS = 5


def with_connect_timeout(engine_options: dict | None) -> dict:
    """``SQLALCHEMY_ENGINE_OPTIONS`` with libpq's ``connect_timeout`` (unless one is given)."""
    options = dict(engine_options or {})
    options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **options.get("connect_args", {})}
    return options


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the usual ``postgresql://`` form."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def is_postgres(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "postgresql"


def app_url_for(owner_url: str, app_url: str | None, app_role: str) -> str:
    """The application role's URL: explicit, or the owner's URL with the app role's name."""
    if app_url:
        return normalize_url(app_url)
    url = make_url(normalize_url(owner_url)).set(username=app_role, password=None)
    return url.render_as_string(hide_password=False)


def ensure_app_role(owner_url: str, app_role: str) -> None:
    """Create the application role when the owner may (CREATEROLE); quietly skip otherwise."""
    engine = create_engine(normalize_url(owner_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("select 1 from pg_roles where rolname = :r"), {"r": app_role}).scalar()
            may = conn.execute(text("select rolcreaterole or rolsuper from pg_roles where rolname = current_user")).scalar()
            if not exists and may:
                conn.execute(text(f'CREATE ROLE "{_ident(app_role)}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE'))
    finally:
        engine.dispose()


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError("role names are letters, digits and underscores")
    return name


def check_app_connection(engine) -> None:
    """Refuse a superuser, a BYPASSRLS role or a role that owns tables."""
    with engine.connect() as conn:
        row = conn.execute(text(
            "select r.rolsuper, r.rolbypassrls,"
            " (select count(*) from pg_class c where c.relowner = r.oid and c.relkind in ('r','p'))"
            " from pg_roles r where r.rolname = current_user"
        )).one()
    superuser, bypass, owned = row
    if superuser or bypass or owned:
        raise UnsafeDatabaseRole(
            "the application must not connect as a superuser, a BYPASSRLS role or a table owner "
            "(set APP_DATABASE_URL to the application role)"
        )
