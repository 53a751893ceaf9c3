"""``/api/v1/case-studies``: the case-study exchange (事例の共有).

Every reader (staff and center admins of every center, the association; the ministry and the
platform admin only where ``EXCHANGE_READABLE_BY_MINISTRY`` is on) sees the published library;
an author sees its own drafts too.  ``<study_id>`` is the study's id, the same from the first
draft to its latest version.  The association works in its own workspace (``exchange_scope``):
it writes, checks and publishes its studies like a center, with no center shown, and hides or
shows any study, and withdraws single versions.  Publishing with an open PII finding is 422;
publishing with ``If-Match: "<version>"`` of a draft changed since is 409.  Other centers read
only a study's current version (the latest not withdrawn); its author and the association read
every version.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask import request
from flask_login import current_user
from flask_smorest import Blueprint

from ...crosstenant.exchange import authoring, feedback, findings, library, moderation, scope
from ...crosstenant.exchange.schemas import (
    AnswerIn, CaseStudyCreate, CaseStudyList, CaseStudyOut, CaseStudyPatch, DraftOut, GetArgs, HelpfulOut, HideIn,
    ListArgs, QuestionIn, ResolveIn, StudyMessageOut, ThreadList, WithdrawIn,
)
from ...platform.centers import center_by_code
from ...platform.extensions import db
from .common import expected_version

blp = Blueprint("api_case_studies", __name__, url_prefix="/api/v1",
                description="Case-study exchange (事例の共有): anonymised studies shared by every center")


@contextmanager
def _scope() -> Iterator[None]:
    """The caller's author scope.  What was written in it is flushed before it ends: the flush's
    tenant check compares each row with the scope in force, and the request commits only after
    the association's workspace scope is gone."""
    with scope.exchange_scope(current_user):
        yield
        db.session.flush()


def _draft(draft, status: int = 200):
    return authoring.draft_view(draft), status, {"ETag": f'"{draft.version}"'}


@blp.route("/case-studies", methods=["GET"], endpoint="list_case_studies")
@blp.arguments(ListArgs, location="query")
@blp.response(200, CaseStudyList)
def list_case_studies(args):
    """The library, ranked by relevance with ``q`` (Japanese: two-character words, kana or
    kanji), newest first without; ``tag`` (repeatable) keeps studies carrying every tag.  The
    first page of a plain listing starts with the caller's own unpublished drafts."""
    with _scope():
        items, next_cursor = library.library_page(actor=current_user, q=args["q"], tags=args["tag"],
                                                   limit=args["limit"], cursor=args["cursor"])
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/case-studies", methods=["POST"], endpoint="create_case_study")
@blp.arguments(CaseStudyCreate)
@blp.response(201, DraftOut)
def create_case_study(body):
    """A new draft, checked at once: ``pii_findings`` lists what could identify a person
    (offsets in code points, ``end`` exclusive).  ``case_id`` takes the case's type and the
    person's support needs as tags, nothing else."""
    with _scope():
        draft = authoring.create_draft(body, actor=current_user)
        return _draft(draft, 201)


@blp.route("/case-studies/<study_id>", methods=["GET"], endpoint="get_case_study")
@blp.arguments(GetArgs, location="query")
@blp.response(200, CaseStudyOut)
def get_case_study(args, study_id):
    """A published study (``version``: an older version), or the caller's own draft."""
    with _scope():
        view = library.read_case_study(study_id, actor=current_user, version_no=args["version"])
    return view


@blp.route("/case-studies/<study_id>", methods=["PATCH"], endpoint="update_case_study")
@blp.arguments(CaseStudyPatch)
@blp.response(200, DraftOut)
def update_case_study(body, study_id):
    """Edit the draft (``If-Match: "<version>"``); changed text is checked again."""
    with _scope():
        draft = authoring.get_open_draft_or_404(study_id)
        draft = authoring.update_draft(draft, body, expected_version=expected_version(), actor=current_user)
        return _draft(draft)


@blp.route("/case-studies/<study_id>/findings/<finding_id>/resolve", methods=["POST"], endpoint="resolve_finding")
@blp.arguments(ResolveIn)
@blp.response(200, DraftOut)
def resolve_finding(body, study_id, finding_id):
    """``{"action": "replace", "replacement"?}`` (the suggestion by default) or
    ``{"action": "dismiss", "reason"}``; answers the draft with its findings moved."""
    with _scope():
        draft = authoring.get_open_draft_or_404(study_id)
        finding = findings.get_finding(draft, finding_id)
        findings.resolve_finding(draft, finding, body["action"], actor=current_user,
                                 replacement=body.get("replacement"), reason=body.get("reason"))
        return _draft(draft)


IF_MATCH_ON_PUBLISH = {
    "in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
    "description": 'Optional: the draft version the head reviewed, "<version>" (the draft\'s ETag / '
                   '"version"). When given, publishing a draft changed since is refused with 409.'}
PUBLISH_ERRORS = {
    "409": {"description": "``version_conflict``: the draft changed since the version given in If-Match "
                           "(``details.current_version``); or ``invalid_state``: already published"},
    "422": {"description": "``validation_error``: the PII check, run once more on the whole text, has open "
                           "findings (``details.open_findings``); or a malformed If-Match"},
}


def _optional_expected_version() -> int | None:
    """``If-Match`` when the client sends it (honoured like on PATCH), else None: publishing
    without it works as before, so existing clients keep working."""
    return expected_version() if request.headers.get("If-Match") is not None else None


@blp.route("/case-studies/<study_id>/publish", methods=["POST"], endpoint="publish_case_study")
@blp.doc(parameters=[IF_MATCH_ON_PUBLISH], responses=PUBLISH_ERRORS)
@blp.response(200, CaseStudyOut)
def publish_case_study(study_id):
    """The center head approves and publishes (the association for its own studies); 422 while
    a finding is open (the check runs once more on the whole text first, and what it finds is
    kept); with ``If-Match: "<version>"``, 409 when the draft changed since that version."""
    with _scope():
        draft = authoring.get_open_draft_or_404(study_id)
        expected = _optional_expected_version()
        try:
            authoring.publish_draft(draft, actor=current_user, expected_version=expected)
        except authoring.UnresolvedFindings as exc:
            exc.keep_writes = True  # the findings the last check saved stay, to be resolved
            raise
        view = library.read_case_study(study_id, actor=current_user)
    return view


@blp.route("/case-studies/<study_id>/revisions", methods=["POST"], endpoint="correct_case_study")
@blp.response(201, DraftOut)
def correct_case_study(study_id):
    """A correction: a new draft from the latest published version (published as the next)."""
    with _scope():
        draft = authoring.start_correction(study_id, actor=current_user)
        return _draft(draft, 201)


@blp.route("/case-studies/<study_id>/questions", methods=["GET"], endpoint="list_questions")
@blp.response(200, ThreadList)
def list_questions(study_id):
    """The caller's question threads on a study (the author: every asking center's)."""
    with _scope():
        study = library.get_study_or_404(study_id, actor=current_user)
        items = [{"asker_center": library.center_view(t["asker_center"]),
                  "messages": [feedback.message_view(m) for m in t["messages"]]} for t in feedback.threads(study.id)]
    return {"items": items}


@blp.route("/case-studies/<study_id>/questions", methods=["POST"], endpoint="ask_question")
@blp.arguments(QuestionIn)
@blp.response(201, StudyMessageOut)
def ask_question(body, study_id):
    """Ask the author a question (the author is notified, and stays anonymous)."""
    with _scope():
        message = feedback.ask_question(study_id, body["body"], actor=current_user)
        return feedback.message_view(message), 201


@blp.route("/case-studies/<study_id>/answers", methods=["POST"], endpoint="answer_question")
@blp.arguments(AnswerIn)
@blp.response(201, StudyMessageOut)
def answer_question(body, study_id):
    """The author answers the thread of ``asker_center`` (that center is notified)."""
    with _scope():
        message = feedback.answer_question(study_id, center_by_code(body["asker_center"]), body["body"],
                                           actor=current_user)
        return feedback.message_view(message), 201


@blp.route("/case-studies/<study_id>/helpful", methods=["POST"], endpoint="mark_helpful")
@blp.response(200, HelpfulOut)
def mark_helpful(study_id):
    """参考になった: once per center (a second mark changes nothing)."""
    with _scope():
        study = feedback.mark_helpful(study_id, actor=current_user)
        return {"id": study.id, "helpful_count": study.helpful_count, "marked_helpful": True}


@blp.route("/case-studies/<study_id>/hide", methods=["POST"], endpoint="hide_case_study")
@blp.arguments(HideIn)
@blp.response(200, CaseStudyOut)
def hide_case_study(body, study_id):
    """The association hides a published study from every reader but its author, with a reason."""
    with _scope():
        moderation.hide_study(study_id, body["reason"], actor=current_user)
        view = library.read_case_study(study_id, actor=current_user)
    return view


@blp.route("/case-studies/<study_id>/unhide", methods=["POST"], endpoint="unhide_case_study")
@blp.response(200, CaseStudyOut)
def unhide_case_study(study_id):
    """The association shows a hidden study again."""
    with _scope():
        moderation.unhide_study(study_id, actor=current_user)
        view = library.read_case_study(study_id, actor=current_user)
    return view


@blp.route("/case-studies/<study_id>/withdraw", methods=["POST"], endpoint="withdraw_case_study_version")
@blp.arguments(WithdrawIn)
@blp.response(200, CaseStudyOut)
@blp.doc(responses={"404": {"description": "no such study or version"},
                    "409": {"description": "``invalid_state``: the version is already withdrawn"}})
def withdraw_case_study_version(body, study_id):
    """The association withdraws one published version with a reason (audited): other centers
    then read the latest version not withdrawn, or nothing (404, gone from the list and the
    search).  Answers the study as the association sees it."""
    with _scope():
        moderation.withdraw_version(study_id, body["version"], body["reason"], actor=current_user)
        view = library.read_case_study(study_id, actor=current_user)
    return view
