"""One place that decides whether Redis answers, and hands out connections to it."""
from __future__ import annotations

import redis as redis_lib
from flask import Flask, current_app


def ping(url: str, timeout: float = 0.5) -> bool:
    try:
        return bool(redis_lib.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis_lib.RedisError, OSError, ValueError):
        return False


def redis_available(app: Flask | None = None) -> bool:
    app = app or current_app
    if "REDIS_AVAILABLE" not in app.config:
        app.config["REDIS_AVAILABLE"] = ping(app.config["REDIS_URL"])
    return app.config["REDIS_AVAILABLE"]


def limiter_storage_uri(app: Flask) -> str:
    """Throttling counters live in Redis, so every web process shares them."""
    if redis_available(app):
        return app.config["REDIS_URL"]
    if app.config["TEICHAKU_ENV"] == "production":
        raise RuntimeError("Redis does not answer at REDIS_URL: production needs it for throttling and jobs")
    app.logger.warning("Redis does not answer at %s: throttling counters kept in memory", app.config["REDIS_URL"])
    return "memory://"


def connection(app: Flask | None = None) -> redis_lib.Redis:
    app = app or current_app
    return redis_lib.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
