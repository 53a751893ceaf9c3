"""The schema comes only from migrations, and they form one line an operator can upgrade along."""
from __future__ import annotations

import os
import subprocess

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
