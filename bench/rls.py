"""Row-level security benchmark: what the signed scope (``platform/scope_token.py``) costs.

Seeds ``BENCH_RLS_PERSONS`` persons per center (default 2,000, 48 centers) and measures, as
``teichaku_app`` in tokyo's scope, the same statements under two policies on ``persons``:

* ``signed``: today's policy, the tenant read through ``teichaku_tenant()`` (HMAC verified once
  per statement in the policy's InitPlan), the settings sent with their token (one more round
  trip per transaction for the nonce);
* ``legacy``: the policy before the scope token (``current_setting('app.tenant_id')`` believed
  as sent), set back on the table by the owner for the measurement and restored afterwards.

Statements: a primary-key lookup (the per-statement overhead dominates), the first page of 50,
a count of the center's rows, and the transaction's scope set-up alone.  Figures: median and p95
in microseconds over ``BENCH_RLS_REPEAT`` runs (default 2,000 lookups, 300 of the others).
"""
from __future__ import annotations

import os
import statistics
import time

import psycopg
from psycopg.conninfo import make_conninfo

from .config import Settings
from .database import bench_database, sign_tenant
from .registry import benchmark
from .report import write_json

NAME = "rls"
LEGACY = "center_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid) OR (select current_setting('app.cross_tenant', true) = 'on')"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _seed(bdb, settings: Settings) -> dict:
    per_center = _int("BENCH_RLS_PERSONS", 2000)
    with psycopg.connect(bdb.owner_dsn, autocommit=True) as conn:
        conn.execute(
            "insert into persons (center_id, id, family_name, given_name, family_name_kana, given_name_kana,"
            " birth_date, sex, support_needs, name_search, version, created_at, updated_at)"
            " select c.id, gen_random_uuid(), '山田', '太郎' || g, 'やまだ', 'たろう', date '1950-01-01', 'male',"
            " '[]', 'やまだたろう', 1, now() - g * interval '1 minute', now()"
            " from centers c, generate_series(1, %s) g", (per_center,))
        return {"persons": conn.execute("select count(*) from persons").fetchone()[0]}


def _time(run, repeat: int) -> dict:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t) * 1e6)
    samples.sort()
    return {"median_us": round(statistics.median(samples), 1), "p95_us": round(samples[int(len(samples) * 0.95) - 1], 1)}


def _measure(bdb, signed: bool, repeat: int) -> dict:
    dsn = make_conninfo(bdb.owner_dsn, user="teichaku_app")
    with psycopg.connect(dsn) as conn:
        def scope():
            if signed:
                sign_tenant(conn, bdb.secret_key, bdb.tenant_id)
            else:
                conn.execute("select set_config('app.tenant_id', %s, true)", (str(bdb.tenant_id),))

        scope()
        ids = [r[0] for r in conn.execute("select id from persons limit 500").fetchall()]
        assert ids, "the scope shows no row: the measurement would be empty"
        center = bdb.tenant_id
        lookups = iter(ids * (repeat // len(ids) + 2))
        out = {
            "pk_lookup": _time(lambda: conn.execute("select family_name from persons where center_id = %s and id = %s",
                                                    (center, next(lookups))).fetchone(), repeat),
            "first_page_50": _time(lambda: conn.execute("select id, family_name from persons order by created_at desc"
                                                        " limit 50").fetchall(), max(repeat // 7, 50)),
            "count_center": _time(lambda: conn.execute("select count(*) from persons").fetchone(), max(repeat // 7, 50)),
        }
        conn.rollback()

        def begin_and_scope():
            scope()
            conn.rollback()

        out["transaction_scope_setup"] = _time(begin_and_scope, max(repeat // 7, 50))
    return out


@benchmark(NAME, "Row-level security: statements under the signed scope vs the settings believed as sent")
def run() -> dict:
    settings = Settings.from_env()
    repeat = _int("BENCH_RLS_REPEAT", 2000)
    with bench_database(settings, _seed, reuse=False) as bdb:
        figures = {"rows": bdb.timings.get("rows"), "repeat": repeat}
        figures["signed"] = _measure(bdb, True, repeat)
        with psycopg.connect(bdb.owner_dsn, autocommit=True) as owner:
            owner.execute(f"alter policy tenant_isolation on persons using ({LEGACY}) with check ({LEGACY})")
        try:
            figures["legacy"] = _measure(bdb, False, repeat)
        finally:
            from teichaku.platform.rls import POLICIES

            with psycopg.connect(bdb.owner_dsn, autocommit=True) as owner:
                owner.execute(f"alter policy tenant_isolation on persons using ({POLICIES['tenant']})"
                              f" with check ({POLICIES['tenant']})")
        figures["signed_again"] = _measure(bdb, True, repeat)  # order effects (warm cache)
    for label in ("legacy", "signed", "signed_again"):
        print(label, figures[label], flush=True)
    write_json(NAME, figures)
    return figures
