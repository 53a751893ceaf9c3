"""検討委員会: members, meetings, attendances and agenda items (one per case and meeting)."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (Boolean, CheckConstraint, Date, ForeignKeyConstraint, Integer, String, Text,
                        UniqueConstraint, Uuid)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ...platform.extensions import db
from ...platform.models import AwareDateTime, TenantOwned, Timestamped
from ..cases.models import Case  # noqa: F401  (mapper registration)

# Stored codes; the Japanese labels live in the templates (_macros of committees) and the forms.
PROFESSIONS = (
    "psychiatrist",               # 精神科医
    "physician",                  # 医師
    "social_worker",              # 社会福祉士
    "psychiatric_social_worker",  # 精神保健福祉士
    "care_manager",               # 介護支援専門員
    "clinical_psychologist",      # 臨床心理士・公認心理師
    "lawyer",                     # 弁護士
    "probation_officer",          # 保護観察官
    "prison_staff",               # 刑務所職員（福祉専門官など）
    "prefectural_staff",          # 県職員
    "municipal_staff",            # 市町村職員
    "welfare_facility",           # 社会福祉施設関係者
    "academic",                   # 学識経験者
    "other",                      # その他
)
_PROFESSION_CHECK = "profession IN (" + ",".join(f"'{p}'" for p in PROFESSIONS) + ")"


class CommitteeMember(TenantOwned, Timestamped, db.Model):
    """An outside expert on the center's committee (not a person the center supports)."""

    __tablename__ = "committee_members"
    __table_args__ = (CheckConstraint(_PROFESSION_CHECK, name="profession"),)

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    name_kana: Mapped[str] = mapped_column(String(100), nullable=False)
    profession: Mapped[str] = mapped_column(String(32), nullable=False)
    affiliation: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    observer: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class CommitteeMeeting(TenantOwned, Timestamped, db.Model):
    __tablename__ = "committee_meetings"

    held_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    place: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    notes: Mapped[str] = mapped_column(Text, default="", nullable=False)  # 議事録・メモ
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version}


class CommitteeAttendance(TenantOwned, db.Model):
    """A member who attends a meeting (chosen from the center's members)."""

    __tablename__ = "committee_attendances"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "meeting_id"], ["committee_meetings.center_id", "committee_meetings.id"]),
        ForeignKeyConstraint(["center_id", "member_id"], ["committee_members.center_id", "committee_members.id"]),
        UniqueConstraint("center_id", "meeting_id", "member_id"),
    )

    meeting_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)


class CommitteeAgendaItem(TenantOwned, Timestamped, db.Model):
    """A case put before a meeting: the question asked, the advice given, what was done."""

    __tablename__ = "committee_agenda_items"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "meeting_id"], ["committee_meetings.center_id", "committee_meetings.id"]),
        ForeignKeyConstraint(["center_id", "case_id"], ["cases.center_id", "cases.id"]),
        UniqueConstraint("center_id", "meeting_id", "case_id"),  # a case once per meeting
        # What was done with the advice comes after the advice, and always with its date.
        CheckConstraint("follow_up IS NULL OR advice IS NOT NULL", name="follow_up_after_advice"),
        CheckConstraint("(follow_up IS NULL) = (follow_up_on IS NULL)", name="follow_up_dated"),
        CheckConstraint("(advice IS NULL) = (advice_recorded_at IS NULL)", name="advice_stamped"),
    )

    meeting_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    question: Mapped[str] = mapped_column(Text, nullable=False)  # 相談したいこと（配布資料に載る）
    advice: Mapped[str | None] = mapped_column(Text)  # 助言
    advice_recorded_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    advice_recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    follow_up: Mapped[str | None] = mapped_column(Text)  # 対応
    follow_up_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    case = relationship("Case", viewonly=True, lazy="joined", innerjoin=True)
    meeting = relationship("CommitteeMeeting", viewonly=True, lazy="joined", innerjoin=True)

    __mapper_args__ = {"version_id_col": version}

    # The round (1 for a case's first review, 2 for its second, ...) is computed per case from
    # the meeting dates by ``services.with_rounds``; it is not stored, so it stays right when a
    # meeting is moved or an item removed.
    round = None
