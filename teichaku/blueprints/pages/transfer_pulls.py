"""広域調整の開始依頼 (pull request) pages: the destination center asks the facility's center to
start a transfer from the case page; the lists of pulls sent and received; a pull's page (the
asked center sees the identity received and its own people who may be the person, and refuses or
confirms; the asking center may cancel and follows the link to the resulting transfer); and the
confirmation form, an ordinary transfer request addressed to the asking center.

Views are thin: load (another center's pull answers like a missing one) → service → redirect
(the request's boundary commits); a refused action re-renders the page with its message
(403 / 409 / 422), keeping only the audited read of the page shown.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from ...crosstenant.transfers import lifecycle, pulls, sides, workflow
from ...crosstenant.transfers.package import package_choices
from ...platform.centers import center_by_code, list_centers
from ...platform.errors import DomainError, ValidationFailed
from ...platform.i18n import today_jst
from ...platform.transaction import keep_writes
from ...tenants.cases.services import read_case
from .forms import EmptyForm, RangedForm
from .refusals import refused
from .transfer_common import center_choices
from .transfers import REQUIRED, ConsentFields, TransferForm

bp = Blueprint("transfer_pulls", __name__, url_prefix="/transfers/pulls")


class PullForm(ConsentFields):
    to_center = SelectField(_l("開始を依頼するセンター（矯正施設の所在地）"), validators=[DataRequired(REQUIRED)])
    message = TextAreaField(_l("依頼の内容"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MESSAGE_MAX)])


class RefuseForm(RangedForm):
    comment = TextAreaField(_l("お断りの理由（依頼したセンターに伝わります）"),
                            validators=[DataRequired(REQUIRED), Length(max=lifecycle.COMMENT_MAX)])


class ConfirmForm(TransferForm):
    """The transfer request form without the receiving center: it is the center that asked."""

    to_center = None


def _consent(form) -> dict:
    return {"obtained_on": form.consent_obtained_on.data, "method": form.consent_method.data,
            "witness": form.consent_witness.data, "scope": form.consent_scope.data}


# --- lists ------------------------------------------------------------------------------------------

@bp.get("")
def index():
    """The center's pull requests: received (to confirm or refuse) and sent."""
    rows, _cursor = pulls.list_pulls(limit=200)
    cases = sides.own_cases([r for r in rows if r.side == "asking"])
    centers = {c.id: c for c in list_centers()}
    return render_template("transfers/pulls/index.html", incoming=[r for r in rows if r.side == "asked"],
                           outgoing=[r for r in rows if r.side == "asking"], cases=cases, centers=centers)


@bp.app_template_global("pull_section")
def pull_section(case) -> dict:
    """The case page's 開始依頼 section: the pulls sent from the case, or confirmed from it."""
    return {"rows": pulls.pulls_of_case(case), "centers": {c.id: c for c in list_centers()}}


# --- sending a pull (the destination center) ----------------------------------------------------------

@bp.route("/new/<case_id>", methods=["GET", "POST"])
def new(case_id):
    """Ask the facility's center to start a transfer: the center, the person's consent to telling
    it, a message.  The minimum identity (and the facility and release date, if known) travel."""
    case = read_case(case_id) or abort(404)
    form = PullForm()
    form.to_center.choices = [("", _("選んでください"))] + center_choices(exclude=(case.center_id,))
    context = {"case": case, "form": form, "identity": pulls.identity_of(case)}
    if request.method == "GET":
        return render_template("transfers/pulls/new.html", **context)
    if not form.validate_on_submit():
        keep_writes()  # the audited read of the case shown
        return render_template("transfers/pulls/new.html", **context), 422
    try:
        row = pulls.request_pull(case, center_by_code(form.to_center.data), _consent(form), form.message.data,
                                 current_user)
    except DomainError as exc:
        status = refused(exc, form, announce=True)
        case = read_case(case_id)
        keep_writes()  # the audited read of the case shown again
        return render_template("transfers/pulls/new.html", **{**context, "case": case}), status
    flash(_("開始依頼を送りました。"), "info")
    return redirect(url_for("transfer_pulls.detail", pull_id=row.public_id))


# --- a pull's page --------------------------------------------------------------------------------------

def _person_of(row, case) -> dict | None:
    """The person as this side knows them: its own case's person, or the identity received."""
    if row.side == "asking" and case is not None:
        p = case.person
        return {"family_name": p.family_name, "given_name": p.given_name, "family_name_kana": p.family_name_kana,
                "given_name_kana": p.given_name_kana, "birth_date": p.birth_date, "sex": p.sex}
    if row.person_snapshot:
        return {**row.person_snapshot, "birth_date": date.fromisoformat(row.person_snapshot["birth_date"])}
    return None


def _detail_context(row) -> dict:
    case = read_case(row.case_id) if row.case_id else None
    centers = {c.id: c for c in list_centers()}
    return {"row": row, "case": case, "person": _person_of(row, case), "centers": centers,
            "own": centers[row.center_id], "other": centers[row.counterpart_center_id],
            "actions": pulls.allowed_actions(row), "candidates": pulls.candidates(row),
            "transfer": pulls.own_transfer(row), "refuse_form": RefuseForm(formdata=None),
            "action_form": EmptyForm(formdata=None), "today": today_jst()}


@bp.get("/<pull_id>")
def detail(pull_id):
    """The center's own side of a pull, with the actions open to it."""
    row = pulls.read_pull(pull_id)
    context = _detail_context(row)
    return render_template("transfers/pulls/detail.html", **context)


def _act(pull_id, action, form):
    """Run an action on the center's own row; a refusal re-renders the page with its message."""
    row = pulls.get_pull_or_404(pull_id)
    try:
        if not form.validate_on_submit():
            raise ValidationFailed(_("入力内容に誤りがあります。"),
                                   fields={k: [str(m) for m in v] for k, v in form.errors.items()})
        message = action(row)
    except DomainError as exc:
        status = refused(exc)
        context = _detail_context(pulls.read_pull(pull_id))
        keep_writes()  # the audited read of the pull shown again
        return render_template("transfers/pulls/detail.html", **context), status
    flash(message, "info")
    return redirect(url_for("transfer_pulls.detail", pull_id=row.public_id))


@bp.post("/<pull_id>/refuse")
def refuse(pull_id):
    form = RefuseForm()

    def action(row):
        pulls.refuse_pull(row, form.comment.data, current_user)
        return _("お断りの回答を送りました。")
    return _act(pull_id, action, form)


@bp.post("/<pull_id>/cancel")
def cancel(pull_id):
    def action(row):
        pulls.cancel_pull(row, current_user)
        return _("開始依頼を取り消しました。")
    return _act(pull_id, action, EmptyForm())


# --- confirming: a transfer request to the asking center ---------------------------------------------

@bp.route("/<pull_id>/confirm/<case_id>", methods=["GET", "POST"])
def confirm(pull_id, case_id):
    """Start the transfer the pull asks for, from one of this center's cases: the ordinary request
    (this center's own consent for its provision, a message, the package), addressed to the
    center that asked."""
    row = pulls.get_pull_or_404(pull_id)
    if row.side != "asked":
        abort(404)
    case = read_case(case_id) or abort(404)
    choices = package_choices(case)
    by_value = {f"{c['kind']}:{c['id']}": c for c in choices}
    form = ConfirmForm()
    form.package.choices = [(value, c["label"]) for value, c in by_value.items()]
    context = {"row": row, "case": case, "form": form, "asker": sides.center_of(row.counterpart_center_id)}
    if request.method == "GET":
        if row.status != "open":
            flash(_("この開始依頼は既に回答済みか、取り消されています。"), "error")
            return redirect(url_for("transfer_pulls.detail", pull_id=row.public_id))
        form.package.data = []
        return render_template("transfers/pulls/confirm.html", **context)
    if not form.validate_on_submit():
        keep_writes()  # the audited read of the case shown
        return render_template("transfers/pulls/confirm.html", **context), 422
    package = [{"kind": by_value[v]["kind"], "id": by_value[v]["id"]} for v in form.package.data or []]
    try:
        transfer = workflow.request_transfer(case, context["asker"], _consent(form), form.message.data, package,
                                             current_user, pull_id=row.public_id)
    except DomainError as exc:
        status = refused(exc, form, announce=True)
        context.update(row=pulls.get_pull_or_404(pull_id), case=read_case(case_id))
        keep_writes()  # the audited read of the case shown again
        return render_template("transfers/pulls/confirm.html", **context), status
    flash(_("開始依頼に応じて、広域調整の依頼を作成しました。"), "info")
    return redirect(url_for("transfers.detail", transfer_id=transfer.public_id))
