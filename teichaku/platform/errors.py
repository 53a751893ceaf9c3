"""Errors: the contract's JSON on the API, Japanese pages elsewhere, never a stack trace.

Services raise ``DomainError`` subclasses (Japanese message, contract code); this module turns
them, and every HTTP error, into the right answer for the door the request came through.

A database outage (``is_database_outage``: the server unreachable, a connection lost, the pool
exhausted) is 503 ``unavailable`` with ``Retry-After``, wherever in the request it surfaced (the
sign-in's user loader, a view, the boundary's commit).  That answer is made without the
database: the request's transaction is dropped and the rest of the request sees an anonymous
user (the error page's header would otherwise load the user and its notifications again).
What even this cannot answer is answered by ``platform/last_resort.py``, outside Flask.
"""
from __future__ import annotations

import json
import logging

import psycopg
import sqlalchemy.exc
from flask import Flask, abort, g, jsonify, render_template, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from .extensions import db, login_manager
from .logs import get_logger

log = get_logger("teichaku.errors")

MESSAGES = {
    400: ("bad_request", "リクエストの形式が正しくありません。"),
    401: ("unauthenticated", "認証が必要です。"),
    403: ("forbidden", "この操作を行う権限がありません。"),
    404: ("not_found", "指定されたデータは見つかりません。"),
    405: ("method_not_allowed", "このメソッドは使用できません。"),
    409: ("conflict", "データの状態が競合しています。"),
    413: ("payload_too_large", "送信されたデータが大きすぎます。"),
    415: ("unsupported_media_type", "この形式のデータは受け付けていません。"),
    422: ("validation_error", "入力内容に誤りがあります。"),
    428: ("precondition_required", "If-Match ヘッダーで版番号を指定してください。"),
    429: ("rate_limited", "試行回数が多すぎます。しばらく待ってから再度お試しください。"),
    500: ("internal_error", "システムエラーが発生しました。時間をおいて再度お試しください。"),
    503: ("unavailable", "現在サービスを利用できません。"),
}

PAGE_TITLES = {
    400: "リクエストが正しくありません",
    403: "アクセスできません",
    404: "ページが見つかりません",
    405: "この操作はできません",
    413: "ファイルが大きすぎます",
    429: "しばらくお待ちください",
    500: "システムエラー",
    503: "ただいま利用できません",
}

# A database outage: the answer's message, and the seconds a client should wait before retrying.
UNAVAILABLE_MESSAGE = "ただいまデータベースに接続できないため、サービスを利用できません。しばらく待ってから再度お試しください。"
RETRY_AFTER_SECONDS = 5

# SQLSTATEs of a server that went away or will not take a connection (PostgreSQL's appendix A):
# class 08 (connection exception), admin/crash shutdown, cannot connect now, idle-session and
# idle-in-transaction timeouts (the server closed the session), too many connections.
_OUTAGE_SQLSTATES = {"57P01", "57P02", "57P03", "57P05", "25P03", "53300"}


class DomainError(Exception):
    """A refused action.  ``code`` is the contract's error code; ``message`` is Japanese.

    The transaction boundary rolls back what the refused call wrote, unless it was raised with
    ``keep_writes=True`` (a refusal that must leave a record: the findings of a refused publish)."""

    status = 422
    code = "validation_error"

    def __init__(self, message: str, *, details: dict | None = None, fields: dict | None = None,
                 keep_writes: bool = False):
        super().__init__(message)
        self.message = message
        self.keep_writes = keep_writes
        self.details = dict(details or {})
        if fields:
            self.details["fields"] = fields


class ValidationFailed(DomainError):
    status, code = 422, "validation_error"


class VersionConflict(DomainError):
    status, code = 409, "version_conflict"


class InvalidState(DomainError):
    status, code = 409, "invalid_state"


class PreconditionRequired(DomainError):
    status, code = 428, "precondition_required"


def error_body(status: int, code: str | None = None, message: str | None = None, details: dict | None = None) -> dict:
    default_code, default_message = MESSAGES.get(status, MESSAGES[500] if status >= 500 else MESSAGES[400])
    return {"error": {"code": code or default_code, "message": message or default_message,
                      "details": _string_keys(details or {})}}


def _string_keys(value):
    """JSON object keys are strings: a field error keyed by a form part with no usable name (None)
    is reported under "" instead of failing the answer."""
    if isinstance(value, dict):
        return {("" if key is None else str(key)): _string_keys(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_string_keys(item) for item in value]
    return value


def api_error(status: int, code: str | None = None, message: str | None = None, details: dict | None = None, headers=None):
    response = jsonify(error_body(status, code, message, details))
    response.status_code = status
    if headers:
        for k, v in headers:
            if k.lower() != "content-type":
                response.headers[k] = v
    return response


def flatten_messages(messages: dict) -> dict[str, list[str]]:
    """webargs/marshmallow nested messages -> {"person.birth_date": [...]} (location dropped)."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out.setdefault(prefix or "_schema", []).extend(value)
        else:
            out.setdefault(prefix or "_schema", []).append(str(value))

    for location, sub in messages.items():
        walk("", sub) if location in ("json", "query", "form", "files", "headers", "view_args") else walk(str(location), sub)
    return out


def _is_api() -> bool:
    return request.path.startswith("/api/")


def is_database_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from or while handling) says the database
    cannot be reached: a lost or refused connection, a server shutting down, the pool timing out.
    A statement the server refused (a constraint, a deadlock, a syntax error) is not an outage."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if _is_outage_itself(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _is_outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return True  # QueuePool: no connection could be had within pool_timeout
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)) and _lost_connection(exc.orig)
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return _lost_connection(exc)
    return False


def _lost_connection(orig: BaseException | None) -> bool:
    """A psycopg error without a server's SQLSTATE is the client's own (connection refused,
    closed, timed out); with one, only the SQLSTATEs of a server going away count.  (SQLite's
    errors carry no SQLSTATE and a syntax error looks like a locked file: only an invalidated
    connection counts there, above.)"""
    if not isinstance(orig, psycopg.Error):
        return False
    sqlstate = orig.sqlstate
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _OUTAGE_SQLSTATES


def forget_database_state() -> None:
    """After an outage: drop the request's transaction and make the rest of the request (the
    error page, the after-request hooks) see an anonymous user, so nothing loads a row again."""
    try:
        db.session.rollback()
    except Exception as exc:  # noqa: BLE001 - the connection is gone; the pool discards it
        log.warning("rollback_after_outage_failed", exc_type=type(exc).__name__)
    g._login_user = login_manager.anonymous_user()  # Flask-Login's per-request user (as the jobs do)


class TypeOnly(logging.Filter):
    """Flask logs what it handles itself (an exception after the view, a failing error handler)
    with the exception's message and traceback; a message can carry personal values (a
    constraint's detail, a name).  Keep the record, and the exception's type, drop the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{record.getMessage()} ({record.exc_info[0].__name__})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def init_app(app: Flask) -> None:
    if not any(isinstance(f, TypeOnly) for f in app.logger.filters):  # one logger per app name
        app.logger.addFilter(TypeOnly())

    @app.before_request
    def _refuse_malformed_json():
        # Malformed JSON is a 400 (contract). A JSON body is test-parsed here, before any view:
        # the parsers further on (flask's get_json, webargs) turn only a JSONDecodeError into a
        # 400 and let through the rest (a number of more than 4300 digits, a nesting deeper
        # than the recursion limit), which would be a 500.
        if request.is_json:
            raw = request.get_data(cache=True)
            if raw.strip():
                try:
                    json.loads(raw)
                except (ValueError, RecursionError):
                    if _is_api():
                        return api_error(400)
                    abort(400)
        return None

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        if _is_api():
            return api_error(exc.status, exc.code, exc.message, exc.details)
        return render_template("error.html", status=exc.status, title=exc.message, message=exc.message), exc.status

    def _unavailable(exc: BaseException):
        # The type only, as below; the outage is the operators' news, not a bug.
        log.warning("database_unavailable", exc_type=type(exc).__name__, path=request.path)
        forget_database_state()
        retry = [("Retry-After", str(RETRY_AFTER_SECONDS))]
        if _is_api():
            return api_error(503, "unavailable", UNAVAILABLE_MESSAGE, headers=retry)
        response = app.make_response((render_template(
            "error.html", status=503, title=PAGE_TITLES[503], message=UNAVAILABLE_MESSAGE), 503))
        response.headers.update(retry)
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        original = getattr(exc, "original_exception", None)
        if status == 500 and is_database_outage(original):
            # Raised where no handler catches it: the boundary's commit in an after-request hook,
            # or a handler that itself failed on the database (Flask's handle_exception).
            return _unavailable(original)
        headers = exc.get_response().headers.items() if status == 405 else None
        if _is_api():
            details = None
            messages = (getattr(exc, "data", None) or {}).get("messages")
            if status == 422 and messages:
                details = {"fields": flatten_messages(messages)}
            return api_error(status, details=details, headers=headers)
        code, message = MESSAGES.get(status, MESSAGES[500])
        response = app.make_response((render_template("error.html", status=status, title=PAGE_TITLES.get(status, "エラー"), message=message), status))
        if headers:
            response.headers["Allow"] = dict(headers).get("Allow", "")
        return response

    @app.errorhandler(StaleDataError)
    def _stale(exc):
        db.session.rollback()
        return _domain(VersionConflict("他の職員が先に更新しました。最新の内容を確認してから再度保存してください。"))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_database_outage(exc):
            return _unavailable(exc)
        # Log the type only: exception messages can carry personal values.
        log.error("unhandled_exception", exc_type=type(exc).__name__, path=request.path)
        if app.config.get("PROPAGATE_UNEXPECTED"):
            raise exc
        db.session.rollback()
        if _is_api():
            return api_error(500)
        return render_template("error.html", status=500, title=PAGE_TITLES[500], message=MESSAGES[500][1]), 500
