"""One place that decides whether Redis answers, and hands out connections to it.

With ``REDIS_SENTINELS`` set (``host:port,host:port``), the address of Redis is asked of the
sentinels (master ``REDIS_SENTINEL_MASTER``) and followed across a failover; ``REDIS_URL`` then
gives only the password and the database number.  The sentinels carry the same password.
"""
from __future__ import annotations

import redis as redis_lib
from flask import Flask, current_app
from redis.connection import parse_url
from redis.sentinel import Sentinel


def redis_available(app: Flask | None = None) -> bool:
    app = app or current_app
    if "REDIS_AVAILABLE" not in app.config:
        try:
            app.config["REDIS_AVAILABLE"] = bool(client(app.config, timeout=0.5).ping())
        except (redis_lib.RedisError, OSError, ValueError):
            app.config["REDIS_AVAILABLE"] = False
    return app.config["REDIS_AVAILABLE"]


def sentinel_addresses(value: str | None) -> list[tuple[str, int]]:
    """``"10.0.0.1:26379,10.0.0.2:26379"`` -> ``[("10.0.0.1", 26379), ...]``; empty: no Sentinel."""
    addresses = []
    for item in (value or "").split(","):
        if item.strip():
            host, _, port = item.strip().rpartition(":")
            addresses.append((host.strip("[]"), int(port)))
    return addresses


def client(config, *, timeout: float = 5) -> redis_lib.Redis:
    """A connection to the queue's Redis (``config``: the app's config or the environment)."""
    sentinels = sentinel_addresses(config.get("REDIS_SENTINELS"))
    if not sentinels:
        return redis_lib.Redis.from_url(config["REDIS_URL"], socket_connect_timeout=min(timeout, 2), socket_timeout=timeout)
    url = parse_url(config["REDIS_URL"])
    auth = {k: url[k] for k in ("username", "password") if url.get(k)}
    timeouts = {"socket_connect_timeout": min(timeout, 2), "socket_timeout": timeout}
    sentinel = Sentinel(sentinels, sentinel_kwargs={**auth, **timeouts}, **timeouts)
    return sentinel.master_for(config.get("REDIS_SENTINEL_MASTER") or "teichaku", db=url.get("db", 0), **auth)


def limiter_storage_uri(app: Flask) -> str:
    """Throttling counters live in Redis, so every web process shares them."""
    if redis_available(app):
        sentinels = sentinel_addresses(app.config.get("REDIS_SENTINELS"))
        if not sentinels:
            return app.config["REDIS_URL"]
        # limits' Sentinel storage takes the database and password as options, not in its URI.
        url = parse_url(app.config["REDIS_URL"])
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {k: url[k] for k in ("db", "username", "password") if url.get(k)})
        hosts = ",".join(f"{host}:{port}" for host, port in sentinels)
        return f"redis+sentinel://{hosts}/{app.config.get('REDIS_SENTINEL_MASTER') or 'teichaku'}"
    if app.config["TEICHAKU_ENV"] == "production":
        raise RuntimeError("Redis does not answer at REDIS_URL: production needs it for throttling and jobs")
    app.logger.warning("Redis does not answer at %s: throttling counters kept in memory", app.config["REDIS_URL"])
    return "memory://"


def connection(app: Flask | None = None) -> redis_lib.Redis:
    app = app or current_app
    return client(app.config)
