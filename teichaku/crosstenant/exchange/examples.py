"""The seven examples of the source document, as the library's initial case studies.

``data/good-practices-R5-2023.txt`` is the public collection 『地域生活定着支援センターにおける業務運営
に関する好取組事例集』 (MS&AD インターリスク総研, March 2023, funded by the ministry).  Each example
has a numbered title after ``<取組み概要>``, the three sections the field uses (①取組みの経緯,
②取組んだこと, ③取組みの成果) and sometimes 参考資料.  The publisher's colophon at the end of the
document belongs to no example and is cut off.

``parse_examples`` is pure (tested on the shipped file); ``load_source_examples`` publishes them
through the same check and resolution flow a center uses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import select

from ...platform.extensions import db
from .authoring import create_draft, publish_draft
from .findings import open_findings
from .models import CaseStudyDraft
from .scope import NotAllowed, exchange_scope, is_association

SOURCE_FILE = "good-practices-R5-2023.txt"
SOURCE_NAME = "地域生活定着支援センターにおける業務運営に関する好取組事例集（令和5年3月）"

SECTION_HEADINGS = {
    "①取組みの経緯": "background",
    "②取組んだこと": "actions",
    "③取組みの成果": "outcomes",
    "参考資料": "reference",
}
# Where the examples start (the chapter heading; the contents page has it with leader dots) and
# where the colophon starts.
CHAPTER = "I. 好取組事例について"
COLOPHON = re.compile(r"^地域生活定着支援センターにおける業務運営に\s*関する好取組事例集$")
TITLE = re.compile(r"^(\d)\.\s*(.+)$")
BULLET = re.compile(r"^\s*-\s*(?:・\s*)?")


@dataclass(frozen=True)
class SourceExample:
    number: int
    title: str
    background: str
    actions: str
    outcomes: str
    reference: str


def source_text() -> str:
    return resources.files(__package__).joinpath("data", SOURCE_FILE).read_text(encoding="utf-8")


def _clean(lines: list[str]) -> str:
    """Bullets become 「・」 lines; empty bullets and blank runs disappear."""
    out = []
    for raw in lines:
        line = raw.rstrip()
        if not line.strip() or line.strip() == "<取組み概要>":
            continue
        if BULLET.match(line):
            body = BULLET.sub("", line).strip()
            if not body:
                continue
            line = "・" + body
        out.append(line.strip())
    return "\n".join(out)


def _body_lines(text: str) -> list[str]:
    """The lines of the examples chapter, without the contents page and the colophon."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == CHAPTER]
    if not starts:
        raise ValueError("the examples chapter was not found in the source document")
    body = lines[starts[0] + 1:]
    for i, line in enumerate(body):
        if COLOPHON.match(line.strip()):
            return body[:i]
    return body


def parse_examples(text: str | None = None) -> list[SourceExample]:
    """The numbered examples 1..7, each with its sections, in document order.

    A numbered line is an example's title only when it carries the next expected number and
    comes after the previous example's sections (numbered lists inside 参考資料 restart at 1)."""
    text = source_text() if text is None else text
    examples: list[dict] = []
    section = None
    for line in _body_lines(text):
        stripped = line.strip()
        match = TITLE.match(stripped)
        if match and int(match.group(1)) == len(examples) + 1 and (not examples or examples[-1]["outcomes"]):
            examples.append({"number": int(match.group(1)), "title": match.group(2).strip(),
                             "background": [], "actions": [], "outcomes": [], "reference": []})
            section = None
            continue
        if stripped in SECTION_HEADINGS and examples:
            section = SECTION_HEADINGS[stripped]
            continue
        if examples and section:
            examples[-1][section].append(line)
    parsed = [SourceExample(number=e["number"], title=e["title"],
                            **{key: _clean(e[key]) for key in ("background", "actions", "outcomes", "reference")})
              for e in examples]
    if [e.number for e in parsed] != list(range(1, 8)):
        raise ValueError(f"expected examples 1..7, found {[e.number for e in parsed]}")
    return parsed


# --- loading them into the library --------------------------------------------------------------------

# The themes and needs each example is about (the moderator's reading of the source document).
EXAMPLE_TAGS: dict[int, tuple[str, ...]] = {
    1: ("review_committee", "center_operation", "coordination", "mental", "dementia"),
    2: ("review_committee", "center_operation", "coordination"),
    3: ("regional_network", "transfer", "coordination"),
    4: ("municipal_cooperation", "regional_network"),
    5: ("partner_community", "regional_network", "training", "receiving_places"),
    6: ("partner_community", "regional_network", "training"),
    7: ("receiving_places", "training", "elderly"),
}


@dataclass
class LoadReport:
    """What ``load_source_examples`` did, example by example (titles only: nothing personal)."""

    published: list[str]
    awaiting_moderator: list[tuple[str, int]]  # (title, open findings): left as checked drafts to resolve
    already_present: list[str]


def _present_titles() -> set[str]:
    """Titles the association already has, published or being written (so loading is idempotent)."""
    return set(db.session.scalars(select(CaseStudyDraft.title)))


def load_source_examples(moderator) -> LoadReport:
    """Publish the seven examples as the association, with no center shown, through the same flow
    a center uses: each becomes a draft, the PII check runs, and only a draft with no open
    finding is approved and published.  A draft with findings is left for the moderator to
    resolve on its page (``/case-studies``) and publish there: a loader never decides for them.
    The caller commits."""
    report = LoadReport(published=[], awaiting_moderator=[], already_present=[])
    if not is_association(moderator):
        raise NotAllowed("事例集の読み込みは全国協議会のアカウントで行います。")
    with exchange_scope(moderator):
        present = _present_titles()
        for example in parse_examples():
            if example.title in present:
                report.already_present.append(example.title)
                continue
            draft = create_draft({
                "title": example.title, "background": example.background, "actions": example.actions,
                "outcomes": example.outcomes, "reference": example.reference or None,
                "tags": list(EXAMPLE_TAGS.get(example.number, ())), "show_center": False,
            }, actor=moderator)
            open_count = len(open_findings(draft))
            if open_count:
                report.awaiting_moderator.append((example.title, open_count))
                continue
            publish_draft(draft, actor=moderator)
            report.published.append(example.title)
    return report
