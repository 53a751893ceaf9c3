"""Network activities (地域ネットワーク強化の取組み) of one center.

Since FY2020 three kinds of activity earn an add-on to the center's budget and are reported to
the prefecture each fiscal year: 地域福祉支援検討会, 福祉事業者巡回開拓 and 地域福祉研修.  Other
activities (joining a 自立支援協議会, talks, ...) are recorded as ``other``.

Participants are counted by sector, one row per sector with people in it
(``network_activity_participants``); the database refuses unknown sectors and negative counts.
"""
from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKeyConstraint, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...platform.extensions import db
from ...platform.i18n import fiscal_year_of
from ...platform.models import TenantOwned, Timestamped

# The three activities of the add-on first, then everything else.
ADDON_TYPES = ("regional_support_meeting", "provider_outreach", "regional_training")
ACTIVITY_TYPES = (*ADDON_TYPES, "other")
TYPE_LABELS = {
    "regional_support_meeting": "地域福祉支援検討会",
    "provider_outreach": "福祉事業者巡回開拓",
    "regional_training": "地域福祉研修",
    "other": "その他の活動",
}

# Sectors participants come from (fixed: the yearly report has one column each).
SECTORS = ("welfare", "medical", "municipal", "justice", "legal", "police", "education", "community", "other")
SECTOR_LABELS = {
    "welfare": "福祉",
    "medical": "医療",
    "municipal": "行政",
    "justice": "司法（保護観察所・矯正施設）",
    "legal": "法律（弁護士等）",
    "police": "警察",
    "education": "教育",
    "community": "地域",
    "other": "その他",
}

MAX_PARTICIPANTS = 100_000


def _in_list(column: str, values) -> str:
    return f"{column} IN (" + ",".join(f"'{v}'" for v in values) + ")"


class NetworkActivity(TenantOwned, Timestamped, db.Model):
    __tablename__ = "network_activities"
    __table_args__ = (CheckConstraint(_in_list("activity_type", ACTIVITY_TYPES), name="activity_type"),)

    held_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    activity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    place: Mapped[str | None] = mapped_column(String(200))
    organisations: Mapped[str | None] = mapped_column(Text)  # 参加機関・団体 (names, free text)
    minutes: Mapped[str | None] = mapped_column(Text)  # 議事録
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    participant_rows: Mapped[list["ActivityParticipants"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ActivityParticipants.sector")

    __mapper_args__ = {"version_id_col": version}

    @property
    def participants(self) -> dict[str, int]:
        """Every sector, in the fixed order, with 0 where nobody came."""
        counts = {row.sector: row.participants for row in self.participant_rows}
        return {sector: counts.get(sector, 0) for sector in SECTORS}

    @property
    def participants_total(self) -> int:
        return sum(row.participants for row in self.participant_rows)

    @property
    def fiscal_year(self) -> int:
        return fiscal_year_of(self.held_on)

    @property
    def is_addon(self) -> bool:
        return self.activity_type in ADDON_TYPES


class ActivityParticipants(TenantOwned, db.Model):
    """How many people of one sector took part in one activity."""

    __tablename__ = "network_activity_participants"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "activity_id"], ["network_activities.center_id", "network_activities.id"],
                             name="fk_network_activity_participants_activity"),  # the default name is too long
        UniqueConstraint("center_id", "activity_id", "sector"),
        CheckConstraint(_in_list("sector", SECTORS), name="sector"),
        CheckConstraint(f"participants >= 0 AND participants <= {MAX_PARTICIPANTS}", name="participants"),
    )

    activity_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    sector: Mapped[str] = mapped_column(String(16), nullable=False)
    participants: Mapped[int] = mapped_column(Integer, nullable=False)
