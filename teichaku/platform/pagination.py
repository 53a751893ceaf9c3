"""Opaque cursors for the contract's lists (``?cursor=``, newest first).

A cursor is the sort key of the last row shown, base64-encoded; it names no person.  A cursor
that does not decode is bad input (422), never a 500.  ``keyset_page`` is the one keyset
paginator: every list orders by its columns descending, reads one row more than the page to
know whether a next page exists, and continues strictly after the cursor's row (a row value
comparison, which PostgreSQL answers from the ``(center_id, created_at, id)``-style indexes).
"""
from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import Select, TypeDecorator, literal, tuple_
from sqlalchemy.engine import Row

from .errors import ValidationFailed
from .extensions import db


def encode_cursor(*values) -> str:
    raw = "|".join(v.isoformat() if isinstance(v, (date, datetime)) else str(v) for v in values)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def aware_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("naive timestamp in cursor")
    return value


def decode_cursor(cursor: str, *parsers: Callable[[str], object]) -> tuple:
    """Split a cursor back into its values, each read by its parser (e.g. ``aware_datetime, uuid.UUID``)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = raw.split("|")
        if len(parts) != len(parsers):
            raise ValueError("wrong number of parts")
        return tuple(parse(part) for parse, part in zip(parsers, parts))
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise ValidationFailed("cursor が正しくありません。", fields={"cursor": ["不正な値です。"]}) from exc


def keyset_page(stmt: Select, order_cols: Sequence[Any], limit: int, cursor: str | None) -> tuple[list, str | None]:
    """One page of ``stmt`` ordered by ``order_cols`` descending (the last one unique, e.g. the
    id), after the row ``cursor`` names, and the cursor of the next page (None on the last).

    A statement of one entity or column yields its scalars; one of several yields rows, whose
    sort key is read from the selected column itself or from the entity that owns it."""
    order_cols = tuple(order_cols)
    stmt = stmt.order_by(*(column.desc() for column in order_cols)).limit(limit + 1)
    if cursor:
        values = decode_cursor(cursor, *(_parser(column) for column in order_cols))
        after = tuple_(*(literal(value, column.type) for column, value in zip(order_cols, values)))
        stmt = stmt.where(tuple_(*order_cols) < after)
    if len(stmt.column_descriptions) == 1:
        rows: list = list(db.session.scalars(stmt))
    else:
        rows = list(db.session.execute(stmt).all())
    next_cursor = encode_cursor(*_sort_key(rows[limit - 1], order_cols)) if len(rows) > limit else None
    return rows[:limit], next_cursor


def offset_page(stmt: Select, limit: int, cursor: str | None, *, marker: str = "rank") -> tuple[list, str | None]:
    """One page of rows of an already ordered ``stmt`` whose order is no key (a relevance rank):
    the cursor is the marker and the offset of the next page.  Rows, not scalars."""
    offset = 0
    if cursor:
        tag, offset = decode_cursor(cursor, str, int)
        if tag != marker or offset < 0:
            raise ValidationFailed("cursor が正しくありません。", fields={"cursor": ["不正な値です。"]})
    rows = list(db.session.execute(stmt.limit(limit + 1).offset(offset)).all())
    next_cursor = encode_cursor(marker, offset + limit) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _parser(column: Any) -> Callable[[str], object]:
    """How a cursor part is read back, from the column's Python type (timestamps must be aware)."""
    type_ = column.type
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    python_type = type_.python_type
    for kind, parse in ((datetime, aware_datetime), (date, date.fromisoformat), (uuid.UUID, uuid.UUID)):
        if issubclass(python_type, kind):
            return parse
    raise TypeError(f"no cursor parser for a {python_type.__name__} column")


def _sort_key(row: Any, order_cols: Sequence[Any]) -> tuple:
    if not isinstance(row, Row):
        return tuple(getattr(row, column.key) for column in order_cols)
    mapping = row._mapping
    return tuple(mapping[column] if column in mapping else getattr(_owner(row, column), column.key)
                 for column in order_cols)


def _owner(row: Row, column: Any) -> Any:
    """The entity of a multi-entity row that the (mapped) sort column belongs to."""
    return next(item for item in row if isinstance(item, column.class_))


__all__ = ["aware_datetime", "decode_cursor", "encode_cursor", "keyset_page", "offset_page", "uuid"]
