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
    from teichaku.platform.app import create_app
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
