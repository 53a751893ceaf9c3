"""Settings from the environment, read once per run."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench-results"
VENV_BIN = ROOT / ".venv" / "bin"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    cases_per_center: int
    requests: int
    warmup: int
    concurrency: int
    workers: int
    bare_role: str
    keep_db: bool
    reuse_db: str | None
    pg_admin_url: str
    pg_host: str
    pg_port: int
    redis_url: str
    # the ``cases`` benchmark
    cases_total: int = 2_000_000
    cases_big_center: int = 200_000
    cases_requests: int = 200
    cases_warmup: int = 20
    cases_concurrency: tuple[int, ...] = (1, 4)
    cases_reuse_db: str | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        bare_role = os.environ.get("BENCH_BARE_ROLE", "app").strip() or "app"
        if bare_role not in ("app", "owner"):
            raise SystemExit("BENCH_BARE_ROLE must be 'app' or 'owner'")
        return cls(
            cases_per_center=_int("BENCH_CASES_PER_CENTER", 2000),
            requests=_int("BENCH_REQUESTS", 2000),
            warmup=_int("BENCH_WARMUP", 200),
            concurrency=_int("BENCH_CONCURRENCY", 8),
            workers=_int("BENCH_WORKERS", 2),
            bare_role=bare_role,
            keep_db=os.environ.get("BENCH_KEEP_DB", "") == "1",
            reuse_db=os.environ.get("BENCH_REUSE_DB", "").strip() or None,
            pg_admin_url=os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"),
            pg_host="127.0.0.1",
            pg_port=5432,
            redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
            cases_total=_int("BENCH_CASES_TOTAL", 2_000_000),
            cases_big_center=_int("BENCH_CASES_BIG_CENTER", 200_000),
            cases_requests=_int("BENCH_CASES_REQUESTS", 200),
            cases_warmup=_int("BENCH_CASES_WARMUP", 20),
            cases_concurrency=tuple(int(x) for x in os.environ.get("BENCH_CASES_CONCURRENCY", "1,4").split(",")
                                    if x.strip()),
            cases_reuse_db=os.environ.get("BENCH_CASES_REUSE_DB", "").strip() or None,
        )
