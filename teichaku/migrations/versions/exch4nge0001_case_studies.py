"""Case-study exchange: case studies, versions, PII findings, search index, questions.

Private side (tenant-owned, policy ``tenant``): ``case_study_drafts`` and their
``case_study_findings``, the question threads' copies ``case_study_messages`` and the
参考になった marks ``case_study_helpful_marks``.  The ``center_id`` of drafts, findings and
messages has no foreign key to ``centers``: the association writes in a reserved workspace that
is not a center (see ``crosstenant/exchange/models.py``).

Shared side (policy ``library``: everyone reads, only an author scope or a cross-tenant service
writes): ``case_studies`` (one row per study) and ``case_study_versions`` (one row per published
version, which the application role may only SELECT and INSERT: published text cannot change).

Search: on PostgreSQL a generated ``tsvector`` column over the versions' Sudachi token documents
with a GIN index; on SQLite an FTS5 table ``case_study_fts`` over the same documents.

Notifications get three kinds and a ``case_study_id`` (the inbox links to the study).  The kind
CHECK constraints are rebuilt from the code's list (as ``n0tif1cat1on`` builds them), so kinds
added by earlier revisions are kept.

Revision ID: exch4nge0001
Revises: tr4nsfers004
Create Date: 2026-11-27 15:00:00

"""
from alembic import op
import sqlalchemy as sa

from teichaku.platform.rls import app_role, enable_rls, grant


# revision identifiers, used by Alembic.
revision = "exch4nge0001"
down_revision = "tr4nsfers004"
branch_labels = None
depends_on = None

EXCHANGE_KINDS = ("case_study_question", "case_study_answer", "case_study_hidden")
TEXT_FIELDS = "('title','background','actions','outcomes','reference')"
OPEN_DRAFT_WHERE = "status IN ('draft','checked')"
SEARCH_VECTOR = ("setweight(to_tsvector('simple'::regconfig, search_title), 'A') || "
                 "setweight(to_tsvector('simple'::regconfig, search_body), 'B')")


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def _ts(name, nullable=True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _author_key():
    """``(center_id, id)``: an author scope (a center or the association's workspace) and the row."""
    return [sa.Column("center_id", sa.Uuid(), nullable=False), sa.Column("id", sa.Uuid(), nullable=False)]


def _center_index(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_center_id"), ["center_id"], unique=False)


def _create_drafts():
    op.create_table(
        "case_study_drafts",
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("based_on_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("background", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("outcomes", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("show_center", sa.Boolean(), nullable=False),
        sa.Column("source_case_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        _ts("checked_at"),
        sa.Column("approved_by_id", sa.Uuid(), nullable=True),
        _ts("approved_at"),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        *_author_key(),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.CheckConstraint("status IN ('draft','checked','published')", name=op.f("ck_case_study_drafts_status")),
        sa.CheckConstraint("status <> 'published' OR (published_version IS NOT NULL AND approved_at IS NOT NULL)",
                           name=op.f("ck_case_study_drafts_published_is_approved")),
        sa.ForeignKeyConstraint(["center_id", "source_case_id"], ["cases.center_id", "cases.id"],
                                name="fk_case_study_drafts_source_case"),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_case_study_drafts")),
    )
    _center_index("case_study_drafts")
    with op.batch_alter_table("case_study_drafts", schema=None) as batch_op:
        batch_op.create_index("ix_case_study_drafts_center_study", ["center_id", "study_id"], unique=False)
        batch_op.create_index("ix_case_study_drafts_center_updated", ["center_id", "updated_at", "id"], unique=False)
    # One open draft per study and author: a second correction waits for the first.
    op.create_index("uq_case_study_drafts_open", "case_study_drafts", ["center_id", "study_id"], unique=True,
                    postgresql_where=sa.text(OPEN_DRAFT_WHERE), sqlite_where=sa.text(OPEN_DRAFT_WHERE))


def _create_findings():
    op.create_table(
        "case_study_findings",
        sa.Column("draft_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("start_offset", sa.Integer(), nullable=False),
        sa.Column("end_offset", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("suggestion", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("replacement", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("resolved_by_id", sa.Uuid(), nullable=True),
        _ts("resolved_at"),
        _ts("created_at", nullable=False),
        *_author_key(),
        sa.CheckConstraint(f"field IN {TEXT_FIELDS}", name=op.f("ck_case_study_findings_field")),
        sa.CheckConstraint("status IN ('open','replaced','dismissed')", name=op.f("ck_case_study_findings_status")),
        sa.CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name=op.f("ck_case_study_findings_span")),
        sa.CheckConstraint("status <> 'dismissed' OR coalesce(reason, '') <> ''",
                           name=op.f("ck_case_study_findings_dismissed_has_reason")),
        sa.CheckConstraint("status = 'open' OR (resolved_at IS NOT NULL)",
                           name=op.f("ck_case_study_findings_resolved_has_time")),
        sa.ForeignKeyConstraint(["center_id", "draft_id"], ["case_study_drafts.center_id", "case_study_drafts.id"],
                                name="fk_case_study_findings_draft"),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_case_study_findings")),
    )
    _center_index("case_study_findings")
    with op.batch_alter_table("case_study_findings", schema=None) as batch_op:
        batch_op.create_index("ix_case_study_findings_draft", ["center_id", "draft_id", "field", "start_offset"],
                              unique=False)


def _create_library():
    op.create_table(
        "case_studies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("publisher", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("helpful_count", sa.Integer(), nullable=False),
        _ts("first_published_at", nullable=False),
        _ts("last_published_at", nullable=False),
        _ts("hidden_at"),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.Column("hidden_by_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("status IN ('published','hidden')", name=op.f("ck_case_studies_status")),
        sa.CheckConstraint("publisher IN ('center','association')", name=op.f("ck_case_studies_publisher")),
        sa.CheckConstraint("status <> 'hidden' OR (hidden_at IS NOT NULL AND coalesce(hidden_reason, '') <> '')",
                           name=op.f("ck_case_studies_hidden_has_reason")),
        sa.CheckConstraint("latest_version >= 1 AND helpful_count >= 0", name=op.f("ck_case_studies_counts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_studies")),
    )
    with op.batch_alter_table("case_studies", schema=None) as batch_op:
        batch_op.create_index("ix_case_studies_status_published", ["status", "last_published_at", "id"], unique=False)

    op.create_table(
        "case_study_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("background", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("outcomes", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("publisher", sa.String(length=16), nullable=False),
        sa.Column("shown_center_id", sa.Uuid(), nullable=True),
        _ts("published_at", nullable=False),
        sa.Column("search_title", sa.Text(), nullable=False),
        sa.Column("search_body", sa.Text(), nullable=False),
        sa.CheckConstraint("publisher IN ('center','association')", name=op.f("ck_case_study_versions_publisher")),
        sa.CheckConstraint("publisher = 'center' OR shown_center_id IS NULL",
                           name=op.f("ck_case_study_versions_association_shows_no_center")),
        sa.CheckConstraint("version_no >= 1", name=op.f("ck_case_study_versions_version_no")),
        sa.ForeignKeyConstraint(["study_id"], ["case_studies.id"], name=op.f("fk_case_study_versions_study_id_case_studies")),
        sa.ForeignKeyConstraint(["shown_center_id"], ["centers.id"],
                                name=op.f("fk_case_study_versions_shown_center_id_centers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_study_versions")),
        sa.UniqueConstraint("study_id", "version_no", name=op.f("uq_case_study_versions_study_id_version_no")),
    )


def _create_search_index():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE case_study_versions ADD COLUMN search_vector tsvector "
                   f"GENERATED ALWAYS AS ({SEARCH_VECTOR}) STORED")
        op.execute("CREATE INDEX ix_case_study_versions_search ON case_study_versions USING gin (search_vector)")
    else:
        op.execute("CREATE VIRTUAL TABLE case_study_fts USING fts5("
                   "version_id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 0')")


def _create_threads_and_marks():
    op.create_table(
        "case_study_messages",
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("pair_id", sa.Uuid(), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("asker_center_id", sa.Uuid(), nullable=False),
        sa.Column("from_side", sa.String(length=8), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        _ts("created_at", nullable=False),
        *_author_key(),
        sa.CheckConstraint("length(body) > 0", name=op.f("ck_case_study_messages_body")),
        sa.CheckConstraint("side IN ('author','asker')", name=op.f("ck_case_study_messages_side")),
        sa.CheckConstraint("from_side IN ('author','asker')", name=op.f("ck_case_study_messages_from_side")),
        sa.ForeignKeyConstraint(["study_id"], ["case_studies.id"], name=op.f("fk_case_study_messages_study_id_case_studies")),
        sa.ForeignKeyConstraint(["asker_center_id"], ["centers.id"],
                                name=op.f("fk_case_study_messages_asker_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_case_study_messages")),
    )
    _center_index("case_study_messages")
    with op.batch_alter_table("case_study_messages", schema=None) as batch_op:
        batch_op.create_index("ix_case_study_messages_thread", ["center_id", "study_id", "asker_center_id", "created_at"],
                              unique=False)

    op.create_table(
        "case_study_helpful_marks",
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("marked_by_id", sa.Uuid(), nullable=True),
        _ts("created_at", nullable=False),
        *_author_key(),
        sa.ForeignKeyConstraint(["study_id"], ["case_studies.id"],
                                name=op.f("fk_case_study_helpful_marks_study_id_case_studies")),
        sa.ForeignKeyConstraint(["center_id"], ["centers.id"], name=op.f("fk_case_study_helpful_marks_center_id_centers")),
        sa.PrimaryKeyConstraint("center_id", "id", name=op.f("pk_case_study_helpful_marks")),
        sa.UniqueConstraint("center_id", "study_id", name=op.f("uq_case_study_helpful_marks_center_id_study_id")),
    )
    _center_index("case_study_helpful_marks")


def _set_kinds(table: str, kinds) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_{table}_kind"), f"kind IN {_in(kinds)}")


def _notification_kinds() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the kinds before this revision, and with it), from the code's list."""
    from teichaku.crosstenant.notifications.models import KINDS

    before = tuple(k for k in KINDS if k not in EXCHANGE_KINDS)
    return before, before + EXCHANGE_KINDS


def upgrade():
    _create_drafts()
    _create_findings()
    _create_library()
    _create_search_index()
    _create_threads_and_marks()
    _before, after = _notification_kinds()
    for table in ("outbox_events", "notifications"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("case_study_id", sa.Uuid(), nullable=True))
        _set_kinds(table, after)

    # Drafts, findings, thread copies and marks belong to one author scope each; findings are
    # redone as the text changes (DELETE); messages and marks are only ever added.  The library
    # is shared: published versions may only be added (no UPDATE: they never change), a study's
    # row changes (latest version, helpful count, hidden) but is never deleted.
    role = app_role()
    for table in ("case_study_drafts", "case_study_findings", "case_study_messages", "case_study_helpful_marks"):
        enable_rls(op, table, "tenant")
    for table in ("case_studies", "case_study_versions"):
        enable_rls(op, table, "library")
    grant(op, role, "case_study_drafts", "SELECT, INSERT, UPDATE")
    grant(op, role, "case_study_findings", "SELECT, INSERT, UPDATE, DELETE")
    grant(op, role, "case_study_messages", "SELECT, INSERT")
    grant(op, role, "case_study_helpful_marks", "SELECT, INSERT")
    grant(op, role, "case_studies", "SELECT, INSERT, UPDATE")
    grant(op, role, "case_study_versions", "SELECT, INSERT")


def downgrade():
    before, _after = _notification_kinds()
    kinds = _in(EXCHANGE_KINDS)
    op.execute(f"DELETE FROM notifications WHERE kind IN {kinds}")
    op.execute(f"DELETE FROM outbox_events WHERE kind IN {kinds}")
    for table in ("notifications", "outbox_events"):
        _set_kinds(table, before)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("case_study_id")
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS case_study_fts")
    op.drop_table("case_study_helpful_marks")
    op.drop_table("case_study_messages")
    op.drop_table("case_study_versions")
    op.drop_table("case_studies")
    op.drop_table("case_study_findings")
    op.drop_index("uq_case_study_drafts_open", table_name="case_study_drafts")
    op.drop_table("case_study_drafts")
