"""Database access shared by the exporter and the importer.

Rows are read and written through ``db.session`` of an app connected as the **application
role**, inside the center's own tenant scope (``tenancy.set_tenant``): on PostgreSQL, row-level
security then shows and accepts that one center's rows and nothing else, whatever the
statements say.  The statements filter by ``center_id`` as well (the only guard on SQLite, a
development database).  The schema owner is used for three things only, none of them a tenant
row: reading ``alembic_version``, checking that nothing references an empty center before its
id is replaced, and updating the center's own row in ``centers``.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import Engine, Table, create_engine, select, text

from ..centers import Center
from ..database import is_postgres, normalize_url
from ..extensions import db
from .rows import RowCodec, TableDigest, is_json
from .tables import exported_columns

JSON_NULL_LABEL = "handover_sql_null__"


class HandoverRefused(Exception):
    """The export or import cannot go ahead; the message is Japanese and safe to print."""


def on_postgres() -> bool:
    return is_postgres(current_app.config["DATABASE_URL"])


def require_application_role() -> None:
    """Refuse to move rows over the owner's connection: only the application role is bound by
    row-level security (the owner bypasses it)."""
    if on_postgres() and current_app.config.get("DATABASE_ROLE") != "app":
        raise HandoverRefused("センターのデータはアプリケーションロールの接続で読み書きします（内部エラー）。")


@contextmanager
def owner_engine() -> Iterator[Engine]:
    engine = create_engine(normalize_url(current_app.config["DATABASE_URL"]))
    try:
        yield engine
    finally:
        engine.dispose()


def schema_revisions() -> list[str]:
    """The Alembic revision(s) this database is at (several while branches are unmerged)."""
    with owner_engine() as engine, engine.connect() as conn:
        return sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def known_revisions() -> set[str]:
    """Every revision this code base's migrations know."""
    directory = current_app.extensions["migrate"].directory
    return {script.revision for script in ScriptDirectory(directory).walk_revisions()}


def center_codes() -> dict[uuid.UUID, str]:
    return {c.id: c.code for c in db.session.scalars(select(Center))}


def codec(table: Table, codes: dict[uuid.UUID, str]) -> RowCodec:
    return RowCodec(exported_columns(table), db.session.get_bind().dialect.name,
                    center_codes=codes, center_ids={code: cid for cid, code in codes.items()})


def encoded_rows(table: Table, center_id: uuid.UUID, row_codec: RowCodec) -> Iterator[dict]:
    """The center's rows of one table, encoded, in primary-key order.  A JSON column's SQL NULL
    and JSON ``null`` both read as None, so each JSON column's ``IS NULL`` is read alongside."""
    dialect = row_codec.dialect_name
    columns = row_codec.columns
    json_nulls = [c.is_(None).label(JSON_NULL_LABEL + c.name) for c in columns if is_json(c, dialect)]
    stmt = (select(*columns, *json_nulls).where(table.c.center_id == center_id)
            .order_by(*table.primary_key.columns).execution_options(yield_per=1000))
    for row in db.session.execute(stmt):
        mapping = row._mapping
        sql_nulls = {name[len(JSON_NULL_LABEL):]: bool(mapping[name]) for name in mapping.keys()
                     if isinstance(name, str) and name.startswith(JSON_NULL_LABEL)}
        yield row_codec.encode_row({c.name: mapping[c.name] for c in columns}, sql_nulls)


def table_digest(table: Table, center_id: uuid.UUID, row_codec: RowCodec) -> TableDigest:
    digest = TableDigest()
    for encoded in encoded_rows(table, center_id, row_codec):
        digest.add(encoded)
    return digest
