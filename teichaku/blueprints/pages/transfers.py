"""広域調整 (transfers) pages: start a request from the case page, the incoming and outgoing
lists, a transfer's page with its thread and actions, the A4 支援業務協力依頼書, the center
admin's provision records, and the association's overview (metadata only) with reminders,
reassignment and the yearly compliance report.

Views are thin: load (another center's transfer answers like a missing one) → service →
redirect (the request's boundary commits); a refused action re-renders the page with its message
(409 / 422), keeping only the audited read of the page shown.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import MultipleFileField
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ...crosstenant.transfers import deadlines, groups, lifecycle, lists, provision_records, sides, threads, workflow
from ...crosstenant.transfers import oversight as oversee
from ...crosstenant.transfers.package import package_choices
from ...crosstenant.transfers.attachments import MAX_FILES as MAX_ATTACHMENTS
from ...platform import csv_export
from ...platform.centers import center_by_code, list_centers
from ...platform.errors import DomainError, InvalidState, ValidationFailed
from ...platform.i18n import fiscal_year_of, today_jst
from ...platform.permissions import can
from ...platform.transaction import keep_writes
from ...tenants.cases.services import read_case
from ..api.records import attachment as send_attachment
from .forms import EmptyForm, RangedForm
from .transfer_common import center_choices
from .records import JaDateField
from .refusals import refused

bp = Blueprint("transfers", __name__, url_prefix="/transfers")

REQUIRED = _l("必須項目です。")
CONSENT_CHOICES = [(code, _l(label)) for code, label in lifecycle.CONSENT_METHODS.items()]
DECLINE_CHOICES = [(code, _l(label)) for code, label in lifecycle.DECLINE_REASONS.items()]


@bp.record_once
def _globals(state) -> None:
    state.app.jinja_env.globals["TL"] = lifecycle  # the transfer label tables, for templates and macros


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConsentFields(RangedForm):
    """The person's consent to the provision, as a transfer request and a pull request record it
    (the methods and limits are the lifecycle's, as the API schema's and the service's are)."""

    consent_obtained_on = JaDateField(_l("本人の同意を得た日"), validators=[InputRequired(_l("日付を入力してください。"))])
    consent_method = SelectField(_l("同意の方法"), choices=CONSENT_CHOICES)
    consent_witness = StringField(_l("立会人（口頭の同意では必須）"),
                                  validators=[Optional(), Length(max=lifecycle.CONSENT_WITNESS_MAX)])
    consent_scope = TextAreaField(_l("同意の範囲"), validators=[Optional(), Length(max=lifecycle.CONSENT_SCOPE_MAX)])


class TransferForm(ConsentFields):
    to_center = SelectField(_l("依頼先のセンター"), validators=[DataRequired(REQUIRED)])
    message = TextAreaField(_l("依頼の内容"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MESSAGE_MAX)])
    package = MultiCheckboxField(_l("一緒に送る資料（本人の同意の範囲で選んでください）"), choices=[])


class DeclineForm(RangedForm):
    reason = SelectField(_l("お断りの理由"), choices=DECLINE_CHOICES)
    comment = TextAreaField(_l("補足（依頼したセンターに伝わります）"), validators=[Optional(), Length(max=lifecycle.COMMENT_MAX)])


class MessageForm(RangedForm):
    body = TextAreaField(_l("メッセージ"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MESSAGE_MAX)])
    files = MultipleFileField(_l("添付ファイル（任意・複数可）"))

    def uploads(self) -> list[tuple]:
        """The files chosen (a browser sends an empty part when none is)."""
        return [(f.stream, f.filename) for f in self.files.data or [] if getattr(f, "filename", "")]


class SharedUpdateForm(RangedForm):
    body = TextAreaField(_l("共有する更新"), validators=[DataRequired(REQUIRED), Length(max=lifecycle.MESSAGE_MAX)])


class ReassignForm(RangedForm):
    to_center = SelectField(_l("新しい依頼先"), validators=[DataRequired(REQUIRED)])


# --- lists ------------------------------------------------------------------------------------------

@bp.get("")
def index():
    """The center's incoming and outgoing requests."""
    rows, _cursor = lists.list_transfers(limit=200)
    cases = sides.own_cases(rows)
    centers = {c.id: c for c in list_centers()}
    return render_template("transfers/index.html", outgoing=[r for r in rows if r.side == "sending"],
                           incoming=[r for r in rows if r.side == "receiving"], cases=cases, centers=centers,
                           today=today_jst())


@bp.app_template_global("transfer_section")
def transfer_section(case) -> dict:
    """The case page's 広域調整 section: the case's requests and the request it came from."""
    rows = lists.transfers_of_case(case)
    return {"rows": rows, "centers": {c.id: c for c in list_centers()}}


# --- starting a request ------------------------------------------------------------------------------

def _suggested(case) -> str | None:
    """The receiving center suggested from the destination prefecture (the first of Hokkaido's two)."""
    if not case.destination_prefecture_code:
        return None
    for center in list_centers():
        if center.prefecture_code == case.destination_prefecture_code and center.active and center.id != case.center_id:
            return center.code
    return None


@bp.route("/new/<case_id>", methods=["GET", "POST"])
def new(case_id):
    """Start a request from a case: receiving center, the person's consent, a message, and the
    package items to send (nothing is checked by default)."""
    case = read_case(case_id) or abort(404)
    choices = package_choices(case)
    by_value = {f"{c['kind']}:{c['id']}": c for c in choices}
    form = TransferForm()
    form.to_center.choices = [("", _("選んでください"))] + center_choices(exclude=(case.center_id,))
    form.package.choices = [(value, c["label"]) for value, c in by_value.items()]
    suggested = _suggested(case)
    context = {"case": case, "form": form, "suggested": suggested, "choices": choices}
    if request.method == "GET":
        form.to_center.data = suggested or ""
        form.package.data = []
        return render_template("transfers/new.html", **context)
    if not form.validate_on_submit():
        keep_writes()  # the audited read of the case shown
        return render_template("transfers/new.html", **context), 422
    package = [{"kind": by_value[v]["kind"], "id": by_value[v]["id"]} for v in form.package.data or []]
    consent = {"obtained_on": form.consent_obtained_on.data, "method": form.consent_method.data,
               "witness": form.consent_witness.data, "scope": form.consent_scope.data}
    try:
        row = workflow.request_transfer(case, center_by_code(form.to_center.data), consent, form.message.data,
                                        package, current_user)
    except (ValidationFailed, InvalidState) as exc:
        status = refused(exc, form, announce=True)
        case = read_case(case_id)
        keep_writes()  # the audited read of the case shown again
        return render_template("transfers/new.html", **{**context, "case": case}), status
    if row.status == "awaiting_approval":
        flash(_("依頼を作成しました。センター長の承認後に相手のセンターへ送られます。"), "info")
    else:
        flash(_("依頼を送りました。"), "info")
    return redirect(url_for("transfers.detail", transfer_id=row.public_id))


# --- a transfer's page --------------------------------------------------------------------------------

def _person_of(row, case) -> dict | None:
    """The person as this side knows them: its own case's person, or the identity received."""
    if case is not None:
        p = case.person
        return {"family_name": p.family_name, "given_name": p.given_name, "family_name_kana": p.family_name_kana,
                "given_name_kana": p.given_name_kana, "birth_date": p.birth_date, "sex": p.sex,
                "support_needs": p.support_needs}
    if row.person_snapshot:
        snap = dict(row.person_snapshot)
        snap["birth_date"] = date.fromisoformat(snap["birth_date"])
        return snap
    return None


def _detail_context(row, *, message_form: MessageForm | None = None) -> dict:
    case = sides.own_case(row)
    messages, _cursor = threads.list_messages(row, oldest_first=True)
    centers = {c.id: c for c in list_centers()}
    actions = [a for a in lifecycle.actions_for(row.side, row.status)
               if a != "approve" or can(current_user.role, "transfer.approve")]
    candidates = workflow.person_candidates(row) if "accept" in actions and can(current_user.role, "transfer.write") else []
    return {"row": row, "case": case, "person": _person_of(row, case), "messages": messages, "centers": centers,
            "attachments": threads.message_attachments(messages), "max_attachments": MAX_ATTACHMENTS,
            "candidates": candidates,
            "own": centers[row.center_id], "other": centers[row.counterpart_center_id], "actions": actions,
            "thread_closed": lifecycle.thread_closed_reason(row.status),
            "can_message": lifecycle.thread_closed_reason(row.status) is None,
            "can_attach": threads.files_allowed(row), "files_need_case": lifecycle.FILES_NEED_OWN_CASE,
            "decline_form": DeclineForm(formdata=None), "message_form": message_form or MessageForm(formdata=None),
            "update_form": SharedUpdateForm(formdata=None),
            "can_share_update": row.side == "sending" and row.status == "accepted",
            "action_form": EmptyForm(formdata=None), "today": today_jst()}


def _oversight_context(transfer_id) -> dict:
    meta = oversee.oversight_detail(transfer_id)
    form = ReassignForm(formdata=None)
    form.to_center.choices = [("", _("選んでください"))] + [
        (code, label) for code, label in center_choices() if code not in (meta["from_center"], meta["to_center"])]
    return {"meta": meta, "reassign_form": form, "action_form": EmptyForm(formdata=None)}


@bp.get("/<transfer_id>")
def detail(transfer_id):
    """A center's own side with the thread and the actions open to it; for the association, the
    transfer's metadata (no personal data) with reminder and reassignment."""
    if can(current_user.role, "transfer.oversee"):
        context = _oversight_context(transfer_id)
        return render_template("transfers/oversight_detail.html", **context)
    row = groups.read_transfer(transfer_id)
    context = _detail_context(row)
    return render_template("transfers/detail.html", **context)


@bp.get("/<transfer_id>/letter")
def letter(transfer_id):
    """The 支援業務協力依頼書 as an A4 sheet (for the file, or to send alongside)."""
    row = groups.read_transfer(transfer_id)
    case = sides.own_case(row)
    centers = {c.id: c for c in list_centers()}
    sender, receiver = ((centers[row.center_id], centers[row.counterpart_center_id]) if row.side == "sending"
                        else (centers[row.counterpart_center_id], centers[row.center_id]))
    return render_template("transfers/letter.html", row=row, case=case, person=_person_of(row, case),
                           sender=sender, receiver=receiver)


def _act(transfer_id, action, *, form=None, keep_message_form: bool = False):
    """Run an action on the center's own row; a refusal re-renders the page with its message
    (``keep_message_form``: the thread's form comes back with the text and its field errors)."""
    row = groups.get_transfer_or_404(transfer_id)
    try:
        if form is not None and not form.validate_on_submit():
            raise ValidationFailed(_("入力内容に誤りがあります。"),
                                   fields={k: [str(m) for m in v] for k, v in form.errors.items()})
        message = action(row)
    except DomainError as exc:
        status = refused(exc, form, announce=True) if keep_message_form else refused(exc)
        row = groups.read_transfer(transfer_id)
        context = _detail_context(row, message_form=form if keep_message_form else None)
        keep_writes()  # the audited read of the transfer shown again
        return render_template("transfers/detail.html", **context), status
    flash(message, "info")
    return redirect(url_for("transfers.detail", transfer_id=row.public_id))


@bp.post("/<transfer_id>/accept")
def accept(transfer_id):
    """Accept: for a new person (the default) or for one of the center's own people the page
    offered as matching the identity received (``person_id``)."""
    person_id = request.form.get("person_id") or None

    def action(row):
        workflow.accept_transfer(row, current_user, person_id=person_id)
        if person_id:
            return _("受け入れました。このセンターの既存の対象者にケースを作成しました。")
        return _("受け入れました。このセンターのケースを作成しました。")
    return _act(transfer_id, action, form=EmptyForm())


@bp.post("/<transfer_id>/decline")
def decline(transfer_id):
    form = DeclineForm()

    def action(row):
        workflow.decline_transfer(row, form.reason.data, form.comment.data, current_user)
        return _("お断りの回答を送りました。")
    return _act(transfer_id, action, form=form)


@bp.post("/<transfer_id>/withdraw")
def withdraw(transfer_id):
    def action(row):
        workflow.withdraw_transfer(row, current_user)
        return _("依頼を取り下げました。")
    return _act(transfer_id, action, form=EmptyForm())


@bp.post("/<transfer_id>/approve")
def approve(transfer_id):
    def action(row):
        workflow.approve_transfer(row, current_user)
        return _("承認し、相手のセンターへ送りました。")
    return _act(transfer_id, action, form=EmptyForm())


@bp.post("/<transfer_id>/complete")
def complete(transfer_id):
    def action(row):
        workflow.complete_transfer(row, current_user)
        return _("広域調整を完了しました。")
    return _act(transfer_id, action, form=EmptyForm())


@bp.post("/<transfer_id>/messages")
def message(transfer_id):
    """A message to the other center, with files attached if any (a refused file: 422, the text
    kept, nothing sent)."""
    form = MessageForm()

    def action(row):
        threads.post_message(row, form.body.data, current_user, files=form.uploads())
        return _("メッセージを送りました。")
    return _act(transfer_id, action, form=form, keep_message_form=True)


@bp.get("/<transfer_id>/attachments/<attachment_id>")
def attachment(transfer_id, attachment_id):
    """A file of the thread: this center's own copy only (another center's answers 404); the
    download is audited."""
    row = groups.get_transfer_or_404(transfer_id)
    copy, data = threads.download_attachment(row, attachment_id)
    return send_attachment(copy, data)


@bp.post("/<transfer_id>/updates")
def share_update(transfer_id):
    form = SharedUpdateForm()

    def action(row):
        threads.share_update(row, form.body.data, current_user)
        return _("更新を相手のセンターと共有しました。")
    return _act(transfer_id, action, form=form)


# --- the association ----------------------------------------------------------------------------------

@bp.get("/oversight")
def oversight():
    """Every sent request as metadata: from, to, status, dates, days waiting, release deadline."""
    status = request.args.get("status") or None
    if status not in (None, *lifecycle.STATUSES):
        status = None
    overdue_only = request.args.get("overdue") == "1"
    items, _cursor = oversee.oversight_list(limit=200, status=status, overdue_only=overdue_only)
    return render_template("transfers/oversight.html", items=items, status=status, overdue_only=overdue_only,
                           action_form=EmptyForm(formdata=None))


def _oversee(transfer_id, action, *, form=None):
    try:
        if form is not None and not form.validate_on_submit():
            raise ValidationFailed(_("新しい依頼先を選んでください。"),
                                   fields={k: [str(m) for m in v] for k, v in form.errors.items()})
        message = action()
    except (InvalidState, ValidationFailed) as exc:
        status = refused(exc, form, announce=True)  # the message; field errors stay on the form
        context = _oversight_context(transfer_id)
        keep_writes()  # the audited read of the metadata shown again
        return render_template("transfers/oversight_detail.html", **context), status
    flash(message, "info")
    return redirect(url_for("transfers.detail", transfer_id=transfer_id))


@bp.post("/<transfer_id>/remind")
def remind(transfer_id):
    def action():
        deadlines.remind_transfer(transfer_id, current_user)
        return _("受入側のセンターに回答を催促しました。")
    return _oversee(transfer_id, action, form=EmptyForm())


@bp.post("/<transfer_id>/reassign")
def reassign(transfer_id):
    form = ReassignForm()
    form.to_center.choices = [(c, c) for c, _label in center_choices()]

    def action():
        workflow.reassign_transfer(transfer_id, center_by_code(form.to_center.data), current_user)
        return _("依頼先を変更しました。")
    return _oversee(transfer_id, action, form=form)


def _fiscal_year() -> int:
    try:
        year = int(request.args.get("fiscal_year", ""))
    except ValueError:
        year = fiscal_year_of(today_jst())
    return min(max(year, 2009), 2100)


@bp.get("/report")
def report():
    """The yearly compliance report per center (answered within the deadline, median days to
    answer, requests open past the release date)."""
    year = _fiscal_year()
    data = oversee.compliance_report(year)
    return render_template("transfers/report.html", report=data, years=range(fiscal_year_of(today_jst()), 2011, -1))


@bp.get("/report.csv")
def report_export():
    year = _fiscal_year()
    content = oversee.compliance_report_csv(oversee.compliance_report(year))
    return Response(content, mimetype=csv_export.MIMETYPE,
                    headers={"Content-Disposition": f'attachment; filename="transfers-FY{year}.csv"'})


# --- provision records (the center admin) -------------------------------------------------------------

@bp.get("/provisions")
def provisions():
    """The center's records of provision to a third party (第三者提供記録)."""
    items, next_cursor = provision_records.provision_records(limit=200, cursor=request.args.get("cursor") or None)
    return render_template("transfers/provisions.html", items=items, next_cursor=next_cursor)


@bp.get("/provisions.csv")
def provisions_export():
    content = provision_records.export_provision_records()
    return Response(content, mimetype=csv_export.MIMETYPE,
                    headers={"Content-Disposition": 'attachment; filename="provision-records.csv"'})
