"""``/api/v1/transfer-pulls``: the destination center's pull request (広域調整の開始依頼).

The center where the person will live asks the facility's center to start a transfer; each
center sees its own side under the pull's one ``id`` (the same for both centers, carried as
``pull_id`` by notifications).  The asked center confirms by
``POST /api/v1/transfers`` with ``"pull_id"``, or refuses here with a comment; the asking center
may cancel while the pull is open.  A second open pull for the same case and center, and an
illegal state change, are 409 ``invalid_state``.
"""
from __future__ import annotations

from flask import abort
from flask_login import current_user
from flask_smorest import Blueprint

from ...crosstenant.transfers import pulls
from ...crosstenant.transfers.schemas import PullCreate, PullList, PullListArgs, PullOut, PullRefuseIn
from ...platform.centers import center_by_code
from ...tenants.cases.services import read_case

blp = Blueprint("api_transfer_pulls", __name__, url_prefix="/api/v1",
                description="Pull requests (広域調整の開始依頼): the destination center asks the facility's center "
                            "to start a transfer")


def _view(row, status: int = 200, *, with_candidates: bool = False):
    return pulls.pull_view(row, with_candidates=with_candidates), status, {"ETag": f'"{row.version}"'}


@blp.route("/transfer-pulls", methods=["GET"], endpoint="list_pulls")
@blp.arguments(PullListArgs, location="query")
@blp.response(200, PullList)
def list_pulls(args):
    """The center's own pull requests (sent: ``side=asking``; received: ``side=asked``), newest first."""
    rows, next_cursor = pulls.list_pulls(limit=args["limit"], cursor=args["cursor"], side=args["side"],
                                         status=args["status"])
    items = [pulls.pull_view(r) for r in rows]
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/transfer-pulls", methods=["POST"], endpoint="create_pull")
@blp.arguments(PullCreate)
@blp.response(201, PullOut)
def create_pull(body):
    """From one of the center's cases, ask the facility's center to start a transfer: the person's
    consent, a message and the minimum identity travel (the provision is recorded)."""
    case = read_case(body["case_id"]) or abort(404)
    row = pulls.request_pull(case, center_by_code(body["to_center"]), body["consent"], body["message"], current_user)
    return _view(row, 201)


@blp.route("/transfer-pulls/<pull_id>", methods=["GET"], endpoint="get_pull")
@blp.response(200, PullOut)
def get_pull(pull_id):
    """One pull request, the caller's own side; on the asked side while open, the center's own
    people who may be the person (``candidates``, matched by birth date, name and kana)."""
    row = pulls.read_pull(pull_id)
    response = _view(row, with_candidates=row.side == "asked")
    return response


@blp.route("/transfer-pulls/<pull_id>/refuse", methods=["POST"], endpoint="refuse_pull")
@blp.arguments(PullRefuseIn)
@blp.response(200, PullOut)
def refuse_pull(body, pull_id):
    """The asked center refuses with a comment (the asking center is notified)."""
    row = pulls.refuse_pull(pulls.get_pull_or_404(pull_id), body["comment"], current_user)
    return _view(row)


@blp.route("/transfer-pulls/<pull_id>/cancel", methods=["POST"], endpoint="cancel_pull")
@blp.response(200, PullOut)
def cancel_pull(pull_id):
    """The asking center cancels a pull still open (the asked center is notified)."""
    row = pulls.cancel_pull(pulls.get_pull_or_404(pull_id), current_user)
    return _view(row)
