"""The OpenAPI document's error answers: the contract's body, and every status an operation can give.

The contract (``shared/api-contract.md``) answers every refusal as
``{"error": {"code", "message", "details"}}`` (``platform/errors.py`` builds it). ``ErrorSchema`` is
that body; ``ContractApi`` (``__init__.py``) documents it instead of flask-smorest's default error.

``DeclaredErrors`` is an apispec plugin: as each operation enters the document, it adds the error
statuses that operation can answer, all in this one place, derived from what decides them:

=====  ==========================================================================================
400    the operation takes a body (malformed JSON, a broken multipart form)
401    every operation: no, an expired or a revoked token; on ``POST /auth/token``, bad credentials
403    the operation's capability (``platform.permissions.ENDPOINTS``) is not held by every role;
       a view that refuses by itself says so in its own doc (``POST /auth/token``: enrolment)
404    a path parameter (a missing record and another center's answer alike), or a body that may
       name another record by its id
409    a state-changing method (stale version, illegal state change, duplicate) on a record
413    the operation takes a body (``MAX_CONTENT_LENGTH``)
422    any query, header or body parameter (``validation_error`` with ``details.fields``)
428    the view reads ``If-Match`` (``common.expected_version``), which is then a required header
429    a rate limit of ``platform.extensions.limiter`` applies to the view (or to every view)
500    every operation: an unexpected failure still answers the contract's body, never a trace
503    every operation: the database is unreachable (``unavailable``, with ``Retry-After``)
=====  ==========================================================================================

A status a view documents itself (``@blp.doc(responses=...)``, ``@blp.alt_response``) keeps its
description; it gets the error body when it has none. No ``default`` response: an answer with a
status that is not listed is a bug the schemathesis run (``tests/test_openapi_fuzz.py``) reports.
"""
from __future__ import annotations

import inspect

from apispec import BasePlugin
from flask import Flask
from flask_limiter.util import get_qualified_name
from marshmallow import fields

from ...platform.extensions import limiter
from ...platform.permissions import ALL_ROLES, CAPABILITIES, PUBLIC, capability_for
from ...platform.validation import StrictSchema
from .common import IF_MATCH_PATTERN, expected_version


class ErrorDetailSchema(StrictSchema):
    code = fields.String(required=True, metadata={"description": "A fixed code: `validation_error`, `not_found`, ..."})
    message = fields.String(required=True, metadata={"description": "A message in Japanese"})
    details = fields.Dict(required=True, metadata={
        "description": "More about the refusal; `fields` holds the field errors of a 422 "
                       '(`{"person.birth_date": ["..."]}`)'})


class ErrorSchema(StrictSchema):
    """The contract's error body."""
    error = fields.Nested(ErrorDetailSchema, required=True)


# The body's name in ``components/schemas`` (flask-smorest names a schema after its class, less "Schema").
ERROR_SCHEMA_NAME = "Error"
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
# Capabilities that every signed-in caller holds on its own things (its token, itself, its inbox):
# no role is refused there and nothing shared can conflict.
OWN_THINGS = frozenset({PUBLIC, "signed_in"})

IF_MATCH = {
    "in": "header", "name": "If-Match", "required": True,
    "description": 'The version the change is based on: "<version>" (the ETag or `version` of the record). '
                   "Missing: 428 `precondition_required`; stale: 409 `version_conflict`.",
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
}

# The error answers, one component each (``components/responses/Error<status>``).
REASONS = {
    400: "`bad_request`: the body is not well-formed",
    401: "`unauthenticated`: no valid bearer token (`invalid_credentials` when signing in)",
    403: "`forbidden`: the caller's role may not do this",
    404: "`not_found`: no such record, or one of another center (the same answer)",
    409: "`version_conflict` (stale If-Match) or `invalid_state` (not allowed in the current state)",
    413: "`payload_too_large`",
    422: "`validation_error`: `details.fields` names each wrong field",
    428: "`precondition_required`: If-Match is missing",
    429: "`rate_limited`: too many attempts; try again later",
    500: "`internal_error`: an unexpected failure (a bug)",
    503: "`unavailable`: the database cannot be reached; try again after Retry-After seconds",
}
RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}}


def response_name(status: int) -> str:
    return f"Error{status}"


def reads_if_match(view) -> bool:
    """Whether the view calls ``expected_version()`` itself (then If-Match is required)."""
    code = getattr(inspect.unwrap(view), "__code__", None)
    return code is not None and expected_version.__name__ in code.co_names


def rate_limited(app: Flask, view) -> bool:
    manager = limiter.limit_manager
    with app.app_context():
        if manager.application_limits or manager.default_limits:
            return True
        return bool(manager.decorated_limits(get_qualified_name(inspect.unwrap(view))))


def error_statuses(app: Flask, endpoint: str, method: str, operation: dict, path_arguments) -> set[int]:
    """The error statuses one operation can answer (see the module's table)."""
    capability = capability_for(endpoint)
    view = app.view_functions[endpoint]
    has_body = "requestBody" in operation
    has_params = any(p.get("in") in ("query", "header") for p in operation.get("parameters", []) if isinstance(p, dict))
    statuses = {401, 500, 503}
    if has_body:
        statuses |= {400, 413, 422}
    if has_params:
        statuses.add(422)
    if capability not in OWN_THINGS and CAPABILITIES.get(str(capability)) != ALL_ROLES:  # None: denied
        statuses.add(403)
    if path_arguments or (has_body and capability != PUBLIC):
        statuses.add(404)
    if method in WRITE_METHODS and capability not in OWN_THINGS and not str(capability).endswith(".read"):
        statuses.add(409)
    if reads_if_match(view):
        statuses |= {422, 428}
    if rate_limited(app, view):
        statuses.add(429)
    return statuses


class DeclaredErrors(BasePlugin):
    """Adds the error answers of every operation as it enters the document (see the module)."""

    def __init__(self, app: Flask):
        self.app = app
        self.spec = None

    def init_spec(self, spec) -> None:
        self.spec = spec
        for status, reason in REASONS.items():
            response = {"description": reason, "content": {"application/json": {"schema": ErrorSchema}}}
            if status == 503:
                response["headers"] = {"Retry-After": RETRY_AFTER}
            spec.components.response(response_name(status), response, lazy=True)

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            if capability_for(rule.endpoint) == PUBLIC:
                operation["security"] = []  # no token needed (signing in)
            if reads_if_match(self.app.view_functions[rule.endpoint]):
                parameters = operation.setdefault("parameters", [])
                if not any(isinstance(p, dict) and p.get("in") == "header" and p.get("name", "").lower() == "if-match"
                           for p in parameters):
                    parameters.append(dict(IF_MATCH))
            responses = operation.setdefault("responses", {})
            documented = {int(code) for code in responses if int(code) >= 400}  # by the view itself
            for status in sorted(error_statuses(self.app, rule.endpoint, method, operation, rule.arguments) | documented):
                key = str(status)
                if status in responses:  # flask-smorest keys its own by int ({422: "UNPROCESSABLE_ENTITY"})
                    responses[key] = responses.pop(status)
                declared = responses.get(key)
                if declared is None or isinstance(declared, str):
                    responses[key] = response_name(status)
                else:
                    # The view's own description stays; the body is the contract's.
                    declared.setdefault("description", REASONS.get(status, "An error"))
                    declared["content"] = {"application/json": {"schema": ERROR_SCHEMA_NAME}}
