"""Aggregates over HTTP: the national dashboard's API and the contract's table, from rollups, at
2,000,000 cases, next to the direct count of the same figures in the same run.

``bench.aggregates`` times the figures service in-process (and HTTP only when asked); this one
is the product's door as the ministry uses it: gunicorn, a ministry bearer token, and the
answers already suppressed by ``crosstenant/aggregates/reporting`` (the pattern of each fiscal
year computed once per worker and rollup version, then cut for every request).

1. Seed the ``cases`` benchmark's caseload (or reuse a kept database: ``BENCH_AGGREGATES_REUSE_DB``
   or ``BENCH_CASES_REUSE_DB``: its rollups are kept) and build the rollups (``rebuild_rollups``,
   as the CLI does).
2. Start gunicorn (``BENCH_WORKERS`` workers) and, for each path in ``PATHS``, time the very first
   call (a cold worker: it computes the suppression pattern of every fiscal year with data),
   then ``BENCH_AGGREGATES_API_WARMUP`` warm-up calls and ``BENCH_AGGREGATES_API_REQUESTS``
   measured calls, one at a time.
3. The direct count of the same national figures from the rows (``bench.aggregates``'s queries:
   the case cube, the support-need cube and the 5-year totals), ``BENCH_AGGREGATES_DIRECT_RUNS``
   times, as the application role inside the cross-tenant scope.
4. Check: the API's national total equals the direct count's.

Target: the dashboard API's p95 under 100 ms (warm workers).
"""
from __future__ import annotations

import json
import os
import platform as py_platform
import secrets
import shutil
import tempfile
import time
from datetime import datetime, timezone

import psycopg

from .aggregates import TARGET_P95_MS, _direct_count  # the same direct count, so the two runs compare
from .config import RESULTS_DIR, Settings
from .database import APP_ROLE, bench_database, owner_app_config
from .foundation import _request, _token
from .loadgen import Request, run_load
from .registry import benchmark
from .report import write_json
from .seed_cases import seed_cases
from .server import Server, running

NAME = "aggregates-api"
PATHS = {
    "dashboard": "/api/v1/aggregates/dashboard?fiscal_year={fy}",
    "cases by region x case type": "/api/v1/aggregates/cases?fiscal_year={fy}&by=region,case_type",
    "cases by center x case type": "/api/v1/aggregates/cases?fiscal_year={fy}&by=center,case_type",
}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _owner_app(bdb):
    from teichaku.app import create_app

    return create_app({**owner_app_config(bdb), "TEICHAKU_INSTANCE": tempfile.mkdtemp(prefix="teichaku-bench-"),
                       "LOG_LEVEL": "WARNING", "REDIS_AVAILABLE": False}, database_role="owner")


def _in_owner_app(bdb, work):
    """Run ``work()`` in an app context as the schema owner (the CLI's role), then clean up."""
    from teichaku.platform.extensions import db

    app = _owner_app(bdb)
    try:
        with app.app_context():
            return work()
    finally:
        with app.app_context():
            db.engine.dispose()
        shutil.rmtree(app.config["INSTANCE_PATH"], ignore_errors=True)


def _build_rollups(bdb) -> float:
    """The rollups of every center and fiscal year from the rows (``flask aggregates rebuild``): seconds."""
    from teichaku.crosstenant.aggregates.jobs import rebuild_rollups

    started = time.perf_counter()
    summary = _in_owner_app(bdb, lambda: rebuild_rollups(triggered_by="cli"))
    print(f"  rollups built in {time.perf_counter() - started:.1f} s: {summary['slices']} slices, "
          f"{summary['cells']:,} cells", flush=True)
    return round(time.perf_counter() - started, 1)


def _ministry_account(bdb) -> tuple[str, str]:
    from teichaku.platform.auth.services import create_user
    from teichaku.platform.extensions import db

    email, password = f"bench-ministry-{secrets.token_hex(4)}@example.jp", "bench-" + secrets.token_urlsafe(18)

    def create() -> None:
        create_user(email=email, password=password, role="ministry", display_name="ベンチ 厚生労働省")
        db.session.commit()

    _in_owner_app(bdb, create)
    return email, password


def _cold_call(port: int, path: str, auth: dict) -> float:
    """One call, timed end to end (ms); raises unless it answers 200."""
    started = time.perf_counter()
    status, body = _request(port, "GET", path, headers=auth)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    return round(elapsed, 1)


def _measure(port: int, path: str, auth: dict, requests: int, warmup: int) -> dict:
    result = run_load(port, [Request.make("GET", path, auth)], total=requests, warmup=warmup, concurrency=1).summary()
    if result["errors"]:
        raise RuntimeError(f"GET {path}: {result['errors']} errors ({result['statuses']})")
    return {k: result[k] for k in ("requests", "p50_ms", "p95_ms", "p99_ms", "mean_ms")}


def _national_total(port: int, fiscal_year: int, auth: dict) -> int | None:
    status, body = _request(port, "GET", f"/api/v1/aggregates/cases?fiscal_year={fiscal_year}", headers=auth)
    if status != 200:
        raise RuntimeError(f"national total answered {status}")
    (row,) = json.loads(body)["rows"]
    return row["count"]


def _http(bdb, settings: Settings, fiscal_year: int, requests: int, warmup: int) -> dict:
    email, password = _ministry_account(bdb)
    instance = tempfile.mkdtemp(prefix="teichaku-bench-")
    server = Server("platform", "wsgi:app", {
        "DATABASE_URL": bdb.owner_url, "REDIS_URL": bdb.redis_url, "SECRET_KEY": bdb.secret_key,
        "APP_DB_ROLE": APP_ROLE, "TEICHAKU_INSTANCE": instance,
    }, RESULTS_DIR / f"{NAME}-platform.log", settings.workers)
    out = {"paths": {}}
    try:
        with running(server):
            auth = {"Authorization": f"Bearer {_token(server.port, email, password)}"}
            for label, template in PATHS.items():
                path = template.format(fy=fiscal_year)
                cold = _cold_call(server.port, path, auth)
                out["paths"][label] = {"path": path, "first_call_ms": cold,
                                       **_measure(server.port, path, auth, requests, warmup)}
                print(f"  {label:<28} first call {cold:9.1f} ms; then p50 {out['paths'][label]['p50_ms']:7.2f}"
                      f"  p95 {out['paths'][label]['p95_ms']:7.2f} ms", flush=True)
            out["national_total"] = _national_total(server.port, fiscal_year, auth)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    return out


@benchmark(NAME, "national dashboard API over HTTP (gunicorn, suppressed answers) at 2,000,000 cases: p95 < 100 ms")
def run() -> dict:
    from teichaku.platform.i18n import fiscal_year_of
    from teichaku.platform.i18n import today_jst

    s = Settings.from_env()
    requests, warmup = _int("BENCH_AGGREGATES_API_REQUESTS", 200), _int("BENCH_AGGREGATES_API_WARMUP", 20)
    direct_runs = _int("BENCH_AGGREGATES_DIRECT_RUNS", 7)
    reuse = os.environ.get("BENCH_AGGREGATES_REUSE_DB", "").strip() or s.cases_reuse_db
    fiscal_year = fiscal_year_of(today_jst()) - 1  # the last complete fiscal year
    print(f"reusing database {reuse}" if reuse else
          f"seeding {s.cases_total:,} cases and persons ({s.cases_big_center:,} in tokyo) with COPY ...", flush=True)
    with bench_database(s, seed_cases, staff="tenant", reuse=reuse or False, analyze_after_seed=False) as bdb:
        with psycopg.connect(bdb.owner_dsn) as conn:
            total_cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
            built = conn.execute("SELECT count(*) FROM rollup_slices").fetchone()[0]
        if reuse and built:
            print(f"database {bdb.name}: {total_cases:,} cases; reusing its rollups ({built} slices)", flush=True)
            rebuild_seconds = None
        else:
            print(f"database {bdb.name}: {total_cases:,} cases; building the rollups ...", flush=True)
            rebuild_seconds = _build_rollups(bdb)
        with psycopg.connect(bdb.owner_dsn, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) rollup_counts, rollup_day_counts, rollup_slices, rollup_dirty_slices")
        print(f"HTTP, FY{fiscal_year}: a first call, {warmup} warm-up and {requests} measured calls per path ...",
              flush=True)
        http = _http(bdb, s, fiscal_year, requests, warmup)
        print(f"direct count: {direct_runs} runs ...", flush=True)
        direct, cube = _direct_count(bdb, fiscal_year, direct_runs)
    direct_total = sum(cube.values())
    dashboard = http["paths"]["dashboard"]
    met = dashboard["p95_ms"] < TARGET_P95_MS
    figures = {
        "benchmark": NAME,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "target": {"dashboard_api_p95_ms_below": TARGET_P95_MS},
        "settings": {"cases_total": s.cases_total, "cases_big_center": s.cases_big_center, "fiscal_year": fiscal_year,
                     "requests": requests, "warmup": warmup, "direct_runs": direct_runs, "workers": s.workers},
        "database": {"name": bdb.name, "postgres": pg_version, "cases": total_cases},
        "environment": {"cpus": os.cpu_count(), "python": py_platform.python_version(),
                        "loadavg_at_end": list(os.getloadavg())},
        "rebuild_seconds": rebuild_seconds,
        "http": http["paths"],
        "direct": direct,
        "ratio_direct_to_dashboard_p95": (round(direct["p95_ms"] / dashboard["p95_ms"], 1)
                                          if dashboard["p95_ms"] else None),
        "checks": {"api_national_total": http["national_total"], "direct_national_total": direct_total,
                   "national_total_equal": http["national_total"] == direct_total},
        "verdict": met,
    }
    figures["ok"] = figures["checks"]["national_total_equal"]
    print()
    print(f"Aggregates API: {total_cases:,} cases in 48 centers; PostgreSQL {pg_version}; FY{fiscal_year}; "
          f"{s.workers} gunicorn workers")
    for label, r in http["paths"].items():
        print(f"  {label:<28} p50 {r['p50_ms']:8.2f}  p95 {r['p95_ms']:8.2f}  p99 {r['p99_ms']:8.2f} ms"
              f"  (first call {r['first_call_ms']} ms)")
    print(f"  {'direct count from rows':<28} p50 {direct['p50_ms']:8.2f}  p95 {direct['p95_ms']:8.2f}"
          f"  p99 {direct['p99_ms']:8.2f} ms  ({direct['runs']} runs)")
    print(f"  national total: API {http['national_total']}, direct {direct_total}")
    print(f"  verdict: dashboard API p95 {dashboard['p95_ms']:.1f} ms < {TARGET_P95_MS:.0f} ms: "
          f"{'met' if met else 'NOT met'}")
    path = write_json(NAME, figures)
    print(f"figures written to {path.relative_to(path.parents[1])}")
    return figures
