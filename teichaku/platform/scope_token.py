"""The per-transaction scope token: row-level security believes only settings the app signed.

The threat is SQL injected into the application's own connection (role ``teichaku_app``).  Such
SQL can call ``set_config`` like the app does, so a policy that trusts ``app.tenant_id``,
``app.cross_tenant`` or ``app.accounts`` as sent would let it name another center or lift the
tenant scope.  So the app also sends ``app.scope_token``: an HMAC-SHA256, under a key only the
application process and the schema owner hold, of every scope setting *and* of a nonce the
database confirms for itself (this backend's pid and the start of this transaction).  The policies
read the settings only through the ``SECURITY DEFINER`` functions of ``platform/rls.py``, which
recompute the HMAC with the key from ``rls_scope_key`` (a table the application role cannot
read); a setting changed by hand, or a token copied from another transaction, verifies nothing,
and the statement then sees no tenant row at all (fail closed).

The key is ``RLS_SCOPE_KEY`` when set, else derived from ``SECRET_KEY``; the owner stores it with
``flask --app wsgi rls sync-key`` (the migration stores it too), and the app refuses to start when
the database does not verify its tokens (``check_key``).
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Mapping

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

KEY_TABLE = "rls_scope_key"
LABEL = b"teichaku rls scope key v1"
# The database's own per-transaction nonce: the backend's pid and the transaction's start in
# microseconds.  The same expression is computed by the app (fetched) and by the verifying
# function, so both sides hash the very same text.
NONCE_SQL = ("pg_backend_pid()::text || ':' || "
             "(extract(epoch from transaction_timestamp()) * 1000000)::bigint::text")
SETTINGS = ("tenant", "cross", "accounts")
SYNC_COMMAND = "flask --app wsgi rls sync-key"


class ScopeKeyMismatch(RuntimeError):
    """The database does not verify this process's scope tokens (key missing or different)."""


def derive_key(config: Mapping) -> bytes:
    """The 32-byte HMAC key: from ``RLS_SCOPE_KEY`` when set, else from ``SECRET_KEY``."""
    material = config.get("RLS_SCOPE_KEY") or config["SECRET_KEY"]
    return hmac.new(str(material).encode(), LABEL, hashlib.sha256).digest()


def pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys, stored so the database needs only built-in sha256()."""
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def message(settings: Mapping[str, str], nonce: str) -> str:
    """What is signed: the three settings and the nonce (the verifying function builds the same)."""
    return "|".join(("v1", *(settings.get(name, "") for name in SETTINGS), nonce))


def token(key: bytes, settings: Mapping[str, str], nonce: str) -> str:
    return hmac.new(key, message(settings, nonce).encode(), hashlib.sha256).hexdigest()


_NONCE = text(f"select {NONCE_SQL}")
_SET = text(
    "select set_config('app.tenant_id', :tenant, true),"
    " set_config('app.cross_tenant', :cross, true),"
    " set_config('app.accounts', :accounts, true),"
    " set_config('app.scope_token', :token, true)"
)


def fetch_nonce(connection) -> str:
    """This transaction's nonce (the statement also opens the transaction when none is open)."""
    return connection.execute(_NONCE).scalar_one()


def send(connection, key: bytes, settings: Mapping[str, str], nonce: str | None) -> None:
    """Set the scope settings of the open transaction, signed when any is set."""
    values = {name: settings.get(name, "") for name in SETTINGS}
    signed = any(values.values())
    if signed and nonce is None:
        nonce = fetch_nonce(connection)
    connection.execute(_SET, {**values, "token": token(key, values, nonce) if signed else ""})


def scope(connection, key: bytes, *, tenant=None, cross: bool = False, accounts: bool = False) -> None:
    """Scope a raw connection's open transaction as the app would (tests, benchmarks, tools)."""
    send(connection, key, {"tenant": str(tenant) if tenant else "", "cross": "on" if cross else "",
                           "accounts": "on" if accounts else ""}, None)


def store_key(connection, key: bytes) -> None:
    """Write the key into ``rls_scope_key`` (the schema owner's connection; idempotent)."""
    ipad, opad = pads(key)
    connection.execute(text(
        f"insert into {KEY_TABLE} (id, ipad, opad, updated_at) values (1, :i, :o, now())"
        " on conflict (id) do update set ipad = excluded.ipad, opad = excluded.opad, updated_at = now()"
        f" where ({KEY_TABLE}.ipad, {KEY_TABLE}.opad) is distinct from (excluded.ipad, excluded.opad)"
    ), {"i": ipad, "o": opad})


def verifies(connection, key: bytes) -> bool:
    """True when the database accepts this key's tokens (one rolled-back probe transaction)."""
    if connection.in_transaction():
        connection.rollback()
    try:
        scope(connection, key, accounts=True)
        return bool(connection.execute(text("select teichaku_scope_ok('accounts')")).scalar())
    finally:
        connection.rollback()


def check_key(engine, key: bytes) -> None:
    """Start-up check of the application process: refuse to run with tokens nobody verifies."""
    with engine.connect() as connection:
        try:
            ok = verifies(connection, key)
        except DBAPIError:
            ok = False  # the functions are missing: the database is not migrated
    if not ok:
        raise ScopeKeyMismatch(
            "the database does not verify this process's row-level security scope key "
            f"(RLS_SCOPE_KEY, or SECRET_KEY when unset): run `flask --app wsgi db upgrade` and "
            f"`{SYNC_COMMAND}` as the schema owner with the same environment"
        )
