"""Type-faithful encoding of database rows for the handover archive.

A row becomes a JSON object ``{column: value}``.  JSON has no dates, UUIDs, bytes or decimals,
and a JSON column may hold a dict that happens to look like an encoding, so every value that is
not a plain JSON scalar is tagged, and a tag is the only kind of object that appears at the top
of a value:

=================  ==========================================================================
``{"$uuid": s}``   ``uuid.UUID``
``{"$date": s}``   ``datetime.date`` (ISO 8601)
``{"$datetime": s}`` ``datetime.datetime`` (ISO 8601, with its offset when aware)
``{"$time": s}``   ``datetime.time``
``{"$timedelta": [d, s, us]}``
``{"$decimal": s}`` ``decimal.Decimal`` (its exact text)
``{"$bytes": s}``  ``bytes`` (base64)
``{"$json": v}``   the value of a JSON column, verbatim (``{"$json": null}`` is JSON ``null``,
                   a bare ``null`` is SQL ``NULL``)
``{"$array": [...]}`` a PostgreSQL array, each element encoded like a value
``{"$center": code}`` a reference to a center (a column with a foreign key to ``centers.id``):
                   center ids differ between installations, codes do not
=================  ==========================================================================

A type with no encoding raises ``TypeError``: a new column type needs a decision here, it is
never written lossily.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import JSON, Column, null
from sqlalchemy.dialects.postgresql import ARRAY


class ArchiveDataError(ValueError):
    """A value in an archive that cannot be decoded (a corrupt or hostile archive)."""


def references_center(column: Column) -> bool:
    """Whether the column holds a center id (a foreign key to ``centers.id``)."""
    return any(fk.column.table.name == "centers" and fk.column.name == "id" for fk in column.foreign_keys)


def _type_for(column: Column, dialect_name: str):
    """The column's type as used on this dialect (``with_variant`` types resolved)."""
    return column.type._variant_mapping.get(dialect_name, column.type)


def is_json(column: Column, dialect_name: str) -> bool:
    return isinstance(_type_for(column, dialect_name), JSON)


def is_array(column: Column, dialect_name: str) -> bool:
    return isinstance(_type_for(column, dialect_name), ARRAY)


# --- scalars -----------------------------------------------------------------------------------

def encode_scalar(value: Any) -> Any:
    """A Python value read from the database, as JSON (tagged where JSON has no such type)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TypeError("non-finite float cannot be archived")
        return value
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"no archive encoding for {type(value).__name__}")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$uuid": lambda v: uuid.UUID(v),
    "$datetime": lambda v: datetime.fromisoformat(v),
    "$date": lambda v: date.fromisoformat(v),
    "$time": lambda v: time.fromisoformat(v),
    "$timedelta": lambda v: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "$decimal": lambda v: Decimal(v),
    "$bytes": lambda v: base64.b64decode(v, validate=True),
}


def decode_scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (tag, inner), = value.items()
        decoder = _DECODERS.get(tag)
        if decoder is not None:
            try:
                return decoder(inner)
            except (ValueError, TypeError, IndexError) as exc:
                raise ArchiveDataError(f"bad {tag} value") from exc
    raise ArchiveDataError("unknown value encoding")


# --- columns and rows --------------------------------------------------------------------------

class RowCodec:
    """Encodes and decodes the rows of one table on one database dialect.

    ``center_codes`` maps center id -> code (encoding); ``center_ids`` maps code -> id of the
    installation that decodes (an unknown code is an error: the archive names a center this
    installation does not have)."""

    def __init__(self, columns: Iterable[Column], dialect_name: str, *,
                 center_codes: Mapping[uuid.UUID, str] | None = None,
                 center_ids: Mapping[str, uuid.UUID] | None = None):
        self.columns = list(columns)
        self.dialect_name = dialect_name
        self.center_codes = center_codes or {}
        self.center_ids = center_ids or {}

    # encoding ------------------------------------------------------------------------------
    def encode_value(self, column: Column, value: Any, *, sql_null: bool = True) -> Any:
        if value is None:
            # A JSON column's None is SQL NULL or the JSON value null; the caller says which.
            return {"$json": None} if is_json(column, self.dialect_name) and not sql_null else None
        if references_center(column):
            code = self.center_codes.get(value)
            if code is None:
                raise ArchiveDataError(f"{column.table.name}.{column.name} names an unknown center")
            return {"$center": code}
        if is_json(column, self.dialect_name):
            return {"$json": value}
        if is_array(column, self.dialect_name):
            return {"$array": [encode_scalar(v) for v in value]}
        return encode_scalar(value)

    def encode_row(self, row: Mapping[str, Any], sql_nulls: Mapping[str, bool] | None = None) -> dict:
        sql_nulls = sql_nulls or {}
        return {c.name: self.encode_value(c, row[c.name], sql_null=sql_nulls.get(c.name, True)) for c in self.columns}

    # decoding ------------------------------------------------------------------------------
    def decode_value(self, column: Column, value: Any) -> Any:
        if value is None:
            return null() if is_json(column, self.dialect_name) else None
        if isinstance(value, dict) and len(value) == 1:
            (tag, inner), = value.items()
            if tag == "$center":
                return self._center_id(column, inner)
            if tag == "$json":
                return JSON.NULL if inner is None else inner
            if tag == "$array":
                if not isinstance(inner, list):
                    raise ArchiveDataError("bad $array value")
                return [decode_scalar(v) for v in inner]
        return decode_scalar(value)

    def _center_id(self, column: Column, code: Any) -> uuid.UUID:
        center_id = self.center_ids.get(code) if isinstance(code, str) else None
        if center_id is None:
            raise ArchiveDataError(f"{column.table.name}.{column.name}: center {code!r} is not in this installation")
        return center_id

    def decode_row(self, encoded: Mapping[str, Any]) -> dict:
        names = {c.name for c in self.columns}
        if not isinstance(encoded, Mapping) or set(encoded) != names:
            raise ArchiveDataError("a row's columns differ from the table's")
        return {c.name: self.decode_value(c, encoded[c.name]) for c in self.columns}


# --- digests -----------------------------------------------------------------------------------

def canonical(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8 (used for digests and the file)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class TableDigest:
    """Count and order-independent digest of a table's encoded rows.

    Order-independent (the sorted list of row hashes is hashed), so the exporter's and the
    importer's databases may return rows in different orders (collations differ between
    installations) and still agree."""

    def __init__(self) -> None:
        self.count = 0
        self._hashes: list[bytes] = []

    def add(self, encoded_row: Mapping[str, Any]) -> None:
        self.count += 1
        self._hashes.append(hashlib.sha256(canonical(encoded_row)).digest())

    def hexdigest(self) -> str:
        return hashlib.sha256(b"".join(sorted(self._hashes))).hexdigest()

    def as_manifest(self) -> dict:
        return {"rows": self.count, "sha256": self.hexdigest()}
