"""事例の共有 (case-study exchange): private drafts and their PII findings, the shared library of
published versions, question threads and 参考になった marks.

Where each thing lives, and why:

* **Drafts and findings are tenant-owned** (``case_study_drafts``, ``case_study_findings``): the
  author's own rows, ``(center_id, id)`` keys, the global ORM filter and the ``tenant`` RLS
  policy, so another center gets 404 on a draft.  A draft holds text that may still carry
  personal information; it never leaves its author.
* **The library is a dedicated shared table pair** (``case_studies``: one row per study, its
  status and helpful count; ``case_study_versions``: one immutable row per published version).
  Publishing *copies* the checked, anonymised text into it; nothing else of the draft goes
  there.  It carries the publishing center (``shown_center_id``) only when the author chose to
  show it, and no author, user or case.  Every center and the association read it without the
  cross-tenant escape hatch; RLS policy ``library`` (``platform/rls.py``) lets everyone read and
  lets only an author scope (a tenant) or a named cross-tenant service write, and the
  application role has no UPDATE or DELETE on ``case_study_versions`` at all: a published
  version cannot change, a correction is the next version.  A version the association withdraws
  gets a row in ``case_study_withdrawals`` (insert-only too) and the study's ``current_version``
  moves to the latest one not withdrawn: other centers read only that one.  Who wrote a study whose center is
  hidden is known only from the author's own drafts (looked up inside the audited
  ``cross_tenant("exchange.…")`` scope to route a question).
* **The association authors in a reserved workspace.**  It has no center, yet it publishes the
  source document's examples through the same check and resolution flow.  Its drafts are
  tenant-owned rows of the workspace ``ASSOCIATION_WORKSPACE`` (the all-zero UUID, the id the
  platform's audit chain already uses, so its audit entries stay in that chain); the exchange
  services enter it with ``scope.exchange_scope``.  Because the workspace is not a row of
  ``centers``, the ``center_id`` of drafts and findings has no foreign key to ``centers``.
* **Questions** keep one copy per side (``case_study_messages``, tenant-owned): the author's copy
  names the asking center; the asking center's copy never names the author.
* **参考になった** marks are tenant-owned, one per center and study; the count is kept on the
  shared study row.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text,
    UniqueConstraint, Uuid, text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ...platform.audit.models import PLATFORM_CHAIN
from ...platform.extensions import db
from ...platform.models import AwareDateTime, TenantOwned, Timestamped, utcnow
from ...tenants.cases.models import Case  # noqa: F401  (mapper registration: drafts point at cases)
from .lifecycle import (
    DRAFT_STATUSES, FINDING_STATUSES, OPEN_DRAFT_STATUSES, PUBLISHERS, STUDY_STATUSES, TEXT_FIELDS, sql_in,
)

# The association's author workspace: a tenant scope that is not a center (see the module doc).
ASSOCIATION_WORKSPACE = PLATFORM_CHAIN

OPEN_DRAFT_WHERE = f"status IN {sql_in(OPEN_DRAFT_STATUSES)}"
SIDES = ("author", "asker")


class AuthorOwned(TenantOwned):
    """A tenant-owned row whose tenant is an author: a center, or the association's workspace.

    Same key, filter and RLS as every tenant row; only the foreign key to ``centers`` is left out,
    because the association's workspace is not a center."""

    @declared_attr
    def center_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, primary_key=True, index=True)


class CaseStudyDraft(AuthorOwned, Timestamped, db.Model):
    """One version of a study being written (取組みの経緯・取組んだこと・取組みの成果).

    ``study_id`` names the study across its versions: a first draft gets a new one, a correction
    keeps it and ``based_on_version`` says which published version it corrects."""

    __tablename__ = "case_study_drafts"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "source_case_id"], ["cases.center_id", "cases.id"],
                             name="fk_case_study_drafts_source_case"),
        CheckConstraint(f"status IN {sql_in(DRAFT_STATUSES)}", name="status"),
        CheckConstraint("status <> 'published' OR (published_version IS NOT NULL AND approved_at IS NOT NULL)",
                        name="published_is_approved"),
        # One open draft per study and author: a second correction waits for the first.
        Index("uq_case_study_drafts_open", "center_id", "study_id", unique=True,
              postgresql_where=text(OPEN_DRAFT_WHERE), sqlite_where=text(OPEN_DRAFT_WHERE)),
        Index("ix_case_study_drafts_center_study", "center_id", "study_id"),
        Index("ix_case_study_drafts_center_updated", "center_id", "updated_at", "id"),
    )

    study_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    based_on_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    background: Mapped[str] = mapped_column(Text, nullable=False)
    actions: Mapped[str] = mapped_column(Text, nullable=False)
    outcomes: Mapped[str] = mapped_column(Text, nullable=False)
    reference: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tags: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    show_center: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    source_case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # "from this case": tags only
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    checked_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    approved_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    published_version: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}

    def text_of(self, field: str) -> str:
        return getattr(self, field) or ""


class CaseStudyFinding(AuthorOwned, db.Model):
    """One span of a draft's text the PII check flagged, and what the author did about it.

    Offsets are code points into the field's current text, ``end_offset`` exclusive; they move
    with every edit (``findings``), so an open finding always points at its text."""

    __tablename__ = "case_study_findings"
    __table_args__ = (
        ForeignKeyConstraint(["center_id", "draft_id"], ["case_study_drafts.center_id", "case_study_drafts.id"],
                             name="fk_case_study_findings_draft"),
        CheckConstraint(f"field IN {sql_in(TEXT_FIELDS)}", name="field"),
        CheckConstraint(f"status IN {sql_in(FINDING_STATUSES)}", name="status"),
        CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name="span"),
        CheckConstraint("status <> 'dismissed' OR coalesce(reason, '') <> ''", name="dismissed_has_reason"),
        CheckConstraint("status = 'open' OR (resolved_at IS NOT NULL)", name="resolved_has_time"),
        Index("ix_case_study_findings_draft", "center_id", "draft_id", "field", "start_offset"),
    )

    draft_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    field: Mapped[str] = mapped_column(String(16), nullable=False)
    start_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    end_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # pii.KINDS
    suggestion: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    replacement: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    resolved_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False, default=utcnow)


class CaseStudy(db.Model):
    """A study of the shared library: its status, latest version and 参考になった count.

    ``latest_version`` is the highest version number ever published (the next one is numbered
    after it); ``current_version`` is the latest version the association has not withdrawn
    (None: every version is withdrawn), the only one other centers may read
    (``search.shown_version_no``)."""

    __tablename__ = "case_studies"
    __table_args__ = (
        CheckConstraint(f"status IN {sql_in(STUDY_STATUSES)}", name="status"),
        CheckConstraint(f"publisher IN {sql_in(PUBLISHERS)}", name="publisher"),
        CheckConstraint("status <> 'hidden' OR (hidden_at IS NOT NULL AND coalesce(hidden_reason, '') <> '')",
                        name="hidden_has_reason"),
        CheckConstraint("latest_version >= 1 AND helpful_count >= 0", name="counts"),
        Index("ix_case_studies_status_published", "status", "last_published_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    publisher: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="published")
    latest_version: Mapped[int] = mapped_column(Integer, nullable=False)
    current_version: Mapped[int | None] = mapped_column(Integer)
    helpful_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_published_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False)
    last_published_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False)
    hidden_at: Mapped[datetime | None] = mapped_column(AwareDateTime)
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    hidden_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class CaseStudyVersion(db.Model):
    """One published version: checked, anonymised text and tags, never changed (no UPDATE grant).

    ``search_title`` / ``search_body`` are its search documents (``search.document``): Sudachi
    tokens, normalised forms, readings and bigrams, space-separated.  PostgreSQL indexes them in
    a generated ``tsvector`` column with GIN; SQLite in the FTS5 table ``case_study_fts`` (both
    made by the migration)."""

    __tablename__ = "case_study_versions"
    __table_args__ = (
        UniqueConstraint("study_id", "version_no"),
        CheckConstraint(f"publisher IN {sql_in(PUBLISHERS)}", name="publisher"),
        CheckConstraint("publisher = 'center' OR shown_center_id IS NULL", name="association_shows_no_center"),
        CheckConstraint("version_no >= 1", name="version_no"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    study_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("case_studies.id"), nullable=False)
    version_no: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    background: Mapped[str] = mapped_column(Text, nullable=False)
    actions: Mapped[str] = mapped_column(Text, nullable=False)
    outcomes: Mapped[str] = mapped_column(Text, nullable=False)
    reference: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tags: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    publisher: Mapped[str] = mapped_column(String(16), nullable=False)
    shown_center_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("centers.id"))
    published_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False, default=utcnow)
    # Several times the text's size: never loaded with the version (deferred), only written.
    search_title: Mapped[str] = mapped_column(Text, nullable=False, default="", deferred=True)
    search_body: Mapped[str] = mapped_column(Text, nullable=False, default="", deferred=True)


class CaseStudyWithdrawal(db.Model):
    """The association withdrew one published version (取り下げ), with its reason: from then on
    only the author and the association read it.  A row per withdrawn version, only ever added
    (a version's text cannot change, and a withdrawal is not undone: what leaked stays out)."""

    __tablename__ = "case_study_withdrawals"
    __table_args__ = (
        ForeignKeyConstraint(["study_id", "version_no"], ["case_study_versions.study_id", "case_study_versions.version_no"],
                             name="fk_case_study_withdrawals_version"),
        UniqueConstraint("study_id", "version_no"),
        CheckConstraint("length(reason) > 0", name="reason"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    study_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("case_studies.id"), nullable=False)
    version_no: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    withdrawn_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False, default=utcnow)
    withdrawn_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class CaseStudyMessage(AuthorOwned, db.Model):
    """One message of a question thread (one thread per study and asking center), one copy per
    side: ``side`` says whose copy this is, ``from_side`` who wrote it.  Copies are joined by
    ``pair_id``.  The author's copy lives in the author's scope (a center or the association's
    workspace), so ``center_id`` has no foreign key to ``centers`` here either."""

    __tablename__ = "case_study_messages"
    __table_args__ = (
        CheckConstraint("length(body) > 0", name="body"),
        CheckConstraint(f"side IN {sql_in(SIDES)}", name="side"),
        CheckConstraint(f"from_side IN {sql_in(SIDES)}", name="from_side"),
        Index("ix_case_study_messages_thread", "center_id", "study_id", "asker_center_id", "created_at"),
    )

    study_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("case_studies.id"), nullable=False)
    pair_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    side: Mapped[str] = mapped_column(String(8), nullable=False)
    asker_center_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("centers.id"), nullable=False)
    from_side: Mapped[str] = mapped_column(String(8), nullable=False)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the writer, on the writer's own copy only
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False, default=utcnow)


class HelpfulMark(TenantOwned, db.Model):
    """参考になった: one mark per center and study (the count lives on ``CaseStudy``)."""

    __tablename__ = "case_study_helpful_marks"
    __table_args__ = (UniqueConstraint("center_id", "study_id"),)

    study_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("case_studies.id"), nullable=False)
    marked_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime, nullable=False, default=utcnow)
