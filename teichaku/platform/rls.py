"""Row-level security and grants, written by the migrations (PostgreSQL only).

Every table with a ``center_id`` gets RLS ``ENABLE``d and ``FORCE``d with a policy; the meta-test
``tests/test_rls_meta.py`` checks that none is missed.  Policies read transaction-local settings
that ``platform.tenancy`` sends at the start of each transaction, but only through the
``SECURITY DEFINER`` functions below, which believe them only when ``app.scope_token`` is the
HMAC of exactly those settings and of this transaction's nonce under the key in
``rls_scope_key`` (owner-only; see ``platform/scope_token.py`` for the argument).  An unset,
reset or hand-made setting makes the tenant NULL and the lifted scopes false: a reused pooled
connection, or injected SQL, sees no tenant rows instead of raising an error.
"""
from __future__ import annotations

from flask import current_app

from .scope_token import NONCE_SQL

# Each setting is read in a sub-select, so PostgreSQL evaluates it once per statement (an
# InitPlan) and can still use the (center_id, ...) indexes; a bare current_setting() in an OR
# makes the planner scan every row of the center (measured by make bench).  The functions verify
# the scope token (SCOPE_FUNCTIONS below) and are evaluated in that same InitPlan.
TENANT = "(select teichaku_tenant())"
CROSS_TENANT = "(select teichaku_scope_ok('cross_tenant'))"
ACCOUNTS = "(select teichaku_scope_ok('accounts'))"
PLATFORM_CHAIN = "'00000000-0000-0000-0000-000000000000'::uuid"

POLICIES = {
    # tenant-owned data: own center, or the audited cross-tenant services.  Also the aggregates'
    # rollup tables (counts only): written in each center's scope, read across centers only by
    # cross_tenant("aggregates.figures") (see crosstenant/aggregates/models.py)
    "tenant": f"center_id = {TENANT} OR {CROSS_TENANT}",
    # accounts: own center's accounts, or sign-in/session lookups
    "accounts": f"center_id = {TENANT} OR {ACCOUNTS}",
    # audit chains: own center's chain (the platform chain when no center is set)
    "audit": f"center_id = coalesce({TENANT}, {PLATFORM_CHAIN}) OR {ACCOUNTS} OR {CROSS_TENANT}",
    # notification inboxes: the recipient's center (NULL for association users, matched when no
    # tenant is set), or the delivery job (cross-tenant) and account lookups
    "inbox": f"center_id IS NOT DISTINCT FROM {TENANT} OR {CROSS_TENANT} OR {ACCOUNTS}",
    # the shared library of the case-study exchange (published, anonymised versions): every
    # role reads it (the permission table decides who may); only an author scope (a tenant: a
    # center, or the association's workspace) or a named cross-tenant service writes (CHECKS)
    "library": "true",
}
# Policies whose WITH CHECK differs from their USING (the others use one expression for both).
CHECKS = {
    "library": f"{TENANT} IS NOT NULL OR {CROSS_TENANT}",
}


def _q(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe identifier: {name!r}")
    return f'"{name}"'


# --- the scope token's verification (see platform/scope_token.py) -------------------------------

# Owner-only: the HMAC key as its two padded halves (no GRANT to the application role, ever).
KEY_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS rls_scope_key (
    id smallint PRIMARY KEY CHECK (id = 1),
    ipad bytea NOT NULL,
    opad bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)"""


def _scope_functions() -> tuple[str, ...]:
    setting = "coalesce(current_setting('app.{}', true), '')"
    signed = ("concat_ws('|', 'v1', " + ", ".join(setting.format(n) for n in ("tenant_id", "cross_tenant", "accounts"))
              + f", {NONCE_SQL})")
    definer = "LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
    return (
        # True when app.scope_token is HMAC-SHA256(key, the settings and this transaction's nonce).
        # Both sides are hashed again before comparing, so the comparison leaks no timing.
        f"""CREATE OR REPLACE FUNCTION teichaku_scope_valid() RETURNS boolean {definer} AS $$
        DECLARE
            given text := current_setting('app.scope_token', true);
            k record;
        BEGIN
            IF given IS NULL OR given = '' THEN RETURN false; END IF;
            SELECT ipad, opad INTO k FROM public.rls_scope_key WHERE id = 1;
            IF NOT FOUND THEN RETURN false; END IF;
            RETURN sha256(convert_to(encode(sha256(k.opad || sha256(k.ipad || convert_to({signed}, 'UTF8'))), 'hex'), 'UTF8'))
                 = sha256(convert_to(given, 'UTF8'));
        END $$""",
        # The current center, or NULL unless the token verifies.
        f"""CREATE OR REPLACE FUNCTION teichaku_tenant() RETURNS uuid {definer} AS $$
        BEGIN
            IF coalesce(current_setting('app.tenant_id', true), '') = '' OR NOT public.teichaku_scope_valid() THEN
                RETURN NULL;
            END IF;
            RETURN current_setting('app.tenant_id', true)::uuid;
        END $$""",
        # A lifted scope ('cross_tenant' or 'accounts'), only when the token verifies.
        f"""CREATE OR REPLACE FUNCTION teichaku_scope_ok(scope text) RETURNS boolean {definer} AS $$
        BEGIN
            IF scope NOT IN ('cross_tenant', 'accounts')
               OR current_setting('app.' || scope, true) IS DISTINCT FROM 'on' THEN
                RETURN false;
            END IF;
            RETURN public.teichaku_scope_valid();
        END $$""",
    )


def ensure_scope_functions(op) -> None:
    """Create the key table and the verifying functions (idempotent) before any policy uses them.

    Called by ``enable_rls``: the oldest migrations create their policies with today's
    expressions, so a fresh ``db upgrade`` needs the functions from its first policy on.
    """
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or bind.info.get("teichaku_scope_functions"):
        return
    op.execute(KEY_TABLE_SQL)
    op.execute("REVOKE ALL ON rls_scope_key FROM PUBLIC")
    for sql in _scope_functions():
        op.execute(sql)
    role = _q(app_role())
    op.execute("REVOKE ALL ON FUNCTION teichaku_scope_valid() FROM PUBLIC")
    for signature in ("teichaku_tenant()", "teichaku_scope_ok(text)"):
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {role}")
    bind.info["teichaku_scope_functions"] = True


def enable_rls(op, table: str, policy: str = "tenant") -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    ensure_scope_functions(op)
    expr = POLICIES[policy]
    check = CHECKS.get(policy, expr)
    op.execute(f"ALTER TABLE {_q(table)} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {_q(table)} FORCE ROW LEVEL SECURITY")
    op.execute(f"DROP POLICY IF EXISTS {policy}_isolation ON {_q(table)}")
    op.execute(f"CREATE POLICY {policy}_isolation ON {_q(table)} USING ({expr}) WITH CHECK ({check})")


def ensure_app_role(op, role: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN "
        "CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; END IF; END $$" % (role, _q(role))
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {_q(role)}")


def grant(op, role: str, table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"GRANT {privileges} ON {_q(table)} TO {_q(role)}")


def app_role() -> str:
    return current_app.config["APP_DB_ROLE"]
