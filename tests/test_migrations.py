"""The schema comes only from migrations, and they form one line an operator can upgrade along."""
from __future__ import annotations

import ast
import os
import re
import subprocess

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.crossprocess import REPO_ROOT, VENV_BIN


def test_migrations_have_a_single_head(database):
    result = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "db", "heads"], cwd=REPO_ROOT,
                            env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    heads = [line for line in result.stdout.splitlines() if "(head)" in line]
    assert len(heads) == 1, result.stdout


def test_models_match_the_migrated_schema(app):
    """Autogenerate finds nothing to add: every model table and column came from a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from teichaku.platform.extensions import db

    with app.app_context():
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    missing = [d for d in diff if d[0] in ("add_table", "add_column")]
    assert missing == [], missing


# --- CHECK constraints: Alembic's compare does not look at them ---------------------------------

# Names a released migration got wrong are renamed by ``l4yers0001``: no CHECK's name may differ
# from the model's (a later migration that drops or widens one by name would miss it).
_ARRAY = re.compile(r"ARRAY\[([^\[\]]*)\]")


def _normalised(definition: str) -> str:
    """``pg_get_constraintdef`` text with the members of each ``IN`` list (an ``ARRAY[...]``) in one
    order: a list is a set, and migrations that rebuild one append the new members at its end."""
    return _ARRAY.sub(lambda m: "ARRAY[" + ", ".join(sorted(m.group(1).split(", "))) + "]", definition)

def _model_checks(app) -> dict[tuple[str, str], tuple[str, str]]:
    """Every CHECK the models declare: (table, constraint name) -> (table, SQL as the models write it)."""
    from sqlalchemy import CheckConstraint
    from sqlalchemy.dialects import postgresql

    from teichaku.platform.extensions import db

    dialect = postgresql.dialect()
    with app.app_context():
        return {(table.name, dialect.identifier_preparer.format_constraint(c)): (table.name, str(c.sqltext.compile(dialect=dialect)))
                for table in db.metadata.sorted_tables for c in table.constraints if isinstance(c, CheckConstraint)}


def _migrated_checks(conn, tables: set[str]) -> dict[tuple[str, str], str]:
    """Every CHECK of the model tables in the migrated database, as PostgreSQL prints it back."""
    rows = conn.execute(text(
        "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE c.contype = 'c' AND n.nspname = current_schema()")).all()
    return {(table, name): _normalised(definition)
            for table, name, definition in rows if table in tables}


def _as_postgres_prints(conn, table: str, sql: str, n: int) -> str:
    """The model's CHECK as PostgreSQL prints it back: added for a moment (NOT VALID: no row is
    read) to the migrated table itself, so both sides are normalised by the same server against
    the same column types; an expression the table cannot hold (a column the migrations never
    made) comes back as its error."""
    scratch = f"zz_model_check_{n}"
    try:
        with conn.begin_nested():
            conn.execute(text(f'ALTER TABLE "{table}" ADD CONSTRAINT {scratch} CHECK ({sql}) NOT VALID'))
            printed = conn.execute(text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"), {"name": scratch}).scalar_one()
    except DBAPIError as refused:
        return f"not addable to the migrated table: {refused.orig}"
    return _normalised(printed.removesuffix(" NOT VALID"))


def test_a_model_check_changed_without_a_migration_differs_from_the_migrated_schema(app, owner_engine):
    """A CHECK edited (or added, or dropped) in a model without a migration is caught: the migrated
    database's CHECK constraints equal the models', per table and constraint name, compared as
    PostgreSQL prints them (``pg_get_constraintdef``).  Everything runs in one transaction that is
    rolled back, so the database is left as the migrations made it."""
    if owner_engine.dialect.name != "postgresql":
        pytest.skip("pg_constraint: PostgreSQL only (SQLite keeps no parsed CHECKs to compare)")
    declared = _model_checks(app)
    with owner_engine.connect() as conn, conn.begin() as outer:
        migrated = _migrated_checks(conn, {table for table, _name in declared.values()})
        modelled = {key: _as_postgres_prints(conn, table, sql, n) for n, (key, (table, sql)) in enumerate(sorted(declared.items()))}
        outer.rollback()
    assert len(modelled) > 100  # every models module was imported (the app registers them all)
    differing = {key: {"migrations": migrated.get(key), "models": modelled.get(key)}
                 for key in sorted(set(migrated) | set(modelled)) if migrated.get(key) != modelled.get(key)}
    assert differing == {}, "\n".join(f"{table}.{name}: {sides}" for (table, name), sides in differing.items())


def test_a_notification_kind_added_in_the_code_without_a_migration_is_caught():
    """The notification ``kind`` CHECKs are rebuilt by migrations from the code's own list, so the
    migrated test database always matches the models and the comparison above cannot see a new
    kind; an installed database, already past those migrations, would refuse it.  Every kind must
    therefore be named in a migration (a module-level ``..._KINDS`` tuple of the revision that
    added it to the CHECK, written out: not the code's list imported)."""
    from teichaku.crosstenant.notifications.models import KINDS

    named: set[str] = set()
    for path in sorted((REPO_ROOT / "teichaku" / "migrations" / "versions").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # literals only, not the code's list imported
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple)
                    and any(isinstance(t, ast.Name) and t.id.endswith("KINDS") for t in node.targets)):
                named |= set(ast.literal_eval(node.value))
    assert sorted(set(KINDS) - named) == []
