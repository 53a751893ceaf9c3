"""``/api/v1/centers``: the 48 centers (a reference list every signed-in role may read)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields

from ...platform.centers import list_centers
from ...platform.validation import StrictSchema

blp = Blueprint("api_centers", __name__, url_prefix="/api/v1", description="Centers")


class CenterSchema(StrictSchema):
    code = fields.String()
    name = fields.String()
    prefecture_code = fields.String()
    prefecture_name = fields.String()
    region = fields.String()


class CenterList(StrictSchema):
    items = fields.List(fields.Nested(CenterSchema))
    next_cursor = fields.String(allow_none=True)


@blp.route("/centers", methods=["GET"], endpoint="list_centers")
@blp.response(200, CenterList)
def centers():
    """All 48 centers in one page."""
    return {"items": [c.as_contract() for c in list_centers()], "next_cursor": None}
