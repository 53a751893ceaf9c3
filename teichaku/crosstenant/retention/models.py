"""Retention rules and the monthly review of persons due for erasure (保存期間と削除の確認).

A center keeps a case file for a number of years after the case ended (``RetentionRule``, per
case type; without a row the installation's ``RETENTION_YEARS_AFTER_CLOSING``).  The monthly
job lists each person whose every case is past its keeping period as a ``RetentionReview`` in
status ``due``; the center admin then confirms (``erased``) or holds it with a reason until a
date (``held``).  A person listed but no longer due (a new case, an open transfer) is
``withdrawn``.  One open review (due or held) per person, by a partial unique index.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...platform.extensions import db
from ...platform.models import AwareDateTime, TenantOwned, Timestamped
from ...tenants.cases.lifecycle import CASE_TYPES, sql_in
from ...tenants.persons.models import Person  # noqa: F401  (mapper registration: the foreign key points at persons)

REVIEW_STATUSES = ("due", "held", "erased", "withdrawn")
OPEN_REVIEW_STATUSES = ("due", "held")
MIN_YEARS, MAX_YEARS = 1, 30
OPEN_REVIEW_WHERE = f"status IN {sql_in(OPEN_REVIEW_STATUSES)}"


class RetentionRule(TenantOwned, Timestamped, db.Model):
    """How many years a center keeps a case file of one type after the case ended."""

    __tablename__ = "retention_rules"
    __table_args__ = (
        UniqueConstraint("center_id", "case_type"),
        CheckConstraint(f"case_type IN {sql_in(CASE_TYPES)}", name="case_type"),
        CheckConstraint(f"years_after_closing BETWEEN {MIN_YEARS} AND {MAX_YEARS}", name="years"),
    )

    case_type: Mapped[str] = mapped_column(String(20), nullable=False)
    years_after_closing: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class RetentionReview(TenantOwned, Timestamped, db.Model):
    """One person found due for erasure, and what the center admin decided."""

    __tablename__ = "retention_reviews"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "person_id"], ["persons.center_id", "persons.id"]),
        CheckConstraint(f"status IN {sql_in(REVIEW_STATUSES)}", name="status"),
        CheckConstraint("status <> 'held' OR (hold_reason IS NOT NULL AND hold_until IS NOT NULL)",
                        name="held_has_reason"),
        CheckConstraint("status NOT IN ('held','erased') OR decided_at IS NOT NULL", name="decided_has_time"),
        Index("ix_retention_reviews_center_status", "center_id", "status", "due_on"),
        Index("uq_retention_reviews_open", "center_id", "person_id", unique=True,
              postgresql_where=text(OPEN_REVIEW_WHERE), sqlite_where=text(OPEN_REVIEW_WHERE)),
    )

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)  # the day the last keeping period ended
    listed_on: Mapped[date] = mapped_column(Date, nullable=False)  # the review that found it
    decided_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    hold_until: Mapped[date | None] = mapped_column(Date)
    erased_counts: Mapped[dict | None] = mapped_column(JSON)  # rows removed per table (no personal data)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    person = relationship("Person", viewonly=True, lazy="joined", innerjoin=True)

    __mapper_args__ = {"version_id_col": version}

