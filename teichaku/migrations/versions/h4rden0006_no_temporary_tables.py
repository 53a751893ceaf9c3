"""Hardening: the application role cannot create temporary tables.

SQL injected into the application's connection could otherwise create a temporary table named
like a real one; ``pg_temp`` comes first in an unqualified lookup, so a later transaction on the
same pooled connection would read or write the planted table instead of the real one (and past
row-level security).  Nothing in the application uses temporary tables.  PostgreSQL grants
TEMPORARY to PUBLIC by default, so it is revoked from PUBLIC and from the application role.

Revision ID: h4rden0006
Revises: h4rden0005
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa  # noqa: F401

from teichaku.platform.rls import app_role


# revision identifiers, used by Alembic.
revision = "h4rden0006"
down_revision = "h4rden0005"
branch_labels = None
depends_on = None


def _temporary(verb: str, preposition: str) -> None:
    """GRANT ... TO / REVOKE ... FROM, on this database, for PUBLIC and the application role."""
    if op.get_bind().dialect.name != "postgresql":
        return
    role = app_role()
    if not role.replace("_", "").isalnum():
        raise ValueError(f"unsafe role name: {role!r}")
    on_db = f"{verb} TEMPORARY ON DATABASE %I {preposition}"
    op.execute(
        "DO $$ BEGIN "
        f"EXECUTE format('{on_db} PUBLIC', current_database()); "
        f"IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
        f"EXECUTE format('{on_db} %I', current_database(), '{role}'); "
        "END IF; END $$"
    )


def upgrade():
    _temporary("REVOKE", "FROM")


def downgrade():
    _temporary("GRANT", "TO")
