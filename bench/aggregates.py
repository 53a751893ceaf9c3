"""Aggregates benchmark: the national dashboard from rollups, next to the direct count, at 2,000,000 cases.

Seeds the ``cases`` benchmark's caseload (``bench.seed_cases``: ``BENCH_CASES_TOTAL`` cases over
the 48 centers, ``BENCH_CASES_BIG_CENTER`` in tokyo, ten years), then:

1. **Full rebuild** (``rebuild_rollups``, as ``flask aggregates rebuild`` runs it): the rollups of
   every center and fiscal year from the rows, timed; then a **second rebuild**, which must
   reproduce them exactly (0 mismatches).
2. **The national dashboard from rollups** (``figures.dashboard`` of the last complete fiscal
   year: headline totals with last year's and the 5-year trend, the case cube and the
   support-need cube, ``as_of``), ``BENCH_AGGREGATES_REQUESTS`` times after a warm-up, as the
   application role (row-level security on, one audited cross-tenant read per call, committed).
   ``BENCH_AGGREGATES_VIA=http`` measures an HTTP endpoint instead (gunicorn, a ministry bearer
   token, ``BENCH_AGGREGATES_PATH``, by default the contract's
   ``/api/v1/aggregates/cases?fiscal_year=<fy>&by=region,case_type``) once the reporting step
   serves it.
3. **The direct count** of the same national figures straight from the rows (the case cube,
   the support-need cube, the 5-year totals by case type, a transferred person counted once), as
   the application role inside the cross-tenant scope, ``BENCH_AGGREGATES_DIRECT_RUNS`` times.
4. **A change reaching the rollups**: a case opened in tokyo, committed with the recomputation of
   its slice run in-process (no Redis): the commit-to-current latency of the largest slice.

Target: the dashboard's p95 under 100 ms; the report prints both p95s and their ratio.
``BENCH_AGGREGATES_REUSE_DB=<name>`` (or ``BENCH_CASES_REUSE_DB``) reuses a kept database.
"""
from __future__ import annotations

import math
import os
import platform as py_platform
import secrets
import shutil
import statistics
import tempfile
import time
from datetime import date, datetime, timezone

import psycopg
from psycopg.conninfo import make_conninfo

from .config import RESULTS_DIR, Settings
from .database import APP_ROLE, bench_database, owner_app_config
from .foundation import _token
from .loadgen import Request, run_load
from .registry import benchmark
from .report import write_json
from .seed_cases import seed_cases
from .server import Server, running

NAME = "aggregates"
TARGET_P95_MS = 100.0
DEFAULT_PATH = "/api/v1/aggregates/cases?fiscal_year={fiscal_year}&by=region,case_type"
QUARTER = "((extract(month from c.requested_on)::int + 8) %% 12) / 3 + 1"  # April-June = 1 ('%%': psycopg)

DIRECT_CUBE = f"""
WITH national AS (
    SELECT c.center_id, c.case_type, c.person_id, {QUARTER} AS quarter FROM cases c
    WHERE c.requested_on >= %(first)s AND c.requested_on <= %(last)s
      AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.center_id = c.center_id AND t.case_id = c.id
                      AND t.side = 'receiving' AND t.status IN ('accepted', 'completed')))
SELECT x.code, n.case_type, n.quarter, count(*) FROM national n JOIN centers x ON x.id = n.center_id
GROUP BY x.code, n.case_type, n.quarter"""

DIRECT_NEEDS = f"""
WITH national AS (
    SELECT c.center_id, c.case_type, c.person_id, {QUARTER} AS quarter FROM cases c
    WHERE c.requested_on >= %(first)s AND c.requested_on <= %(last)s
      AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.center_id = c.center_id AND t.case_id = c.id
                      AND t.side = 'receiving' AND t.status IN ('accepted', 'completed')))
SELECT x.code, n.case_type, n.quarter, coalesce(need, 'none'), count(*)
FROM national n JOIN persons p ON p.center_id = n.center_id AND p.id = n.person_id
JOIN centers x ON x.id = n.center_id
LEFT JOIN LATERAL (SELECT DISTINCT value AS need FROM json_array_elements_text(p.support_needs)) needs ON true
GROUP BY x.code, n.case_type, n.quarter, coalesce(need, 'none')"""

DIRECT_TREND = """
SELECT extract(year from c.requested_on - interval '3 months')::int AS fiscal_year, c.case_type, count(*) FROM cases c
WHERE c.requested_on >= %(trend_first)s AND c.requested_on <= %(last)s
  AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.center_id = c.center_id AND t.case_id = c.id
                  AND t.side = 'receiving' AND t.status IN ('accepted', 'completed'))
GROUP BY 1, 2"""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _percentiles(samples_ms: list[float]) -> dict:
    """Nearest-rank percentiles (as ``bench.loadgen``), in ms."""
    ordered = sorted(samples_ms)

    def rank(p: float) -> float:
        return round(ordered[max(1, min(len(ordered), math.ceil(p / 100 * len(ordered)))) - 1], 2)

    return {"runs": len(ordered), "p50_ms": rank(50), "p95_ms": rank(95), "p99_ms": rank(99),
            "mean_ms": round(statistics.fmean(ordered), 2), "max_ms": round(ordered[-1], 2)}


def _app(bdb, *, role: str, **overrides):
    from teichaku.app import create_app

    return create_app({**owner_app_config(bdb), "TEICHAKU_INSTANCE": tempfile.mkdtemp(prefix="teichaku-bench-"),
                       "LOG_LEVEL": "WARNING", **overrides}, database_role=role)


def _dispose(app) -> None:
    from teichaku.platform.extensions import db

    with app.app_context():
        db.engine.dispose()
    shutil.rmtree(app.config["INSTANCE_PATH"], ignore_errors=True)


# --- 1. rebuild -------------------------------------------------------------------------------------

def _rebuild(bdb, *, reused: bool) -> dict:
    """Full rebuilds as the schema owner (the CLI's role): the first builds the rollups of the
    freshly seeded rows (skipped on a reused database, which has them), the second must
    reproduce them exactly; each is timed."""
    from teichaku.crosstenant.aggregates.jobs import rebuild_rollups

    app = _app(bdb, role="owner", REDIS_AVAILABLE=False)
    out = {}
    try:
        with app.app_context():
            for label in (("second",) if reused else ("first", "second")):
                started = time.perf_counter()
                summary = rebuild_rollups(triggered_by="cli")
                out[label] = {"seconds": round(time.perf_counter() - started, 1), **summary}
                print(f"  rebuild ({label}): {out[label]['seconds']} s, {summary['centers']} centers, "
                      f"{summary['slices']} slices, {summary['cells']:,} cells, {summary['mismatches']} mismatches",
                      flush=True)
    finally:
        _dispose(app)
    with psycopg.connect(bdb.owner_dsn) as conn:
        out["rows"] = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                       for t in ("rollup_counts", "rollup_day_counts", "rollup_slices")}
        out["sizes"] = dict(conn.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class"
            " WHERE relname IN ('rollup_counts', 'rollup_day_counts')").fetchall())
    return out


# --- 2. the dashboard from rollups ------------------------------------------------------------------

def _service_dashboard(bdb, fiscal_year: int, requests: int, warmup: int) -> tuple[dict, dict]:
    """``figures.dashboard`` in-process as the application role, each call committed (its audit
    entry); returns the latency figures and the last answer's case cube (for the check)."""
    from teichaku.crosstenant.aggregates import figures
    from teichaku.platform.extensions import db

    app = _app(bdb, role="app", REDIS_AVAILABLE=False)
    samples, answer = [], None
    try:
        with app.app_context():
            for i in range(warmup + requests):
                started = time.perf_counter()
                answer = figures.dashboard(fiscal_year)
                db.session.commit()
                if i >= warmup:
                    samples.append((time.perf_counter() - started) * 1000)
    finally:
        _dispose(app)
    return {"via": "service (figures.dashboard, in-process, application role)", **_percentiles(samples)}, answer


def _ministry_account(bdb) -> tuple[str, str]:
    from teichaku.platform.auth.services import create_user
    from teichaku.platform.extensions import db

    email, password = f"bench-ministry-{secrets.token_hex(4)}@example.jp", "bench-" + secrets.token_urlsafe(18)
    app = _app(bdb, role="owner", REDIS_AVAILABLE=False)
    try:
        with app.app_context():
            create_user(email=email, password=password, role="ministry", display_name="ベンチ 厚生労働省")
            db.session.commit()
    finally:
        _dispose(app)
    return email, password


def _http_dashboard(bdb, settings: Settings, fiscal_year: int, requests: int, warmup: int) -> dict:
    """The dashboard's HTTP endpoint under gunicorn, as a ministry account (bearer token)."""
    path = os.environ.get("BENCH_AGGREGATES_PATH", DEFAULT_PATH).format(fiscal_year=fiscal_year)
    email, password = _ministry_account(bdb)
    instance = tempfile.mkdtemp(prefix="teichaku-bench-")
    server = Server("platform", "wsgi:app", {
        "DATABASE_URL": bdb.owner_url, "REDIS_URL": bdb.redis_url, "SECRET_KEY": bdb.secret_key,
        "APP_DB_ROLE": APP_ROLE, "TEICHAKU_INSTANCE": instance,
    }, RESULTS_DIR / f"{NAME}-platform.log", settings.workers)
    try:
        with running(server):
            auth = {"Authorization": f"Bearer {_token(server.port, email, password)}"}
            result = run_load(server.port, [Request.make("GET", path, auth)], total=requests, warmup=warmup,
                              concurrency=1).summary()
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    if result["errors"]:
        raise RuntimeError(f"GET {path}: {result['errors']} errors ({result['statuses']})")
    return {"via": f"HTTP GET {path} (gunicorn, ministry token)", "runs": result["requests"],
            **{k: result[k] for k in ("p50_ms", "p95_ms", "p99_ms", "mean_ms")}}


# --- 3. the direct count ------------------------------------------------------------------------------

def _direct_count(bdb, fiscal_year: int, runs: int) -> tuple[dict, dict]:
    """The same national figures counted from the rows, as the application role in the
    cross-tenant scope (row-level security evaluated, as the service's reads are)."""
    from teichaku.platform.i18n import fiscal_year_bounds

    first, last = fiscal_year_bounds(fiscal_year)
    params = {"first": first, "last": last, "trend_first": fiscal_year_bounds(fiscal_year - 4)[0]}
    samples, cube = [], {}
    with psycopg.connect(make_conninfo(bdb.owner_dsn, user=APP_ROLE)) as conn:
        for _ in range(runs):
            started = time.perf_counter()
            with conn.transaction():
                conn.execute("SELECT set_config('app.cross_tenant', 'on', true)")
                cube = {(code, t, int(q)): n for code, t, q, n in conn.execute(DIRECT_CUBE, params)}
                conn.execute(DIRECT_NEEDS, params).fetchall()
                conn.execute(DIRECT_TREND, params).fetchall()
            samples.append((time.perf_counter() - started) * 1000)
    return {"via": "direct count (cube + need cube + 5-year totals, application role, cross-tenant)",
            **_percentiles(samples)}, cube


# --- 4. a change reaching the rollups ----------------------------------------------------------------

def _change_latency(bdb, fiscal_year_now: int, changes: int = 5) -> dict:
    """Cases opened in tokyo and committed one by one; each commit runs the recomputation of
    tokyo's current fiscal year in-process (no Redis), so its duration is the commit-to-current
    latency of the largest center's slice (after one warm-up change)."""
    from teichaku.platform.centers import center_by_code
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import set_tenant
    from teichaku.tenants.cases.services import create_case

    app = _app(bdb, role="app", REDIS_AVAILABLE=False)
    samples = []
    try:
        with app.app_context():
            tokyo = center_by_code("tokyo").id
            for i in range(changes + 1):
                set_tenant(tokyo)
                create_case({"case_type": "consultation", "requester_type": "family", "person": {
                    "family_name": "ベンチ", "given_name": "太郎", "family_name_kana": "べんち",
                    "given_name_kana": "たろう", "birth_date": date(1950, 4, 1), "sex": "male",
                    "support_needs": ["elderly"]}})
                started = time.perf_counter()
                db.session.commit()
                if i:
                    samples.append((time.perf_counter() - started) * 1000)
        with psycopg.connect(bdb.owner_dsn) as conn:
            pending = conn.execute("SELECT count(*) FROM rollup_dirty_slices").fetchone()[0]
            tokyo_cases = conn.execute(
                "SELECT count(*) FROM cases c JOIN centers x ON x.id = c.center_id WHERE x.code = 'tokyo'"
                " AND c.requested_on >= %s", (date(fiscal_year_now, 4, 1),)).fetchone()[0]
    finally:
        _dispose(app)
    return {"commit_with_recompute_ms": _percentiles(samples), "marks_left": pending,
            "tokyo_cases_in_slice_year": tokyo_cases}


# --- the benchmark ---------------------------------------------------------------------------------

@benchmark(NAME, "national dashboard from rollups over 2,000,000 cases: p95 < 100 ms, next to the direct count")
def run() -> dict:
    from teichaku.platform.i18n import fiscal_year_of
    from teichaku.platform.i18n import today_jst

    s = Settings.from_env()
    requests, warmup = _int("BENCH_AGGREGATES_REQUESTS", 200), _int("BENCH_AGGREGATES_WARMUP", 20)
    direct_runs = _int("BENCH_AGGREGATES_DIRECT_RUNS", 7)
    via = os.environ.get("BENCH_AGGREGATES_VIA", "service").strip() or "service"
    if via not in ("service", "http"):
        raise SystemExit("BENCH_AGGREGATES_VIA must be 'service' or 'http'")
    reuse = os.environ.get("BENCH_AGGREGATES_REUSE_DB", "").strip() or s.cases_reuse_db
    current = fiscal_year_of(today_jst())
    fiscal_year = current - 1  # the last complete fiscal year
    print(f"reusing database {reuse}" if reuse else
          f"seeding {s.cases_total:,} cases and persons ({s.cases_big_center:,} in tokyo) with COPY ...", flush=True)
    with bench_database(s, seed_cases, staff="tenant", reuse=reuse or False, analyze_after_seed=False) as bdb:
        with psycopg.connect(bdb.owner_dsn) as conn:
            total_cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
        print(f"database {bdb.name}: {total_cases:,} cases", flush=True)
        rebuild = _rebuild(bdb, reused=bool(reuse))
        with psycopg.connect(bdb.owner_dsn, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) rollup_counts, rollup_day_counts, rollup_dirty_slices")
        print(f"national dashboard of FY{fiscal_year}: {warmup} warm-up + {requests} measured calls via {via} ...",
              flush=True)
        service, answer = _service_dashboard(bdb, fiscal_year, requests if via == "service" else 20, warmup)
        dashboard = _http_dashboard(bdb, s, fiscal_year, requests, warmup) if via == "http" else service
        print(f"direct count: {direct_runs} runs ...", flush=True)
        direct, direct_cube = _direct_count(bdb, fiscal_year, direct_runs)
        change = _change_latency(bdb, current)
    cube_matches = answer["case_cube"] == direct_cube
    ratio = round(direct["p95_ms"] / dashboard["p95_ms"], 1) if dashboard["p95_ms"] else None
    met = dashboard["p95_ms"] < TARGET_P95_MS
    figures = {
        "benchmark": NAME,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "target": {"dashboard_p95_ms_below": TARGET_P95_MS},
        "settings": {"cases_total": s.cases_total, "cases_big_center": s.cases_big_center, "fiscal_year": fiscal_year,
                     "requests": requests, "warmup": warmup, "direct_runs": direct_runs, "via": via},
        "database": {"name": bdb.name, "postgres": pg_version, "cases": total_cases},
        "environment": {"cpus": os.cpu_count(), "python": py_platform.python_version(),
                        "loadavg_at_end": list(os.getloadavg())},
        "rebuild": rebuild,
        "dashboard": dashboard,
        "service": service,
        "direct": direct,
        "ratio_direct_to_dashboard_p95": ratio,
        "checks": {"case_cube_equals_direct_count": cube_matches,
                   "second_rebuild_reproduced": rebuild["second"]["mismatches"] == 0,
                   "dashboard_headlines": answer["headlines"]},
        "change_to_rollup": change,
        "verdict": met,
    }
    figures["ok"] = cube_matches and rebuild["second"]["mismatches"] == 0
    print()
    print(f"Aggregates: {total_cases:,} cases in 48 centers; PostgreSQL {pg_version}; national dashboard of FY{fiscal_year}")
    if "first" in rebuild:
        print(f"  first rebuild (the initial build: the seed loads its rows with COPY, past the session hook, so every"
              f" cell is new): {rebuild['first']['seconds']} s")
    print(f"  full rebuild reproducing the stored rollups: {rebuild['second']['seconds']} s, "
          f"{rebuild['second']['slices']} slices, {rebuild['rows']['rollup_counts']:,} count rows, "
          f"{rebuild['rows']['rollup_day_counts']:,} histogram rows: {rebuild['second']['mismatches']} mismatches")
    for label, r in (("dashboard from rollups", dashboard), ("direct count from rows", direct)):
        print(f"  {label:<24} p50 {r['p50_ms']:9.2f}  p95 {r['p95_ms']:9.2f}  p99 {r['p99_ms']:9.2f} ms"
              f"  ({r['runs']} runs; {r['via']})")
    print(f"  direct / rollups (p95): {ratio}x; case cube equal to the direct count: {cube_matches}")
    latency = change["commit_with_recompute_ms"]
    print(f"  a change in tokyo reaches the rollups: commit with the in-process recomputation p50 {latency['p50_ms']} ms,"
          f" max {latency['max_ms']} ms (slice of {change['tokyo_cases_in_slice_year']:,} cases this fiscal year,"
          f" {change['marks_left']} marks left)")
    print(f"  verdict: p95 {dashboard['p95_ms']:.1f} ms < {TARGET_P95_MS:.0f} ms: {'met' if met else 'NOT met'}")
    path = write_json(NAME, figures)
    print(f"figures written to {path.relative_to(path.parents[1])}")
    return figures
