"""Printing a table and writing ``bench-results/<name>.json``."""
from __future__ import annotations

import json
from pathlib import Path

from .config import RESULTS_DIR

COLUMNS = (("server", "{:<10}"), ("requests", "{:>8}"), ("errors", "{:>6}"), ("req/s", "{:>8.1f}"),
           ("p50 ms", "{:>8.2f}"), ("p95 ms", "{:>8.2f}"), ("p99 ms", "{:>8.2f}"), ("mean ms", "{:>8.2f}"))


def table(rows: list[tuple[str, dict]]) -> str:
    header = "  ".join(f"{name:<10}" if i == 0 else f"{name:>{8 if name not in ('errors',) else 6}}"
                       for i, (name, _) in enumerate(COLUMNS))
    lines = [header, "-" * len(header)]
    for label, s in rows:
        values = (label, s["requests"], s["errors"], s["rps"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["mean_ms"] or 0.0)
        lines.append("  ".join(fmt.format(v) for (_, fmt), v in zip(COLUMNS, values)))
    return "\n".join(lines)


def write_json(name: str, figures: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path
