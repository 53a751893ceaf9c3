"""Rollup tables of the national aggregates: counts per center and fiscal year, never a person.

* ``rollup_counts``: one row per (center, fiscal year, family, dimension values, role) with the
  count (or, for ``activity_participants``, the sum of people).  Zero is never stored: a
  missing row is a zero.
* ``rollup_day_counts``: exact histograms of day statistics (days -> how many), so medians
  and means come from the rollups exactly.
* ``rollup_slices``: one row per (center, fiscal year) ever computed: when it was computed,
  and the row a recomputation locks, so two workers never rebuild the same slice at once.
* ``rollup_dirty_slices``: append-only marks "this (center, fiscal year) changed", written by
  the session hook (``tracking``) in the same transaction as the change.  A recomputation
  deletes exactly the marks it saw, so a change that commits meanwhile keeps its mark.
* ``rollup_runs``: each full rebuild (nightly or from the CLI): when, from what moment, and
  whether the stored rollups were reproduced exactly (``mismatches``).

Row-level security.  The first four tables carry ``center_id`` and use the ``tenant`` policy
like every tenant table: a center's rows are written by the jobs that run in that center's scope
(``set_tenant``), and by the session hook in the scope of whoever made the change (a transfer
touches the other center's rows only inside ``cross_tenant``, so its marks are allowed there
too).  They hold counts, codes and fiscal years only, so a center's own staff may read its own
rows; every read across centers goes through the named cross-tenant service ``figures``
(``cross_tenant("aggregates.figures")``, audited).  They are not ``TenantOwned``: they are not
entities with an id, and the global ORM filter is for rows of personal data; the rollup
services filter by center explicitly.  ``rollup_runs`` has no center: a platform table like
``outbox_events``.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger, CheckConstraint, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from ...platform.extensions import db
from ...platform.models import AwareDateTime, utcnow
from .rules import FAMILIES, MEASURES, ROLES


def sql_in(values) -> str:
    """A literal IN list for CHECK constraints (code constants, never input)."""
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


RUN_KINDS = ("rebuild",)
RUN_TRIGGERS = ("nightly", "cli")
RUN_STATUSES = ("running", "done", "failed")


class RollupCount(db.Model):
    __tablename__ = "rollup_counts"
    __table_args__ = (
        PrimaryKeyConstraint("center_id", "fiscal_year", "family", "dim1", "dim2", "dim3", "role"),
        CheckConstraint(f"family IN {sql_in(FAMILIES)}", name="family"),
        CheckConstraint(f"role IN {sql_in(ROLES)}", name="role"),
        CheckConstraint("value > 0", name="value"),
        # The figures service reads one family of one year across every center.
        Index("ix_rollup_counts_year_family", "fiscal_year", "family"),
    )

    center_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("centers.id"), nullable=False)
    fiscal_year: Mapped[int] = mapped_column(Integer, nullable=False)
    family: Mapped[str] = mapped_column(String(40), nullable=False)
    dim1: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    dim2: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    dim3: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(10), nullable=False)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RollupDayCount(db.Model):
    __tablename__ = "rollup_day_counts"
    __table_args__ = (
        PrimaryKeyConstraint("center_id", "fiscal_year", "measure", "dim1", "role", "days"),
        CheckConstraint(f"measure IN {sql_in(MEASURES)}", name="measure"),
        CheckConstraint(f"role IN {sql_in(ROLES)}", name="role"),
        CheckConstraint("count > 0", name="count"),
        Index("ix_rollup_day_counts_year_measure", "fiscal_year", "measure"),
    )

    center_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("centers.id"), nullable=False)
    fiscal_year: Mapped[int] = mapped_column(Integer, nullable=False)
    measure: Mapped[str] = mapped_column(String(40), nullable=False)
    dim1: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(10), nullable=False)
    days: Mapped[int] = mapped_column(Integer, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)


class RollupSlice(db.Model):
    """A (center, fiscal year) whose rollups exist; locked while they are recomputed."""

    __tablename__ = "rollup_slices"
    __table_args__ = (PrimaryKeyConstraint("center_id", "fiscal_year"),)

    center_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("centers.id"), nullable=False)
    fiscal_year: Mapped[int] = mapped_column(Integer, nullable=False)
    computed_at: Mapped[datetime | None] = mapped_column(AwareDateTime)


class DirtySlice(db.Model):
    """A mark: something counted in (center, fiscal year) changed and is not in the rollups yet."""

    __tablename__ = "rollup_dirty_slices"
    __table_args__ = (
        PrimaryKeyConstraint("center_id", "id"),
        Index("ix_rollup_dirty_slices_slice", "center_id", "fiscal_year"),
    )

    center_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("centers.id"), nullable=False)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, default=uuid.uuid4)
    fiscal_year: Mapped[int] = mapped_column(Integer, nullable=False)
    marked_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False, default=utcnow)


class RollupRun(db.Model):
    """One full rebuild and whether it reproduced the stored rollups exactly."""

    __tablename__ = "rollup_runs"
    __table_args__ = (
        CheckConstraint(f"kind IN {sql_in(RUN_KINDS)}", name="kind"),
        CheckConstraint(f"triggered_by IN {sql_in(RUN_TRIGGERS)}", name="triggered_by"),
        CheckConstraint(f"status IN {sql_in(RUN_STATUSES)}", name="status"),
        Index("ix_rollup_runs_started", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="rebuild")
    triggered_by: Mapped[str] = mapped_column(String(16), nullable=False)  # the nightly job or the CLI
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    fiscal_year: Mapped[int | None] = mapped_column(Integer)  # None: every fiscal year
    started_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False, default=utcnow)
    # The rows were read after this moment: every change committed before it is in the result.
    as_of: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    centers: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    slices: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cells: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # rollup rows compared
    # Cells of slices that were clean (no pending change) whose stored value differed.
    mismatches: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pending_slices: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # changed meanwhile

