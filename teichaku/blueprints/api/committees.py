"""``/api/v1/committee``: the center's review committee (検討委員会).

Members, meetings (with attendees and agenda items), the advice recorded per agenda item and
what was done with it, and a case's review history.  Reading needs ``case.read``, changing
``case.write`` (committee material concerns persons).  Edits take ``If-Match: "<version>"``.
"""
from __future__ import annotations

from flask import abort
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields

from ...tenants.committees import services
from ...tenants.committees.schemas import (
    CommitteeAdviceIn, CommitteeAgendaItemCreate, CommitteeAgendaItemOut, CommitteeAgendaItemPatch,
    CommitteeFollowUpIn, CommitteeMeetingCreate, CommitteeMeetingList, CommitteeMeetingOut, CommitteeMeetingPatch,
    CommitteeMemberCreate, CommitteeMemberList, CommitteeMemberOut, CommitteeMemberPatch, CommitteeReviewHistory,
)
from .common import PageArgs, expected_version

blp = Blueprint("api_committees", __name__, url_prefix="/api/v1/committee",
                description="The center's review committee (検討委員会): members, meetings, agenda items, advice")


def _etag(obj) -> dict:
    return {"ETag": f'"{obj.version}"'}


# --- members ---------------------------------------------------------------------------------

class CommitteeMemberListArgs(PageArgs):
    active = fields.Boolean(load_default=None)


@blp.route("/members", methods=["GET"], endpoint="list_members")
@blp.arguments(CommitteeMemberListArgs, location="query")
@blp.response(200, CommitteeMemberList)
def list_members(args):
    """The committee's members, newest first (``?active=true`` for those serving now)."""
    items, next_cursor = services.list_members(**args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/members", methods=["POST"], endpoint="create_member")
@blp.arguments(CommitteeMemberCreate)
@blp.response(201, CommitteeMemberOut)
def create_member(body):
    """Add a member (an outside expert; ``observer`` for オブザーバー)."""
    member = services.create_member(body)
    return member, 201, _etag(member)


@blp.route("/members/<committee_member_id>", methods=["GET"], endpoint="get_member")
@blp.response(200, CommitteeMemberOut)
def get_member(committee_member_id):
    member = services.get_member(committee_member_id) or abort(404)
    return member, 200, _etag(member)


@blp.route("/members/<committee_member_id>", methods=["PATCH"], endpoint="update_member")
@blp.arguments(CommitteeMemberPatch)
@blp.response(200, CommitteeMemberOut)
def update_member(body, committee_member_id):
    """Change a member (``active: false`` when they leave the committee); needs ``If-Match``."""
    member = services.get_member(committee_member_id) or abort(404)
    services.update_member(member, body, expected_version=expected_version())
    return member, 200, _etag(member)


# --- meetings --------------------------------------------------------------------------------

def _meeting_out(meeting, attendees, items) -> dict:
    body = {c: getattr(meeting, c) for c in ("id", "held_on", "place", "notes", "version", "created_at", "updated_at")}
    body.update(attendees=attendees, agenda_items=items)
    return body


def _current(meeting) -> dict:
    """The meeting as it stands after a change (the change itself is audited)."""
    return _meeting_out(meeting, services.attendees(meeting), services.agenda(meeting))


@blp.route("/meetings", methods=["GET"], endpoint="list_meetings")
@blp.arguments(PageArgs, location="query")
@blp.response(200, CommitteeMeetingList)
def list_meetings(args):
    """The committee's meetings, latest meeting date first."""
    items, next_cursor = services.list_meetings(**args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/meetings", methods=["POST"], endpoint="create_meeting")
@blp.arguments(CommitteeMeetingCreate)
@blp.response(201, CommitteeMeetingOut)
def create_meeting(body):
    """Plan or record a meeting; ``attendee_ids`` are members of the center."""
    meeting = services.create_meeting(body)
    out = _current(meeting)
    return out, 201, _etag(meeting)


@blp.route("/meetings/<committee_meeting_id>", methods=["GET"], endpoint="get_meeting")
@blp.response(200, CommitteeMeetingOut)
def get_meeting(committee_meeting_id):
    """A meeting with its attendees and agenda items (the read is audited)."""
    meeting, attendees, items = services.read_meeting(committee_meeting_id) or abort(404)
    out = _meeting_out(meeting, attendees, items)
    return out, 200, _etag(meeting)


@blp.route("/meetings/<committee_meeting_id>", methods=["PATCH"], endpoint="update_meeting")
@blp.arguments(CommitteeMeetingPatch)
@blp.response(200, CommitteeMeetingOut)
def update_meeting(body, committee_meeting_id):
    """Change the date, place, minutes or the attendees (the whole list); needs ``If-Match``."""
    meeting = services.get_meeting(committee_meeting_id) or abort(404)
    services.update_meeting(meeting, body, expected_version=expected_version())
    out = _current(meeting)
    return out, 200, _etag(meeting)


@blp.route("/meetings/<committee_meeting_id>/agenda-items", methods=["POST"], endpoint="create_agenda_item")
@blp.arguments(CommitteeAgendaItemCreate)
@blp.response(201, CommitteeAgendaItemOut)
def create_agenda_item(body, committee_meeting_id):
    """Put a case of the center on a meeting's agenda; its round is computed per case."""
    meeting = services.get_meeting(committee_meeting_id) or abort(404)
    item = services.add_agenda_item(meeting, body)
    return item, 201, _etag(item)


# --- agenda items ----------------------------------------------------------------------------

@blp.route("/agenda-items/<committee_item_id>", methods=["GET"], endpoint="get_agenda_item")
@blp.response(200, CommitteeAgendaItemOut)
def get_agenda_item(committee_item_id):
    item = services.read_agenda_item(committee_item_id) or abort(404)
    return item, 200, _etag(item)


@blp.route("/agenda-items/<committee_item_id>", methods=["PATCH"], endpoint="update_agenda_item")
@blp.arguments(CommitteeAgendaItemPatch)
@blp.response(200, CommitteeAgendaItemOut)
def update_agenda_item(body, committee_item_id):
    """Change the question put to the committee; needs ``If-Match``."""
    item = services.get_agenda_item(committee_item_id) or abort(404)
    services.update_agenda_item(item, body, expected_version=expected_version())
    return item, 200, _etag(item)


@blp.route("/agenda-items/<committee_item_id>", methods=["DELETE"], endpoint="delete_agenda_item")
@blp.response(204)
def delete_agenda_item(committee_item_id):
    """Take a case off the agenda (only while no advice is recorded); needs ``If-Match``."""
    item = services.get_agenda_item(committee_item_id) or abort(404)
    services.remove_agenda_item(item, expected_version=expected_version())
    return ""


@blp.route("/agenda-items/<committee_item_id>/advice", methods=["PUT"], endpoint="record_advice")
@blp.arguments(CommitteeAdviceIn)
@blp.response(200, CommitteeAgendaItemOut)
def record_advice(body, committee_item_id):
    """Record or correct the committee's advice (助言); needs ``If-Match``."""
    item = services.get_agenda_item(committee_item_id) or abort(404)
    services.record_advice(item, body["advice"], expected_version=expected_version(), recorded_by=current_user)
    return item, 200, _etag(item)


@blp.route("/agenda-items/<committee_item_id>/follow-up", methods=["PUT"], endpoint="record_follow_up")
@blp.arguments(CommitteeFollowUpIn)
@blp.response(200, CommitteeAgendaItemOut)
def record_follow_up(body, committee_item_id):
    """Record or correct what was done with the advice (対応) and when; needs ``If-Match``."""
    item = services.get_agenda_item(committee_item_id) or abort(404)
    services.record_follow_up(item, body["follow_up"], body["follow_up_on"], expected_version=expected_version())
    return item, 200, _etag(item)


# --- a case's review history -----------------------------------------------------------------

@blp.route("/cases/<case_id>/review-history", methods=["GET"], endpoint="review_history")
@blp.response(200, CommitteeReviewHistory)
def review_history(case_id):
    """Every round the case went before the committee, oldest first (the read is audited)."""
    case, rounds = services.review_history(case_id)
    return {"case_id": case.id, "rounds": rounds}
