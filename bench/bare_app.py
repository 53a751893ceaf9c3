"""The baseline: the same list query served by a bare Flask endpoint (``gunicorn bench.bare_app:app``).

No authentication, no tenant scoping in the ORM, no audit entry, no request hooks, no
marshmallow: one SQLAlchemy Core query on a plain pool (no pre-ping), rows turned into the same
JSON as ``GET /api/v1/cases`` (``items`` of case fields with a nested ``person``, and the same
``next_cursor``), by the value's type: UUID -> str, timestamp -> UTC ISO 8601, date -> ISO 8601,
JSON columns as stored.

Which fields: ``BENCH_BARE_CASE_FIELDS`` and ``BENCH_BARE_PERSON_FIELDS`` (comma-separated column
names).  The benchmark derives them from the platform's own first answer, so the baseline keeps
serving the contract's fields as the product adds some; the defaults are the foundation's.

Which center: the ``X-Bench-Center`` request header (a center id), so that the load generator can
spread the baseline's requests over the same centers as the platform's bearer tokens; without
the header, ``BENCH_BARE_CENTER_ID``.  A malformed id answers 400.

``BENCH_BARE_ROLE=app`` (default): connects as the application role, so row-level security still
applies, and sends ``set_config('app.tenant_id', <center>, true)`` inside the same transaction as
the query, signed as the platform signs it (``platform/scope_token.py``: the transaction's nonce
fetched, then the settings and their token; key from ``BENCH_BARE_SECRET_KEY``).  ``BENCH_BARE_ROLE=owner``: connects as the schema owner (BYPASSRLS), no setting.

Environment: ``BENCH_BARE_DATABASE_URL``, ``BENCH_BARE_ROLE``, ``BENCH_BARE_SECRET_KEY``,
``BENCH_BARE_CENTER_ID`` (optional).
"""
from __future__ import annotations

import base64
import os
import re
import uuid
from datetime import date, datetime, timezone

from flask import Flask, abort, jsonify, request
from sqlalchemy import create_engine, text

from teichaku.platform.scope_token import derive_key, scope

DEFAULT_CASE_FIELDS = ("id,case_number,case_type,status,version,release_date,destination_prefecture_code,"
                       "requested_on,created_at,updated_at")
DEFAULT_PERSON_FIELDS = "id,family_name,given_name,family_name_kana,given_name_kana,birth_date,sex,support_needs"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def _fields(name: str, default: str) -> list[str]:
    fields = [f.strip() for f in os.environ.get(name, default).split(",") if f.strip()]
    bad = [f for f in fields if not _IDENT.match(f)]
    if bad:
        raise ValueError(f"{name}: not column names: {bad}")
    return fields


DATABASE_URL = os.environ["BENCH_BARE_DATABASE_URL"]
ROLE = os.environ.get("BENCH_BARE_ROLE", "app")
CENTER_ID = os.environ.get("BENCH_BARE_CENTER_ID", "")
CENTER_HEADER = "X-Bench-Center"
CASE_FIELDS = _fields("BENCH_BARE_CASE_FIELDS", DEFAULT_CASE_FIELDS)
PERSON_FIELDS = _fields("BENCH_BARE_PERSON_FIELDS", DEFAULT_PERSON_FIELDS)

engine = create_engine(DATABASE_URL, pool_size=5, max_overflow=10)

SCOPE_KEY = derive_key({"SECRET_KEY": os.environ.get("BENCH_BARE_SECRET_KEY", "")})
_columns = ([f"c.{f} as c_{f}" for f in CASE_FIELDS] + [f"p.{f} as p_{f}" for f in PERSON_FIELDS]
            + ["c.created_at as cursor_created_at", "c.id as cursor_id"])
LIST_SQL = text(f"""
select {', '.join(_columns)}
  from cases c
  join persons p on p.center_id = c.center_id and p.id = c.person_id
 where c.center_id = cast(:center as uuid)
 order by c.created_at desc, c.id desc
 limit :limit
""")
_CASE_KEYS = [(f, f"c_{f}") for f in CASE_FIELDS]
_PERSON_KEYS = [(f, f"p_{f}") for f in PERSON_FIELDS]

app = Flask(__name__)


def _json(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _cursor(row) -> str:
    raw = f"{row['cursor_created_at'].astimezone(timezone.utc).isoformat()}|{row['cursor_id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _item(row) -> dict:
    item = {key: _json(row[col]) for key, col in _CASE_KEYS}
    item["person"] = {key: _json(row[col]) for key, col in _PERSON_KEYS}
    return item


def _center() -> str:
    raw = request.headers.get(CENTER_HEADER) or CENTER_ID
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        abort(400)


@app.get("/cases")
def list_cases():
    limit = min(max(request.args.get("limit", 50, type=int), 1), 200)
    center = _center()
    with engine.begin() as conn:
        if ROLE == "app":
            scope(conn, SCOPE_KEY, tenant=center)
        rows = conn.execute(LIST_SQL, {"center": center, "limit": limit + 1}).mappings().all()
    next_cursor = _cursor(rows[limit - 1]) if len(rows) > limit else None
    return jsonify({"items": [_item(r) for r in rows[:limit]], "next_cursor": next_cursor})


@app.get("/healthz")
def healthz():
    with engine.connect() as conn:
        conn.execute(text("select 1"))
    return jsonify({"status": "ok"})
