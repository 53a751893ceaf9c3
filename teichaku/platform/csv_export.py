"""The one CSV writer of every export (集計表, 広域調整の報告, 第三者提供記録, 地域連携の取組み).

Why one: a CSV file is opened in a spreadsheet, which runs a cell starting with ``=``, ``+``,
``-`` or ``@`` (or a tab or carriage return before one) as a formula: text a user typed (a
center's name, a witness, a title) could then fetch a URL or run a command on the reader's
machine (CSV/formula injection).  Only the transfers module guarded against it; every export now
goes through ``csv_bytes`` here, with the guard always on, and a test keeps ``csv.writer`` out of
the rest of the code base.

What a cell becomes:
- ``None``: an empty cell (a suppressed count, the key a total row totals);
- ``True``/``False``: ``true``/``false`` (the JSON values, as the aggregates contract's header
  of JSON keys implies);
- a number (``int``, ``float``, ``Decimal``): written as is, never guarded (a negative
  year-over-year delta stays the number ``-3``);
- a date or datetime: ISO 8601;
- anything else is text: when it starts with a formula character it is prefixed with ``'``,
  which spreadsheets show as text and never evaluate (the OWASP recommendation).

The file is UTF-8 with a BOM (Excel opens it as UTF-8, not Shift_JIS) and CRLF line ends.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

MIMETYPE = "text/csv; charset=utf-8"
# A cell starting with one of these is read as a formula (tab and CR: the cell is trimmed first);
# the full-width forms are converted to the ASCII ones by Japanese Excel's input.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
BOM = "\ufeff"


def neutralise(text: str) -> str:
    """Text that cannot start a formula: a leading formula character gets a ``'`` before it."""
    return "'" + text if text.startswith(FORMULA_START) else text


def cell(value: Any) -> str | int | float | Decimal:
    """One cell as it is written (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return neutralise(str(value))


def csv_bytes(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]]) -> bytes:
    """The file: ``header`` (if any) then ``rows``, every cell through ``cell``; UTF-8 with BOM, CRLF."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if header is not None:
        writer.writerow([cell(v) for v in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return (BOM + buffer.getvalue()).encode("utf-8")
