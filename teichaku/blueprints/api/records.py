"""``/api/v1/cases/<case_id>/records|documents|plans``: records and plans on a case.

The case is loaded first (another center's case answers exactly like a missing one), then the
record, document or plan inside it.  Reads and changes are audited by the services.
"""
from __future__ import annotations

import io

from flask import Response, request, send_file
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, validate

from ...platform.errors import ValidationFailed
from ...tenants.records import services
from ...tenants.records.lifecycle import DOCUMENT_KINDS, RECORD_KINDS
from ...tenants.records.schemas import (DocumentList, DocumentOut, DocumentUploadIn, PlanCreate, PlanDetail, PlanList,
                                        PlanOut, RecordCreate, RecordList, RecordOut, RecordPatch, RevisionCreate,
                                        RevisionOut)
from .common import PageArgs, expected_version

blp = Blueprint("api_records", __name__, url_prefix="/api/v1/cases",
                description="Records, documents and coordination plans on a case of the caller's center")


def _etag(version: int) -> dict:
    return {"ETag": f'"{version}"'}


# --- records -----------------------------------------------------------------------------------

class RecordListArgs(PageArgs):
    kind = fields.String(load_default=None, validate=validate.OneOf(RECORD_KINDS))


@blp.route("/<case_id>/records", methods=["GET"], endpoint="list_records")
@blp.arguments(RecordListArgs, location="query")
@blp.response(200, RecordList)
def list_records(args, case_id):
    """The case's records (assessments, interview records, progress notes), newest first."""
    case = services.load_case(case_id)
    items, next_cursor = services.list_records(case, **args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/<case_id>/records", methods=["POST"], endpoint="create_record")
@blp.arguments(RecordCreate)
@blp.response(201, RecordOut)
def create_record(body, case_id):
    """Add a record: ``assessment`` (``sections``), ``interview`` (``recorded_on``, ``place``,
    ``participants``, ``content``) or ``progress`` (``recorded_on``, ``content``)."""
    case = services.load_case(case_id)
    rec = services.create_record(case, body, author=current_user)
    return rec, 201, _etag(rec.version)


@blp.route("/<case_id>/records/<record_id>", methods=["GET"], endpoint="get_record")
@blp.response(200, RecordOut)
def get_record(case_id, record_id):
    """One record (the read is audited); ``ETag`` carries its version."""
    case = services.load_case(case_id)
    rec = services.read_record(case, record_id)
    return rec, 200, _etag(rec.version)


@blp.route("/<case_id>/records/<record_id>", methods=["PATCH"], endpoint="update_record")
@blp.arguments(RecordPatch)
@blp.response(200, RecordOut)
def update_record(body, case_id, record_id):
    """Change a record; needs ``If-Match: "<version>"`` (a stale version is a 409 ``version_conflict``)."""
    case = services.load_case(case_id)
    rec = services.get_record(case, record_id)
    services.update_record(case, rec, body, expected_version=expected_version(), editor=current_user)
    return rec, 200, _etag(rec.version)


# --- documents ---------------------------------------------------------------------------------

UPLOAD_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "kind"],
        "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "PDF, PNG, JPEG, DOCX, XLSX or UTF-8 text, checked by content; at most DOCUMENT_MAX_MB"},
            "kind": {"type": "string", "enum": list(DOCUMENT_KINDS)},
            "note": {"type": "string", "maxLength": 500},
        },
    }}},
}


@blp.route("/<case_id>/documents", methods=["GET"], endpoint="list_documents")
@blp.arguments(PageArgs, location="query")
@blp.response(200, DocumentList)
def list_documents(args, case_id):
    """The case's documents (metadata), newest first."""
    case = services.load_case(case_id)
    items, next_cursor = services.list_documents(case, **args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/<case_id>/documents", methods=["POST"], endpoint="upload_document")
@blp.doc(requestBody=UPLOAD_BODY)
@blp.response(201, DocumentOut)
def upload_document(case_id):
    """Upload a document (``multipart/form-data``).  The type is detected from the content, not
    the name: a file whose content does not match its extension is refused (422, ``file``)."""
    case = services.load_case(case_id)  # before the form: another center's case is a plain 404
    try:
        form = DocumentUploadIn().load(request.form.to_dict(flat=True))
    except ValidationError as exc:
        form, errors = None, dict(exc.messages)
    else:
        errors = {}
    files = request.files.getlist("file")
    if len(files) != 1 or not files[0].filename:
        errors["file"] = ["ファイルを1つ選んでください。"]
    for name in request.files:
        if name != "file":
            errors[name] = ["不明な項目です。"]
    if errors:
        raise ValidationFailed("入力内容に誤りがあります。", fields=errors)
    doc = services.upload_document(case, stream=files[0].stream, filename=files[0].filename, kind=form["kind"],
                                   note=form.get("note"), uploader=current_user)
    return doc, 201


@blp.route("/<case_id>/documents/<document_id>", methods=["GET"], endpoint="get_document")
@blp.response(200, DocumentOut)
def get_document(case_id, document_id):
    """One document's metadata (the read is audited)."""
    case = services.load_case(case_id)
    doc = services.read_document(case, document_id)
    return doc


@blp.route("/<case_id>/documents/<document_id>/content", methods=["GET"], endpoint="get_document_content")
@blp.doc(responses={"200": {"description": "The file (attachment; the download is audited)",
                            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
def get_document_content(case_id, document_id):
    """The document's bytes, as an attachment (``nosniff``, ``no-store``); the download is audited."""
    case = services.load_case(case_id)
    doc, data = services.download_document(case, document_id)
    return attachment(doc, data)


def attachment(doc, data: bytes) -> Response:
    """A download answer: an attachment under the sanitized name (RFC 6266 / 5987), never sniffed,
    never cached, and sandboxed should a browser render it anyway."""
    response = send_file(io.BytesIO(data), mimetype=doc.content_type, as_attachment=True, download_name=doc.filename,
                         conditional=False, etag=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- coordination plans ----------------------------------------------------------------------------

@blp.route("/<case_id>/plans", methods=["GET"], endpoint="list_plans")
@blp.arguments(PageArgs, location="query")
@blp.response(200, PlanList)
def list_plans(args, case_id):
    """The case's coordination plans (福祉サービス等調整計画), newest first."""
    case = services.load_case(case_id)
    items, next_cursor = services.list_plans(case, **args)
    return {"items": items, "next_cursor": next_cursor}


def _revision_out(rev) -> dict:
    return {"plan_id": rev.plan_id, "revision": rev.revision, "content": services.content_out(rev.content),
            "author_id": rev.author_id, "created_at": rev.created_at}


def _plan_detail(plan, latest, revisions) -> dict:
    out = {key: getattr(plan, key) for key in PlanOut().fields}
    out["revisions"] = [{"revision": r.revision, "author_id": r.author_id, "created_at": r.created_at} for r in revisions]
    out["latest"] = _revision_out(latest)
    return out


@blp.route("/<case_id>/plans", methods=["POST"], endpoint="create_plan")
@blp.arguments(PlanCreate)
@blp.response(201, PlanDetail)
def create_plan(body, case_id):
    """Start a coordination plan with its first revision."""
    case = services.load_case(case_id)
    plan, rev = services.create_plan(case, body, author=current_user)
    return _plan_detail(plan, rev, [rev]), 201


@blp.route("/<case_id>/plans/<plan_id>", methods=["GET"], endpoint="get_plan")
@blp.response(200, PlanDetail)
def get_plan(case_id, plan_id):
    """A plan with its list of revisions and the latest revision's content (the read is audited)."""
    case = services.load_case(case_id)
    plan, latest = services.read_plan(case, plan_id)
    revisions = services.revisions_of(plan)
    return _plan_detail(plan, latest, revisions)


@blp.route("/<case_id>/plans/<plan_id>/revisions", methods=["POST"], endpoint="create_revision")
@blp.arguments(RevisionCreate)
@blp.response(201, RevisionOut)
def create_revision(body, case_id, plan_id):
    """Revise a plan: adds the next revision (old ones are never changed).  ``base_revision`` must be
    the latest revision, or the answer is 409 ``version_conflict``."""
    case = services.load_case(case_id)
    plan = services.get_plan(case, plan_id)
    rev = services.revise_plan(case, plan, body["content"], base_revision=body["base_revision"], author=current_user)
    return _revision_out(rev), 201


@blp.route("/<case_id>/plans/<plan_id>/revisions/<revision_no>", methods=["GET"], endpoint="get_revision")
@blp.response(200, RevisionOut)
def get_revision(case_id, plan_id, revision_no):
    """One revision of a plan (the read is audited)."""
    case = services.load_case(case_id)
    _plan, rev = services.read_plan(case, plan_id, revision_no)
    return _revision_out(rev)
