"""``/api/v1/notifications``: the caller's inbox (any signed-in role), newest first."""
from __future__ import annotations

from flask import abort
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields

from ...crosstenant.notifications import services
from ...platform.validation import StrictSchema
from .common import PageArgs

blp = Blueprint("api_notifications", __name__, url_prefix="/api/v1/notifications",
                description="The caller's notifications of cross-tenant events")


class NotificationOut(StrictSchema):
    id = fields.UUID()
    kind = fields.String()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    transfer_id = fields.UUID(allow_none=True, metadata={
        "description": "広域調整の依頼の ID（両センターと全国協議会に共通: GET /transfers/<id> で開ける）"})
    pull_id = fields.UUID(allow_none=True, metadata={
        "description": "広域調整の開始依頼の ID（両センターに共通: GET /transfer-pulls/<id> で開ける）"})
    case_study_id = fields.UUID(allow_none=True, metadata={"description": "事例の共有: 対象の事例の ID"})


class NotificationList(StrictSchema):
    items = fields.List(fields.Nested(NotificationOut))
    next_cursor = fields.String(allow_none=True)


@blp.route("", methods=["GET"], endpoint="list_notifications")
@blp.arguments(PageArgs, location="query")
@blp.response(200, NotificationList)
def list_notifications(args):
    """The caller's notifications, newest first (cursor pagination)."""
    items, next_cursor = services.list_notifications(current_user, **args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/<notification_id>/read", methods=["POST"], endpoint="mark_read")
@blp.response(200, NotificationOut)
def mark_read(notification_id):
    """Mark one of the caller's notifications read (anybody else's answers 404)."""
    notification = services.mark_read(current_user, notification_id) or abort(404)
    return notification
