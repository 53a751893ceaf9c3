"""Reporting reads from a PostgreSQL replica (``REPORTING_DATABASE_URL``, platform/reporting_reads.py).

A second database of this run stands in for the replica: it has the schema and its own rollups
(12 cases of Tokyo in FY2025), so an answer shows which database it came from.  The real
streaming replica is exercised in tests/test_infra.py (slow).
"""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select, text

from teichaku.crosstenant.aggregates import figures
from teichaku.crosstenant.aggregates.models import RollupCount
from teichaku.platform import reporting_reads
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import cross_tenant
from tests import factories
from tests.conftest import APP_ROLE, BACKEND, OWNER_ROLE, TEST_CONFIG, _create_roles_and_database, _drop_database

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="read replicas are PostgreSQL's")

FISCAL_YEAR = 2025
COPY_CASES = 12


@pytest.fixture(scope="module")
def reporting_copy():
    """A second database with the schema and 12 FY2025 cases of Tokyo in its rollups."""
    from flask_migrate import upgrade

    from teichaku.crosstenant.aggregates.jobs import rebuild_rollups
    from teichaku.app import create_app
    from teichaku.platform.centers import seed_centers

    name = f"teichaku_test_{uuid.uuid4().hex[:10]}"
    _create_roles_and_database(name)
    owner_url = f"postgresql+psycopg://{OWNER_ROLE}@127.0.0.1:5432/{name}"
    owner = create_app({"TESTING": True, "DATABASE_URL": owner_url}, database_role="owner")
    with owner.app_context():
        upgrade()
        seed_centers()
        db.session.commit()
        db.engine.dispose()
    copy_app = create_app({**TEST_CONFIG, "DATABASE_URL": owner_url})
    for _ in range(COPY_CASES):
        factories.make_case(copy_app, "tokyo", requested_on=date(FISCAL_YEAR, 6, 2))
    with copy_app.app_context():
        rebuild_rollups(triggered_by="cli")
        db.engine.dispose()
    yield f"postgresql+psycopg://{APP_ROLE}@127.0.0.1:5432/{name}"
    _drop_database(name)


def _national_cases(app) -> int:
    with app.app_context():
        value = figures.headlines(FISCAL_YEAR)["co_requests"]
        db.session.commit()
        return value


@pytest.fixture()
def primary_figures(app, world):
    factories.make_case(app, "osaka", requested_on=date(FISCAL_YEAR, 7, 1))
    with app.app_context():
        from teichaku.crosstenant.aggregates.jobs import rebuild_rollups

        rebuild_rollups(triggered_by="cli")
    return _national_cases(app)


def test_national_figures_are_read_from_the_reporting_replica_when_one_is_configured(
        make_app, reporting_copy, primary_figures):
    app = make_app(REPORTING_DATABASE_URL=reporting_copy)
    assert primary_figures != COPY_CASES
    assert _national_cases(app) == COPY_CASES
    with app.app_context():
        assert reporting_reads.replica_in_use()


def test_an_unreachable_replica_falls_back_to_the_primary(make_app, primary_figures):
    unreachable = f"postgresql+psycopg://{APP_ROLE}@127.0.0.1:1/nowhere"
    app = make_app(REPORTING_DATABASE_URL=unreachable)
    assert _national_cases(app) == primary_figures
    with app.app_context():
        assert not reporting_reads.replica_in_use()  # left alone for a while, not retried per read


def test_a_replica_further_behind_than_allowed_is_skipped(make_app, reporting_copy, primary_figures):
    app = make_app(REPORTING_DATABASE_URL=reporting_copy, REPORTING_MAX_LAG_SECONDS=-1)
    assert _national_cases(app) == primary_figures


def test_healthz_says_whether_the_replica_is_in_use_and_stays_healthy_without_it(make_app, reporting_copy):
    in_use = make_app(REPORTING_DATABASE_URL=reporting_copy).test_client().get("/healthz")
    assert in_use.status_code == 200 and in_use.get_json()["reporting_replica"] == "ok"
    down = make_app(REPORTING_DATABASE_URL=f"postgresql+psycopg://{APP_ROLE}@127.0.0.1:1/nowhere")
    answer = down.test_client().get("/healthz")
    assert answer.status_code == 200 and answer.get_json()["reporting_replica"] == "skipped"


def test_reads_on_the_replica_carry_the_callers_scope_for_row_level_security(make_app, reporting_copy):
    app = make_app(REPORTING_DATABASE_URL=reporting_copy)
    with app.app_context():
        assert reporting_reads.rows(select(RollupCount.value)) == []  # no center, no cross-tenant read
        with cross_tenant("test.reporting"):
            assert sum(v for (v,) in reporting_reads.rows(select(RollupCount.value))) > 0
        assert reporting_reads.rows(select(RollupCount.value)) == []
        db.session.rollback()


def test_a_bad_query_on_the_replica_is_an_error_not_a_fallback(make_app, reporting_copy):
    from sqlalchemy.exc import ProgrammingError

    app = make_app(REPORTING_DATABASE_URL=reporting_copy)
    with app.app_context(), pytest.raises(ProgrammingError):
        reporting_reads.rows(text("select no_such_column from centers"))


def test_production_refuses_a_reporting_url_that_is_not_postgresql():
    from teichaku.platform.config import check_production

    from teichaku.platform.config import UnsafeConfiguration

    config = {"TEICHAKU_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "postgresql://db/teichaku",
              "TWO_FACTOR_REQUIRED": True, "REPORTING_DATABASE_URL": "sqlite:///copy.db"}
    with pytest.raises(UnsafeConfiguration, match="REPORTING_DATABASE_URL"):
        check_production(config)


def test_without_the_setting_there_is_no_second_engine(app):
    with app.app_context():
        assert "reporting" not in db.engines and not reporting_reads.replica_in_use()
        assert reporting_reads.lag_seconds() == 0.0
