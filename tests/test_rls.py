"""Row-level security on PostgreSQL: the database itself holds isolation, whatever the app does."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import APP_ROLE, BACKEND, rls_scope

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="row-level security exists only on PostgreSQL")


@pytest.fixture()
def app_engine(database):
    url = database["owner_url"].replace("teichaku_owner@", f"{APP_ROLE}@")
    engine = create_engine(url)
    yield engine
    engine.dispose()


def _center_id(owner_engine, code):
    with owner_engine.connect() as conn:
        return conn.execute(text("select id from centers where code = :c"), {"c": code}).scalar()


def test_raw_select_as_app_role_without_tenant_returns_no_tenant_rows(world, app_engine, owner_engine):
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from persons")).scalar() >= 3  # the world's, seen by the owner
    with app_engine.connect() as conn:
        for table in ("persons", "cases", "case_number_counters", "users"):
            assert conn.execute(text(f"select count(*) from {table}")).scalar() == 0, table


def test_a_reset_tenant_setting_fails_closed_instead_of_erroring(world, app_engine):
    """A pooled connection whose setting was reset to '' must see nothing, not raise."""
    with app_engine.begin() as conn:
        conn.execute(text("select set_config('app.tenant_id', '', true)"))
        assert conn.execute(text("select count(*) from cases")).scalar() == 0


def test_tenant_setting_shows_only_that_centers_rows(world, app_engine, owner_engine):
    tokyo = _center_id(owner_engine, "tokyo")
    with app_engine.begin() as conn:
        rls_scope(conn, tenant=tokyo)
        rows = conn.execute(text("select distinct center_id from cases")).scalars().all()
    assert rows == [tokyo]


def test_app_role_cannot_write_a_row_into_another_center(world, app_engine, owner_engine):
    tokyo, osaka = _center_id(owner_engine, "tokyo"), _center_id(owner_engine, "osaka")
    with app_engine.connect() as conn:
        trans = conn.begin()
        rls_scope(conn, tenant=tokyo)
        with pytest.raises(Exception, match="row-level security"):
            conn.execute(text(
                "insert into persons (center_id, id, family_name, given_name, family_name_kana, given_name_kana,"
                " birth_date, sex, support_needs, name_search, version, created_at, updated_at)"
                " values (:c, gen_random_uuid(), 'x', 'y', 'え', 'わ', '1950-01-01', 'male', '[]', '', 1, now(), now())"
            ), {"c": str(osaka)})
        trans.rollback()


def test_every_table_with_a_center_id_has_forced_rls_and_a_policy(database, owner_engine):
    with owner_engine.connect() as conn:
        tables = conn.execute(text(
            "select c.relname, c.relrowsecurity, c.relforcerowsecurity,"
            " (select count(*) from pg_policy p where p.polrelid = c.oid)"
            " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'public' and c.relkind in ('r','p')"
            " and exists (select 1 from information_schema.columns col"
            "   where col.table_schema = 'public' and col.table_name = c.relname and col.column_name = 'center_id')"
        )).all()
    assert len(tables) >= 5
    unprotected = [name for name, enabled, forced, policies in tables if not (enabled and forced and policies)]
    assert unprotected == [], f"tables with a center_id but no forced RLS policy: {unprotected}"


def test_application_role_owns_nothing_and_cannot_bypass_rls(database, app_engine):
    with app_engine.connect() as conn:
        superuser, bypass, owned = conn.execute(text(
            "select r.rolsuper, r.rolbypassrls, (select count(*) from pg_class c where c.relowner = r.oid)"
            " from pg_roles r where r.rolname = current_user")).one()
    assert (superuser, bypass, owned) == (False, False, 0)


def test_app_refuses_to_start_as_the_schema_owner(database):
    from teichaku.app import create_app
    from teichaku.platform.database import UnsafeDatabaseRole

    with pytest.raises(UnsafeDatabaseRole):
        create_app({"APP_DATABASE_URL": database["owner_url"], "REDIS_URL": "redis://127.0.0.1:6379/15"})


def test_audit_log_is_append_only_for_the_application_role(world, app_engine):
    with app_engine.connect() as conn:
        trans = conn.begin()
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("update audit_entries set action = 'x'"))
        trans.rollback()
        trans = conn.begin()
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("delete from audit_entries"))
        trans.rollback()


def test_every_tenant_owned_table_has_center_id_first_in_its_primary_key(app):
    from teichaku.platform.models import tenant_models

    with app.app_context():
        models = tenant_models()
    assert models
    for model in models:
        pk = [c.name for c in model.__table__.primary_key.columns]
        assert pk[0] == "center_id" and "id" in pk, f"{model.__tablename__}: primary key {pk}"
        for fk in model.__table__.foreign_key_constraints:
            target = fk.referred_table
            if any(c.name == "center_id" for c in target.columns) and target.name != "centers":
                assert "center_id" in [c.name for c in fk.columns], f"{model.__tablename__} -> {target.name} lacks center_id"


# --- SQL injected into the application's connection (the scope token) -----------------------------

def _counts(conn, osaka, tokyo) -> tuple[int, int, int]:
    """(osaka's cases, tokyo's cases, osaka's accounts) visible in this transaction."""
    cases = dict(conn.execute(text("select center_id, count(*) from cases group by center_id")).all())
    users = conn.execute(text("select count(*) from users where center_id = :c"), {"c": osaka}).scalar()
    return cases.get(osaka, 0), cases.get(tokyo, 0), users


def test_injected_set_config_of_the_scope_settings_sees_nothing_of_another_center(world, app_engine, owner_engine):
    """In tokyo's signed transaction, injected SQL sets app.cross_tenant / app.accounts / app.tenant_id
    by hand: the policies believe none of it (the token no longer matches) and show nothing."""
    tokyo, osaka = _center_id(owner_engine, "tokyo"), _center_id(owner_engine, "osaka")
    with app_engine.begin() as conn:
        rls_scope(conn, tenant=tokyo)
        assert _counts(conn, osaka, tokyo)[:2] == (0, 1)  # the legitimate scope: tokyo only
    injections = (
        "select set_config('app.cross_tenant', 'on', true)",
        "select set_config('app.accounts', 'on', true)",
        "select set_config('app.cross_tenant', 'on', true), set_config('app.accounts', 'on', true)",
        f"select set_config('app.tenant_id', '{osaka}', true)",
        "select set_config('app.cross_tenant', 'on', false)",  # session-wide, then a new transaction
    )
    for injected in injections:
        with app_engine.begin() as conn:
            rls_scope(conn, tenant=tokyo)
            conn.execute(text(injected))
            assert _counts(conn, osaka, tokyo) == (0, 0, 0), injected
        with app_engine.begin() as conn:  # without any token at all
            conn.execute(text(injected))
            assert _counts(conn, osaka, tokyo) == (0, 0, 0), injected


def test_a_scope_token_copied_from_another_transaction_lifts_nothing(app, world, owner_engine):
    """A token read inside a lifted transaction (cross-tenant and account look-up) and replayed
    with the same settings in a later transaction of the same connection opens nothing."""
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import account_lookup, cross_tenant, set_tenant

    tokyo, osaka = _center_id(owner_engine, "tokyo"), _center_id(owner_engine, "osaka")
    read = text("select current_setting('app.tenant_id'), current_setting('app.cross_tenant'),"
                " current_setting('app.accounts'), current_setting('app.scope_token')")
    with app.app_context():
        set_tenant(tokyo)
        with cross_tenant("test.replay"), account_lookup():
            copied = db.session.execute(read).one()
            assert _counts(db.session.connection(), osaka, tokyo)[0] >= 1  # lifted for real
        db.session.commit()
        set_tenant(None)
        connection = db.session.connection()  # the same pooled connection: same backend, new transaction
        connection.execute(text("select set_config('app.tenant_id', :t, true), set_config('app.cross_tenant', :c, true),"
                                " set_config('app.accounts', :a, true), set_config('app.scope_token', :k, true)"),
                           dict(zip("tcak", copied)))
        assert _counts(connection, osaka, tokyo) == (0, 0, 0)
        db.session.rollback()


def test_the_application_role_cannot_read_the_scope_key_nor_call_the_verifier(world, app_engine):
    for sql in ("select * from rls_scope_key", "select teichaku_scope_valid()"):
        with app_engine.connect() as conn:
            with pytest.raises(Exception, match="permission denied"):
                conn.execute(text(sql))


def test_no_policy_reads_a_setting_except_through_the_verifying_functions(database, owner_engine):
    with owner_engine.connect() as conn:
        rows = conn.execute(text("select tablename, policyname, coalesce(qual, '') || ' ' || coalesce(with_check, '')"
                                 " from pg_policies where schemaname = 'public'")).all()
        definer = conn.execute(text("select proname from pg_proc where prosecdef and pronamespace = 'public'::regnamespace"
                                    " and prosrc like '%current_setting(''app.tenant_id''%'"
                                    " and proname not in ('teichaku_scope_valid', 'teichaku_tenant')")).scalars().all()
    assert rows
    assert [(t, p) for t, p, expr in rows if "current_setting" in expr] == []
    assert definer == [], "SECURITY DEFINER functions trusting the raw tenant setting"


def test_the_cross_tenant_services_still_see_across_centers_inside_one_transaction(app, world, owner_engine):
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import cross_tenant, set_tenant

    tokyo, osaka = _center_id(owner_engine, "tokyo"), _center_id(owner_engine, "osaka")
    with app.app_context():
        set_tenant(tokyo)
        assert _counts(db.session.connection(), osaka, tokyo)[:2] == (0, 1)
        with cross_tenant("test.lift"):
            seen_osaka, seen_tokyo, _ = _counts(db.session.connection(), osaka, tokyo)
            assert seen_osaka >= 1 and seen_tokyo == 1
        assert _counts(db.session.connection(), osaka, tokyo)[:2] == (0, 1)  # lowered again, same transaction
        db.session.rollback()


def test_the_app_refuses_to_start_when_the_database_does_not_verify_its_scope_key(make_app):
    from teichaku.platform.scope_token import ScopeKeyMismatch

    with pytest.raises(ScopeKeyMismatch, match="rls sync-key"):
        make_app(RLS_SCOPE_KEY="another-installation-" + "z" * 32)


def test_rls_sync_key_stores_the_environments_key_for_the_app(database, make_app):
    """After a key change the owner's command makes the database verify the new key (and only it)."""
    import os

    from teichaku.app import create_app
    from teichaku.platform.scope_token import ScopeKeyMismatch

    def sync(key: str) -> None:
        owner = create_app({"TESTING": True, "RLS_SCOPE_KEY": key}, database_role="owner")
        result = owner.test_cli_runner().invoke(args=["rls", "sync-key"])
        assert result.exit_code == 0, result.output
        from teichaku.platform.extensions import db

        with owner.app_context():
            db.engine.dispose()

    rotated = "rotated-scope-key-" + "r" * 32
    try:
        sync(rotated)
        make_app(RLS_SCOPE_KEY=rotated)  # starts
        with pytest.raises(ScopeKeyMismatch):
            make_app()
    finally:
        sync(os.environ["RLS_SCOPE_KEY"])
    make_app()


def test_injected_sql_cannot_plant_a_temporary_table_that_shadows_a_real_one(world, app_engine):
    """A temporary table comes first in an unqualified lookup: planted by injected SQL on a pooled
    connection, it would stand in for ``persons`` in every later transaction there."""
    with app_engine.connect() as conn:
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("create temporary table persons (id uuid)"))
        conn.rollback()
