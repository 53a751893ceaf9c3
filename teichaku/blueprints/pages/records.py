"""Records and plans on a case (pages): records, documents, the coordination plan, its
revisions, their comparison and the print view.

Every view loads the case first (another center's case answers exactly like a missing one),
then works through ``tenants.records.services``; bad input re-renders the form with field
errors (422) and changes nothing; a stale version re-renders the user's text (409).
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField
from sqlalchemy.orm.exc import StaleDataError
from wtforms import DateField, FieldList, Form, FormField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from ...platform.audit.services import record as audit
from ...platform import transaction
from ...platform.errors import ValidationFailed, VersionConflict
from ...platform.i18n import today_jst
from ...platform.input_ranges import small_int
from ...tenants.records import services
from ...tenants.records import lifecycle
from ...tenants.records.lifecycle import (ASSESSMENT_SECTIONS, DOCUMENT_NOTE_MAX, PARTICIPANTS_MAX, PLACE_MAX, PLAN_AREAS,
                                         PLAN_ITEMS_MAX, PLAN_PROVIDER_MAX, PLAN_SUPPORT_MAX, PLAN_TITLE_MAX, RECORD_KINDS,
                                         SECTION_MAX, TEXT_MAX)
from ..api.records import attachment
from .forms import RangedForm
from .refusals import discard_changes, refused

bp = Blueprint("records", __name__, url_prefix="/cases")

REQUIRED = _l("必須項目です。")
BAD_DATE = _l("日付は YYYY-MM-DD の形式で入力してください。")


class JaDateField(DateField):
    """A date field whose parse error is in Japanese (and English through the catalog)."""

    def process_formdata(self, valuelist):
        if not valuelist or not "".join(valuelist).strip():
            self.data = None
            return
        try:
            self.data = date.fromisoformat("".join(valuelist).strip())
        except ValueError:
            self.data = None
            raise ValueError(str(BAD_DATE)) from None


# --- forms -----------------------------------------------------------------------------------------

SECTION_FIELD_LABELS = {key: _l(label) for key, label in lifecycle.SECTION_LABELS.items()}
DOCUMENT_KIND_CHOICES = [(code, _l(label)) for code, label in lifecycle.DOCUMENT_LABELS.items()]
AREA_CHOICES = [(code, _l(label)) for code, label in lifecycle.AREA_LABELS.items()]


@bp.record_once
def _globals(state) -> None:
    state.app.jinja_env.globals["RL"] = lifecycle  # the records' label tables, for templates and macros


class AssessmentForm(RangedForm):
    recorded_on = JaDateField(_l("実施日"), validators=[InputRequired(_l("日付を入力してください。"))])
    life_history = TextAreaField(SECTION_FIELD_LABELS["life_history"], validators=[Length(max=SECTION_MAX)])
    family = TextAreaField(SECTION_FIELD_LABELS["family"], validators=[Length(max=SECTION_MAX)])
    health = TextAreaField(SECTION_FIELD_LABELS["health"], validators=[Length(max=SECTION_MAX)])
    disability = TextAreaField(SECTION_FIELD_LABELS["disability"], validators=[Length(max=SECTION_MAX)])
    offence_history = TextAreaField(SECTION_FIELD_LABELS["offence_history"], validators=[Length(max=SECTION_MAX)])
    housing = TextAreaField(SECTION_FIELD_LABELS["housing"], validators=[Length(max=SECTION_MAX)])
    income = TextAreaField(SECTION_FIELD_LABELS["income"], validators=[Length(max=SECTION_MAX)])
    wishes = TextAreaField(SECTION_FIELD_LABELS["wishes"], validators=[Length(max=SECTION_MAX)])

    @property
    def sections(self):
        """The service reports an assessment with no section filled on ``sections``: the page
        shows it under the first section."""
        return self.life_history


class InterviewForm(RangedForm):
    recorded_on = JaDateField(_l("面談日"), validators=[InputRequired(_l("日付を入力してください。"))])
    place = StringField(_l("場所"), validators=[Optional(), Length(max=PLACE_MAX)])
    participants = TextAreaField(_l("参加者"), validators=[Optional(), Length(max=PARTICIPANTS_MAX)])
    content = TextAreaField(_l("内容"), validators=[DataRequired(REQUIRED), Length(max=TEXT_MAX)])


class ProgressForm(RangedForm):
    recorded_on = JaDateField(_l("日付"), validators=[InputRequired(_l("日付を入力してください。"))])
    content = TextAreaField(_l("内容"), validators=[DataRequired(REQUIRED), Length(max=TEXT_MAX)])


RECORD_FORMS = {"assessment": AssessmentForm, "interview": InterviewForm, "progress": ProgressForm}


class UploadForm(RangedForm):
    kind = SelectField(_l("書類の種類"), choices=DOCUMENT_KIND_CHOICES)
    file = FileField(_l("ファイル"))
    note = StringField(_l("メモ"), validators=[Optional(), Length(max=DOCUMENT_NOTE_MAX)])


class PlanItemForm(Form):
    area = SelectField(_l("生活領域"), choices=AREA_CHOICES)
    support = TextAreaField(_l("支援内容"), validators=[Optional(), Length(max=PLAN_SUPPORT_MAX)])
    provider = StringField(_l("担当（機関・人）"), validators=[Optional(), Length(max=PLAN_PROVIDER_MAX)])
    due_on = JaDateField(_l("期限"), validators=[Optional()])


class PlanForm(RangedForm):
    title = StringField(_l("計画の名称"), validators=[Optional(), Length(max=PLAN_TITLE_MAX)])
    wishes = TextAreaField(_l("本人の意向"), validators=[Optional(), Length(max=SECTION_MAX)])
    goals = TextAreaField(_l("目標"), validators=[Optional(), Length(max=SECTION_MAX)])
    items = FieldList(FormField(PlanItemForm), min_entries=0, max_entries=PLAN_ITEMS_MAX)
    notes = TextAreaField(_l("備考"), validators=[Optional(), Length(max=SECTION_MAX)])
    base_revision = HiddenField()


# --- the case, the section on its page --------------------------------------------------------------

def _open_case(case_id):
    """The current center's case (404 otherwise); these pages show the person, so the read is audited."""
    case = services.load_case(case_id)
    audit("case.read", object_type="case", object_id=case.id, person_id=case.person_id)
    return case


@bp.app_template_global("records_section")
def records_section(case) -> dict:
    """The records, documents and plans listed on the case page (``records/_case_section.html``).
    The listing's audit entry is written while the page renders; the request commits it with the rest."""
    return services.case_overview(case)


# --- records -----------------------------------------------------------------------------------------

def _record_data(kind: str, form) -> dict:
    if kind == "assessment":
        return {"recorded_on": form.recorded_on.data,
                "sections": {key: getattr(form, key).data or "" for key in ASSESSMENT_SECTIONS}}
    data = {"recorded_on": form.recorded_on.data, "content": form.content.data or ""}
    if kind == "interview":
        data.update(place=form.place.data or "", participants=form.participants.data or "")
    return data


def _fill_record_form(form, rec) -> None:
    form.recorded_on.data = rec.recorded_on
    if rec.kind == "assessment":
        for key in ASSESSMENT_SECTIONS:
            getattr(form, key).data = (rec.sections or {}).get(key, "")
    else:
        form.content.data = rec.content
        if rec.kind == "interview":
            form.place.data, form.participants.data = rec.place, rec.participants


@bp.route("/<case_id>/records/new", methods=["GET", "POST"])
def record_new(case_id):
    case = _open_case(case_id)
    kind = request.values.get("kind", "progress")
    if kind not in RECORD_KINDS:
        abort(404)
    form = RECORD_FORMS[kind]()
    if request.method == "GET":
        form.recorded_on.data = today_jst()
    if form.validate_on_submit():
        try:
            rec = services.create_record(case, {"kind": kind, **_record_data(kind, form)}, author=current_user)
        except ValidationFailed as exc:
            status = refused(exc, form)
            return render_template("records/record_form.html", case=case, form=form, kind=kind, rec=None), status
        flash(_("記録を保存しました。"), "info")
        return redirect(url_for("records.record", case_id=case.id, record_id=rec.id))
    transaction.keep_writes()  # the case's read stays audited when the form comes back with errors
    return render_template("records/record_form.html", case=case, form=form, kind=kind, rec=None), (422 if form.errors else 200)


@bp.get("/<case_id>/records/<record_id>")
def record(case_id, record_id):
    case = _open_case(case_id)
    rec = services.read_record(case, record_id)
    names = services.user_names([rec.author_id, rec.updated_by_id])
    return render_template("records/record.html", case=case, rec=rec, names=names)


@bp.route("/<case_id>/records/<record_id>/edit", methods=["GET", "POST"])
def record_edit(case_id, record_id):
    case = _open_case(case_id)
    if request.method == "GET":
        rec = services.read_record(case, record_id)
        form = RECORD_FORMS[rec.kind]()
        _fill_record_form(form, rec)
        return render_template("records/record_form.html", case=case, form=form, kind=rec.kind, rec=rec)
    rec = services.get_record(case, record_id)
    form = RECORD_FORMS[rec.kind]()
    if form.validate_on_submit():
        try:
            version = int(request.form.get("version", "0") or 0)
        except ValueError:
            version = 0
        try:
            services.update_record(case, rec, _record_data(rec.kind, form), expected_version=version, editor=current_user)
        except (VersionConflict, StaleDataError):
            # Someone saved first: keep what this user typed, show what is saved now, and let them
            # save again on top of the current version once they have looked.
            discard_changes()
            case = _open_case(case_id)
            current = services.read_record(case, record_id)
            names = services.user_names([current.author_id, current.updated_by_id])
            transaction.keep_writes()  # the re-read is audited even though the answer is a 409
            flash(_("他の職員が先にこの記録を更新しました。あなたが入力した内容は下のフォームに残っています。"
                    "保存されている最新の内容と見比べてから、もう一度保存してください。"), "error")
            return render_template("records/record_form.html", case=case, form=form, kind=current.kind, rec=current,
                                   stale=True, names=names), 409
        except ValidationFailed as exc:
            status = refused(exc, form)
            return render_template("records/record_form.html", case=case, form=form, kind=rec.kind, rec=rec), status
        flash(_("記録を保存しました。"), "info")
        return redirect(url_for("records.record", case_id=case.id, record_id=rec.id))
    transaction.keep_writes()  # the case's read stays audited when the form comes back with errors
    return render_template("records/record_form.html", case=case, form=form, kind=rec.kind, rec=rec), 422


# --- documents -----------------------------------------------------------------------------------------

@bp.route("/<case_id>/documents/new", methods=["GET", "POST"])
def document_new(case_id):
    case = _open_case(case_id)  # before the form is read: another center's case is a plain 404
    form = UploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        if upload is None or not getattr(upload, "filename", None):
            form.file.errors = [_("ファイルを選んでください。")]
        else:
            try:
                services.upload_document(case, stream=upload.stream, filename=upload.filename, kind=form.kind.data,
                                         note=form.note.data, uploader=current_user)
            except ValidationFailed as exc:
                status = refused(exc, form)
                return render_template("records/document_form.html", case=case, form=form), status
            flash(_("書類を登録しました。"), "info")
            return redirect(url_for("cases.detail", case_id=case.id) + "#records")
    transaction.keep_writes()  # the case's read stays audited when the form comes back with errors
    return render_template("records/document_form.html", case=case, form=form), (422 if form.errors else 200)


@bp.get("/<case_id>/documents/<document_id>/download")
def document_download(case_id, document_id):
    case = services.load_case(case_id)
    doc, data = services.download_document(case, document_id)
    return attachment(doc, data)


# --- the coordination plan -------------------------------------------------------------------------------

def _plan_data(form: PlanForm) -> tuple[dict, bool]:
    """The plan's content from the form; rows with no support text are left out.  Returns
    (content, ok): a row with a provider or date but no support content is an error."""
    items, ok = [], True
    for entry in form.items:
        sub = entry.form
        support = (sub.support.data or "").strip()
        if not support:
            if (sub.provider.data or "").strip() or sub.due_on.data:
                sub.support.errors = [*sub.support.errors, _("支援内容を入力してください。")]
                ok = False
            continue
        items.append({"area": sub.area.data, "support": support, "provider": (sub.provider.data or "").strip(),
                      "due_on": sub.due_on.data})
    content = {"wishes": form.wishes.data or "", "goals": form.goals.data or "", "items": items,
               "notes": form.notes.data or ""}
    if ok and not (content["wishes"].strip() or content["goals"].strip() or items):
        form.goals.errors = [*form.goals.errors, _("本人の意向・目標・支援項目のいずれかを入力してください。")]
        ok = False
    return content, ok


def _fill_items(form: PlanForm, items: list[dict]) -> None:
    """Rows for the existing items, then one empty row per life area not yet covered (at least
    two empty rows), so a new item can be added without script."""
    covered = {i["area"] for i in items}
    empty = [a for a in PLAN_AREAS if a not in covered]
    while len(empty) < 2:
        empty.append(PLAN_AREAS[len(empty) % len(PLAN_AREAS)])
    for item in items:
        form.items.append_entry({"area": item["area"], "support": item["support"], "provider": item["provider"],
                                 "due_on": date.fromisoformat(item["due_on"]) if item.get("due_on") else None})
    for area in empty:
        form.items.append_entry({"area": area})


@bp.route("/<case_id>/plans/new", methods=["GET", "POST"])
def plan_new(case_id):
    case = _open_case(case_id)
    form = PlanForm()
    if request.method == "GET":
        _fill_items(form, [])
    if form.validate_on_submit():
        content, ok = _plan_data(form)
        if ok:
            try:
                plan, _rev = services.create_plan(case, {"title": form.title.data, "content": content}, author=current_user)
            except ValidationFailed as exc:
                status = refused(exc, form)
                return render_template("records/plan_form.html", case=case, form=form, plan=None), status
            flash(_("調整計画を作成しました（第1版）。"), "info")
            return redirect(url_for("records.plan", case_id=case.id, plan_id=plan.id))
    transaction.keep_writes()  # the case's read stays audited when the form comes back with errors
    status = 422 if request.method == "POST" else 200
    return render_template("records/plan_form.html", case=case, form=form, plan=None), status


@bp.get("/<case_id>/plans/<plan_id>")
def plan(case_id, plan_id):
    case = _open_case(case_id)
    plan, rev = services.read_plan(case, plan_id, request.args.get("revision"))
    revisions = services.revisions_of(plan)
    names = services.user_names([r.author_id for r in revisions])
    return render_template("records/plan.html", case=case, plan=plan, rev=rev, revisions=revisions, names=names,
                           content=services.content_out(rev.content), area_labels=dict(AREA_CHOICES))


@bp.route("/<case_id>/plans/<plan_id>/revise", methods=["GET", "POST"])
def plan_revise(case_id, plan_id):
    case = _open_case(case_id)
    plan = services.get_plan(case, plan_id)
    form = PlanForm()
    if request.method == "GET":
        plan, latest = services.read_plan(case, plan_id)
        form.wishes.data, form.goals.data = latest.content.get("wishes", ""), latest.content.get("goals", "")
        form.notes.data = latest.content.get("notes", "")
        form.base_revision.data = str(plan.latest_revision)
        _fill_items(form, latest.content.get("items", []))
        return render_template("records/plan_form.html", case=case, form=form, plan=plan)
    if form.validate_on_submit():
        content, ok = _plan_data(form)
        if ok:
            try:
                base = int(form.base_revision.data or 0)
            except ValueError:
                base = 0
            try:
                rev = services.revise_plan(case, plan, content, base_revision=base, author=current_user)
            except (VersionConflict, StaleDataError):
                discard_changes()
                case = _open_case(case_id)
                plan, latest = services.read_plan(case, plan_id)
                transaction.keep_writes()  # the re-read is audited even though the answer is a 409
                flash(_("他の職員が先にこの計画を改訂しました（最新は第%(n)s版）。あなたが入力した内容は下のフォームに残っています。"
                        "最新の版と見比べてから、もう一度保存してください。", n=plan.latest_revision), "error")
                return render_template("records/plan_form.html", case=case, form=form, plan=plan, stale=True,
                                       latest=latest, latest_content=services.content_out(latest.content),
                                       area_labels=dict(AREA_CHOICES)), 409
            except ValidationFailed as exc:
                status = refused(exc, form)
                return render_template("records/plan_form.html", case=case, form=form, plan=plan), status
            flash(_("調整計画を改訂しました（第%(n)s版）。", n=rev.revision), "info")
            return redirect(url_for("records.plan", case_id=case.id, plan_id=plan.id))
    transaction.keep_writes()  # the case's read stays audited when the form comes back with errors
    return render_template("records/plan_form.html", case=case, form=form, plan=plan), 422


@bp.get("/<case_id>/plans/<plan_id>/compare")
def plan_compare(case_id, plan_id):
    case = _open_case(case_id)
    plan = services.get_plan(case, plan_id)
    new = request.args.get("new") or str(plan.latest_revision)
    old = request.args.get("old") or (str(small_int(new) - 1) if (small_int(new) or 0) > 1 else new)
    diff = services.compare_revisions(case, plan_id, old, new)
    revisions = services.revisions_of(plan)
    return render_template("records/plan_compare.html", case=case, revisions=revisions, **diff)


@bp.get("/<case_id>/plans/<plan_id>/print")
def plan_print(case_id, plan_id):
    case = _open_case(case_id)
    plan, rev = services.read_plan(case, plan_id, request.args.get("revision"), action="plan.print")
    names = services.user_names([rev.author_id])
    return render_template("records/plan_print.html", case=case, plan=plan, rev=rev, names=names,
                           content=services.content_out(rev.content), area_labels=dict(AREA_CHOICES))
