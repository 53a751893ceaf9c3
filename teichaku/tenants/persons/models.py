"""対象者: a person a center supports.  Several cases over the years may point at one person."""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l

from sqlalchemy import JSON, CheckConstraint, Date, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ...platform.extensions import db
from ...platform.models import AwareDateTime, TenantOwned, Timestamped

SEXES = ("male", "female", "other")
# What pages show in place of the name of a person whose personal data was erased.
ERASED_NAME = _l("（保存期間満了により削除）")
SUPPORT_NEEDS = ("elderly", "intellectual", "mental", "physical", "developmental", "dementia")

# Bigrams of the normalised names: a GIN-indexed text[] on PostgreSQL, JSON on SQLite.
NameGrams = ARRAY(Text).with_variant(JSON(), "sqlite")


class Person(TenantOwned, Timestamped, db.Model):
    __tablename__ = "persons"
    __table_args__ = (
        CheckConstraint("sex IN ('male','female','other')", name="sex"),
        CheckConstraint("public_assistance IN ('none','receiving','applied','planned')", name="public_assistance"),
        # Erasure (crosstenant/retention) empties the identity of a statistical stub; until then it is required.
        CheckConstraint("erased_at IS NOT NULL OR (birth_date IS NOT NULL AND sex IS NOT NULL)",
                        name="identity_until_erased"),
        # btree_gin: one index for "this center's people having these bigrams" (see the
        # s3arch000004 migration and persons.services.name_matches).
        Index("ix_persons_center_name_grams", "center_id", "name_grams", postgresql_using="gin"),
    )

    family_name: Mapped[str] = mapped_column(String(50), nullable=False)
    given_name: Mapped[str] = mapped_column(String(50), nullable=False)
    family_name_kana: Mapped[str] = mapped_column(String(100), nullable=False)
    given_name_kana: Mapped[str] = mapped_column(String(100), nullable=False)
    birth_date: Mapped[date | None] = mapped_column(Date)  # NULL only once erased
    sex: Mapped[str | None] = mapped_column(String(8))  # NULL only once erased
    support_needs: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    # [{"kind": "ryoiku_techo", "status": "held", "grade": "B1"}, ...]
    certificates: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    public_assistance: Mapped[str] = mapped_column(String(16), default="none", nullable=False)
    # Normalised names (see names.py) and their bigrams, for search.
    name_search: Mapped[str] = mapped_column(Text, default="", nullable=False)
    name_grams: Mapped[list] = mapped_column(NameGrams, default=list, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    # 保存期間満了による削除: when the personal data was erased (the row stays as a statistical stub).
    erased_at: Mapped[datetime | None] = mapped_column(AwareDateTime)

    __mapper_args__ = {"version_id_col": version}

    @property
    def full_name(self) -> str:
        if self.erased_at is not None:
            return str(ERASED_NAME)
        return f"{self.family_name} {self.given_name}"

    @property
    def full_name_kana(self) -> str:
        if self.erased_at is not None:
            return ""
        return f"{self.family_name_kana} {self.given_name_kana}"

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def age_on(self, on: date) -> int | None:
        if self.birth_date is None:
            return None
        return on.year - self.birth_date.year - ((on.month, on.day) < (self.birth_date.month, self.birth_date.day))
