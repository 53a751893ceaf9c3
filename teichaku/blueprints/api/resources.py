"""``/api/v1/resources``: the current center's local resources directory (社会資源)."""
from __future__ import annotations

from flask import abort
from flask_smorest import Blueprint

from ...tenants.resources import services
from ...tenants.resources.schemas import ResourceFilter, ResourceIn, ResourceList, ResourceOut, ResourcePatch
from .common import PageArgs, expected_version

blp = Blueprint("api_resources", __name__, url_prefix="/api/v1/resources",
                description="The caller's center's directory of partner organisations (社会資源)")


class ResourceListArgs(PageArgs, ResourceFilter):
    """Cursor pagination plus the directory's filters."""


@blp.route("", methods=["GET"], endpoint="list_resources")
@blp.arguments(ResourceListArgs, location="query")
@blp.response(200, ResourceList)
def list_resources(args):
    """The directory, newest first (cursor pagination), filtered."""
    items, next_cursor = services.list_resources(**args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("", methods=["POST"], endpoint="create_resource")
@blp.arguments(ResourceIn)
@blp.response(201, ResourceOut)
def create_resource(body):
    """Add a partner organisation with its contacts."""
    resource = services.create_resource(body)
    return resource, 201, {"ETag": f'"{resource.version}"'}


@blp.route("/<resource_id>", methods=["GET"], endpoint="get_resource")
@blp.response(200, ResourceOut)
def get_resource(resource_id):
    """One resource of the caller's center (another center's answers 404)."""
    resource = services.get_resource(resource_id) or abort(404)
    return resource, 200, {"ETag": f'"{resource.version}"'}


@blp.route("/<resource_id>", methods=["PATCH"], endpoint="update_resource")
@blp.arguments(ResourcePatch)
@blp.response(200, ResourceOut)
def update_resource(body, resource_id):
    """Change a resource; ``contacts`` replaces the list.  Needs ``If-Match: "<version>"``."""
    resource = services.get_resource(resource_id) or abort(404)
    services.update_resource(resource, body, expected_version=expected_version())
    return resource, 200, {"ETag": f'"{resource.version}"'}
