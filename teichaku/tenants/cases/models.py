"""ケース: one piece of case work for a person in a center, its needs and its reminders."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON, CheckConstraint, Date, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint, Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...platform.extensions import db
from ...platform.models import AwareDateTime, TenantOwned, Timestamped
from ..persons.models import Person  # noqa: F401  (mapper registration)
from .lifecycle import (
    ALL_STATUSES, CASE_TYPES, CLOSING_REASONS, FACILITY_TYPES, NEED_AREAS, NEED_STATUSES, PLACEMENTS,
    REQUESTER_TYPES, SUSPECT_STAGES, sql_in,
)

__all__ = ["CASE_TYPES", "Case", "CaseNeed", "CaseNumberCounter", "Reminder"]


class Case(TenantOwned, Timestamped, db.Model):
    __tablename__ = "cases"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "person_id"], ["persons.center_id", "persons.id"]),
        ForeignKeyConstraint(["center_id", "parent_case_id"], ["cases.center_id", "cases.id"],
                             name="fk_cases_parent_case"),
        # Case numbers are unique per center, never globally (a global key lets one center probe another).
        UniqueConstraint("center_id", "case_number"),
        CheckConstraint(f"case_type IN {sql_in(CASE_TYPES)}", name="case_type"),
        CheckConstraint(f"status IN {sql_in(ALL_STATUSES)}", name="status"),
        CheckConstraint("destination_prefecture_code IS NULL OR (destination_prefecture_code >= '01' AND destination_prefecture_code <= '47')", name="destination_prefecture"),
        CheckConstraint(f"facility_type IS NULL OR facility_type IN {sql_in(FACILITY_TYPES)}", name="facility_type"),
        CheckConstraint(f"closing_reason IS NULL OR closing_reason IN {sql_in(CLOSING_REASONS)}", name="closing_reason"),
        CheckConstraint(f"outcome_placement IS NULL OR outcome_placement IN {sql_in(PLACEMENTS)}", name="outcome_placement"),
        CheckConstraint(f"requester_type IS NULL OR requester_type IN {sql_in(REQUESTER_TYPES)}", name="requester_type"),
        CheckConstraint(f"suspect_stage IS NULL OR suspect_stage IN {sql_in(SUSPECT_STAGES)}", name="suspect_stage"),
        CheckConstraint("(status = 'closed') = (closing_reason IS NOT NULL)", name="closed_has_reason"),
        Index("ix_cases_center_created", "center_id", "created_at", "id"),
        Index("ix_cases_center_status", "center_id", "status"),
        Index("ix_cases_center_release", "center_id", "release_date"),
        Index("ix_cases_center_assigned", "center_id", "assigned_user_id"),
        Index("ix_cases_center_person", "center_id", "person_id"),
    )

    case_number: Mapped[str] = mapped_column(String(32), nullable=False)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    case_type: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    parent_case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # FU opened from a CO case
    assigned_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The request (特別調整協力等依頼書: the document itself is a record of kind request_letter)
    requested_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    request_source: Mapped[str | None] = mapped_column(String(100))  # e.g. ○○保護観察所
    probation_office: Mapped[str | None] = mapped_column(String(100))
    facility_name: Mapped[str | None] = mapped_column(String(100))  # 矯正施設
    facility_type: Mapped[str | None] = mapped_column(String(32))
    release_date: Mapped[date | None] = mapped_column(Date)
    released_on: Mapped[date | None] = mapped_column(Date)  # the actual day
    destination_prefecture_code: Mapped[str | None] = mapped_column(String(2))
    destination_municipality_name: Mapped[str | None] = mapped_column(String(50))
    destination_municipality_code: Mapped[str | None] = mapped_column(String(6))
    follow_up_on: Mapped[date | None] = mapped_column(Date)  # the next follow-up staff set
    # CO: the 特別調整 eligibility checklist, and a center admin's recorded override
    eligibility: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    eligibility_override_reason: Mapped[str | None] = mapped_column(Text)
    eligibility_override_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    eligibility_override_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    # 相談支援
    requester_type: Mapped[str | None] = mapped_column(String(20))
    topic: Mapped[str | None] = mapped_column(Text)
    # 被疑者等支援
    suspect_stage: Mapped[str | None] = mapped_column(String(32))
    outcome_at_release: Mapped[str | None] = mapped_column(Text)
    # Closing: why and where the person went (the aggregates need them)
    closed_on: Mapped[date | None] = mapped_column(Date)
    closing_reason: Mapped[str | None] = mapped_column(String(32))
    closing_note: Mapped[str | None] = mapped_column(Text)
    outcome_placement: Mapped[str | None] = mapped_column(String(32))
    outcome_municipality_name: Mapped[str | None] = mapped_column(String(50))
    outcome_municipality_code: Mapped[str | None] = mapped_column(String(6))
    placement_resource_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # a local resource (社会資源)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    person = relationship("Person", viewonly=True, lazy="joined", innerjoin=True)
    needs = relationship("CaseNeed", viewonly=True, lazy="select", order_by="CaseNeed.sort_order")

    __mapper_args__ = {"version_id_col": version}


class CaseNeed(TenantOwned, Timestamped, db.Model):
    """A need by life area, its status and who is responsible."""

    __tablename__ = "case_needs"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"], ondelete="CASCADE"),
        UniqueConstraint("center_id", "case_id", "area"),
        CheckConstraint(f"area IN {sql_in(NEED_AREAS)}", name="area"),
        CheckConstraint(f"status IN {sql_in(NEED_STATUSES)}", name="status"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    area: Mapped[str] = mapped_column(String(32), nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="not_started", nullable=False)
    responsible: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class Reminder(TenantOwned, db.Model):
    """A deadline reminder raised by the daily job (release date, follow-up date)."""

    __tablename__ = "reminders"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"], ondelete="CASCADE"),
        # Raising twice for the same deadline and offset is a no-op.
        UniqueConstraint("center_id", "case_id", "kind", "due_on", "days_before"),
        CheckConstraint("kind IN ('release','follow_up')", name="kind"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    days_before: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at = mapped_column(AwareDateTime, nullable=False)
    dismissed_at = mapped_column(AwareDateTime)


class CaseNumberCounter(TenantOwned, db.Model):
    """Per-center, per-type, per-year counter behind case numbers such as CO-2026-0001."""

    __tablename__ = "case_number_counters"
    __table_args__ = (UniqueConstraint("center_id", "prefix", "year"),)

    prefix: Mapped[str] = mapped_column(String(8), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
