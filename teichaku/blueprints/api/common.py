"""Shared API pieces: pagination arguments, version headers."""
from __future__ import annotations

import re

from flask import request
from marshmallow import fields, validate

from ...platform.errors import PreconditionRequired, ValidationFailed
from ...platform.validation import StrictSchema


class PageArgs(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)


# ``If-Match: "<version>"`` (also weak, ``W/"3"``): ASCII digits, at most nine (a version is a
# 32-bit integer). The OpenAPI document declares this pattern (``errors.IF_MATCH``).
IF_MATCH_PATTERN = r'^(W/)?"?[0-9]{1,9}"?$'
_IF_MATCH = re.compile(r'(?:W/)?"?([0-9]{1,9})"?', re.ASCII)


def expected_version() -> int:
    """The version from ``If-Match: "<version>"``; 428 when missing, 422 when malformed."""
    raw = request.headers.get("If-Match")
    if raw is None:
        raise PreconditionRequired("If-Match ヘッダーで版番号を指定してください。")
    match = _IF_MATCH.fullmatch(raw.strip())
    if match is None:
        raise ValidationFailed("If-Match の形式が正しくありません。", fields={"If-Match": ['"<version>" の形式で指定してください。']})
    return int(match.group(1))


def with_etag(response, version: int):
    response.headers["ETag"] = f'"{version}"'
    return response
