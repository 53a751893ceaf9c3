"""Charts drawn on the server as inline SVG: geometry only, from tables already suppressed.

No JavaScript library and no CDN: the page's Content-Security-Policy allows neither, nor inline
``style`` attributes.  These functions compute coordinates; the templates
(``templates/aggregates/_charts.html``) write ``<rect>``, ``<path>`` and ``<text>`` elements with
SVG geometry attributes and classes styled by ``static/aggregates.css``.  A suppressed value
(``None``) is drawn as no bar (with the 秘匿 mark) or as a gap in a line: a chart can never show
more than the table next to it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH = 640
LABEL_WIDTH = 190
VALUE_WIDTH = 60
BAR_HEIGHT = 18
BAR_GAP = 6
LINE_HEIGHT = 240
MARGIN = 36


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None
    y: float
    width: float
    text_y: float

    @property
    def suppressed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    label_width: int
    bars: list[Bar]


def bar_chart(items: list[tuple[str, int | None]]) -> BarChart:
    """Horizontal bars, one per (label, value), scaled to the largest published value."""
    largest = max([v for _, v in items if v is not None] or [0]) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bars = []
    for i, (label, value) in enumerate(items):
        y = i * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
        width = 0.0 if value is None else round(span * value / largest, 1)
        bars.append(Bar(label, value, y, width, y + BAR_HEIGHT * 0.75))
    height = len(items) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    return BarChart(WIDTH, max(height, BAR_HEIGHT + 2 * BAR_GAP), LABEL_WIDTH, bars)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: int


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    path: str  # "M x y L x y ..." pieces; a suppressed year breaks the line
    points: list[Point]


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    x_labels: list[tuple[float, str]]
    y_ticks: list[tuple[float, int]]
    series: list[Series]
    baseline: float
    left: float
    right: float


def line_chart(years: list[str], series: list[tuple[str, str, list[int | None]]]) -> LineChart:
    """One line per (key, label, values by year); ``None`` values leave a gap."""
    top, bottom = MARGIN / 2, LINE_HEIGHT - MARGIN
    left, right = MARGIN + 24, WIDTH - MARGIN
    largest = max([v for _, _, values in series for v in values if v is not None] or [0])
    ceiling = _nice_ceiling(largest)
    step = (right - left) / max(len(years) - 1, 1)

    def x(i: int) -> float:
        return round(left + i * step, 1)

    def y(value: int) -> float:
        return round(bottom - (bottom - top) * value / ceiling, 1)

    drawn = []
    for key, label, values in series:
        points = [Point(x(i), y(v), v) for i, v in enumerate(values) if v is not None]
        drawn.append(Series(key, label, _path(values, x, y), points))
    ticks = [(y(v), v) for v in _ticks(ceiling)]
    return LineChart(WIDTH, LINE_HEIGHT, [(x(i), label) for i, label in enumerate(years)], ticks, drawn,
                     bottom, left, right)


def _path(values: list[int | None], x, y) -> str:
    parts, pen_down = [], False
    for i, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'} {x(i)} {y(value)}")
        pen_down = True
    return " ".join(parts)


def _nice_ceiling(value: int) -> int:
    """The axis' top: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    if value <= 0:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    for factor in (1, 2, 5, 10):
        if value <= factor * power:
            return factor * power
    return 10 * power


def _ticks(ceiling: int) -> list[int]:
    """Five evenly spaced ticks from 0 to the ceiling (whole numbers only)."""
    step = max(ceiling // 4, 1)
    return list(range(0, ceiling + 1, step))
