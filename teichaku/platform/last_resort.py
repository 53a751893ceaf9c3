"""The answer of last resort: what a request gets when Flask itself could not make one.

Flask answers an exception its handlers do not take with the app's 500 handler
(``platform/errors.py``); when that handler fails too (it renders a page that needs the
database, in an outage), the exception leaves the app and the WSGI server writes its own bare
"Internal Server Error" page, with no request id.  This middleware, around the app's
``wsgi_app`` (the app factory puts it there), answers instead: the contract's JSON error body on
the API, a plain Japanese page elsewhere, 503 ``unavailable`` with ``Retry-After`` for a database
outage and 500 otherwise.  It is made from constants alone: no template, no request context, no
database.  It also gives every answer that lacks one the request's ``X-Request-ID`` (an
after-request hook that failed on an error answer leaves it without the hooks after it).

With ``PROPAGATE_EXCEPTIONS`` (tests, debug) exceptions pass through, as Flask's own do.
"""
from __future__ import annotations

import json
import sys
from html import escape

from flask import Flask

from .errors import MESSAGES, PAGE_TITLES, RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, error_body, is_database_outage
from .hooks import SECURITY_HEADERS, request_id_for
from .logs import get_logger

log = get_logger("teichaku.errors")

_PAGE = """<!doctype html>
<html lang="ja">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} | Teichaku</title>
  <link rel="stylesheet" href="{root}/static/teichaku.css">
</head>
<body>
<header class="top"><div class="brand"><a href="{root}/">Teichaku <span>定着</span></a></div></header>
<main id="main">
<h1>{title}</h1>
<p>{message}</p>
<p class="muted">エラー番号: {status} / 問い合わせ番号: {request_id}</p>
<p><a href="{root}/">ダッシュボードへ戻る</a></p>
</main>
</body>
</html>
"""

_REASONS = {500: "500 INTERNAL SERVER ERROR", 503: "503 SERVICE UNAVAILABLE"}


class LastResort:
    """WSGI middleware: ``app.wsgi_app = LastResort(app)``."""

    def __init__(self, app: Flask):
        self.app = app
        self.wrapped = app.wsgi_app

    def __call__(self, environ, start_response):
        started = []

        def start_with_request_id(status, headers, exc_info=None):
            started.append(status)
            if not any(name.lower() == "x-request-id" for name, _ in headers):
                headers = [*headers, ("X-Request-ID", request_id_for(environ))]
            return start_response(status, headers, exc_info)

        try:
            return self.wrapped(environ, start_with_request_id)
        except Exception as exc:
            if self._propagate():
                raise
            # The type only: exception messages can carry personal values.
            log.error("unanswered_exception", exc_type=type(exc).__name__, path=environ.get("PATH_INFO", ""))
            status, headers, body = answer_for(environ, exc)
            # Headers already given to the server (a teardown failed after the answer was made):
            # replace them, as PEP 3333 allows when exc_info is passed (the server re-raises if
            # it had already sent them).
            start_response(status, headers, sys.exc_info() if started else None)
            return [body]

    def _propagate(self) -> bool:
        propagate = self.app.config.get("PROPAGATE_EXCEPTIONS")
        return bool(self.app.testing or self.app.debug) if propagate is None else bool(propagate)


def answer_for(environ: dict, exc: BaseException) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, headers and body answering ``exc`` for this request, from constants."""
    outage = is_database_outage(exc)
    status = 503 if outage else 500
    request_id = request_id_for(environ)
    message = UNAVAILABLE_MESSAGE if outage else MESSAGES[500][1]
    if environ.get("PATH_INFO", "").startswith("/api/"):
        body = json.dumps(error_body(status, "unavailable" if outage else None, message), ensure_ascii=False).encode()
        content_type = "application/json"
    else:
        body = _PAGE.format(title=PAGE_TITLES[status], message=message, status=status,
                            request_id=escape(request_id), root=escape(environ.get("SCRIPT_NAME", ""))).encode()
        content_type = "text/html; charset=utf-8"
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("X-Request-ID", request_id),
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        *SECURITY_HEADERS.items(),
    ]
    if outage:
        headers.append(("Retry-After", str(RETRY_AFTER_SECONDS)))
    return _REASONS[status], headers, body
