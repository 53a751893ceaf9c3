"""Foundation benchmark: the platform's overhead on an authenticated, tenant-scoped JSON list.

Platform: ``GET /api/v1/cases?limit=50`` of the real app under gunicorn (bearer token, request
hooks, tenant scope in the ORM and RLS, audit entry ``case.list``, marshmallow), as the
application role.  Baseline: ``bench.bare_app`` under the same gunicorn settings, same query and
the same JSON (checked).  Overhead ratio = bare req/s / platform req/s (and platform p95 / bare
p95); target < 1.5.

Two measurements, each in the order platform, bare, bare, platform:

* **spread over the centers** (the overhead ratio): one staff account per center, and the n-th
  request (across all client threads) goes as the staff of center ``n mod 48``; the baseline
  queries the same center for the same n (``X-Bench-Center``).  This is real use: 48 centers,
  a handful of staff each.
* **single center (all threads on tokyo)**: every request as tokyo's staff.  Each list writes an
  audit entry, and a center's audit chain head row is locked until commit, so one center's
  requests serialize on commit latency by design; this measurement makes that visible.
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
from .loadgen import Request, merge, run_load
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


def _audit_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:  # the owner; the setting opens the chains if it lacks BYPASSRLS
        conn.execute("SELECT set_config('app.cross_tenant', 'on', true)")
        return conn.execute("SELECT count(*) FROM audit_entries WHERE action = 'case.list'").fetchone()[0]


def _pg_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


SCENARIOS = (("spread", "spread over the centers"), ("single", "single center (all threads on tokyo)"))


def _measure(targets: dict, *, requests: int, concurrency: int, cpu: dict, admin_url: str, db_name: str,
             title: str) -> dict:
    """ABBA over the two servers; returns per server the merged result, CPU seconds and waits."""
    halves = (requests // 2, requests - requests // 2)
    out = {label: {"segments": [], "cpu": [0.0, 0.0], "waits": []} for label in ("platform", "bare")}
    for label in ORDER:
        port, reqs = targets[label]
        n = halves[len(out[label]["segments"])]
        print(f"  [{title}] {label:<8} {reqs[0].method} {reqs[0].path}: {n} requests over "
              f"{len({r.headers for r in reqs})} center(s)", flush=True)
        with WaitSampler(admin_url, db_name) as sampler:
            before = cpu[label].snapshot()
            out[label]["segments"].append(run_load(port, reqs, total=n, warmup=0, concurrency=concurrency))
            after = cpu[label].snapshot()
        out[label]["waits"].append(sampler)
        out[label]["cpu"][0] += after[0] - before[0]
        out[label]["cpu"][1] += after[1] - before[1]
    result = {}
    for label, o in out.items():
        summary = merge(o["segments"]).summary()
        n = summary["requests"] or 1
        summary["cpu_ms_per_request"] = {"gunicorn_workers": round(1000 * o["cpu"][0] / n, 2),
                                         "postgres_backends": round(1000 * o["cpu"][1] / n, 2)}
        summary["db_backends_by_wait"] = average_waits(o["waits"])
        result[label] = summary
    return result


def _ratios(m: dict) -> dict:
    ps, bs = m["platform"], m["bare"]
    rps = bs["rps"] / ps["rps"] if ps["rps"] else float("inf")
    p95 = ps["p95_ms"] / bs["p95_ms"] if bs["p95_ms"] else float("inf")
    cpu = lambda s: sum(s["cpu_ms_per_request"].values())  # noqa: E731
    cpu_ratio = cpu(ps) / cpu(bs) if cpu(bs) else float("inf")
    # CPU per request (gunicorn workers + PostgreSQL backends) hardly depends on other load on the
    # machine; on a CPU-bound box it is the req/s ratio an idle machine would show.
    return {"rps_bare_over_platform": round(rps, 3), "p95_platform_over_bare": round(p95, 3),
            "cpu_per_request_platform_over_bare": round(cpu_ratio, 3)}


@benchmark(NAME, "authenticated tenant-scoped GET /api/v1/cases vs a bare Flask endpoint (RLS on), "
                 "spread over 48 centers and on one center")
def run() -> dict:
    s = Settings.from_env()
    threads = int(os.environ.get("GUNICORN_THREADS", 4))
    print(f"reusing database {s.reuse_db}" if s.reuse_db else
          f"seeding 48 centers x {s.cases_per_center} cases (COPY as the schema owner) ...", flush=True)
    with bench_database(s, seed_synthetic, staff="all") as bdb:
        t = bdb.timings
        print(f"database {bdb.name}: migrate {t['migrate_s']}s, seed {t['seed_s']}s {t['rows']}, "
              f"{len(bdb.staff)} staff accounts (one per center) {t.get('staff_s', 0)}s, "
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
                print(f"signing in {len(bdb.staff)} staff accounts (POST /api/v1/auth/token) ...", flush=True)
                auths = [{"Authorization": f"Bearer {_token(platform.port, a.email, a.password)}"} for a in bdb.staff]
                tokyo = bdb.staff[0]
                p_body = _get_ok(platform.port, PLATFORM_PATH, auths[0])
                fields = _bare_fields(p_body, bdb.owner_dsn)
                bare = Server("bare", "bench.bare_app:app", {
                    "BENCH_BARE_DATABASE_URL": bdb.app_url if s.bare_role == "app" else bdb.owner_url,
                    "BENCH_BARE_ROLE": s.bare_role,
                    "BENCH_BARE_SECRET_KEY": bdb.secret_key,
                    "BENCH_BARE_CENTER_ID": str(bdb.tenant_id),
                    "BENCH_BARE_CASE_FIELDS": ",".join(fields["case"]),
                    "BENCH_BARE_PERSON_FIELDS": ",".join(fields["person"]),
                }, RESULTS_DIR / f"{NAME}-bare.log", s.workers)
                stack.enter_context(running(bare))
                center_header = lambda a: {"X-Bench-Center": str(a.center_id)}  # noqa: E731
                # Same JSON from both, for tokyo and for the last center (the header picks the center).
                check = {**_compare(p_body, _get_ok(bare.port, BARE_PATH, center_header(tokyo))), "bare_fields": fields}
                other = bdb.staff[-1]
                check_other = _compare(_get_ok(platform.port, PLATFORM_PATH, auths[-1]),
                                       _get_ok(bare.port, BARE_PATH, center_header(other)))
                check["other_center"] = {"center": other.center_code, **check_other}
                if check_other["same_json"] and json.loads(p_body) == json.loads(_get_ok(platform.port, PLATFORM_PATH, auths[-1])):
                    raise RuntimeError("tokyo and the other center answered the same list: centers not separated?")
                audit_before = _audit_count(bdb.owner_dsn)

                targets = {
                    "spread": {
                        "platform": (platform.port, [Request.make("GET", PLATFORM_PATH, a) for a in auths]),
                        "bare": (bare.port, [Request.make("GET", BARE_PATH, center_header(a)) for a in bdb.staff]),
                    },
                    "single": {
                        "platform": (platform.port, [Request.make("GET", PLATFORM_PATH, auths[0])]),
                        "bare": (bare.port, [Request.make("GET", BARE_PATH, center_header(tokyo))]),
                    },
                }
                print(f"gunicorn: {s.workers} workers x {threads} threads (gthread) each; load: {s.requests} "
                      f"requests per server and measurement after {s.warmup} warm-up, {s.concurrency} keep-alive "
                      "connections, order platform-bare-bare-platform", flush=True)
                for label in ("platform", "bare"):
                    port, reqs = targets["spread"][label]
                    run_load(port, reqs, total=s.warmup, warmup=0, concurrency=s.concurrency)
                cpu = {"platform": ProcessCPU(platform.proc.pid, bdb.name), "bare": ProcessCPU(bare.proc.pid, bdb.name)}
                measured = {}
                for key, title in SCENARIOS:
                    measured[key] = _measure(targets[key], requests=s.requests, concurrency=s.concurrency, cpu=cpu,
                                             admin_url=s.pg_admin_url, db_name=bdb.name, title=title)
                audit_written = _audit_count(bdb.owner_dsn) - audit_before
                pg_version = _pg_version(bdb.owner_dsn)
        finally:
            shutil.rmtree(instance, ignore_errors=True)

    spread, single = measured["spread"], measured["single"]
    ratios, single_ratios = _ratios(spread), _ratios(single)
    rps_ratio, p95_ratio = ratios["rps_bare_over_platform"], ratios["p95_platform_over_bare"]
    rows = bdb.timings["rows"]
    expected_audit = 2 * s.requests  # the measured platform requests of both measurements
    figures = {
        "benchmark": NAME,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "endpoint": {"platform": f"GET {PLATFORM_PATH} (bearer token of a staff account of the request's center)",
                     "bare": f"GET {BARE_PATH} (X-Bench-Center: the request's center)"},
        "bare_connects_as": bare_as,
        "settings": {"cases_per_center": s.cases_per_center, "centers": rows["centers"],
                     "staff_accounts": len(bdb.staff), "requests": s.requests, "warmup": s.warmup,
                     "concurrency": s.concurrency,
                     "order": "warm-up both (spread), then per measurement platform, bare, bare, platform "
                              "(half the requests each)",
                     "spread": "request n (across all threads) as the staff of center n mod 48",
                     "gunicorn_workers": s.workers, "gunicorn_threads": threads, "worker_class": "gthread",
                     "access_log": "/dev/null"},
        "database": {"name": bdb.name, "kept": s.keep_db or bool(s.reuse_db), "postgres": pg_version, **bdb.timings},
        "environment": {"cpus": os.cpu_count(), "python": py_platform.python_version(),
                        "machine": py_platform.machine(), "loadavg_at_end": list(os.getloadavg())},
        "check": {**check, "audit_entries_written": audit_written, "audit_entries_expected_at_least": expected_audit},
        # The overhead ratio: requests spread over the centers (real use).
        "platform": spread["platform"],
        "bare": spread["bare"],
        "ratios": ratios,
        "target": {"overhead_ratio_below": TARGET, "rps_ratio_met": rps_ratio < TARGET,
                   "p95_ratio_met": p95_ratio < TARGET},
        "single_center": {"label": "single center (all threads on tokyo)", "platform": single["platform"],
                          "bare": single["bare"], "ratios": single_ratios},
    }
    figures["ok"] = all(m[k]["errors"] == 0 for m in (spread, single) for k in ("platform", "bare"))

    print()
    print(f"Foundation overhead: {rows['centers']} centers, {rows['cases']} cases, {rows['persons']} persons; "
          f"PostgreSQL {pg_version}, RLS on")
    print(f"  platform = GET {PLATFORM_PATH} (bearer auth, tenant scope + RLS, audit entry, marshmallow)")
    print(f"  bare     = GET {BARE_PATH} (same query and JSON, no auth/scope/audit; connects as {bare_as})")
    print(f"  spread   = request n as the staff of center n mod {len(bdb.staff)} (bare: the same center by header)")
    print("  single   = every request as tokyo's staff (one audit chain: commits serialize by design)")
    print()
    print(table([("platform", spread["platform"]), ("bare", spread["bare"]),
                 ("platform*", single["platform"]), ("bare*", single["bare"])]))
    print("  (* = single center (all threads on tokyo))")
    print()
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    print(f"OVERHEAD RATIO, spread over {len(bdb.staff)} centers (bare req/s / platform req/s): {rps_ratio:.2f}   "
          f"target < {TARGET}: {verdict(rps_ratio < TARGET)}")
    print(f"p95 ratio, spread over {len(bdb.staff)} centers (platform p95 / bare p95):         {p95_ratio:.2f}   "
          f"target < {TARGET}: {verdict(p95_ratio < TARGET)}")
    print(f"CPU per request ratio, spread (platform / bare, workers + PostgreSQL):  "
          f"{ratios['cpu_per_request_platform_over_bare']:.2f}   (the req/s ratio of an idle, CPU-bound machine)")
    print(f"single center (all threads on tokyo), for comparison: req/s ratio "
          f"{single_ratios['rps_bare_over_platform']:.2f}, p95 ratio {single_ratios['p95_platform_over_bare']:.2f}, "
          f"CPU per request ratio {single_ratios['cpu_per_request_platform_over_bare']:.2f}")
    print()
    for key, title in SCENARIOS:
        for label in ("platform", "bare"):
            summary = measured[key][label]
            c = summary["cpu_ms_per_request"]
            print(f"{label:<8} [{key}] CPU per request: gunicorn workers {c['gunicorn_workers']:.2f} ms, PostgreSQL "
                  f"{c['postgres_backends']:.2f} ms; active DB backends by wait: {summary['db_backends_by_wait']}")
    print(f"same JSON from both: tokyo {check['same_json']}, {other.center_code} {check_other['same_json']} "
          f"({check['items']} items, {check['platform_bytes']} bytes, "
          f"{len(fields['case'])} case + {len(fields['person'])} person fields); "
          f"audit entries written by the platform runs: {audit_written} (at least {expected_audit} expected)")
    for key, title in SCENARIOS:
        for label in ("platform", "bare"):
            summary = measured[key][label]
            if summary["errors"]:
                print(f"ERRORS ({label}, {title}): answers by status {summary['statuses']} (0 = connection failed); "
                      f"see bench-results/{NAME}-{label}.log")
    if fields["platform_only"]:
        print(f"WARNING: fields only the platform serves (not columns; the baseline omits them): "
              f"{fields['platform_only']}")
    for center, c in (("tokyo", check), (other.center_code, check_other)):
        if not c["same_json"]:
            print(f"WARNING: the answers differ ({center}); first difference: "
                  f"{json.dumps(c['first_difference'], ensure_ascii=False)[:800]}")
    print(f"machine load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs; other processes on the machine skew req/s, less so CPU per request)")
    path = write_json(NAME, figures)
    print(f"figures written to {path.relative_to(path.parents[1])}")
    return figures
