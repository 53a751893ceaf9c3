"""受託法人: which operator runs each center, and since when.

A prefecture commissions an operator (a social welfare corporation or NPO) to run its center
and may change it when it re-tenders.  One row per operator period; the newest row of a center
is its current operator.  Rows are only added (the application role may SELECT and INSERT).

Row-level security (migration ``h4ndover0001``): who runs a center is public knowledge, so every
role may read the table; rows are written only by the named cross-tenant service
``cross_tenant("centers.handover")`` (audited) or by the schema owner (CLI).  Not
``TenantOwned``: the operator is a fact about the center, recorded by the platform, not a record
the center's staff keep; the global ORM filter is for those.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import AwareDateTime, utcnow


class CenterOperator(db.Model):
    __tablename__ = "center_operators"
    __table_args__ = (Index("ix_center_operators_center_started", "center_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    center_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("centers.id"), nullable=False)
    operator_name: Mapped[str] = mapped_column(String(200), nullable=False)
    started_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the platform admin (None: the CLI)
