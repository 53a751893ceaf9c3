"""Teichaku benchmarks (``make bench`` / ``python -m bench [name ...]``); not part of ``make test``.

Each benchmark is a module that registers itself with ``bench.registry.benchmark``; the modules
listed in ``registry.MODULES`` are imported on demand by ``__main__`` (this package's import
stays light, because ``bench.bare_app`` is imported by gunicorn workers).

Knobs (environment variables, all optional):

``BENCH_CASES_PER_CENTER``  cases seeded in each of the 48 centers (default 2000)
``BENCH_REQUESTS``          measured requests per server (default 2000)
``BENCH_WARMUP``            warm-up requests per server, not measured (default 200)
``BENCH_CONCURRENCY``       client threads, one keep-alive connection each (default 8)
``BENCH_WORKERS``           gunicorn workers per server (default 2)
``BENCH_BARE_ROLE``         ``app`` (RLS on, setting sent per request; default) or ``owner``
``BENCH_KEEP_DB``           ``1`` keeps the bench database (its name is printed)
``BENCH_REUSE_DB``          name of a kept bench database: no create, seed or drop (quick reruns)
``BENCH_PG_ADMIN``          superuser URL (default postgresql://postgres@127.0.0.1:5432/postgres)
``BENCH_REDIS_URL``         Redis for the app (default redis://127.0.0.1:6379/14)
"""
