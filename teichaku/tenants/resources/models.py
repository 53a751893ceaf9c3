"""社会資源: partner organisations of a center (homes, facilities, offices) and their contacts.

The codes below are stored values (English snake_case, stable); the Japanese labels are what
pages show (translated through the catalog).  This module is the one place both live: the
CHECK constraints, the schemas, the forms and the templates read them from here.
"""
from __future__ import annotations

import uuid
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean, CheckConstraint, Date, ForeignKeyConstraint, Index, Integer, String, Text, Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...platform.extensions import db
from ...platform.models import TenantOwned, Timestamped

RESOURCE_TYPE_LABELS = {
    "self_reliance_home": _l("自立準備ホーム"),
    "rehabilitation_facility": _l("更生保護施設"),
    "group_home": _l("グループホーム"),
    "nursing_home_yogo": _l("養護老人ホーム"),
    "nursing_home_tokuyo": _l("特別養護老人ホーム"),
    "relief_facility": _l("救護施設"),
    "hospital": _l("病院"),
    "consultation_office": _l("相談支援事業所"),
    "community_support_center": _l("地域包括支援センター"),
    "social_welfare_council": _l("社会福祉協議会"),
    "municipal_office": _l("市区町村（福祉事務所）"),
    "probation_office": _l("保護観察所"),
    "correctional_facility": _l("矯正施設"),
    "public_prosecutors_office": _l("検察庁"),
    "legal_aid": _l("法テラス"),
    "other": _l("その他"),
}
RESOURCE_TYPES = tuple(RESOURCE_TYPE_LABELS)

# 受入可否: whether the organisation takes people with a criminal record.
ACCEPTS_RECORD_LABELS = {
    "yes": _l("受入可"),
    "case_by_case": _l("個別に相談"),
    "no": _l("受入不可"),
}
ACCEPTS_RECORD = tuple(ACCEPTS_RECORD_LABELS)


def sql_in(values) -> str:
    """A literal IN list for CHECK constraints (values are the code constants above, never input)."""
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


class Resource(TenantOwned, Timestamped, db.Model):
    """One partner organisation of the center."""

    __tablename__ = "resources"
    __table_args__ = (
        CheckConstraint(f"resource_type IN {sql_in(RESOURCE_TYPES)}", name="resource_type"),
        CheckConstraint(f"accepts_record IS NULL OR accepts_record IN {sql_in(ACCEPTS_RECORD)}", name="accepts_record"),
        CheckConstraint("municipality_code IS NULL OR length(municipality_code) = 6", name="municipality_code"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity"),
        CheckConstraint("openings IS NULL OR openings >= 0", name="openings"),
        CheckConstraint("openings IS NULL OR capacity IS NULL OR openings <= capacity", name="openings_within_capacity"),
        CheckConstraint("entrustment_from IS NULL OR entrustment_to IS NULL OR entrustment_to >= entrustment_from",
                        name="entrustment_period"),
        Index("ix_resources_center_created", "center_id", "created_at", "id"),
        Index("ix_resources_center_type", "center_id", "resource_type"),
        Index("ix_resources_center_municipality", "center_id", "municipality_code"),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kana: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    resource_type: Mapped[str] = mapped_column(String(32), nullable=False)
    municipality_name: Mapped[str | None] = mapped_column(String(50))
    municipality_code: Mapped[str | None] = mapped_column(String(6))  # 全国地方公共団体コード
    address: Mapped[str | None] = mapped_column(String(300))
    capacity: Mapped[int | None] = mapped_column(Integer)  # 定員
    openings: Mapped[int | None] = mapped_column(Integer)  # 空き
    accepts_record: Mapped[str | None] = mapped_column(String(16))  # None: not yet known (未確認)
    self_reliance_home_registered: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    entrustment_from: Mapped[date | None] = mapped_column(Date)  # 自立準備ホームの委託期間
    entrustment_to: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="", nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # Normalised name and kana for search (persons/names.py): hiragana = katakana, NFKC.
    name_search: Mapped[str] = mapped_column(Text, default="", nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    contacts = relationship("ResourceContact", order_by="ResourceContact.position", lazy="selectin",
                            cascade="all, delete-orphan", back_populates="resource")

    __mapper_args__ = {"version_id_col": version}

    @property
    def type_label(self):
        return RESOURCE_TYPE_LABELS.get(self.resource_type, self.resource_type)

    @property
    def accepts_record_label(self):
        return ACCEPTS_RECORD_LABELS.get(self.accepts_record) if self.accepts_record else _l("未確認")


class ResourceContact(TenantOwned, Timestamped, db.Model):
    """A person to call at a partner organisation (name, role, phone, e-mail)."""

    __tablename__ = "resource_contacts"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "resource_id"], ["resources.center_id", "resources.id"], ondelete="CASCADE"),
        Index("ix_resource_contacts_center_resource", "center_id", "resource_id"),
    )

    resource_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    position: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    phone: Mapped[str] = mapped_column(String(30), default="", nullable=False)
    email: Mapped[str] = mapped_column(String(254), default="", nullable=False)

    resource = relationship("Resource", back_populates="contacts")
