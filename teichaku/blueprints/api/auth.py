"""``/api/v1/auth/token`` and ``/api/v1/me``."""
from __future__ import annotations

from flask import g
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields

from ...platform import transaction
from ...platform.auth.services import (
    InvalidCredentials, OtpEnrollmentRequired, OtpRequired, authenticate, issue_api_token, revoke_api_token,
)
from ...platform.auth.throttle import throttled_signin
from ...platform.centers import prefecture_by_code
from ...platform.errors import api_error
from ...platform.validation import StrictSchema

blp = Blueprint("api_auth", __name__, url_prefix="/api/v1", description="Tokens and the caller")

INVALID = "メールアドレス、パスワードまたは確認コードが正しくありません。"


class TokenRequest(StrictSchema):
    email = fields.String(required=True)
    password = fields.String(required=True)
    otp = fields.String(load_default=None)


class TokenResponse(StrictSchema):
    token = fields.String()
    expires_at = fields.DateTime()


class CenterRef(StrictSchema):
    code = fields.String()
    name = fields.String()


class PrefectureRef(StrictSchema):
    code = fields.String()
    name = fields.String()


class MeSchema(StrictSchema):
    id = fields.UUID()
    email = fields.String()
    role = fields.String()
    center = fields.Nested(CenterRef, allow_none=True)
    prefecture = fields.Nested(PrefectureRef, allow_none=True)  # a prefecture official's (no center)


@blp.route("/auth/token", methods=["POST"], endpoint="token_create")
@blp.doc(responses={"401": {"description": "`invalid_credentials`: a bad e-mail, password or otp, a disabled "
                                           "account or a deactivated center (one answer for all)"},
                    "403": {"description": "`otp_enrollment_required`: two-factor authentication is required "
                                           "and not enrolled yet"}})
@blp.arguments(TokenRequest)
@blp.response(201, TokenResponse)
@throttled_signin
def token_create(body):
    """Issue a bearer token (12 hours).  Any failure answers 401 ``invalid_credentials``."""
    try:
        user = authenticate(body["email"], body["password"], body.get("otp"), enforce_enrollment=True)
    except (InvalidCredentials, OtpRequired):
        g.signin_failed = True
        transaction.keep_writes()  # the failed attempt's audit entry stays
        return api_error(401, "invalid_credentials", INVALID)
    except OtpEnrollmentRequired:
        return api_error(403, "otp_enrollment_required", "二要素認証の登録が必要です。画面からログインして登録してください。")
    raw, expires_at = issue_api_token(user)
    return {"token": raw, "expires_at": expires_at}


@blp.route("/auth/token", methods=["DELETE"], endpoint="token_delete")
@blp.response(204)
def token_delete():
    """Revoke the caller's token."""
    revoke_api_token(g.api_token)
    return ""


@blp.route("/me", methods=["GET"], endpoint="me")
@blp.response(200, MeSchema)
def me():
    """The caller: id, e-mail, role and center (null for a prefecture official, which belongs
    to the prefecture given in ``prefecture`` instead)."""
    center = current_user.center
    body = {"id": current_user.id, "email": current_user.email, "role": current_user.role,
            "center": {"code": center.code, "name": center.name} if center else None}
    prefecture = prefecture_by_code(current_user.prefecture_code)
    if prefecture is not None:
        body["prefecture"] = {"code": prefecture.code, "name": prefecture.name}
    return body
