"""Hardening: RLS scope lifted only with a per-transaction token the policies verify; retention functions derive their rows.

Against SQL injected into the application's connection (``teichaku/platform/scope_token.py``):

* The key table ``rls_scope_key`` (owner-only) and the verifying functions
  ``teichaku_tenant()``, ``teichaku_scope_ok(scope)`` (``platform/rls.py``), and the key of the
  environment running this migration (``flask --app wsgi rls sync-key`` writes it again later).
* Every policy of the schema re-created with today's ``rls.POLICIES`` (the settings read only
  through the functions); the name search's ``tenant_person_ids`` reads the verified tenant.
* The retention functions took row ids and audit object ids from the caller: replaced by one,
  ``retention_erase_person(person)``, which finds the person's rows itself, only for a person of
  the verified current center already erased (identity gone), and blanks only the audit entries
  about that person, its cases and the rows it deletes.

Revision ID: h4rden0001
Revises: r3tention001
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
from flask import current_app
from sqlalchemy import text

from teichaku.platform import rls
from teichaku.platform.scope_token import derive_key, store_key

# revision identifiers, used by Alembic.
revision = "h4rden0001"
down_revision = "r3tention001"
branch_labels = None
depends_on = None

# The handover's own policy (h4ndover0001): everyone reads, a cross-tenant scope writes.
SPECIAL = {"operators_isolation": ("true", rls.CROSS_TENANT)}

# What an erasure deletes: (table, column, the set the column must be in), children first.
ERASED_ROWS = (
    ("transfer_message_attachments", "transfer_id", "transfer_ids"),
    ("transfer_messages", "transfer_id", "transfer_ids"),
    ("plan_revisions", "plan_id", "plan_ids"),
    ("coordination_plans", "case_id", "case_ids"),
    ("case_records", "case_id", "case_ids"),
    ("case_documents", "case_id", "case_ids"),
    ("case_needs", "case_id", "case_ids"),
    ("reminders", "case_id", "case_ids"),
    ("committee_agenda_items", "case_id", "case_ids"),
    ("provision_records", "person_id", "person_ids"),
)

# The expressions before this revision (downgrade only).
LEGACY_TENANT = "(select nullif(current_setting('app.tenant_id', true), '')::uuid)"
LEGACY_CROSS = "(select current_setting('app.cross_tenant', true) = 'on')"
LEGACY_ACCOUNTS = "(select current_setting('app.accounts', true) = 'on')"


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _policies() -> list[tuple[str, str]]:
    return [tuple(row) for row in op.get_bind().execute(text(
        "select tablename, policyname from pg_policies where schemaname = 'public' order by 1, 2"))]


def _expressions(policy: str) -> tuple[str, str]:
    if policy in SPECIAL:
        return SPECIAL[policy]
    kind = policy.removesuffix("_isolation")
    if not policy.endswith("_isolation") or kind not in rls.POLICIES:
        raise RuntimeError(f"policy {policy} is not one of rls.POLICIES: give it its verified expressions")
    expr = rls.POLICIES[kind]
    return expr, rls.CHECKS.get(kind, expr)


def _legacy(sql: str) -> str:
    return (sql.replace(rls.TENANT, LEGACY_TENANT).replace(rls.CROSS_TENANT, LEGACY_CROSS)
            .replace(rls.ACCOUNTS, LEGACY_ACCOUNTS))


def _recreate_policies(legacy: bool = False) -> None:
    for table, policy in _policies():
        using, check = _expressions(policy)
        if legacy:
            using, check = _legacy(using), _legacy(check)
        op.execute(f'ALTER POLICY {policy} ON "{table}" USING ({using}) WITH CHECK ({check})')
    if legacy:
        return
    left = op.get_bind().execute(text(
        "select tablename || '.' || policyname from pg_policies where schemaname = 'public'"
        " and (coalesce(qual, '') || coalesce(with_check, '')) like '%current_setting%'")).scalars().all()
    if left:
        raise RuntimeError(f"policies still reading a setting directly: {left}")


def _person_search(tenant: str) -> None:
    op.execute(rf"""
        CREATE OR REPLACE FUNCTION tenant_person_ids(grams text[], pattern text) RETURNS SETOF uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT p.id FROM persons p
             WHERE p.center_id = {tenant}
               AND p.name_grams @> grams
               AND p.name_search LIKE pattern ESCAPE '\'
        $$""")


def _erase_function(role: str) -> None:
    deletes = "\n".join(f"""
            EXECUTE 'WITH d AS (DELETE FROM {table} WHERE center_id = $1 AND {column} = ANY($2) RETURNING id)'
                    ' SELECT coalesce(array_agg(id::text), ''{{}}''), count(*) FROM d'
               INTO ids, n USING tenant, {source};
            objects := objects || ids;
            counts := counts || jsonb_build_object('{table}', n);""" for table, column, source in ERASED_ROWS)
    op.execute(f"""
        CREATE FUNCTION retention_erase_person(erased_person uuid) RETURNS jsonb
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            tenant uuid := teichaku_tenant();
            person_ids uuid[] := ARRAY[erased_person];
            case_ids uuid[]; transfer_ids uuid[]; pull_ids uuid[]; plan_ids uuid[];
            objects text[]; ids text[]; n integer;
            counts jsonb := '{{}}';
        BEGIN
            IF tenant IS NULL THEN RAISE EXCEPTION 'retention: no center is set'; END IF;
            IF NOT EXISTS (SELECT 1 FROM persons WHERE center_id = tenant AND id = erased_person
                           AND erased_at IS NOT NULL AND birth_date IS NULL AND family_name = '') THEN
                RAISE EXCEPTION 'retention: person % is not being erased', erased_person;
            END IF;
            SELECT coalesce(array_agg(id), '{{}}') INTO case_ids FROM cases WHERE center_id = tenant AND person_id = erased_person;
            SELECT coalesce(array_agg(id), '{{}}') INTO transfer_ids FROM transfers WHERE center_id = tenant AND case_id = ANY(case_ids);
            SELECT coalesce(array_agg(id), '{{}}') INTO pull_ids FROM transfer_pulls WHERE center_id = tenant AND case_id = ANY(case_ids);
            SELECT coalesce(array_agg(id), '{{}}') INTO plan_ids FROM coordination_plans WHERE center_id = tenant AND case_id = ANY(case_ids);
            objects := ARRAY[erased_person::text] || case_ids::text[] || transfer_ids::text[] || pull_ids::text[];
            {deletes}
            UPDATE audit_entries SET details = NULL, details_blanked = true
             WHERE center_id = tenant AND NOT details_blanked
               AND (person_id = erased_person OR object_id = ANY(objects));
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN counts || jsonb_build_object('audit_entries_blanked', n);
        END $$""")
    op.execute("REVOKE ALL ON FUNCTION retention_erase_person(uuid) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION retention_erase_person(uuid) TO "{role}"')


def _legacy_retention_functions(role: str) -> None:
    tables = "(" + ",".join(f"'{t}'" for t, _, _ in ERASED_ROWS) + ")"
    check = f"""
        IF tenant IS NULL THEN RAISE EXCEPTION 'retention: no center is set'; END IF;
        IF NOT EXISTS (SELECT 1 FROM persons WHERE center_id = tenant AND id = erased_person
                       AND erased_at IS NOT NULL) THEN
            RAISE EXCEPTION 'retention: person % is not being erased', erased_person;
        END IF;"""
    op.execute(f"""
        CREATE FUNCTION retention_delete_rows(tbl text, ids uuid[], erased_person uuid) RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid; n integer;
        BEGIN
            IF tbl NOT IN {tables} THEN RAISE EXCEPTION 'retention: % is not erasable', tbl; END IF;
            {check}
            EXECUTE format('DELETE FROM %I WHERE center_id = $1 AND id = ANY($2)', tbl) USING tenant, ids;
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN n;
        END $$""")
    op.execute(f"""
        CREATE FUNCTION retention_blank_audit(erased_person uuid, object_ids text[]) RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid; n integer;
        BEGIN
            {check}
            UPDATE audit_entries SET details = NULL, details_blanked = true
             WHERE center_id = tenant AND NOT details_blanked
               AND (person_id = erased_person OR object_id = ANY(object_ids));
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN n;
        END $$""")
    for signature in ("retention_delete_rows(text, uuid[], uuid)", "retention_blank_audit(uuid, text[])"):
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {signature} TO "{role}"')


def upgrade():
    if not _postgres():
        return  # SQLite has no row-level security and no functions: tenancy's ORM filter alone
    rls.ensure_scope_functions(op)
    store_key(op.get_bind(), derive_key(current_app.config))
    _recreate_policies()
    _person_search("teichaku_tenant()")
    op.execute("DROP FUNCTION IF EXISTS retention_delete_rows(text, uuid[], uuid)")
    op.execute("DROP FUNCTION IF EXISTS retention_blank_audit(uuid, text[])")
    _erase_function(rls.app_role())


def downgrade():
    if not _postgres():
        return
    op.execute("DROP FUNCTION IF EXISTS retention_erase_person(uuid)")
    _legacy_retention_functions(rls.app_role())
    _person_search("nullif(current_setting('app.tenant_id', true), '')::uuid")
    _recreate_policies(legacy=True)
    for signature in ("teichaku_scope_ok(text)", "teichaku_tenant()", "teichaku_scope_valid()"):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP TABLE IF EXISTS rls_scope_key")
    op.get_bind().info.pop("teichaku_scope_functions", None)
