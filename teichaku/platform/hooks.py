"""Request hooks: request id, sign-in and tenant, the permission check, response headers."""
from __future__ import annotations

import re
import time
import uuid

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask_login import current_user

from .auth.services import two_factor_required
from .logs import get_logger
from .permissions import PUBLIC, can, capability_for

log = get_logger("teichaku.request")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
# The request id is also left in the WSGI environ, for the answer made outside Flask when even
# the error handlers failed (platform/last_resort.py).
REQUEST_ID_ENVIRON_KEY = "teichaku.request_id"

# Every answer's security headers (HSTS is added in production).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

# Views a signed-in user who must still enrol in two-factor authentication may reach.
ENROLMENT_ENDPOINTS = {"auth.totp_setup", "auth.logout", "static", "auth.set_locale"}


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.before_request(_authorize)
    app.after_request(_security_headers)
    app.after_request(_log_request)
    app.teardown_request(_forget_scope)


def _assign_request_id() -> None:
    g.request_id = request.environ[REQUEST_ID_ENVIRON_KEY] = request_id_for(request.environ)
    g.started = time.perf_counter()


def request_id_for(environ: dict) -> str:
    """The request's id: the one already given to it, the caller's ``X-Request-ID`` when it looks
    like one, or a new one."""
    given = environ.get(REQUEST_ID_ENVIRON_KEY)
    if given:
        return given
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _authorize():
    """Deny by default: the endpoint must be in the permission table and the role must hold it."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route: Flask answers 404 (or 405)
    capability = capability_for(endpoint)
    if capability is None:
        abort(403)
    if capability == PUBLIC:
        return None
    if not current_user.is_authenticated:
        if request.path.startswith("/api/"):
            abort(401)
        return redirect(url_for("auth.login", next=request.path))
    if (
        not request.path.startswith("/api/")
        and endpoint not in ENROLMENT_ENDPOINTS
        and two_factor_required(current_user)
        and not current_user.two_factor_enabled
    ):
        return redirect(url_for("auth.totp_setup"))
    if not can(current_user.role, capability):
        abort(403)
    return None


def _security_headers(response):
    h = response.headers
    for name, value in SECURITY_HEADERS.items():
        h.setdefault(name, value)
    if current_app.config["TEICHAKU_ENV"] == "production":
        h.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.endpoint != "static":
        # Pages and answers may hold personal data: never cache them anywhere.
        h["Cache-Control"] = "no-store"
        h["Pragma"] = "no-cache"
    h["X-Request-ID"] = getattr(g, "request_id", "")
    return response


def _log_request(response):
    if request.endpoint == "static":
        return response
    # The id noted when the user was loaded, never ``current_user``: that would load the user
    # here (a database query in every public request's log line, and one that fails in an outage)
    # or refresh it after a rollback.
    user_id = g.get("signed_in_user_id")
    log.info(
        "request",
        method=request.method,
        path=request.path,  # never the query string: it may carry search terms
        status=response.status_code,
        ms=round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1),
        user_id=user_id,
    )
    return response


def _forget_scope(_exc) -> None:
    g.pop("tenant_id", None)
    g.pop("cross_tenant_purpose", None)
