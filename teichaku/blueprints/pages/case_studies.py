"""事例の共有 (case-study exchange) pages: the library with its search and tag filters, a study's
page (versions, 参考になった, questions, the association's hide), and the author's form with the
PII check's findings beside the text (replace in one click, or 問題なし with a reason) and the
center head's publish button, which names the draft version the head reviewed (a draft changed
since is a 409 with the current text and findings).  The association withdraws a single
version from the study's page.

Views are thin: load (another author's draft answers like a missing one) → service → redirect
(the request's boundary commits); a refused step re-renders the page with its message
(403 / 409 / 422).  Every view runs in the caller's author scope (``@scoped``: the association's
moderators work in their own workspace), and its page is rendered after leaving it, so that the
header reads the user's own inbox.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import BooleanField, HiddenField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from ...crosstenant.exchange import authoring, feedback, findings, library, lifecycle, moderation, scope
from ...platform.centers import center_by_code
from ...platform.errors import DomainError, ValidationFailed
from ...platform.extensions import db
from ...platform.tenancy import get_owned
from ...platform.transaction import keep_writes
from ...platform.input_ranges import small_int
from ...tenants.cases.models import Case
from .forms import EmptyForm, RangedForm
from .refusals import refused

bp = Blueprint("case_studies", __name__, url_prefix="/case-studies")

REQUIRED = _l("必須項目です。")
PAGE_SIZE = 30


@bp.record_once
def _globals(state) -> None:
    state.app.jinja_env.globals["XL"] = lifecycle  # the exchange's label tables, for templates


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _choices(table: dict) -> list[tuple[str, str]]:
    return [(code, _l(label)) for code, label in table.items()]


class CaseStudyForm(RangedForm):
    title = StringField(_l("タイトル"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MAX_LENGTHS["title"])])
    background = TextAreaField(_l("取組みの経緯"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MAX_LENGTHS["background"])])
    actions = TextAreaField(_l("取組んだこと"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MAX_LENGTHS["actions"])])
    outcomes = TextAreaField(_l("取組みの成果"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MAX_LENGTHS["outcomes"])])
    reference = TextAreaField(_l("参考資料（任意）"), validators=[Optional(), Length(max=lifecycle.MAX_LENGTHS["reference"])])
    themes = MultiCheckboxField(_l("テーマ"), choices=_choices(lifecycle.THEME_LABELS))
    case_types = MultiCheckboxField(_l("業務の種類"), choices=_choices(lifecycle.CASE_TYPE_LABELS))
    support_needs = MultiCheckboxField(_l("支援の必要性"), choices=_choices(lifecycle.SUPPORT_NEED_LABELS))
    show_center = BooleanField(_l("公開するときにセンター名を表示する"))
    case_id = HiddenField()
    version = HiddenField()

    def tags(self) -> list[str]:
        return [*(self.themes.data or []), *(self.case_types.data or []), *(self.support_needs.data or [])]

    def set_tags(self, tags) -> None:
        chosen = set(tags or ())
        self.themes.data = [t for t in lifecycle.THEME_LABELS if t in chosen]
        self.case_types.data = [t for t in lifecycle.CASE_TYPE_LABELS if t in chosen]
        self.support_needs.data = [t for t in lifecycle.SUPPORT_NEED_LABELS if t in chosen]

    def text_fields(self) -> dict:
        return {f: getattr(self, f).data or "" for f in lifecycle.TEXT_FIELDS}


class ReplaceForm(RangedForm):
    replacement = StringField(_l("置き換える語"), validators=[Optional(), Length(max=lifecycle.MAX_REPLACEMENT)])


class DismissForm(RangedForm):
    reason = StringField(_l("問題ないと判断した理由"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MAX_REASON)])


class QuestionForm(RangedForm):
    body = TextAreaField(_l("執筆したセンターへの質問"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MAX_MESSAGE)])


class AnswerForm(RangedForm):
    asker_center = HiddenField(validators=[DataRequired(REQUIRED)])
    body = TextAreaField(_l("回答"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MAX_MESSAGE)])


class HideForm(RangedForm):
    reason = StringField(_l("非表示にする理由"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MAX_REASON)])


VERSION_MISSING = _l("確認した版が指定されていません。編集画面を開き直してから公開してください。")


class PublishForm(RangedForm):
    """承認して公開する: the draft version the head had on screen (a later change is a 409)."""

    version = HiddenField(validators=[DataRequired(VERSION_MISSING), Regexp(r"^\d{1,9}$", message=VERSION_MISSING)])


class WithdrawForm(RangedForm):
    version = HiddenField(validators=[DataRequired(REQUIRED), Regexp(r"^\d{1,9}$")], id="withdraw-version")
    reason = StringField(_l("取り下げる理由"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MAX_REASON)], id="withdraw-reason")


@dataclass
class Page:
    """A page to render once the view has left the author scope."""

    template: str
    context: dict = field(default_factory=dict)
    status: int = 200


def scoped(view):
    """Run the view in the caller's author scope (``scope.exchange_scope``); a ``Page`` it
    returns is rendered after the scope is left.

    What the view wrote is flushed before the scope is left: the transaction's row-level
    security follows the tenant, so the association's workspace rows must reach the database
    while it is still the tenant (the request's boundary commits them at the end)."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        with scope.exchange_scope(current_user):
            result = view(*args, **kwargs)
            db.session.flush()
        if isinstance(result, Page):
            return render_template(result.template, **result.context), result.status
        return result
    return wrapper


def _invalid(form) -> DomainError:
    """A form's own errors as the refusal the views render."""
    return ValidationFailed(_("入力内容に誤りがあります。"),
                            fields={k: [str(m) for m in v] for k, v in form.errors.items()})


# --- the library ---------------------------------------------------------------------------------------

@bp.get("")
@scoped
def index():
    """The library: search (two-character words, kana or kanji), tag filters, newest first
    without a search; the author's own drafts above it."""
    q = (request.args.get("q") or "").strip()[:200]
    tags = [t for t in request.args.getlist("tag") if t in lifecycle.TAG_LABELS]
    cursor = request.args.get("cursor") or None
    try:
        rows, next_cursor = library.find_studies(actor=current_user, q=q, tags=tags, limit=PAGE_SIZE, cursor=cursor)
    except DomainError:  # a cursor from elsewhere: start from the first page
        rows, next_cursor = library.find_studies(actor=current_user, q=q, tags=tags, limit=PAGE_SIZE)
    studies = [library.study_view(s, v, actor=current_user, full=False) for s, v in rows]
    drafts = authoring.own_drafts()
    return Page("case_studies/index.html", {"studies": studies, "drafts": drafts, "q": q, "tags": tags,
                                            "next_cursor": next_cursor, "searched": bool(q or tags)})


# --- writing -------------------------------------------------------------------------------------------

@bp.route("/new", methods=["GET", "POST"])
@scoped
def new():
    """A new study (``?case_id=``: started from a case, whose type and the person's support needs
    become the tags; the text is the author's own)."""
    form = CaseStudyForm()
    if request.method == "GET":
        case_id = request.args.get("case_id")
        if case_id:
            case = get_owned(Case, case_id) or abort(404)
            form.case_id.data = str(case.id)
            form.set_tags(authoring.tags_from_case(case))
        return Page("case_studies/new.html", {"form": form})
    if not form.validate_on_submit():
        return Page("case_studies/new.html", {"form": form}, 422)
    data = {**form.text_fields(), "tags": form.tags(), "show_center": form.show_center.data,
            "case_id": form.case_id.data or None}
    try:
        draft = authoring.create_draft(data, actor=current_user)
    except DomainError as exc:
        return Page("case_studies/new.html", {"form": form}, refused(exc, form, announce=True))
    _flash_check(draft)
    return redirect(url_for("case_studies.edit", study_id=draft.study_id))


def _flash_check(draft) -> None:
    if draft.status == "checked":
        flash(_("個人を特定できる可能性のある箇所は見つかりませんでした。センター長の承認で公開できます。"), "info")
    else:
        flash(_("個人を特定できる可能性のある箇所があります。右の一覧から対応してください。"), "info")


def _segments(text: str, findings: list[dict]) -> list[tuple[str, dict | None]]:
    """The text cut at the open and dismissed findings, for <mark> highlighting."""
    marks = sorted((f for f in findings if f["status"] in ("open", "dismissed")), key=lambda f: f["start"])
    out, position = [], 0
    for f in marks:
        if f["start"] < position:
            continue
        if f["start"] > position:
            out.append((text[position:f["start"]], None))
        out.append((text[f["start"]:f["end"]], f))
        position = f["end"]
    if position < len(text):
        out.append((text[position:], None))
    return out


def _edit_context(draft, form: CaseStudyForm | None = None) -> dict:
    view = authoring.draft_view(draft)
    if form is None:
        form = CaseStudyForm(formdata=None, data={f: view[f] for f in lifecycle.TEXT_FIELDS})
        form.show_center.data = view["show_center"]
        form.set_tags(view["tags"])
    form.version.data = str(draft.version)
    by_field = {f: [x for x in view["pii_findings"] if x["field"] == f] for f in lifecycle.TEXT_FIELDS}
    return {"view": view, "form": form, "findings": by_field,
            "segments": {f: _segments(view[f], by_field[f]) for f in lifecycle.TEXT_FIELDS},
            "action_form": EmptyForm(formdata=None), "is_association": scope.is_association(current_user)}


@bp.route("/<study_id>/edit", methods=["GET", "POST"])
@scoped
def edit(study_id):
    """The author's form, with the check's findings beside each field; saving checks the text
    again (a stale version keeps the text and says so)."""
    draft = authoring.get_open_draft_or_404(study_id)
    if request.method == "GET":
        context = _edit_context(draft)
        return Page("case_studies/edit.html", context)
    form = CaseStudyForm()
    try:
        if not form.validate_on_submit():
            raise _invalid(form)
        changes = {**form.text_fields(), "tags": form.tags(), "show_center": form.show_center.data}
        version = small_int(form.version.data)
        authoring.update_draft(draft, changes, expected_version=version, actor=current_user)
    except DomainError as exc:
        status = refused(exc, form, announce=True)
        context = _edit_context(authoring.get_open_draft_or_404(study_id), form)
        return Page("case_studies/edit.html", context, status)
    _flash_check(draft)
    return redirect(url_for("case_studies.edit", study_id=study_id))


def _draft_step(study_id, step, form):
    """Run a step on the author's open draft; a refusal re-renders the form with its message."""
    draft = authoring.get_open_draft_or_404(study_id)
    try:
        if not form.validate_on_submit():
            raise _invalid(form)
        message, target = step(draft)
    except authoring.UnresolvedFindings as exc:
        keep_writes()  # the refusal keeps what the last check found, to show it
        flash(exc.message, "error")
        context = _edit_context(authoring.get_open_draft_or_404(study_id))
        return Page("case_studies/edit.html", context, 422)
    except DomainError as exc:
        status = refused(exc)
        context = _edit_context(authoring.get_open_draft_or_404(study_id))
        return Page("case_studies/edit.html", context, status)
    flash(message, "info")
    return redirect(target)


@bp.post("/<study_id>/findings/<finding_id>/replace")
@scoped
def replace_finding(study_id, finding_id):
    """置き換える: the suggestion, or the author's own words when given."""
    form = ReplaceForm()

    def step(draft):
        finding = findings.get_finding(draft, finding_id)
        findings.resolve_finding(draft, finding, "replace", actor=current_user,
                                 replacement=(form.replacement.data or "").strip() or None)
        return _("置き換えました。"), url_for("case_studies.edit", study_id=study_id)
    return _draft_step(study_id, step, form)


@bp.post("/<study_id>/findings/<finding_id>/dismiss")
@scoped
def dismiss_finding(study_id, finding_id):
    """問題なし: not personal, with the reason (recorded)."""
    form = DismissForm()

    def step(draft):
        finding = findings.get_finding(draft, finding_id)
        findings.resolve_finding(draft, finding, "dismiss", actor=current_user, reason=form.reason.data)
        return _("問題なしとして記録しました。"), url_for("case_studies.edit", study_id=study_id)
    return _draft_step(study_id, step, form)


@bp.post("/<study_id>/publish")
@scoped
def publish(study_id):
    """The center head approves and publishes the version it reviewed (the form's hidden
    ``version``: a draft changed since is refused with 409; the check runs once more first)."""
    form = PublishForm()

    def step(draft):
        authoring.publish_draft(draft, actor=current_user, expected_version=int(form.version.data))
        return _("承認して公開しました。"), url_for("case_studies.detail", study_id=study_id)
    return _draft_step(study_id, step, form)


@bp.post("/<study_id>/correct")
@scoped
def correct(study_id):
    """A correction: a new draft from the latest published version."""
    def step():
        authoring.start_correction(study_id, actor=current_user)
        return _("修正版の下書きを作成しました。公開すると次の版になります。"), url_for("case_studies.edit", study_id=study_id)
    return _study_step(study_id, step, EmptyForm())


# --- reading -------------------------------------------------------------------------------------------

def _detail_context(study_id, version_no: int | None = None, *, question_form=None, answer_form=None) -> dict:
    study = library.get_study_or_404(study_id, actor=current_user)
    view = library.study_view(study, library.read_version(study, version_no, actor=current_user), actor=current_user)
    withdraw_form = WithdrawForm(formdata=None, data={"version": str(view["published_version"])})
    return {"study": view, "threads": feedback.threads(study.id), "question_form": question_form or QuestionForm(formdata=None),
            "answer_form": answer_form or AnswerForm(formdata=None), "hide_form": HideForm(formdata=None),
            "withdraw_form": withdraw_form, "action_form": EmptyForm(formdata=None)}


@bp.get("/<study_id>")
@scoped
def detail(study_id):
    """A published study (``?version=``: an older version); the author's unpublished draft opens
    its form."""
    raw = request.args.get("version") or ""
    version_no = small_int(raw) or None
    if library.get_study(study_id, actor=current_user) is None:
        authoring.get_open_draft_or_404(study_id)
        return redirect(url_for("case_studies.edit", study_id=study_id))
    context = _detail_context(study_id, version_no)
    return Page("case_studies/detail.html", context)


def _study_step(study_id, step, form, *, keep: str | None = None):
    """Run a step on a library study; a refusal re-renders its page with the message, and the
    question or answer form (``keep``) with its text and field errors."""
    try:
        if not form.validate_on_submit():
            raise _invalid(form)
        message, target = step()
    except DomainError as exc:
        status = refused(exc, form, announce=True) if keep else refused(exc)
        context = _detail_context(study_id, **({f"{keep}_form": form} if keep else {}))
        return Page("case_studies/detail.html", context, status)
    flash(message, "info")
    return redirect(target)


def _to_detail(study_id) -> str:
    return url_for("case_studies.detail", study_id=study_id)


@bp.post("/<study_id>/questions")
@scoped
def ask(study_id):
    """A question to the author (who is notified; who wrote it stays hidden from the asker)."""
    form = QuestionForm()

    def step():
        feedback.ask_question(study_id, form.body.data, actor=current_user)
        return _("質問を送りました。"), _to_detail(study_id)
    return _study_step(study_id, step, form, keep="question")


@bp.post("/<study_id>/answers")
@scoped
def answer(study_id):
    """The author answers one center's thread."""
    form = AnswerForm()

    def step():
        feedback.answer_question(study_id, center_by_code(form.asker_center.data or ""), form.body.data,
                                 actor=current_user)
        return _("回答を送りました。"), _to_detail(study_id)
    return _study_step(study_id, step, form, keep="answer")


@bp.post("/<study_id>/helpful")
@scoped
def helpful(study_id):
    def step():
        feedback.mark_helpful(study_id, actor=current_user)
        return _("「参考になった」を付けました。"), _to_detail(study_id)
    return _study_step(study_id, step, EmptyForm())


@bp.post("/<study_id>/hide")
@scoped
def hide(study_id):
    """The association hides a study, with a reason (its author is notified)."""
    form = HideForm()

    def step():
        moderation.hide_study(study_id, form.reason.data, actor=current_user)
        return _("事例を非表示にしました。"), _to_detail(study_id)
    return _study_step(study_id, step, form)


@bp.post("/<study_id>/unhide")
@scoped
def unhide(study_id):
    def step():
        moderation.unhide_study(study_id, actor=current_user)
        return _("事例を再び表示しました。"), _to_detail(study_id)
    return _study_step(study_id, step, EmptyForm())


@bp.post("/<study_id>/withdraw")
@scoped
def withdraw(study_id):
    """The association withdraws one version, with a reason: other centers then read the latest
    version not withdrawn, or nothing."""
    form = WithdrawForm()

    def step():
        moderation.withdraw_version(study_id, form.version.data, form.reason.data, actor=current_user)
        return (_("第%(n)s版を取り下げました。他のセンターには取り下げていない最新の版だけが表示されます。",
                  n=form.version.data), _to_detail(study_id))
    return _study_step(study_id, step, form)
