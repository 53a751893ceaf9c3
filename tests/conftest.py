"""Test set-up: a database of this run's own on the real PostgreSQL (or SQLite for the second
pass of the isolation sweep), Redis database 15, two centers (and a third) in every test.

Data is committed for real and cleaned between tests (TRUNCATE as the schema owner), so the same
fixtures serve in-process tests and tests that cross processes (gunicorn, rq workers, browser).
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

# Cheap password hashing for tests (set before the app is imported; inherited by subprocesses).
os.environ["ARGON2_PROFILE"] = "cheapest"
# Two runs may share one Redis database: this run's queue and counters carry its own name.
RUN_ID = uuid.uuid4().hex[:10]
os.environ["RQ_QUEUE"] = f"teichaku-test-{RUN_ID}"
os.environ["RATELIMIT_KEY_PREFIX"] = f"teichaku-test-{RUN_ID}"

import pytest
import redis
from sqlalchemy import create_engine, text

from tests import factories

BACKEND = os.environ.get("TEICHAKU_TEST_DB", "postgres")
PG_ADMIN_URL = os.environ.get("TEICHAKU_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
OWNER_ROLE, APP_ROLE = "teichaku_owner", "teichaku_app"
REDIS_TEST_URL = "redis://127.0.0.1:6379/15"

KEEP_TABLES = {"alembic_version", "centers"}


def _create_roles_and_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for role, attrs in ((OWNER_ROLE, "LOGIN NOSUPERUSER BYPASSRLS NOCREATEROLE"),
                            (APP_ROLE, "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")):
            # Idempotent and safe when two CI runs share the server.
            conn.execute(text(
                f"DO $$ BEGIN CREATE ROLE {role} {attrs}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ))
            conn.execute(text(f"ALTER ROLE {role} {attrs}"))  # a role made elsewhere gets the same attributes
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER {OWNER_ROLE}'))
    admin.dispose()


def _drop_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """This run's database, migrated and seeded with the 48 centers.  Exports the environment
    so that subprocesses (gunicorn, rq worker, flask CLI) use the same database and Redis."""
    instance = tmp_path_factory.mktemp("instance")
    name = None
    if BACKEND == "postgres":
        name = f"teichaku_test_{uuid.uuid4().hex[:10]}"
        _create_roles_and_database(name)
        owner_url = f"postgresql+psycopg://{OWNER_ROLE}@127.0.0.1:5432/{name}"
    else:
        owner_url = f"sqlite:///{instance / 'test.sqlite3'}"
    os.environ.update({
        "DATABASE_URL": owner_url,
        "REDIS_URL": REDIS_TEST_URL,
        "TEICHAKU_INSTANCE": str(instance),
        "SECRET_KEY": "test-secret-" + "x" * 32,
        # The row-level security scope key, fixed so apps built with another SECRET_KEY (the
        # production-settings tests) still sign tokens the migrated database verifies.
        "RLS_SCOPE_KEY": "test-rls-scope-key-" + "y" * 32,
        "APP_DB_ROLE": APP_ROLE,
    })
    os.environ.pop("APP_DATABASE_URL", None)
    os.environ.pop("TEICHAKU_ENV", None)

    from flask_migrate import upgrade

    from teichaku.app import create_app
    from teichaku.platform.centers import seed_centers
    from teichaku.platform.extensions import db

    owner_app = create_app({"TESTING": True}, database_role="owner")
    with owner_app.app_context():
        upgrade()
        seed_centers()
        db.session.commit()
        db.engine.dispose()
    yield {"owner_url": owner_url, "backend": BACKEND, "name": name, "instance": Path(instance)}
    if name:
        _drop_database(name)


@pytest.fixture(scope="session")
def owner_engine(database):
    """The schema owner's connection: cleaning, snapshots and raw checks (bypasses RLS)."""
    engine = create_engine(database["owner_url"])
    yield engine
    engine.dispose()


TEST_CONFIG = {
    "TESTING": True,
    "REDIS_URL": REDIS_TEST_URL,
    "RATELIMIT_STORAGE_URI": REDIS_TEST_URL,
    "PROPAGATE_UNEXPECTED": True,
}


BUILT_APPS: list = []


@pytest.fixture(autouse=True)
def _release_pooled_connections():
    """Close the idle pooled connections of every app built so far after each test: apps built by
    tests live until the session ends, and their pools would otherwise add up past PostgreSQL's
    ``max_connections`` over a thousand tests (an app simply reconnects when used again)."""
    yield
    from teichaku.platform.extensions import db

    for built in BUILT_APPS:
        with built.app_context():
            for engine in db.engines.values():  # the primary's, and a reporting replica's if any
                engine.dispose()


@pytest.fixture(scope="session")
def make_app(database):
    """Build an app (application role) with extra configuration."""
    from teichaku.app import create_app

    built = BUILT_APPS

    def _make(**overrides):
        app = create_app({**TEST_CONFIG, **overrides})
        built.append(app)
        return app

    yield _make
    from teichaku.platform.extensions import db

    for app in built:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def app(make_app):
    return make_app()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(autouse=True)
def clean_state(request, database, owner_engine):
    """Every test starts with the 48 centers and nothing else, and an empty Redis db 15."""
    yield
    if request.node.get_closest_marker("keep_data"):
        return  # a module-scoped fixture owns the data and cleans it at its end
    clean_all(owner_engine)


def clean_all(owner_engine) -> None:
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    keys = list(connection.scan_iter(match=f"*{RUN_ID}*", count=1000))
    if keys:
        connection.delete(*keys)  # only this run's keys: another run may share the database
    _truncate(owner_engine)


def _truncate(engine) -> None:
    from teichaku.platform.centers import canonical_centers
    from teichaku.platform.extensions import db

    tables = [t.name for t in db.metadata.sorted_tables if t.name not in KEEP_TABLES]
    codes = {c.code: c for c in canonical_centers()}
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for t in reversed(tables):
                conn.execute(text(f'DELETE FROM "{t}"'))
        rows = conn.execute(text("SELECT code, name, active FROM centers")).all()
        for code, name, active in rows:
            if code not in codes:
                conn.execute(text("DELETE FROM centers WHERE code = :c"), {"c": code})
            elif name != codes[code].name or not active:
                conn.execute(text("UPDATE centers SET name = :n, active = :a WHERE code = :c"),
                             {"n": codes[code].name, "a": True, "c": code})


@pytest.fixture()
def api_app(app):
    """The app ``api`` signs in to: a module whose tests need another configuration (uploads under
    a temporary root, CSRF off) overrides this fixture, never ``api`` itself."""
    return app


@pytest.fixture()
def api(api_app, world):
    """``api("a_staff")``: a test client signed in to the API with that world user's token (one
    per user and test: asking twice gives the same client)."""
    from tests.helpers import api_clients

    return api_clients(api_app, world)


@pytest.fixture()
def world(app):
    """Centers A (tokyo), B (osaka) and C (fukuoka), each with staff and an admin and a case;
    plus prefecture, association, ministry and platform admin accounts."""
    return factories.build_world(app)


def rls_scope(conn, *, tenant=None, cross: bool = False, accounts: bool = False) -> None:
    """Scope a raw application-role transaction the way the app does: settings signed with this
    run's scope key (``platform/scope_token.py``); a bare ``set_config`` no longer opens anything."""
    from teichaku.platform.scope_token import derive_key, scope

    key = derive_key({"RLS_SCOPE_KEY": os.environ.get("RLS_SCOPE_KEY"), "SECRET_KEY": os.environ.get("SECRET_KEY")})
    scope(conn, key, tenant=tenant, cross=cross, accounts=accounts)
