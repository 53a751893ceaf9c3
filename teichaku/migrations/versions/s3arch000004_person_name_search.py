"""Name search that uses its index under row-level security.

Under RLS a query's own condition becomes an index condition only if its operator is LEAKPROOF;
``@>`` on arrays is not, so PostgreSQL read every person of the center (make bench: 300 ms at
200,000 cases).  ``tenant_person_ids`` runs as the schema owner and applies the tenant rule
itself (the same ``app.tenant_id`` setting, failing closed when it is unset), so the GIN index
on ``(center_id, name_grams)`` (btree_gin) is used.  Only the application role may call it.

Revision ID: s3arch000004
Revises: m3rge0000003
"""
from alembic import op

from teichaku.platform.rls import app_role

revision = "s3arch000004"
down_revision = "m3rge0000003"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.execute("DROP INDEX IF EXISTS ix_persons_name_grams")
    op.execute("CREATE INDEX ix_persons_center_name_grams ON persons USING gin (center_id, name_grams)")
    op.execute(r"""
        CREATE OR REPLACE FUNCTION tenant_person_ids(grams text[], pattern text) RETURNS SETOF uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT p.id FROM persons p
             WHERE p.center_id = nullif(current_setting('app.tenant_id', true), '')::uuid
               AND p.name_grams @> grams
               AND p.name_search LIKE pattern ESCAPE '\'
        $$
    """)
    op.execute("REVOKE ALL ON FUNCTION tenant_person_ids(text[], text) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION tenant_person_ids(text[], text) TO "{app_role()}"')


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS tenant_person_ids(text[], text)")
    op.execute("DROP INDEX IF EXISTS ix_persons_center_name_grams")
    op.execute("CREATE INDEX ix_persons_name_grams ON persons USING gin (name_grams)")
