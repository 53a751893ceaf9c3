"""RQ's connection for ``rq worker|info -c infra.rq_settings`` and the scheduler (run from the repository
root, as the systemd units and the container do): the same Redis as the app, by the same rule
(``teichaku.platform.redis_client.client``): ``REDIS_URL``, or with ``REDIS_SENTINELS`` set, the
master the sentinels name, followed across a failover."""
import os

from redis.connection import parse_url

from teichaku.platform.redis_client import sentinel_addresses

_sentinels = sentinel_addresses(os.environ.get("REDIS_SENTINELS"))
_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# rq reads REDIS_URL first and falls back to SENTINEL only when REDIS_URL is None.
REDIS_URL = None if _sentinels else _url
SENTINEL = None
if _sentinels:
    _parts = parse_url(_url)
    SENTINEL = {
        "INSTANCES": _sentinels,
        "MASTER_NAME": os.environ.get("REDIS_SENTINEL_MASTER") or "teichaku",
        "DB": _parts.get("db", 0),
        "USERNAME": _parts.get("username"),
        "PASSWORD": _parts.get("password"),
        "SOCKET_TIMEOUT": 5,
        "SENTINEL_KWARGS": {k: _parts[k] for k in ("username", "password") if _parts.get(k)},
    }
