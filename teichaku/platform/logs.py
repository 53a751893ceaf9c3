"""Structured logs (structlog, JSON lines) with the request id.

Never log personal data: paths are logged without their query string (search terms and
filters may hold names), and no request body is logged.
"""
from __future__ import annotations

import logging
import sys

import structlog
from flask import Flask, g, has_request_context


def _add_request_id(_, __, event_dict):
    if has_request_context() and getattr(g, "request_id", None):
        event_dict.setdefault("request_id", g.request_id)
    return event_dict


class _StderrLogger:
    """Writes each rendered line to the *current* ``sys.stderr`` (not the one at start-up)."""

    def _write(self, message: str) -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    msg = debug = info = warning = warn = error = critical = exception = fatal = _write


def _logger_factory(*_args) -> _StderrLogger:
    return _StderrLogger()


def configure(app: Flask) -> None:
    level = getattr(logging, str(app.config.get("LOG_LEVEL", "INFO")).upper(), logging.INFO)
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "teichaku"):
    return structlog.get_logger(name)
