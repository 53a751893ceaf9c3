"""Shared model building blocks: UUID ids, aware timestamps and the tenant mixin.

``TenantOwned`` is the one marker for tenant-owned tables: the global ORM filter in
``platform.tenancy`` scopes every query of such a model, and the migrations helper
``enable_tenant_rls`` puts a row-level security policy on its table.  Every tenant-owned table
has ``(center_id, id)`` as its primary key, and its foreign keys to other tenant tables include
``center_id``, so a child row can never point at another center's parent.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import DateTime, ForeignKey, TypeDecorator, Uuid
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AwareDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC, on SQLite too (which drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use an aware UTC timestamp")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class TenantOwned:
    """Mixin for every table owned by one center (tenant).

    The primary key is ``(center_id, id)``.  Do not load these rows with ``Session.get`` or
    ``db.get_or_404``: those return objects already in the session without running the global
    filter.  Use ``platform.tenancy.get_owned_or_404`` instead.
    """

    __tenant_owned__ = True

    @declared_attr
    def center_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("centers.id"), primary_key=True, index=True)

    @declared_attr
    def id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class Timestamped:
    @declared_attr
    def created_at(cls) -> Mapped[datetime]:
        return mapped_column(AwareDateTime, default=utcnow, nullable=False)

    @declared_attr
    def updated_at(cls) -> Mapped[datetime]:
        return mapped_column(AwareDateTime, default=utcnow, onupdate=utcnow, nullable=False)


def tenant_models() -> list[type]:
    """Every mapped class that is tenant-owned (used by the tenancy filter and meta-tests)."""
    return [m.class_ for m in db.Model.registry.mappers if getattr(m.class_, "__tenant_owned__", False)]
