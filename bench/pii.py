"""PII detector benchmark: recall and precision of ``exchange.pii.detect`` on labelled Japanese text.

Three labelled sets in ``bench/data/``, one JSON object a line:
``{"text": ..., "pii": [{"kind": ..., "text": ...}], "known_terms": [{"text": ..., "kind": ...}]}``
(``known_terms`` optional; a labelled text that occurs twice in a line is listed twice).

* ``pii_ja.jsonl``: the development set, written before the detector and used while building it.
* ``pii_ja_holdout.jsonl``: written before any tuning and never tuned against.
* ``pii_ja_holdout2.jsonl``: harder sentences written after the first round of tuning, when the
  first two sets already scored 1.0.  Its first run missed 3 of 34 spans (names recall 0.833:
  髙橋 written with a variant kanji, a nickname in quotes, a facility whose name Sudachi cut into a
  name and a suffix); three general rules followed (variant kanji folded before Sudachi, quoted
  nicknames before 呼ぶ/名乗る, kana suffixes inside facility names), so it is no longer unseen.

Scoring: a labelled span is recalled when any finding overlaps it (whatever the finding's kind:
the author sees it flagged); a finding is a true positive when it overlaps a labelled span.
Recall is reported per labelled kind, precision per finding kind, both overall, and the four
groups with a target: names (人名, かな氏名, 敬称, 登録者, 職員), dates (日付, 年齢), addresses
(住所・地名) and phones, recall ≥ 0.98, with overall precision ≥ 0.8.  Throughput: a 5,000-character
study made of the sets' sentences, detected repeatedly (target: under a second each).

Needs neither PostgreSQL nor Redis.  Figures go to ``bench-results/pii.json``; the run fails when
a target on the development set or the time target is missed (the hold-out sets are reported only;
``tests/test_pii.py`` holds the development set and the first hold-out to the targets).
"""
from __future__ import annotations

import json
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from teichaku.crosstenant.exchange.pii import KINDS, Finding, KnownTerm, detect

from .registry import benchmark
from .report import write_json

NAME = "pii"
DATA = Path(__file__).resolve().parent / "data"
DEV_SET = DATA / "pii_ja.jsonl"
HOLDOUT_SET = DATA / "pii_ja_holdout.jsonl"
HOLDOUT2_SET = DATA / "pii_ja_holdout2.jsonl"

GROUPS = {
    "names": ("person_name", "kana_name", "honorific", "known_person", "known_staff"),
    "dates": ("date", "age"),
    "addresses": ("address",),
    "phones": ("phone",),
}
TARGET_RECALL = 0.98
TARGET_PRECISION = 0.8
STUDY_CHARS = 5000
TARGET_STUDY_SECONDS = 1.0


@dataclass(frozen=True)
class Label:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Sample:
    text: str
    labels: tuple[Label, ...]
    known_terms: tuple[KnownTerm, ...] = ()


@dataclass
class Scores:
    """Counts behind recall and precision, and the misses and false alarms that explain them."""

    labelled: Counter = field(default_factory=Counter)
    recalled: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)
    true_positive: Counter = field(default_factory=Counter)
    same_kind: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, span, sentence)
    false_alarms: list[tuple[str, str, str]] = field(default_factory=list)

    def recall(self, kinds: tuple[str, ...] | None = None) -> float | None:
        total = sum(n for k, n in self.labelled.items() if kinds is None or k in kinds)
        hit = sum(n for k, n in self.recalled.items() if kinds is None or k in kinds)
        return hit / total if total else None

    def precision(self, kinds: tuple[str, ...] | None = None) -> float | None:
        total = sum(n for k, n in self.found.items() if kinds is None or k in kinds)
        hit = sum(n for k, n in self.true_positive.items() if kinds is None or k in kinds)
        return hit / total if total else None

    def targets(self) -> dict[str, dict]:
        """Each group's recall and the overall precision against their targets."""
        out = {}
        for group, kinds in GROUPS.items():
            value = self.recall(kinds)
            out[f"recall_{group}"] = {"value": value, "target": TARGET_RECALL,
                                      "met": value is not None and value >= TARGET_RECALL}
        precision = self.precision()
        out["precision_overall"] = {"value": precision, "target": TARGET_PRECISION,
                                    "met": precision is not None and precision >= TARGET_PRECISION}
        return out

    def all_met(self) -> bool:
        return all(t["met"] for t in self.targets().values())


def load(path: Path) -> list[Sample]:
    """The labelled lines of ``path`` with each labelled text located in its sentence."""
    samples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        labels = _locate(record["text"], record.get("pii", []), f"{path.name}:{number}")
        terms = tuple(KnownTerm(t["text"], t["kind"]) for t in record.get("known_terms", []))
        samples.append(Sample(record["text"], labels, terms))
    return samples


def _locate(text: str, pii: list[dict], where: str) -> tuple[Label, ...]:
    """The n-th label with a given text is that text's n-th occurrence."""
    seen: Counter = Counter()
    labels = []
    for item in pii:
        if item["kind"] not in KINDS:
            raise ValueError(f"{where}: unknown kind {item['kind']!r}")
        start = -1
        for _ in range(seen[item["text"]] + 1):
            start = text.find(item["text"], start + 1)
            if start < 0:
                raise ValueError(f"{where}: {item['text']!r} not found (occurrence {seen[item['text']] + 1})")
        seen[item["text"]] += 1
        labels.append(Label(item["kind"], start, start + len(item["text"])))
    return tuple(labels)


def evaluate(samples: list[Sample]) -> Scores:
    scores = Scores()
    for sample in samples:
        findings = detect(sample.text, known_terms=sample.known_terms)
        _score(sample, findings, scores)
    return scores


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def _score(sample: Sample, findings: list[Finding], scores: Scores) -> None:
    for label in sample.labels:
        scores.labelled[label.kind] += 1
        hits = [f for f in findings if _overlaps(f.start, f.end, label.start, label.end)]
        if hits:
            scores.recalled[label.kind] += 1
            scores.same_kind += any(f.kind == label.kind for f in hits)
        else:
            scores.misses.append((label.kind, sample.text[label.start:label.end], sample.text))
    for f in findings:
        scores.found[f.kind] += 1
        if any(_overlaps(f.start, f.end, label.start, label.end) for label in sample.labels):
            scores.true_positive[f.kind] += 1
        else:
            scores.false_alarms.append((f.kind, f.text, sample.text))


def study_text(samples: list[Sample], chars: int = STUDY_CHARS) -> str:
    """A case study of about ``chars`` characters made of the sets' sentences, in order."""
    parts: list[str] = []
    size = 0
    while size < chars:
        for sample in samples:
            sentence = sample.text if sample.text.endswith("。") else sample.text + "。"
            parts.append(sentence)
            size += len(sentence)
            if size >= chars:
                break
    return "".join(parts)[:chars]


def throughput(text: str, rounds: int = 5) -> dict:
    detect(text)  # the first call builds this thread's tokenizer
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        detect(text)
        timings.append(time.perf_counter() - started)
    worst = max(timings)
    return {"chars": len(text), "rounds": rounds, "best_s": round(min(timings), 4), "worst_s": round(worst, 4),
            "chars_per_s": round(len(text) / (sum(timings) / rounds)), "target_s": TARGET_STUDY_SECONDS,
            "met": worst < TARGET_STUDY_SECONDS}


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def _pad(text: str, width: int) -> str:
    """Left-aligned in ``width`` terminal columns (a Japanese character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - used)


def report(title: str, samples: list[Sample], scores: Scores) -> None:
    print(f"-- {title}: {len(samples)} lines, {sum(1 for s in samples if s.labels)} with PII, "
          f"{sum(scores.labelled.values())} labelled spans, {sum(scores.found.values())} findings")
    print(f"{'kind':<14}{_pad('label', 18)}{'labelled':>9}{'recall':>8}{'found':>7}{'precision':>10}")
    for kind, label in KINDS.items():
        print(f"{kind:<14}{_pad(label, 18)}{scores.labelled[kind]:>9}{_fmt(scores.recall((kind,))):>8}"
              f"{scores.found[kind]:>7}{_fmt(scores.precision((kind,))):>10}")
    print(f"{'overall':<14}{'':<18}{sum(scores.labelled.values()):>9}{_fmt(scores.recall()):>8}"
          f"{sum(scores.found.values()):>7}{_fmt(scores.precision()):>10}")
    recalled = sum(scores.recalled.values())
    print(f"found with the labelled kind: {scores.same_kind}/{recalled}")
    for name, target in scores.targets().items():
        verdict = "met" if target["met"] else "NOT met"
        print(f"target {name:<20} {_fmt(target['value'])} (≥ {target['target']})  {verdict}")
    for kind, span, sentence in scores.misses:
        print(f"  missed       {kind:<13} {span!r:<24} in {sentence}")
    for kind, span, sentence in scores.false_alarms:
        print(f"  false alarm  {kind:<13} {span!r:<24} in {sentence}")


def _figures(scores: Scores) -> dict:
    return {
        "recall": {k: scores.recall((k,)) for k in KINDS}, "precision": {k: scores.precision((k,)) for k in KINDS},
        "labelled": dict(scores.labelled), "found": dict(scores.found),
        "recall_overall": scores.recall(), "precision_overall": scores.precision(),
        "targets": scores.targets(), "misses": len(scores.misses), "false_alarms": len(scores.false_alarms),
    }


@benchmark(NAME, "Japanese PII detector: recall/precision per kind on labelled sets, chars/s on a 5,000-char study")
def run() -> dict:
    dev, holdout, holdout2 = load(DEV_SET), load(HOLDOUT_SET), load(HOLDOUT2_SET)
    dev_scores, holdout_scores, holdout2_scores = evaluate(dev), evaluate(holdout), evaluate(holdout2)
    report("development set (pii_ja.jsonl)", dev, dev_scores)
    report("hold-out set (pii_ja_holdout.jsonl, written before tuning)", holdout, holdout_scores)
    report("second hold-out (pii_ja_holdout2.jsonl, harder, written mid-way)", holdout2, holdout2_scores)
    speed = throughput(study_text(dev + holdout))
    verdict = "met" if speed["met"] else "NOT met"
    print(f"-- throughput: {speed['chars']} chars in {speed['worst_s']:.3f}s at worst, "
          f"{speed['chars_per_s']:,} chars/s  (target < {TARGET_STUDY_SECONDS}s: {verdict})")
    figures = {"development": _figures(dev_scores), "holdout": _figures(holdout_scores),
               "holdout2": _figures(holdout2_scores), "throughput": speed,
               "ok": dev_scores.all_met() and speed["met"]}
    print(f"figures: {write_json(NAME, figures)}")
    return figures
