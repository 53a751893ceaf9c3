"""``/api/v1/cases``: the current center's cases (staff and center admins)."""
from __future__ import annotations

from flask import abort
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields, validate

from ...platform.extensions import db
from ...tenants.cases import services
from ...tenants.cases.models import CASE_TYPES
from ...tenants.cases.schemas import CaseCreate, CaseList, CaseOut, CasePatch
from .common import PageArgs, expected_version

blp = Blueprint("api_cases", __name__, url_prefix="/api/v1/cases", description="Cases of the caller's center")


class CaseListArgs(PageArgs):
    case_type = fields.String(load_default=None, validate=validate.OneOf(CASE_TYPES))
    status = fields.String(load_default=None, validate=validate.Length(max=32))


@blp.route("", methods=["GET"], endpoint="list_cases")
@blp.arguments(CaseListArgs, location="query")
@blp.response(200, CaseList)
def list_cases(args):
    """The center's cases, newest first (cursor pagination)."""
    items, next_cursor = services.list_cases(**args)
    db.session.commit()
    return {"items": items, "next_cursor": next_cursor}


@blp.route("", methods=["POST"], endpoint="create_case")
@blp.arguments(CaseCreate)
@blp.response(201, CaseOut)
def create_case(body):
    """Open a case for a new or an existing person."""
    case = services.create_case(body, created_by=current_user)
    db.session.commit()
    return case, 201, {"ETag": f'"{case.version}"'}


@blp.route("/<case_id>", methods=["GET"], endpoint="get_case")
@blp.response(200, CaseOut)
def get_case(case_id):
    """One case (the read is audited)."""
    case = services.read_case(case_id) or abort(404)
    db.session.commit()
    return case, 200, {"ETag": f'"{case.version}"'}


@blp.route("/<case_id>", methods=["PATCH"], endpoint="update_case")
@blp.arguments(CasePatch)
@blp.response(200, CaseOut)
def update_case(body, case_id):
    """Change a case's fields (not its status); needs ``If-Match: "<version>"``."""
    case = services.read_case(case_id) or abort(404)
    services.update_case(case, body, expected_version=expected_version())
    db.session.commit()
    return case, 200, {"ETag": f'"{case.version}"'}
