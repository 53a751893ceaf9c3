"""``/api/v1/transfers``: wide-area coordination (広域調整) between centers.

A transfer has one ``id`` (the group's), the same for the requesting center, the receiving
center and the association, accepted by every ``/transfers/<id>...`` endpoint and carried as
``transfer_id`` by notifications; each center sees its own side under it (after a reassignment,
the center it was taken from its own closed side), the association metadata only, and may remind
and reassign.  ``number`` is its human-readable number (広域-R8-0012).  Illegal state changes and a second open request are 409 ``invalid_state``.
"""
from __future__ import annotations

from flask import Response, abort, request
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import ValidationError

from ...crosstenant.transfers import deadlines, groups, lists, oversight, threads, workflow
from ...crosstenant.transfers import provision_records as provisions
from ...crosstenant.transfers.attachments import MAX_FILES as MAX_ATTACHMENTS
from ...crosstenant.transfers.schemas import (
    AcceptIn, DeclineIn, FormatArgs, MessageIn, MessageList, MessageOut, ProvisionList, ReassignIn, ReportArgs, ReportOut,
    TransferCreate, TransferList, TransferListArgs, TransferOut,
)
from ...platform import csv_export
from ...platform.centers import center_by_code
from ...platform.errors import ValidationFailed
from ...platform.permissions import can
from ...tenants.cases.services import read_case
from .common import PageArgs
from .records import attachment

blp = Blueprint("api_transfers", __name__, url_prefix="/api/v1",
                description="Transfers between centers (広域調整): each center its own side; the association metadata only")


def _oversees() -> bool:
    return can(current_user.role, "transfer.oversee")


def _view(row, status: int = 200):
    return lists.center_view(row), status, {"ETag": f'"{row.version}"'}


@blp.route("/transfers", methods=["GET"], endpoint="list_transfers")
@blp.arguments(TransferListArgs, location="query")
@blp.response(200, TransferList)
def list_transfers(args):
    """The caller's transfers, newest first: a center's own rows (both sides), or, for the
    association, every sent request as metadata (``overdue=true``: only those past a deadline)."""
    if _oversees():
        items, next_cursor = oversight.oversight_list(limit=args["limit"], cursor=args["cursor"], status=args["status"],
                                                     overdue_only=args["overdue"])
    else:
        rows, next_cursor = lists.list_transfers(limit=args["limit"], cursor=args["cursor"], side=args["side"],
                                                    status=args["status"])
        items = [lists.center_view(r) for r in rows]
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/transfers", methods=["POST"], endpoint="create_transfer")
@blp.arguments(TransferCreate)
@blp.response(201, TransferOut)
def create_transfer(body):
    """Ask another center to take a case on: ``requested`` (or ``awaiting_approval`` where the
    center head must approve).  The minimum identity and only the chosen package items travel.
    With ``pull_id``, the request answers that center's pull request (開始依頼), which becomes
    ``confirmed``."""
    case = read_case(body["case_id"]) or abort(404)
    row = workflow.request_transfer(case, center_by_code(body["to_center"]), body["consent"], body["message"],
                                    body.get("package"), current_user, pull_id=body.get("pull_id"))
    return _view(row, 201)


@blp.route("/transfers/report", methods=["GET"], endpoint="compliance_report")
@blp.arguments(ReportArgs, location="query")
@blp.response(200, ReportOut)
def compliance_report(args):
    """The association's yearly figures per center: answered within the deadline, median days to
    answer, requests open past the release date (``format=csv``: UTF-8 with BOM, CRLF)."""
    report = oversight.compliance_report(args["fiscal_year"])
    if args["format"] == "csv":
        return Response(oversight.compliance_report_csv(report), mimetype=csv_export.MIMETYPE, headers={
            "Content-Disposition": f'attachment; filename="transfers-FY{args["fiscal_year"]}.csv"'})
    return report


@blp.route("/transfers/provisions", methods=["GET"], endpoint="provision_records")
@blp.arguments(FormatArgs, location="query")
@blp.response(200, ProvisionList)
def provision_records(args):
    """The center's records of provision to a third party (APPI 第三者提供記録), newest first;
    ``format=csv`` exports them all (the export is audited)."""
    if args["format"] == "csv":
        content = provisions.export_provision_records()
        return Response(content, mimetype=csv_export.MIMETYPE,
                        headers={"Content-Disposition": 'attachment; filename="provision-records.csv"'})
    items, next_cursor = provisions.provision_records(limit=args["limit"], cursor=args["cursor"])
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/transfers/<transfer_id>", methods=["GET"], endpoint="get_transfer")
@blp.response(200, TransferOut)
def get_transfer(transfer_id):
    """One transfer: the caller's own side, or the association's metadata (the read is audited)."""
    if _oversees():
        meta = oversight.oversight_detail(transfer_id)
        return meta
    row = groups.read_transfer(transfer_id)
    return _view(row)


def _act(transfer_id, action):
    row = groups.get_transfer_or_404(transfer_id)
    row = action(row)
    return _view(row)


@blp.route("/transfers/<transfer_id>/accept", methods=["POST"], endpoint="accept_transfer")
@blp.arguments(AcceptIn)
@blp.response(200, TransferOut)
def accept_transfer(body, transfer_id):
    """The receiving center accepts: its case is made for the existing person ``person_id`` of
    its own records (optional: one whose birth date and name or kana match the identity
    received), or for a new person made from the identity received; the chosen items are copied
    into it; answers ``status: accepted`` and ``receiving_case_id``."""
    return _act(transfer_id, lambda row: workflow.accept_transfer(row, current_user, person_id=body.get("person_id")))


@blp.route("/transfers/<transfer_id>/decline", methods=["POST"], endpoint="decline_transfer")
@blp.arguments(DeclineIn)
@blp.response(200, TransferOut)
def decline_transfer(body, transfer_id):
    """The receiving center declines with a reason code (and a comment)."""
    return _act(transfer_id, lambda row: workflow.decline_transfer(row, body["reason"], body.get("comment"), current_user))


@blp.route("/transfers/<transfer_id>/withdraw", methods=["POST"], endpoint="withdraw_transfer")
@blp.response(200, TransferOut)
def withdraw_transfer(transfer_id):
    """The requesting center withdraws a request not yet answered."""
    return _act(transfer_id, lambda row: workflow.withdraw_transfer(row, current_user))


@blp.route("/transfers/<transfer_id>/approve", methods=["POST"], endpoint="approve_transfer")
@blp.response(200, TransferOut)
def approve_transfer(transfer_id):
    """The center head approves a request awaiting approval: it is sent now."""
    return _act(transfer_id, lambda row: workflow.approve_transfer(row, current_user))


@blp.route("/transfers/<transfer_id>/complete", methods=["POST"], endpoint="complete_transfer")
@blp.response(200, TransferOut)
def complete_transfer(transfer_id):
    """The receiving center closes its side once the coordination is done."""
    return _act(transfer_id, lambda row: workflow.complete_transfer(row, current_user))


@blp.route("/transfers/<transfer_id>/messages", methods=["GET"], endpoint="list_messages")
@blp.arguments(PageArgs, location="query")
@blp.response(200, MessageList)
def list_messages(args, transfer_id):
    """The thread between the two centers, newest first (each center reads its own copy)."""
    row = groups.get_transfer_or_404(transfer_id)
    items, next_cursor = threads.list_messages(row, limit=args["limit"], cursor=args["cursor"])
    files = threads.message_attachments(items)
    return {"items": [threads.message_view(m, files[m.id]) for m in items], "next_cursor": next_cursor}


MESSAGE_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "required": ["body"], "additionalProperties": False,
                                        "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 4000}}}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["body"],
            "properties": {
                "body": {"type": "string", "minLength": 1, "maxLength": 4000},
                "files": {"type": "array", "maxItems": MAX_ATTACHMENTS, "items": {"type": "string", "format": "binary"},
                          "description": "PDF, PNG, JPEG, DOCX, XLSX or UTF-8 text, checked by content; "
                                         "each at most DOCUMENT_MAX_MB"},
            },
        }},
    },
}


def _message_input() -> tuple[str, list]:
    """The message's text and files: JSON ``{"body"}``, or ``multipart/form-data`` with ``body``
    and ``files`` parts (at most ``MAX_ATTACHMENTS``).  Unknown fields are a 422."""
    if request.mimetype != "multipart/form-data":
        data = request.get_json(silent=not request.is_json)
        return _load_message(data if data is not None else {}), []
    errors = {name: ["不明な項目です。"] for name in request.files if name != "files"}
    try:
        text = _load_message(request.form.to_dict(flat=True))
    except ValidationFailed as exc:
        errors, text = {**exc.details["fields"], **errors}, ""
    if errors:
        raise ValidationFailed("入力内容に誤りがあります。", fields=errors)
    return text, [(f.stream, f.filename) for f in request.files.getlist("files") if f.filename]


def _load_message(data) -> str:
    try:
        return MessageIn().load(data)["body"]
    except ValidationError as exc:
        fields = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed("入力内容に誤りがあります。", fields=fields) from exc


@blp.route("/transfers/<transfer_id>/messages", methods=["POST"], endpoint="post_message")
@blp.doc(requestBody=MESSAGE_BODY)
@blp.response(201, MessageOut)
def post_message(transfer_id):
    """A message to the other center (it is notified), as JSON, or as ``multipart/form-data``
    with files attached (``files``): each center gets its own copy of each file, and the files
    sent are recorded as a provision (第三者提供記録) in this center.  A file refused by the size
    or type checks is a 422 (``files``) and nothing is written.  409 ``invalid_state`` on a
    closed thread (awaiting approval; declined, withdrawn or reassigned away) and for files sent
    by the receiving center before it accepts (it has no case to record the provision with)."""
    row = groups.get_transfer_or_404(transfer_id)
    text, files = _message_input()
    message = threads.post_message(row, text, current_user, files=files)
    return threads.message_view(message), 201


@blp.route("/transfers/<transfer_id>/attachments/<attachment_id>", methods=["GET"], endpoint="get_attachment")
@blp.doc(responses={"200": {"description": "The file (attachment; the download is audited)",
                            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
def get_attachment(transfer_id, attachment_id):
    """A file of the thread: this center's own copy only (another center's answers 404), as an
    attachment (``nosniff``, ``no-store``); the download is audited."""
    row = groups.get_transfer_or_404(transfer_id)
    copy, data = threads.download_attachment(row, attachment_id)
    return attachment(copy, data)


@blp.route("/transfers/<transfer_id>/updates", methods=["POST"], endpoint="share_update")
@blp.arguments(MessageIn)
@blp.response(201, MessageOut)
def share_update(body, transfer_id):
    """After acceptance, the sending center shares an update: it reaches the receiving center's
    thread and case (as a progress note), and the receiving center is notified."""
    row = groups.get_transfer_or_404(transfer_id)
    message = threads.share_update(row, body["body"], current_user)
    return threads.message_view(message), 201


@blp.route("/transfers/<transfer_id>/reassign", methods=["POST"], endpoint="reassign_transfer")
@blp.arguments(ReassignIn)
@blp.response(200, TransferOut)
def reassign_transfer(body, transfer_id):
    """The association moves an unanswered or declined request to another center."""
    workflow.reassign_transfer(transfer_id, center_by_code(body["to_center"]), current_user)
    meta = oversight.oversight_detail(transfer_id)
    return meta


@blp.route("/transfers/<transfer_id>/remind", methods=["POST"], endpoint="remind_transfer")
@blp.response(200, TransferOut)
def remind_transfer(transfer_id):
    """The association reminds the receiving center of a request still unanswered."""
    deadlines.remind_transfer(transfer_id, current_user)
    meta = oversight.oversight_detail(transfer_id)
    return meta
