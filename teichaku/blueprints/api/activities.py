"""``/api/v1/activities``: the center's network activities (地域ネットワーク強化) and their yearly
figures for the add-on report (加算の実績報告)."""
from __future__ import annotations

from flask import Response, abort
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields, validate

from ...platform.validation import StrictSchema
from ...tenants.activities import services
from ...tenants.activities.models import ACTIVITY_TYPES
from ...tenants.activities.schemas import (ActivityCreate, ActivityList, ActivityOut, ActivityPatch, ActivitySummary,
                                           fiscal_year_in_range)
from .common import PageArgs, expected_version

blp = Blueprint("api_activities", __name__, url_prefix="/api/v1/activities",
                description="Network activities of the caller's center (地域ネットワーク強化) and their yearly summary")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FISCAL_YEAR_HELP = {"description": "年度（4月〜翌3月）の始まる年（西暦）。例: 2025 = 令和7年度"}


class ActivityListArgs(PageArgs):
    fiscal_year = fields.Integer(load_default=None, validate=fiscal_year_in_range, metadata=FISCAL_YEAR_HELP)
    activity_type = fields.String(load_default=None, validate=validate.OneOf(ACTIVITY_TYPES))


class SummaryArgs(StrictSchema):
    fiscal_year = fields.Integer(required=True, validate=fiscal_year_in_range, metadata=FISCAL_YEAR_HELP)


class ExportArgs(SummaryArgs):
    format = fields.String(required=True, validate=validate.OneOf(("csv", "xlsx"), error="csv または xlsx を指定してください。"),
                           metadata={"description": "csv (UTF-8 BOM 付き・CRLF) または xlsx"})


def _etag(activity):
    return {"ETag": f'"{activity.version}"'}


@blp.route("", methods=["GET"], endpoint="list_activities")
@blp.arguments(ActivityListArgs, location="query")
@blp.response(200, ActivityList)
def list_activities(args):
    """The center's activities, latest date first (cursor pagination), optionally of one fiscal year."""
    items, next_cursor = services.list_activities(**args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("", methods=["POST"], endpoint="create_activity")
@blp.arguments(ActivityCreate)
@blp.response(201, ActivityOut)
def create_activity(body):
    """Record an activity."""
    activity = services.create_activity(body, created_by=current_user)
    return activity, 201, _etag(activity)


@blp.route("/summary", methods=["GET"], endpoint="activity_summary")
@blp.arguments(SummaryArgs, location="query")
@blp.response(200, ActivitySummary)
def activity_summary(args):
    """A fiscal year's figures per type: activities, participants in all and by sector."""
    summary = services.yearly_summary(args["fiscal_year"])
    return summary


@blp.route("/summary/export", methods=["GET"], endpoint="export_activity_summary")
@blp.arguments(ExportArgs, location="query")
@blp.doc(responses={"200": {
    "description": "CSV: the summary table (UTF-8 with BOM, CRLF). XLSX: sheet 集計 (the same table) and sheet "
                   "開催一覧 (the fiscal year's activities).",
    "content": {"text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}}},
}})
def export_activity_summary(args):
    """The fiscal year's figures as a file for the prefecture's report (the export is audited)."""
    center = getattr(current_user, "center", None)
    content, mimetype, filename = services.export_summary(args["fiscal_year"], args["format"],
                                                          center_name=getattr(center, "name", None))
    return Response(content, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blp.route("/<activity_id>", methods=["GET"], endpoint="get_activity")
@blp.response(200, ActivityOut)
def get_activity(activity_id):
    """One activity (the read is audited: minutes may name people)."""
    activity = services.read_activity(activity_id) or abort(404)
    return activity, 200, _etag(activity)


@blp.route("/<activity_id>", methods=["PATCH"], endpoint="update_activity")
@blp.arguments(ActivityPatch)
@blp.response(200, ActivityOut)
def update_activity(body, activity_id):
    """Change an activity; needs ``If-Match: "<version>"``.  ``participants`` sets the sectors it
    names and keeps the others."""
    activity = services.read_activity(activity_id) or abort(404)
    services.update_activity(activity, body, expected_version=expected_version())
    return activity, 200, _etag(activity)
