"""``/api/v1/cases``: the current center's cases (staff and center admins)."""
from __future__ import annotations

from flask import abort
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields, validate

from ...platform.validation import StrictSchema
from ...tenants.cases import services
from ...tenants.cases.lifecycle import CASE_TYPES, allowed_next
from ...tenants.cases.schemas import (
    CaseCreate, CaseDetailOut, CaseList, CaseOut, CasePatch, EligibilityIn, NeedOut, NeedPatch, OverrideIn,
    PreReleaseList, SearchIn, TransitionIn,
)
from ...tenants.persons.services import find_people
from .common import PageArgs, expected_version

blp = Blueprint("api_cases", __name__, url_prefix="/api/v1", description="Cases of the caller's center")


class CaseListArgs(PageArgs):
    case_type = fields.String(load_default=None, validate=validate.OneOf(CASE_TYPES))
    status = fields.String(load_default=None, validate=validate.Length(max=32))


class PreReleaseArgs(StrictSchema):
    within_days = fields.Integer(load_default=30, validate=validate.Range(min=0, max=365))


class PersonSearchIn(StrictSchema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=50))


class PersonHit(StrictSchema):
    id = fields.UUID()
    family_name = fields.String()
    given_name = fields.String()
    family_name_kana = fields.String()
    given_name_kana = fields.String()
    birth_date = fields.Date()


class PersonHits(StrictSchema):
    items = fields.List(fields.Nested(PersonHit))
    next_cursor = fields.String(allow_none=True)


def _detail(case):
    case.allowed_transitions = list(allowed_next(case.case_type, case.status))
    return case, 200, {"ETag": f'"{case.version}"'}


def _load(case_id):
    return services.read_case(case_id) or abort(404)


@blp.route("/cases", methods=["GET"], endpoint="list_cases")
@blp.arguments(CaseListArgs, location="query")
@blp.response(200, CaseList)
def list_cases(args):
    """The center's cases, newest first (cursor pagination)."""
    items, next_cursor = services.list_cases(**args)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/cases/search", methods=["POST"], endpoint="search_cases")
@blp.arguments(SearchIn)
@blp.response(200, CaseList)
def search_cases(criteria):
    """Search by name or kana (hiragana = katakana), case number, status, type, staff, dates.
    The criteria are in the body so that no name appears in a URL or a log."""
    items, next_cursor = services.search_cases(**criteria)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/cases/pre-release", methods=["GET"], endpoint="pre_release")
@blp.arguments(PreReleaseArgs, location="query")
@blp.response(200, PreReleaseList)
def pre_release(args):
    """People releasing within N days, soonest first, with their open needs."""
    items = services.pre_release(args["within_days"])
    return {"items": items, "next_cursor": None}


@blp.route("/persons/search", methods=["POST"], endpoint="search_persons")
@blp.arguments(PersonSearchIn)
@blp.response(200, PersonHits)
def search_persons(body):
    """Existing people matching a name or kana: check before registering someone again."""
    people = find_people(body["q"])
    return {"items": people, "next_cursor": None}


@blp.route("/cases", methods=["POST"], endpoint="create_case")
@blp.arguments(CaseCreate)
@blp.response(201, CaseOut)
def create_case(body):
    """Open a case for a new or an existing person."""
    case = services.create_case(body, created_by=current_user)
    return case, 201, {"ETag": f'"{case.version}"'}


@blp.route("/cases/<case_id>", methods=["GET"], endpoint="get_case")
@blp.response(200, CaseDetailOut)
def get_case(case_id):
    """One case with its needs and the statuses it may move to (the read is audited)."""
    case = _load(case_id)
    return _detail(case)


@blp.route("/cases/<case_id>", methods=["PATCH"], endpoint="update_case")
@blp.arguments(CasePatch)
@blp.response(200, CaseDetailOut)
def update_case(body, case_id):
    """Change a case's fields (not its status); needs ``If-Match: "<version>"``."""
    case = _load(case_id)
    services.update_case(case, body, expected_version=expected_version())
    return _detail(case)


@blp.route("/cases/<case_id>/transitions", methods=["POST"], endpoint="transition_case")
@blp.arguments(TransitionIn)
@blp.response(200, CaseDetailOut)
def transition_case(body, case_id):
    """Move the case to a next status (409 ``invalid_state`` when not allowed)."""
    case = _load(case_id)
    services.transition_case(case, body["to_status"], expected_version=expected_version(),
                             closing=body.get("closing"), released_on=body.get("released_on"))
    return _detail(case)


@blp.route("/cases/<case_id>/follow-up", methods=["POST"], endpoint="open_follow_up")
@blp.response(201, CaseDetailOut)
def open_follow_up(case_id):
    """Open the FU case of a released case in one step, linked to it."""
    case = _load(case_id)
    follow_up = services.open_follow_up(case, expected_version=expected_version(), created_by=current_user)
    follow_up.allowed_transitions = list(allowed_next(follow_up.case_type, follow_up.status))
    return follow_up, 201, {"ETag": f'"{follow_up.version}"'}


@blp.route("/cases/<case_id>/eligibility", methods=["PUT"], endpoint="set_eligibility")
@blp.arguments(EligibilityIn)
@blp.response(200, CaseDetailOut)
def set_eligibility(body, case_id):
    """Record the 特別調整 eligibility checklist of a CO case."""
    case = _load(case_id)
    services.set_eligibility(case, body, expected_version=expected_version())
    return _detail(case)


@blp.route("/cases/<case_id>/eligibility/override", methods=["POST"], endpoint="override_eligibility")
@blp.arguments(OverrideIn)
@blp.response(200, CaseDetailOut)
def override_eligibility(body, case_id):
    """A center admin lets the case proceed with unmet conditions, recording why."""
    case = _load(case_id)
    services.override_eligibility(case, body["reason"], actor=current_user, expected_version=expected_version())
    return _detail(case)


@blp.route("/cases/<case_id>/needs/<need_id>", methods=["PATCH"], endpoint="update_need")
@blp.arguments(NeedPatch)
@blp.response(200, NeedOut)
def update_need(body, case_id, need_id):
    """Change a need's status, who is responsible, or its note (``If-Match`` on the need)."""
    case = _load(case_id)
    need = services.get_need(case, need_id) or abort(404)
    services.update_need(case, need, body, expected_version=expected_version())
    return need, 200, {"ETag": f'"{need.version}"'}
