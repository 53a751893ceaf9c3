"""Centers (the tenants): a reference table every role may list, managed by the platform admin.

A deactivated center keeps all its data; its users can no longer sign in and its sessions and
tokens stop working at once (checked on every request in ``auth.sessions``).
"""
from __future__ import annotations

import csv
import uuid
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import Boolean, CheckConstraint, String, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column

from .audit.services import record
from .extensions import db
from .models import AwareDateTime, utcnow

REGIONS = ("北海道", "東北", "関東", "中部", "近畿", "中国", "四国", "九州・沖縄")


class Center(db.Model):
    """A 地域生活定着支援センター: one tenant."""

    __tablename__ = "centers"
    __table_args__ = (
        CheckConstraint("prefecture_code >= '01' AND prefecture_code <= '47'", name="prefecture_code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    prefecture_code: Mapped[str] = mapped_column(String(2), nullable=False, index=True)
    prefecture_name: Mapped[str] = mapped_column(String(10), nullable=False)
    region: Mapped[str] = mapped_column(String(10), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # 広域調整: the center head must approve a transfer before it is sent (issue 4).
    requires_transfer_approval: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at = mapped_column(AwareDateTime, default=utcnow, nullable=False)

    def as_contract(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "prefecture_code": self.prefecture_code,
            "prefecture_name": self.prefecture_name,
            "region": self.region,
        }


# Every column of ``centers``, by who owns its value (a test checks that none is left out):
# - the installation's reference table of the 48 centers (centers.csv, and the official name the
#   operator may set): never taken from a handover archive, which could otherwise rename a center
#   or move it into another prefecture or region (its figures would count there);
# - the installation's own bookkeeping of the row;
# - the settings the center itself owns (its rules): they travel with its archive.
REFERENCE_COLUMNS = ("code", "name", "prefecture_code", "prefecture_name", "region")
INSTALLATION_COLUMNS = ("id", "active", "created_at")
CENTER_SETTINGS = ("requires_transfer_approval",)


@dataclass(frozen=True)
class CenterRow:
    code: str
    name: str
    prefecture_code: str
    prefecture_name: str
    region: str


def canonical_centers() -> list[CenterRow]:
    """The 48 centers shipped with the package (a copy of shared/domain/centers.csv)."""
    text = resources.files("teichaku.platform").joinpath("data/centers.csv").read_text("utf-8")
    return [CenterRow(**row) for row in csv.DictReader(text.splitlines())]


def seed_centers() -> tuple[int, int]:
    """Load the canonical centers idempotently; returns (created, unchanged).

    An existing center keeps its name: a platform admin may have set the official name.
    """
    existing = {c.code for c in db.session.scalars(select(Center))}
    created = 0
    for row in canonical_centers():
        if row.code in existing:
            continue
        db.session.add(Center(**row.__dict__))
        created += 1
    db.session.flush()
    return created, len(existing)


def center_by_code(code: str) -> Center | None:
    return db.session.scalar(select(Center).where(Center.code == code))


def list_centers() -> list[Center]:
    return list(db.session.scalars(select(Center).order_by(Center.prefecture_code, Center.code)))


@dataclass(frozen=True)
class Prefecture:
    """A prefecture that has a center (JIS X 0401 code and name): what a prefecture official
    belongs to."""

    code: str
    name: str


def list_prefectures() -> list[Prefecture]:
    """Every prefecture with at least one center, by code (Hokkaido once, for its two centers)."""
    rows = db.session.execute(select(Center.prefecture_code, Center.prefecture_name)
                              .distinct().order_by(Center.prefecture_code)).all()
    seen: dict[str, Prefecture] = {}
    for code, name in rows:
        seen.setdefault(code, Prefecture(code, name))
    return list(seen.values())


def prefecture_by_code(code: str | None) -> Prefecture | None:
    """The prefecture of that code if a center is in it; None for anything else."""
    if not code:
        return None
    name = db.session.scalar(select(Center.prefecture_name).where(Center.prefecture_code == code).limit(1))
    return Prefecture(code, name) if name is not None else None


class CenterError(ValueError):
    """A center change that is not allowed; the message is Japanese and safe to show."""


def add_center(code: str, name: str, prefecture_code: str, region: str, prefecture_name: str) -> Center:
    if center_by_code(code):
        raise CenterError("このコードのセンターは既に登録されています。")
    if region not in REGIONS:
        raise CenterError("地域ブロックが正しくありません。")
    center = Center(code=code, name=name, prefecture_code=prefecture_code,
                    prefecture_name=prefecture_name, region=region)
    db.session.add(center)
    db.session.flush()
    record("center.create", object_type="center", object_id=center.id)
    return center


def rename_center(center: Center, name: str) -> None:
    name = name.strip()
    if not name:
        raise CenterError("名称を入力してください。")
    center.name = name
    record("center.rename", object_type="center", object_id=center.id)


def set_center_active(center: Center, active: bool) -> None:
    """Deactivate (or reactivate) a center: its data stays, its users are shut out at once."""
    center.active = active
    record("center.activate" if active else "center.deactivate", object_type="center", object_id=center.id)
