"""ケース: one piece of case work for a person in a center."""
from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKeyConstraint, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...platform.extensions import db
from ...platform.models import TenantOwned, Timestamped
from ..persons.models import Person  # noqa: F401  (mapper registration)

CASE_TYPES = ("coordination", "follow_up", "suspect_support", "consultation")


class Case(TenantOwned, Timestamped, db.Model):
    __tablename__ = "cases"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "person_id"], ["persons.center_id", "persons.id"]),
        # Case numbers are unique per center, never globally (a global key lets one center probe another).
        UniqueConstraint("center_id", "case_number"),
        CheckConstraint(
            "case_type IN ('coordination','follow_up','suspect_support','consultation')", name="case_type"
        ),
        CheckConstraint("destination_prefecture_code IS NULL OR (destination_prefecture_code >= '01' AND destination_prefecture_code <= '47')", name="destination_prefecture"),
    )

    case_number: Mapped[str] = mapped_column(String(32), nullable=False)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    case_type: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    requested_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    release_date: Mapped[date | None] = mapped_column(Date)
    destination_prefecture_code: Mapped[str | None] = mapped_column(String(2))
    assigned_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    person = relationship("Person", viewonly=True, lazy="joined", innerjoin=True)

    __mapper_args__ = {"version_id_col": version}


class CaseNumberCounter(TenantOwned, db.Model):
    """Per-center, per-type, per-year counter behind case numbers such as CO-2026-0001."""

    __tablename__ = "case_number_counters"
    __table_args__ = (UniqueConstraint("center_id", "prefix", "year"),)

    prefix: Mapped[str] = mapped_column(String(8), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
