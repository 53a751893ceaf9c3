"""Errors: the contract's JSON on the API, Japanese pages elsewhere, never a stack trace.

Services raise ``DomainError`` subclasses (Japanese message, contract code); this module turns
them, and every HTTP error, into the right answer for the door the request came through.
"""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from .extensions import db
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
}


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


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        if _is_api():
            return api_error(exc.status, exc.code, exc.message, exc.details)
        return render_template("error.html", status=exc.status, title=exc.message, message=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
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
        # Log the type only: exception messages can carry personal values.
        log.error("unhandled_exception", exc_type=type(exc).__name__, path=request.path)
        if app.config.get("PROPAGATE_UNEXPECTED"):
            raise exc
        db.session.rollback()
        if _is_api():
            return api_error(500)
        return render_template("error.html", status=500, title=PAGE_TITLES[500], message=MESSAGES[500][1]), 500
