"""対象者: a person a center supports.  Several cases over the years may point at one person."""
from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, CheckConstraint, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ...platform.extensions import db
from ...platform.models import TenantOwned, Timestamped

SEXES = ("male", "female", "other")
SUPPORT_NEEDS = ("elderly", "intellectual", "mental", "physical", "developmental", "dementia")


class Person(TenantOwned, Timestamped, db.Model):
    __tablename__ = "persons"
    __table_args__ = (CheckConstraint("sex IN ('male','female','other')", name="sex"),)

    family_name: Mapped[str] = mapped_column(String(50), nullable=False)
    given_name: Mapped[str] = mapped_column(String(50), nullable=False)
    family_name_kana: Mapped[str] = mapped_column(String(100), nullable=False)
    given_name_kana: Mapped[str] = mapped_column(String(100), nullable=False)
    birth_date: Mapped[date] = mapped_column(Date, nullable=False)
    sex: Mapped[str] = mapped_column(String(8), nullable=False)
    support_needs: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    # Normalised names for search (see names.py); indexed by bigrams on PostgreSQL.
    name_search: Mapped[str] = mapped_column(Text, default="", nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    @property
    def full_name(self) -> str:
        return f"{self.family_name} {self.given_name}"

    @property
    def full_name_kana(self) -> str:
        return f"{self.family_name_kana} {self.given_name_kana}"
