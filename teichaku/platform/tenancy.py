"""Tenant scoping: one mechanism for every tenant-owned model.

Three layers, all driven from here:

1. ``get_owned_or_404`` loads by id *and* center (the access helper views and services use).
2. A ``do_orm_execute`` hook adds ``with_loader_criteria(TenantOwned, center_id == tenant)`` to
   every ORM statement, so a forgotten filter still cannot reach another center's rows.  With no
   tenant set the criterion matches nothing (fail closed).
3. On PostgreSQL, each transaction carries ``app.tenant_id`` (``set_config(..., true)``), which the
   row-level security policies written by the migrations compare against, signed with
   ``app.scope_token`` (``platform/scope_token.py``) so that SQL injected into the connection
   cannot choose another center or lift the scope.

The scope lives in ``flask.g`` (one per request, one per job's app context).  Two named escape
hatches exist, both narrow:

* ``cross_tenant(purpose)`` lifts the tenant filter for the cross-tenant services (transfers,
  exchange, aggregates); every use writes an audit entry.
* ``account_lookup()`` opens only the account table, for sign-in and session loading before the
  tenant is known.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from flask import abort, current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, with_loader_criteria

from . import scope_token
from .extensions import db
from .models import TenantOwned

T = TypeVar("T")


class TenantViolation(RuntimeError):
    """Raised when code tries to write a row into a center other than the current tenant."""


# --- the current scope -----------------------------------------------------------------------

# Writes the escape hatch's audit entry: ``platform.audit.services.record``, named by the app
# factory (``use_audit_writer``).  Why not an import: the audit log sits above tenancy (it writes
# into the current center's chain, which tenancy decides), so tenancy must not import it.
_audit_writer: Callable[..., object] | None = None


def use_audit_writer(writer: Callable[..., object]) -> None:
    """Name the function that audits every opening of ``cross_tenant`` (the app factory does)."""
    global _audit_writer
    _audit_writer = writer


def current_center_id() -> uuid.UUID | None:
    return getattr(g, "tenant_id", None) if has_app_context() else None


def _cross_tenant_purpose() -> str | None:
    return getattr(g, "cross_tenant_purpose", None) if has_app_context() else None


def _account_lookup_depth() -> int:
    return getattr(g, "account_lookup_depth", 0) if has_app_context() else 0


def set_tenant(center_id: uuid.UUID | None) -> None:
    """Scope everything that follows (this request or job) to one center, or to none."""
    g.tenant_id = center_id
    _apply_to_open_transaction()


@contextmanager
def cross_tenant(purpose: str, *, actor=None) -> Iterator[None]:
    """The one escape hatch for cross-tenant reads, used only by the named cross-tenant services.

    ``purpose`` says why (it is written to the audit log).  Nesting keeps the outer purpose.
    Raises ``RuntimeError`` (before opening anything) when no audit writer was named: the escape
    hatch is never opened unaudited.
    """
    audit_record = _audit_writer
    if audit_record is None:
        raise RuntimeError("cross_tenant has no audit writer: build the app with teichaku.app.create_app")
    previous = _cross_tenant_purpose()
    g.cross_tenant_purpose = previous or purpose
    _apply_to_open_transaction()
    try:
        if previous is None:
            audit_record("cross_tenant.read", object_type="purpose", object_id=purpose)
        yield
    finally:
        g.cross_tenant_purpose = previous
        _apply_to_open_transaction()


@contextmanager
def account_lookup() -> Iterator[None]:
    """Open the account table (only) across centers: sign-in and session loading."""
    g.account_lookup_depth = _account_lookup_depth() + 1
    _apply_to_open_transaction()
    try:
        yield
    finally:
        g.account_lookup_depth = _account_lookup_depth() - 1
        _apply_to_open_transaction()


# --- access helpers --------------------------------------------------------------------------

def get_owned(model: type[T], object_id) -> T | None:
    """Load a tenant-owned row by id *and* the current center; None for another center's row."""
    center_id = current_center_id()
    if center_id is None and _cross_tenant_purpose() is None:
        return None
    try:
        object_id = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except (ValueError, TypeError):
        return None
    stmt = db.select(model).where(model.id == object_id)
    if _cross_tenant_purpose() is None:
        stmt = stmt.where(model.center_id == center_id)
    return db.session.execute(stmt).scalar_one_or_none()


def get_owned_or_404(model: type[T], object_id) -> T:
    """Like ``get_owned``; another center's row and a missing row give the same 404."""
    obj = get_owned(model, object_id)
    if obj is None:
        abort(404)
    return obj


# --- the global ORM filter -------------------------------------------------------------------

def _scope_orm_statements(state) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the criteria of the top-level statement propagate to these loads
    if _cross_tenant_purpose() is not None:
        return
    tenant_id = current_center_id()
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.center_id == tenant_id,
            include_aliases=True,
            propagate_to_loaders=True,
        )
    )


def _stamp_and_check_tenant(session, flush_context, instances) -> None:
    """New rows get the current center; a row of another center can't be written in scope."""
    purpose = _cross_tenant_purpose()
    tenant_id = current_center_id()
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, TenantOwned):
            continue
        if obj.center_id is None:
            if tenant_id is None:
                raise TenantViolation("a tenant-owned row needs a center: no tenant is set")
            obj.center_id = tenant_id
        elif purpose is None and obj.center_id != tenant_id:
            raise TenantViolation("refusing to write a row of another center")


# --- PostgreSQL: the per-transaction settings for row-level security ---------------------------
#
# The policies believe the settings only with ``app.scope_token``, the HMAC of the settings and
# of the transaction's nonce (backend pid, transaction start) under the app's key
# (``platform/scope_token.py``): SQL injected into this connection can change a setting but
# cannot sign it, and a token copied from another transaction names another nonce.

def _settings() -> dict[str, str]:
    tenant_id = current_center_id()
    return {
        "tenant": str(tenant_id) if tenant_id else "",
        "cross": "on" if _cross_tenant_purpose() else "",
        "accounts": "on" if _account_lookup_depth() > 0 else "",
    }


def _scope_key() -> bytes:
    """The app's HMAC key (derived once per app from its configuration)."""
    key = current_app.extensions.get("teichaku_scope_key")
    if key is None:
        key = current_app.extensions["teichaku_scope_key"] = scope_token.derive_key(current_app.config)
    return key


def _send(connection, settings: dict[str, str]) -> None:
    """Sign and send the settings; the nonce is fetched once per transaction and connection."""
    if not any(settings.values()):
        scope_token.send(connection, b"", settings, None)  # nothing to sign: every setting blank
        return
    nonce = connection.info.get("rls_nonce")
    if nonce is None:
        nonce = connection.info["rls_nonce"] = scope_token.fetch_nonce(connection)
    scope_token.send(connection, _scope_key(), settings, nonce)


def _set_rls_settings(session, transaction, connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.info["rls_nonce"] = None  # a new transaction: a new nonce when one is needed
        settings = _settings()
        _send(connection, settings)
        session.info["rls_sent"] = settings


def _apply_to_open_transaction() -> None:
    """Re-send the settings when the scope changes inside an already open transaction."""
    if not has_app_context():
        return
    session = db.session()
    if not session.in_transaction():
        return
    settings = _settings()
    if session.info.get("rls_sent") == settings:
        return  # this transaction already carries them
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _send(connection, settings)
        session.info["rls_sent"] = settings


def install() -> None:
    """Scope every ORM statement and flush to the tenant, and sign the RLS settings of every
    transaction (called once by the app factory; idempotent)."""
    for name, listener in (("do_orm_execute", _scope_orm_statements),
                           ("before_flush", _stamp_and_check_tenant),
                           ("after_begin", _set_rls_settings)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
