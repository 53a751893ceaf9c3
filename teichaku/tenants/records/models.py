"""Records kept on a case (記録), documents from partners (書類) and the coordination plan
(福祉サービス等調整計画) with every revision kept.

All rows hang off a case of the same center through composite foreign keys
``(center_id, case_id)``.  Records are edited under optimistic locking (``version``); documents
and plan revisions are never changed once written (the application role may only insert them).
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, CheckConstraint, Date, ForeignKeyConstraint, Index, Integer, String, Text,
                        UniqueConstraint, Uuid)
from sqlalchemy.orm import Mapped, mapped_column

from ...platform.extensions import db
from ...platform.models import AwareDateTime, TenantOwned, Timestamped, utcnow
from ..cases.models import Case  # noqa: F401  (mapper registration: the foreign keys point at cases)
from .lifecycle import DOCUMENT_KINDS, RECORD_KINDS



def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ",".join(f"'{v}'" for v in values) + ")"


class CaseRecord(TenantOwned, Timestamped, db.Model):
    """One record on a case: an assessment (face sheet), an interview record or a progress note."""

    __tablename__ = "case_records"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"]),
        CheckConstraint(_in("kind", RECORD_KINDS), name="kind"),
        Index("ix_case_records_center_id_case_id", "center_id", "case_id"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    recorded_on: Mapped[date] = mapped_column(Date, nullable=False)
    place: Mapped[str | None] = mapped_column(String(200))
    participants: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    sections: Mapped[dict | None] = mapped_column(JSON)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class CaseDocument(TenantOwned, db.Model):
    """An uploaded file.  The bytes live outside the database at ``<UPLOAD_ROOT>/<center_id>/<id>``."""

    __tablename__ = "case_documents"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"]),
        CheckConstraint(_in("kind", DOCUMENT_KINDS), name="kind"),
        CheckConstraint("size_bytes >= 0", name="size"),
        Index("ix_case_documents_center_id_case_id", "center_id", "case_id"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)  # sanitized, shown only
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)  # detected from the bytes
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    note: Mapped[str | None] = mapped_column(String(500))
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)


class CoordinationPlan(TenantOwned, Timestamped, db.Model):
    """A 福祉サービス等調整計画 of a case; its content lives in its revisions."""

    __tablename__ = "coordination_plans"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"]),
        CheckConstraint("latest_revision >= 1", name="latest_revision"),
        Index("ix_coordination_plans_center_id_case_id", "center_id", "case_id"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    latest_revision: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class PlanRevision(TenantOwned, db.Model):
    """One revision of a plan.  Never edited: revising adds the next revision."""

    __tablename__ = "plan_revisions"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "plan_id"], ["coordination_plans.center_id", "coordination_plans.id"]),
        UniqueConstraint("center_id", "plan_id", "revision"),
        CheckConstraint("revision >= 1", name="revision"),
    )

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[dict] = mapped_column(JSON, nullable=False)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, default=utcnow, nullable=False)
