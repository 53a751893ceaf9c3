"""The bench's own PostgreSQL database: roles, create, migrate, seed, staff accounts, drop.

Roles are created idempotently through the superuser exactly as ``tests/conftest.py`` does:
``teichaku_owner`` (BYPASSRLS, owns the database, runs the migrations) and ``teichaku_app``
(no BYPASSRLS: the web app connects as it, so row-level security binds every query).
"""
from __future__ import annotations

import secrets
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import psycopg
from psycopg import sql

from .config import Settings

OWNER_ROLE, APP_ROLE = "teichaku_owner", "teichaku_app"
STAFF_EMAIL = "bench-staff@tokyo.example.jp"
TENANT_CODE = "tokyo"


@dataclass(frozen=True)
class StaffAccount:
    """A staff account of one center, made by the product's own service."""

    center_code: str
    center_id: uuid.UUID
    email: str
    password: str


@dataclass
class BenchDatabase:
    name: str
    owner_url: str  # SQLAlchemy URL (psycopg 3) of the schema owner
    app_url: str  # SQLAlchemy URL of the application role
    owner_dsn: str  # libpq DSN of the schema owner, for COPY
    secret_key: str
    redis_url: str
    staff_email: str = STAFF_EMAIL
    staff_password: str = ""
    tenant_code: str = TENANT_CODE
    tenant_id: uuid.UUID | None = None
    timings: dict | None = None  # and row counts, under "rows"
    staff: list[StaffAccount] | None = None  # one per center (tokyo's first); see create_staff


def _admin(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(settings.pg_admin_url, autocommit=True)


def create_roles_and_database(settings: Settings, name: str) -> None:
    with _admin(settings) as conn:
        for role, attrs in ((OWNER_ROLE, "LOGIN NOSUPERUSER BYPASSRLS NOCREATEROLE"),
                            (APP_ROLE, "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")):
            # Idempotent and safe when another run (tests, another bench) shares the server.
            conn.execute(
                f"DO $$ BEGIN CREATE ROLE {role} {attrs}; "
                "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            )
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(OWNER_ROLE)))


def drop_database(settings: Settings, name: str) -> None:
    with _admin(settings) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def owner_app_config(bdb: BenchDatabase) -> dict:
    """Overrides for ``create_app`` in this process (the environment's runtime variables are ignored)."""
    return {
        "DATABASE_URL": bdb.owner_url,
        "APP_DATABASE_URL": None,
        "APP_DB_ROLE": APP_ROLE,
        "REDIS_URL": bdb.redis_url,
        "SECRET_KEY": bdb.secret_key,
        "RLS_SCOPE_KEY": None,  # derived from SECRET_KEY (the environment's is ignored)
        "TEICHAKU_ENV": "development",
    }


def sign_tenant(conn, secret_key: str, tenant_id) -> None:
    """Scope the open transaction of an application-role psycopg connection to one center the way
    the app does (``platform/scope_token.py``: the settings signed for this transaction only)."""
    from teichaku.platform.scope_token import NONCE_SQL, derive_key, token

    settings = {"tenant": str(tenant_id), "cross": "", "accounts": ""}
    nonce = conn.execute(f"SELECT {NONCE_SQL}").fetchone()[0]
    conn.execute("SELECT set_config('app.tenant_id', %s, true), set_config('app.cross_tenant', '', true),"
                 " set_config('app.accounts', '', true), set_config('app.scope_token', %s, true)",
                 (settings["tenant"], token(derive_key({"SECRET_KEY": secret_key}), settings, nonce)))


def migrate_and_seed_centers(bdb: BenchDatabase) -> None:
    from flask_migrate import upgrade

    from teichaku.app import create_app
    from teichaku.platform.centers import center_by_code, seed_centers
    from teichaku.platform.extensions import db

    app = create_app(owner_app_config(bdb), database_role="owner")
    with app.app_context():
        try:
            # "heads": every branch of the migration tree (the same as "head" when there is one).
            upgrade(revision="heads")
        except SystemExit as exc:  # Flask-Migrate logs the Alembic error and exits
            raise RuntimeError(f"migrating the bench database failed (exit {exc.code}); see the log above") from None
        from teichaku.platform.scope_token import derive_key, store_key

        store_key(db.session.connection(), derive_key(app.config))  # this run's key (a reused database too)
        seed_centers()
        db.session.commit()
        bdb.tenant_id = center_by_code(bdb.tenant_code).id
        db.engine.dispose()


def create_staff(bdb: BenchDatabase, centers: str = "tenant") -> None:
    """Staff accounts made by the product's own service (as the owner): one in the tenant
    (``centers="tenant"``), or one in every center (``"all"``: the tenant's first).

    Real use spreads over 48 centers with a handful of staff each; the audit chain is per center,
    so a benchmark that wants realistic concurrency sends each request as a different center's
    staff.  All accounts share one password (argon2 hashes each; about 0.1 s a piece).
    """
    from sqlalchemy import select

    from teichaku.app import create_app
    from teichaku.platform.auth.services import create_user
    from teichaku.platform.centers import Center
    from teichaku.platform.extensions import db

    suffix = f"-{secrets.token_hex(4)}" if bdb.timings.get("reused") else ""
    bdb.staff_password = "bench-" + secrets.token_urlsafe(18)
    app = create_app(owner_app_config(bdb), database_role="owner")
    with app.app_context():
        rows = db.session.execute(select(Center.code, Center.id).order_by(Center.prefecture_code, Center.code)).all()
        rows.sort(key=lambda r: r[0] != bdb.tenant_code)  # the tenant first, then prefecture order
        if centers == "tenant":
            rows = rows[:1]
        staff = []
        for code, center_id in rows:
            email = f"bench-staff{suffix}@{code}.example.jp"
            create_user(email=email, password=bdb.staff_password, role="staff", center_code=code,
                        display_name="ベンチ 職員")
            staff.append(StaffAccount(code, center_id, email, bdb.staff_password))
        db.session.commit()
        db.engine.dispose()
    bdb.staff = staff
    bdb.staff_email = staff[0].email


def analyze(bdb: BenchDatabase) -> None:
    """VACUUM ANALYZE: fresh statistics, and the visibility map set, so that autovacuum does not
    wake up on the freshly loaded tables in the middle of a measurement."""
    with psycopg.connect(bdb.owner_dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def count_rows(bdb: BenchDatabase) -> dict:
    with psycopg.connect(bdb.owner_dsn) as conn:
        conn.execute("SELECT set_config('app.cross_tenant', 'on', true)")  # the owner may lack BYPASSRLS
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("centers", "persons", "cases", "case_number_counters")}
        rows["owner_bypassrls"] = conn.execute(
            "SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    return rows


@contextmanager
def bench_database(settings: Settings, seed, *, staff: str = "tenant", reuse: str | None | bool = True,
                   analyze_after_seed: bool = True) -> Iterator[BenchDatabase]:
    """Create, migrate and fill a database of this run's own; drop it afterwards (unless kept).

    ``seed(bdb, settings)`` bulk-loads the synthetic data and returns row counts.
    ``staff``: ``"tenant"`` (one staff account in tokyo) or ``"all"`` (one in every center).
    ``BENCH_REUSE_DB=<name>`` (a database kept by ``BENCH_KEEP_DB=1``) skips creating and seeding,
    adds fresh staff accounts and keeps the database afterwards.  ``reuse``: a database name to
    reuse instead of ``BENCH_REUSE_DB`` (a benchmark with its own knob), or False for never.
    ``analyze_after_seed=False``: the seed runs VACUUM ANALYZE itself.
    """
    if reuse is True:
        reuse = settings.reuse_db
    elif reuse is False:
        reuse = None
    name = reuse or f"teichaku_bench_{uuid.uuid4().hex[:10]}"
    host = f"{settings.pg_host}:{settings.pg_port}"
    bdb = BenchDatabase(
        name=name,
        owner_url=f"postgresql+psycopg://{OWNER_ROLE}@{host}/{name}",
        app_url=f"postgresql+psycopg://{APP_ROLE}@{host}/{name}",
        owner_dsn=f"postgresql://{OWNER_ROLE}@{host}/{name}",
        secret_key="bench-secret-" + secrets.token_hex(24),
        redis_url=settings.redis_url,
        timings={},
    )
    if reuse:
        bdb.timings.update(reused=True, rows=count_rows(bdb), migrate_s=0.0, seed_s=0.0)
        migrate_and_seed_centers(bdb)  # no-op on a migrated, seeded database; finds the tenant
        create_staff(bdb, staff)
        t = time.perf_counter()
        analyze(bdb)
        bdb.timings["vacuum_analyze_s"] = round(time.perf_counter() - t, 2)
        yield bdb
        return
    create_roles_and_database(settings, name)
    try:
        t = time.perf_counter()
        migrate_and_seed_centers(bdb)
        bdb.timings["migrate_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        bdb.timings["rows"] = seed(bdb, settings)
        bdb.timings["seed_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        create_staff(bdb, staff)
        bdb.timings["staff_s"] = round(time.perf_counter() - t, 2)
        if analyze_after_seed:
            t = time.perf_counter()
            analyze(bdb)
            bdb.timings["vacuum_analyze_s"] = round(time.perf_counter() - t, 2)
        yield bdb
    finally:
        if settings.keep_db:
            print(f"BENCH_KEEP_DB=1: kept database {name} ({bdb.owner_url})")
        else:
            drop_database(settings, name)
