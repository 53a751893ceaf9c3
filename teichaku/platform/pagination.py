"""Opaque cursors for the contract's lists (``?cursor=``, newest first).

A cursor is the sort key of the last row shown, base64-encoded; it names no person.  A cursor
that does not decode is bad input (422), never a 500.
"""
from __future__ import annotations

import base64
import uuid
from datetime import date, datetime
from typing import Callable

from .errors import ValidationFailed


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


__all__ = ["aware_datetime", "decode_cursor", "encode_cursor", "uuid"]
