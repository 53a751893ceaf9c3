"""Teichaku benchmarks (``make bench`` / ``python -m bench [name ...]``); not part of ``make test``.

Each benchmark is a module that registers itself with ``bench.registry.benchmark``; the modules
listed in ``registry.MODULES`` are imported on demand by ``__main__`` (this package's import
stays light, because ``bench.bare_app`` is imported by gunicorn workers).

Benchmarks include ``foundation`` (the platform's overhead against a bare endpoint, requests spread
over the 48 centers' staff, and again all on tokyo) and ``cases`` (list and search latency on a
2,000,000-case database); the two take about 10 minutes together on 2 cores.

Knobs (environment variables, all optional):

``BENCH_CASES_PER_CENTER``  foundation: cases seeded in each of the 48 centers (default 2000)
``BENCH_REQUESTS``          measured requests per server (default 2000)
``BENCH_WARMUP``            warm-up requests per server, not measured (default 200)
``BENCH_CONCURRENCY``       client threads, one keep-alive connection each (default 8)
``BENCH_WORKERS``           gunicorn workers per server (default 2)
``BENCH_BARE_ROLE``         ``app`` (RLS on, setting sent per request; default) or ``owner``
``BENCH_KEEP_DB``           ``1`` keeps the bench database (its name is printed)
``BENCH_REUSE_DB``          name of a kept bench database: no create, seed or drop (quick reruns)
``BENCH_PG_ADMIN``          superuser URL (default postgresql://postgres@127.0.0.1:5432/postgres)
``BENCH_REDIS_URL``         Redis for the app (default redis://127.0.0.1:6379/14)
``BENCH_CASES_TOTAL``       cases: cases (each with its own person) over the 48 centers (default 2000000)
``BENCH_CASES_BIG_CENTER``  cases: how many of them are tokyo's (default 200000)
``BENCH_CASES_REQUESTS``    cases: measured requests per query (default 200; warm-up ``BENCH_CASES_WARMUP``, 20)
``BENCH_CASES_CONCURRENCY`` cases: client threads, comma-separated runs (default ``1,4``; verdict at the first)
``BENCH_CASES_DEEP_PAGE``   cases: the page the deep-cursor query asks for (default 100)
``BENCH_CASES_EXPERIMENT``  cases: ``0`` skips the name-search experiment run when a search misses the target
``BENCH_CASES_REUSE_DB``    cases: a database kept by ``BENCH_KEEP_DB=1`` (no seeding; its own knob, because
                            a foundation database is not a cases database)
"""
