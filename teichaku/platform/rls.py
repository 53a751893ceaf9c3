"""Row-level security and grants, written by the migrations (PostgreSQL only).

Every table with a ``center_id`` gets RLS ``ENABLE``d and ``FORCE``d with a policy; the meta-test
``tests/test_rls_meta.py`` checks that none is missed.  Policies read transaction-local settings
that ``platform.tenancy`` sends at the start of each transaction.  ``nullif(..., '')`` makes an
unset or reset setting compare as NULL: a reused pooled connection sees no rows instead of
raising an error.
"""
from __future__ import annotations

# Each setting is read in a sub-select, so PostgreSQL evaluates it once per statement (an
# InitPlan) and can still use the (center_id, ...) indexes; a bare current_setting() in an OR
# makes the planner scan every row of the center (measured by make bench).
TENANT = "(select nullif(current_setting('app.tenant_id', true), '')::uuid)"
CROSS_TENANT = "(select current_setting('app.cross_tenant', true) = 'on')"
ACCOUNTS = "(select current_setting('app.accounts', true) = 'on')"
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


def enable_rls(op, table: str, policy: str = "tenant") -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
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
    from flask import current_app

    return current_app.config["APP_DB_ROLE"]
