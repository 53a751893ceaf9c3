"""Shared API pieces: pagination arguments, version headers."""
from __future__ import annotations

from flask import request
from marshmallow import fields, validate

from ...platform.errors import PreconditionRequired, ValidationFailed
from ...platform.validation import StrictSchema


class PageArgs(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)


def expected_version() -> int:
    """The version from ``If-Match: "<version>"``; 428 when missing, 422 when malformed."""
    raw = request.headers.get("If-Match")
    if raw is None:
        raise PreconditionRequired("If-Match ヘッダーで版番号を指定してください。")
    raw = raw.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"')
    if not raw.isdigit():
        raise ValidationFailed("If-Match の形式が正しくありません。", fields={"If-Match": ['"<version>" の形式で指定してください。']})
    return int(raw)


def with_etag(response, version: int):
    response.headers["ETag"] = f'"{version}"'
    return response
