"""Foundation benchmark: the platform's overhead on an authenticated, tenant-scoped JSON list.

Platform: ``GET /api/v1/cases?limit=50`` of the real app under gunicorn (bearer token, request
hooks, tenant scope in the ORM and RLS, audit entry ``case.list``, marshmallow), as the
application role.  Baseline: ``bench.bare_app`` under the same gunicorn settings, same query and
the same JSON (checked).  Overhead ratio = bare req/s / platform req/s (and platform p95 / bare
p95); target < 1.5.
"""
from __future__ import annotations

import http.client
import json
import os
import platform as py_platform
import shutil
import tempfile
from contextlib import ExitStack
from datetime import datetime, timezone

import psycopg

from .config import RESULTS_DIR, Settings
from .database import bench_database
from .diagnostics import ProcessCPU, WaitSampler, average_waits
from .loadgen import merge, run_load
from .registry import benchmark
from .report import table, write_json
from .seed import seed_synthetic
from .server import Server, running

NAME = "foundation"
TARGET = 1.5
PLATFORM_PATH = "/api/v1/cases?limit=50"
BARE_PATH = "/cases?limit=50"
ORDER = ("platform", "bare", "bare", "platform")  # ABBA: drift on the machine falls on both alike


def _request(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})} if payload else dict(headers or {})
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _token(port: int, email: str, password: str) -> str:
    status, body = _request(port, "POST", "/api/v1/auth/token", {"email": email, "password": password})
    if status != 201:
        raise RuntimeError(f"token request answered {status}: {body[:300]!r}")
    return json.loads(body)["token"]


def _get_ok(port: int, path: str, headers: dict | None = None) -> bytes:
    status, body = _request(port, "GET", path, headers=headers)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    return body


def _bare_fields(platform_body: bytes, owner_dsn: str) -> dict:
    """The fields of the platform's answer that are columns of cases / persons (the baseline
    serves those); any other field is reported as platform-only."""
    items = json.loads(platform_body).get("items") or []
    if not items:
        raise RuntimeError("the platform's list is empty: nothing was seeded for the tenant?")
    with psycopg.connect(owner_dsn) as conn:
        cols = {t: {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s",
            (t,))} for t in ("cases", "persons")}
    item = items[0]
    person = item.get("person") or {}
    return {
        "case": [k for k in item if k != "person" and k in cols["cases"]],
        "person": [k for k in person if k in cols["persons"]],
        "platform_only": [k for k in item if k != "person" and k not in cols["cases"]]
                         + [f"person.{k}" for k in person if k not in cols["persons"]],
    }


def _compare(platform_body: bytes, bare_body: bytes) -> dict:
    a, b = json.loads(platform_body), json.loads(bare_body)
    same = a == b
    first_diff = None
    if not same:
        for i, (x, y) in enumerate(zip(a.get("items", []), b.get("items", []))):
            if x != y:
                keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
                first_diff = {"index": i, "fields": keys,
                              "platform": {k: x.get(k) for k in keys}, "bare": {k: y.get(k) for k in keys}}
                break
        else:
            first_diff = {"keys": [sorted(a), sorted(b)], "items": [len(a.get("items", [])), len(b.get("items", []))],
                          "next_cursor": [a.get("next_cursor"), b.get("next_cursor")]}
    return {"same_json": same, "items": len(a.get("items", [])), "platform_bytes": len(platform_body),
            "bare_bytes": len(bare_body), "first_difference": first_diff}


def _audit_count(dsn: str, tenant_id) -> int:
    with psycopg.connect(dsn) as conn:  # the owner; the setting opens the chain if it lacks BYPASSRLS
        conn.execute("SELECT set_config('app.cross_tenant', 'on', true)")
        return conn.execute("SELECT count(*) FROM audit_entries WHERE center_id = %s AND action = 'case.list'",
                            (tenant_id,)).fetchone()[0]


def _pg_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


@benchmark(NAME, "authenticated tenant-scoped GET /api/v1/cases vs a bare Flask endpoint (RLS on)")
def run() -> dict:
    s = Settings.from_env()
    threads = int(os.environ.get("GUNICORN_THREADS", 4))
    print(f"reusing database {s.reuse_db}" if s.reuse_db else
          f"seeding 48 centers x {s.cases_per_center} cases (COPY as the schema owner) ...", flush=True)
    with bench_database(s, seed_synthetic) as bdb:
        t = bdb.timings
        print(f"database {bdb.name}: migrate {t['migrate_s']}s, seed {t['seed_s']}s {t['rows']}, "
              f"vacuum+analyze {t['vacuum_analyze_s']}s", flush=True)
        if s.bare_role == "owner" and not t["rows"]["owner_bypassrls"]:
            raise RuntimeError("BENCH_BARE_ROLE=owner needs teichaku_owner WITH BYPASSRLS (this server's has none)")
        bare_as = ("teichaku_app (no BYPASSRLS: RLS on; set_config('app.tenant_id', ...) in the query's transaction)"
                   if s.bare_role == "app" else "teichaku_owner (BYPASSRLS: RLS not applied)")
        instance = tempfile.mkdtemp(prefix="teichaku-bench-")
        platform = Server("platform", "wsgi:app", {
            "DATABASE_URL": bdb.owner_url,
            "REDIS_URL": bdb.redis_url,
            "SECRET_KEY": bdb.secret_key,
            "APP_DB_ROLE": "teichaku_app",
            "TEICHAKU_INSTANCE": instance,
        }, RESULTS_DIR / f"{NAME}-platform.log", s.workers)
        try:
            with ExitStack() as stack:
                stack.enter_context(running(platform))
                token = _token(platform.port, bdb.staff_email, bdb.staff_password)
                auth = {"Authorization": f"Bearer {token}"}
                p_body = _get_ok(platform.port, PLATFORM_PATH, auth)
                fields = _bare_fields(p_body, bdb.owner_dsn)
                bare = Server("bare", "bench.bare_app:app", {
                    "BENCH_BARE_DATABASE_URL": bdb.app_url if s.bare_role == "app" else bdb.owner_url,
                    "BENCH_BARE_ROLE": s.bare_role,
                    "BENCH_BARE_CENTER_ID": str(bdb.tenant_id),
                    "BENCH_BARE_CASE_FIELDS": ",".join(fields["case"]),
                    "BENCH_BARE_PERSON_FIELDS": ",".join(fields["person"]),
                }, RESULTS_DIR / f"{NAME}-bare.log", s.workers)
                stack.enter_context(running(bare))
                check = {**_compare(p_body, _get_ok(bare.port, BARE_PATH)), "bare_fields": fields}
                audit_before = _audit_count(bdb.owner_dsn, bdb.tenant_id)

                print(f"gunicorn: {s.workers} workers x {threads} threads (gthread) each; load: {s.requests} "
                      f"requests per server after {s.warmup} warm-up, {s.concurrency} keep-alive connections, "
                      "order platform-bare-bare-platform", flush=True)
                targets = {"platform": (platform.port, PLATFORM_PATH, auth), "bare": (bare.port, BARE_PATH, {})}
                for label in ("platform", "bare"):
                    port, path, headers = targets[label]
                    run_load(port, path, headers=headers, total=s.warmup, warmup=0, concurrency=s.concurrency)
                halves = (s.requests // 2, s.requests - s.requests // 2)
                cpu = {"platform": ProcessCPU(platform.proc.pid, bdb.name), "bare": ProcessCPU(bare.proc.pid, bdb.name)}
                cpu_s = {"platform": [0.0, 0.0], "bare": [0.0, 0.0]}
                segments: dict[str, list] = {"platform": [], "bare": []}
                waits: dict[str, list] = {"platform": [], "bare": []}
                for label in ORDER:
                    port, path, headers = targets[label]
                    n = halves[len(segments[label])]
                    print(f"  {label:<8} GET {path}: {n} requests", flush=True)
                    with WaitSampler(s.pg_admin_url, bdb.name) as sampler:
                        before = cpu[label].snapshot()
                        segments[label].append(run_load(port, path, headers=headers, total=n, warmup=0,
                                                         concurrency=s.concurrency))
                        after = cpu[label].snapshot()
                    waits[label].append(sampler)
                    cpu_s[label][0] += after[0] - before[0]
                    cpu_s[label][1] += after[1] - before[1]
                p, b = merge(segments["platform"]), merge(segments["bare"])
                audit_written = _audit_count(bdb.owner_dsn, bdb.tenant_id) - audit_before
                pg_version = _pg_version(bdb.owner_dsn)
        finally:
            shutil.rmtree(instance, ignore_errors=True)

    ps, bs = p.summary(), b.summary()
    for label, summary in (("platform", ps), ("bare", bs)):
        n = summary["requests"] or 1
        summary["cpu_ms_per_request"] = {"gunicorn_workers": round(1000 * cpu_s[label][0] / n, 2),
                                         "postgres_backends": round(1000 * cpu_s[label][1] / n, 2)}
        summary["db_backends_by_wait"] = average_waits(waits[label])
    rps_ratio = bs["rps"] / ps["rps"] if ps["rps"] else float("inf")
    p95_ratio = ps["p95_ms"] / bs["p95_ms"] if bs["p95_ms"] else float("inf")
    rows = bdb.timings["rows"]
    figures = {
        "benchmark": NAME,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "endpoint": {"platform": f"GET {PLATFORM_PATH} (bearer token, staff of {bdb.tenant_code})",
                     "bare": f"GET {BARE_PATH}"},
        "bare_connects_as": bare_as,
        "settings": {"cases_per_center": s.cases_per_center, "centers": rows["centers"],
                     "requests": s.requests, "warmup": s.warmup, "concurrency": s.concurrency,
                     "order": "warm-up both, then platform, bare, bare, platform (half the requests each)",
                     "gunicorn_workers": s.workers, "gunicorn_threads": threads, "worker_class": "gthread",
                     "access_log": "/dev/null"},
        "database": {"name": bdb.name, "kept": s.keep_db or bool(s.reuse_db), "postgres": pg_version, **bdb.timings},
        "environment": {"cpus": os.cpu_count(), "python": py_platform.python_version(),
                        "machine": py_platform.machine(), "loadavg_at_end": list(os.getloadavg())},
        "check": {**check, "audit_entries_written": audit_written},
        "platform": ps,
        "bare": bs,
        "ratios": {"rps_bare_over_platform": round(rps_ratio, 3), "p95_platform_over_bare": round(p95_ratio, 3)},
        "target": {"overhead_ratio_below": TARGET, "rps_ratio_met": rps_ratio < TARGET,
                   "p95_ratio_met": p95_ratio < TARGET},
    }
    figures["ok"] = ps["errors"] == 0 and bs["errors"] == 0

    print()
    print(f"Foundation overhead: {rows['centers']} centers, {rows['cases']} cases, {rows['persons']} persons; "
          f"PostgreSQL {pg_version}, RLS on")
    print(f"  platform = GET {PLATFORM_PATH} (bearer auth, tenant scope + RLS, audit entry, marshmallow)")
    print(f"  bare     = GET {BARE_PATH} (same query and JSON, no auth/scope/audit; connects as {bare_as})")
    print()
    print(table([("platform", ps), ("bare", bs)]))
    print()
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    print(f"overhead ratio (bare req/s / platform req/s): {rps_ratio:.2f}   target < {TARGET}: "
          f"{verdict(rps_ratio < TARGET)}")
    print(f"p95 ratio      (platform p95 / bare p95):     {p95_ratio:.2f}   target < {TARGET}: "
          f"{verdict(p95_ratio < TARGET)}")
    print()
    for label, summary in (("platform", ps), ("bare", bs)):
        c = summary["cpu_ms_per_request"]
        print(f"{label:<8} CPU per request: gunicorn workers {c['gunicorn_workers']:.2f} ms, PostgreSQL "
              f"{c['postgres_backends']:.2f} ms; active DB backends by wait: {summary['db_backends_by_wait']}")
    print(f"same JSON from both: {check['same_json']} ({check['items']} items, {check['platform_bytes']} bytes, "
          f"{len(fields['case'])} case + {len(fields['person'])} person fields); "
          f"audit entries written by the platform run: {audit_written}")
    for label, summary, server_log in (("platform", ps, f"{NAME}-platform.log"), ("bare", bs, f"{NAME}-bare.log")):
        if summary["errors"]:
            print(f"ERRORS ({label}): answers by status {summary['statuses']} (0 = connection failed); "
                  f"see bench-results/{server_log}")
    if fields["platform_only"]:
        print(f"WARNING: fields only the platform serves (not columns; the baseline omits them): "
              f"{fields['platform_only']}")
    if not check["same_json"]:
        print(f"WARNING: the answers differ; first difference: "
              f"{json.dumps(check['first_difference'], ensure_ascii=False)[:800]}")
    print(f"machine load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs; other processes on the machine skew req/s, less so CPU per request)")
    path = write_json(NAME, figures)
    print(f"figures written to {path.relative_to(path.parents[1])}")
    return figures
