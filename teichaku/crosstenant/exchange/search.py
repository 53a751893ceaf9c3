"""Japanese full-text search over the shared library, on PostgreSQL and on SQLite.

Neither ``pg_trgm`` nor SQLite's trigram tokenizer can find a two-character word (認知, 触法),
and ``pg_bigm`` is not packaged here.  So the text is tokenised by Sudachi (sudachidict-core
ships inside the package: nothing is downloaded) *before* it reaches the database, and the
database only sees space-separated terms:

* every content morpheme of split modes A and C (so 認知症 is found by 認知 and by 認知症), each
  as its surface, its normalised form (障がい → 障害, 取組み → 取り組み) and its reading in
  katakana (認知 → ニンチ, so a search in kana meets text in kanji);
* the character bigrams of every run of kanji, and of every run of kana, a fallback for words
  Sudachi splits differently in the query and in the text.

Every term is NFKC-normalised, lower-cased, hiragana folded to katakana and stripped of anything
but letters and digits, so it is a single word for PostgreSQL's ``simple`` parser and for FTS5's
``unicode61`` tokenizer alike, and no query operator can be smuggled in.  ``terms`` is the one
tokenizer for indexing and querying.

A query is a conjunction of its whitespace-separated phrases; a phrase matches through any of
its alternatives: all its Sudachi tokens (each as surface | normalised | reading), or its
katakana form when it is written in kana only; or all its bigrams when they cover the phrase.

* PostgreSQL: ``case_study_versions.search_vector`` is a generated ``tsvector``
  (``setweight(to_tsvector('simple', search_title), 'A') || … search_body 'B'``) with a GIN
  index; the query is ``to_tsquery('simple', :q)`` (a bound parameter) ranked by ``ts_rank``.
* SQLite: the FTS5 table ``case_study_fts(version_id UNINDEXED, title, body)`` made by the
  migration, ranked by ``bm25`` with the title weighted 10:1.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, cast, column, exists, func, literal, literal_column, select, table, text
from sqlalchemy.dialects.postgresql import JSONB

from ...platform.extensions import db
from ...platform.pagination import keyset_page, offset_page
from .models import CaseStudy, CaseStudyVersion

SKIP_POS = frozenset({"補助記号", "空白", "助詞", "助動詞"})  # punctuation, particles, auxiliaries
# Runs of one script each (kanji, katakana, hiragana; kana folded to katakana afterwards): a bigram across an okurigana or
# particle boundary (ル触, ノ疑) would only add noise.
SCRIPT_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff々〆]{2,}|[\u30a0-\u30ff]{2,}|[\u3041-\u309f\u30fc]{2,}")
KANA_ONLY = re.compile(r"^[\u3041-\u309f\u30a0-\u30ff]+$")
CHUNK = 12000  # Sudachi refuses more than 49,149 bytes at once; CJK is three bytes a character
FTS_TABLE = table("case_study_fts", column("version_id"), column("title"), column("body"))

_dictionary = None
_dictionary_lock = threading.Lock()
_local = threading.local()


# --- the tokenizer (one dictionary per process, one tokenizer per thread) -------------------------

def _tokenizer():
    global _dictionary
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        from sudachipy import Dictionary

        with _dictionary_lock:
            if _dictionary is None:
                _dictionary = Dictionary(dict="core")
        tokenizer = _local.tokenizer = _dictionary.tokenizer()
    return tokenizer


def _chunks(text: str):
    """Pieces Sudachi accepts, cut at a line end or 。 where possible."""
    while len(text) > CHUNK:
        cut = max(text.rfind("\n", 0, CHUNK), text.rfind("。", 0, CHUNK))
        cut = cut if cut > 0 else CHUNK - 1
        yield text[:cut + 1]
        text = text[cut + 1:]
    if text:
        yield text


def to_katakana(text: str) -> str:
    return "".join(chr(ord(ch) + 0x60) if "ぁ" <= ch <= "ゖ" else ch for ch in text)


def normalize_term(value: str) -> str:
    """NFKC, lower case, hiragana as katakana, letters and digits only: one word for both engines."""
    value = to_katakana(unicodedata.normalize("NFKC", value or "").lower())
    return "".join(ch for ch in value if unicodedata.category(ch)[0] in "LN")


def bigrams(text: str) -> list[str]:
    """Character bigrams of every run of two or more kanji, or of kana (folded to katakana)."""
    runs = [to_katakana(run) for run in SCRIPT_RUN.findall(unicodedata.normalize("NFKC", text or ""))]
    return [run[i:i + 2] for run in runs for i in range(len(run) - 1)]


def _forms(morpheme) -> list[str]:
    forms = (normalize_term(morpheme.surface()), normalize_term(morpheme.normalized_form()),
             normalize_term(morpheme.reading_form()))
    return [f for f in dict.fromkeys(forms) if f]


def _morphemes(text: str, mode):
    tokenizer = _tokenizer()
    for chunk in _chunks(text):
        for m in tokenizer.tokenize(chunk, mode):
            if m.part_of_speech()[0] not in SKIP_POS:
                yield m


def terms(text: str) -> list[str]:
    """Every index term of ``text`` (with repetitions, which the rankings count)."""
    from sudachipy import SplitMode

    out: list[str] = []
    for chunk in _chunks(text or ""):
        short_spans = set()
        for m in _morphemes(chunk, SplitMode.A):
            short_spans.add((m.begin(), m.end()))
            out.extend(_forms(m))
        for m in _morphemes(chunk, SplitMode.C):
            if (m.begin(), m.end()) not in short_spans:
                out.extend(_forms(m))
    out.extend(bigrams(text or ""))
    return out


def document(*texts: str) -> str:
    """The search document of some text: its terms, space-separated."""
    return " ".join(t for text in texts for t in terms(text))


# --- queries ---------------------------------------------------------------------------------------

Group = frozenset  # any of these terms (surface | normalised | reading)
Alternative = tuple  # every group
Phrase = tuple  # any alternative


@dataclass(frozen=True)
class Query:
    """A parsed query: every phrase must match, each through any of its alternatives."""

    phrases: tuple

    def __bool__(self) -> bool:
        return bool(self.phrases)

    def tsquery(self) -> str:
        """The ``to_tsquery('simple', …)`` text (terms hold letters and digits only)."""
        return " & ".join("(" + " | ".join(
            " & ".join("(" + " | ".join(f"'{t}'" for t in sorted(group)) + ")" for group in alt) for alt in phrase)
            + ")" for phrase in self.phrases)

    def fts5(self) -> str:
        """The FTS5 ``MATCH`` expression (terms hold letters and digits only)."""
        return " AND ".join("(" + " OR ".join(
            "(" + " AND ".join("(" + " OR ".join(f'"{t}"' for t in sorted(group)) + ")" for group in alt) + ")"
            for alt in phrase) + ")" for phrase in self.phrases)


def _is_single_kana(morpheme) -> bool:
    surface = morpheme.surface()
    return len(surface) == 1 and bool(KANA_ONLY.match(surface))


def _covered_by_bigrams(raw: str) -> bool:
    """Whether the bigrams of ``raw`` stand for all of it: every letter or digit sits in a run
    of two or more kanji or kana (障がい者 or CO業務 are not: their bigrams would match too much)."""
    covered = [False] * len(raw)
    for run in SCRIPT_RUN.finditer(raw):
        covered[run.start():run.end()] = [True] * (run.end() - run.start())
    letters = [i for i, ch in enumerate(raw) if unicodedata.category(ch)[0] in "LN"]
    return bool(letters) and all(covered[i] for i in letters)


def _phrase(raw: str) -> Phrase:
    """A phrase's alternatives.  Written in kana only: its katakana form (a reading of the text,
    にんちしょう → ニンチショウ) or its bigrams; Sudachi's split of a kana query is unreliable.
    Otherwise: its Sudachi tokens, or its bigrams where they stand for all of it."""
    from sudachipy import SplitMode

    alternatives: list[Alternative] = []
    if KANA_ONLY.match(raw):
        if len(raw) >= 2:
            alternatives.append(Alternative([Group([normalize_term(raw)])]))
    else:
        groups = [Group(_forms(m)) for m in _morphemes(raw, SplitMode.C) if not _is_single_kana(m)]
        if any(groups):
            alternatives.append(Alternative(g for g in groups if g))
    if _covered_by_bigrams(raw):
        alternatives.append(Alternative(Group([g]) for g in dict.fromkeys(bigrams(raw))))
    return Phrase(dict.fromkeys(alternatives))


def parse_query(q: str | None) -> Query:
    """Parse a user's query with the same tokenizer as the index (an empty Query when nothing
    searchable is left, e.g. punctuation only)."""
    phrases = [_phrase(raw) for raw in unicodedata.normalize("NFKC", q or "").split()[:10]]
    return Query(tuple(p for p in phrases if p))


# --- indexing ------------------------------------------------------------------------------------

def index_version(version: CaseStudyVersion) -> None:
    """Fill a new version's search documents (and, on SQLite, its FTS5 row).  Called once, when the
    version is published: versions never change."""
    version.search_title = document(version.title)
    version.search_body = document(version.background, version.actions, version.outcomes, version.reference)
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.flush()
        db.session.execute(text("INSERT INTO case_study_fts (version_id, title, body) VALUES (:id, :title, :body)"),
                           {"id": version.id.hex, "title": version.search_title, "body": version.search_body})


# --- finding studies --------------------------------------------------------------------------------

def _tag_filter(dialect: str, tags: list[str]):
    if not tags:
        return None
    if dialect == "postgresql":
        return cast(CaseStudyVersion.tags, JSONB).contains(list(tags))
    conditions = []
    for tag in tags:
        each = func.json_each(CaseStudyVersion.tags).table_valued("value")
        conditions.append(exists(select(literal(1)).select_from(each).where(each.c.value == tag)))
    return and_(*conditions)


# --- what each reader sees: the one visibility rule of the library's versions ------------------------

def shown_version_no(history: bool):
    """The version of a study a reader is shown, as SQL over ``case_studies``: its current
    version (the latest the association has not withdrawn; NULL when every version is, and the
    study is then gone for that reader).  ``history`` readers (the author and the association)
    read every version; when all are withdrawn they are shown the latest.  The list, the search
    and a study's page all go through this expression (``_base`` and ``readable_version``)."""
    if history:
        return func.coalesce(CaseStudy.current_version, CaseStudy.latest_version)
    return CaseStudy.current_version


def readable_version(study_id, number: int | None = None, *, history: bool) -> CaseStudyVersion | None:
    """Version ``number`` of a study (None: the one shown) if this reader may read it: any
    version for ``history`` readers, only the shown one for everyone else; None otherwise."""
    stmt = (select(CaseStudyVersion).join(CaseStudy, CaseStudy.id == CaseStudyVersion.study_id)
            .where(CaseStudyVersion.study_id == study_id))
    if number is None or not history:
        stmt = stmt.where(CaseStudyVersion.version_no == shown_version_no(history))
    if number is not None:
        stmt = stmt.where(CaseStudyVersion.version_no == number)
    return db.session.scalar(stmt)


def _base(include_hidden: bool, tags: list[str], dialect: str):
    stmt = (select(CaseStudy, CaseStudyVersion)
            .join(CaseStudyVersion, and_(CaseStudyVersion.study_id == CaseStudy.id,
                                         CaseStudyVersion.version_no == shown_version_no(include_hidden))))
    if not include_hidden:
        stmt = stmt.where(CaseStudy.status == "published")
    tag_filter = _tag_filter(dialect, tags)
    return stmt if tag_filter is None else stmt.where(tag_filter)


def _ranked(stmt, query: Query, dialect: str):
    if dialect == "postgresql":
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), bindparam("q", query.tsquery()))
        vector = literal_column("case_study_versions.search_vector")
        rank = func.ts_rank(vector, tsquery)
        return (stmt.add_columns(rank.label("rank")).where(vector.op("@@")(tsquery))
                .order_by(rank.desc(), CaseStudy.last_published_at.desc(), CaseStudy.id.desc()))
    rank = literal_column("bm25(case_study_fts, 0.0, 10.0, 1.0)")
    return (stmt.add_columns(rank.label("rank"))
            .join(FTS_TABLE, FTS_TABLE.c.version_id == CaseStudyVersion.id)
            .where(text("case_study_fts MATCH :q").bindparams(q=query.fts5()))
            .order_by(rank.asc(), CaseStudy.last_published_at.desc(), CaseStudy.id.desc()))


def find_studies(*, q: str | None = None, tags: list[str] | None = None, include_hidden: bool = False,
                 limit: int = 50, cursor: str | None = None) -> tuple[list[tuple[CaseStudy, CaseStudyVersion]], str | None]:
    """The library as a reader sees it (each study's shown version, ``shown_version_no``; the
    association, ``include_hidden``, also sees hidden and fully withdrawn studies): ranked by
    relevance when ``q`` is given, else newest first; every tag in ``tags`` must be present.
    Returns (rows, next cursor)."""
    dialect = db.session.get_bind().dialect.name
    stmt = _base(include_hidden, list(tags or ()), dialect)
    if q and q.strip():
        query = parse_query(q)
        if not query:
            return [], None
        rows, next_cursor = offset_page(_ranked(stmt, query, dialect), limit, cursor)
        return [(r[0], r[1]) for r in rows], next_cursor
    rows, next_cursor = keyset_page(stmt, (CaseStudy.last_published_at, CaseStudy.id), limit, cursor)
    return [(r[0], r[1]) for r in rows], next_cursor
