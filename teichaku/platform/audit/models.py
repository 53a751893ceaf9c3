"""Audit entries and the head of each chain.

One chain per center (``center_id``), and a platform chain under ``PLATFORM_CHAIN`` for actions
taken outside any center (association, ministry, platform admin).  An entry stores personal
values only in ``details``; the hash covers ``details_digest``, so retention can blank the values
later and the chain still verifies.  The application role may only SELECT and INSERT entries
(granted by the migration); UPDATE and DELETE are not granted.
"""
from __future__ import annotations

import uuid

from sqlalchemy import JSON, BigInteger, Boolean, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import AwareDateTime

PLATFORM_CHAIN = uuid.UUID(int=0)


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"

    center_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at = mapped_column(AwareDateTime, nullable=False, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    actor_role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details = mapped_column(JSON, nullable=True)
    details_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    details_blanked: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditChainHead(db.Model):
    """The last entry of each chain; locked FOR UPDATE while appending, so a chain never forks."""

    __tablename__ = "audit_chain_heads"

    center_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
