"""Case pages: list and search, open a case (finding an existing person first), the case page
with needs, eligibility and lifecycle, edit with a version check, the pre-release view."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ...platform.auth.services import users_of_current_center
from ...platform import transaction
from ...platform.errors import InvalidState, ValidationFailed, VersionConflict
from ...tenants.cases import services
from ...tenants.cases.lifecycle import CERTIFICATE_KINDS, allowed_next
from ...tenants.persons.services import find_people
from .forms import (
    CaseEditForm, CaseForm, CaseSearchForm, ExistingPersonCaseForm, EligibilityForm, FollowUpForm, NeedForm, OverrideForm, PersonLookupForm,
    TransitionForm,
)
from .refusals import discard_changes, refused

bp = Blueprint("cases", __name__, url_prefix="/cases")

PERSON_KEYS = ("family_name", "given_name", "family_name_kana", "given_name_kana", "birth_date", "sex")
CASE_KEYS = ("requested_on", "request_source", "probation_office", "facility_name", "facility_type", "release_date",
             "destination_prefecture_code", "destination_municipality_name", "destination_municipality_code",
             "follow_up_on", "requester_type", "topic", "suspect_stage", "outcome_at_release")


def _blank_to_none(value):
    return None if value in ("", None) else (value.strip() if isinstance(value, str) else value)


def _person_data(form) -> dict:
    data = {k: _blank_to_none(getattr(form, k).data) for k in PERSON_KEYS}
    data["support_needs"] = form.support_needs.data or []
    data["public_assistance"] = form.public_assistance.data or "none"
    data["certificates"] = [{"kind": kind, "status": getattr(form, f"cert_{kind}").data, "grade": ""}
                            for kind in CERTIFICATE_KINDS if getattr(form, f"cert_{kind}").data]
    return data


def _case_data(form) -> dict:
    return {k: _blank_to_none(getattr(form, k).data) for k in CASE_KEYS if _blank_to_none(getattr(form, k).data) is not None}


@bp.route("", methods=["GET", "POST"])
def list():  # noqa: A001 - endpoint "cases.list"
    """The case list; searching POSTs the criteria so that names never sit in a URL."""
    form = CaseSearchForm()
    form.assigned_user_id.choices = [("", form.assigned_user_id.choices[0][1])] + [
        (str(u.id), u.display_name or u.email) for u in users_of_current_center()]
    criteria: dict = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("cases/list.html", form=form, cases=[], next_cursor=None), 422
        criteria = {k: _blank_to_none(v) for k, v in form.data.items() if k not in ("csrf_token",) and _blank_to_none(v) is not None}
    try:
        items, next_cursor = services.search_cases(limit=50, **criteria)
    except ValidationFailed as exc:
        status = refused(exc, form, announce=True)
        return render_template("cases/list.html", form=form, cases=[], next_cursor=None), status
    return render_template("cases/list.html", form=form, cases=items, next_cursor=next_cursor)


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Open a case.  Staff first look for the person among the center's existing people."""
    form, lookup = CaseForm(), PersonLookupForm(prefix="lookup")
    matches = None
    if request.method == "POST" and "lookup-q" in request.form:
        if lookup.validate_on_submit():
            matches = find_people(lookup.q.data)
        return render_template("cases/new.html", form=CaseForm(formdata=None), lookup=lookup, matches=matches)
    existing = _blank_to_none(request.form.get("person_id"))
    if existing:
        form = ExistingPersonCaseForm()  # the person is already known: only the case's fields
    if form.validate_on_submit():
        data = {"case_type": form.case_type.data, **_case_data(form)}
        if existing:
            data["person_id"] = existing
        else:
            data["person"] = _person_data(form)
        try:
            case = services.create_case(data, created_by=current_user)
        except ValidationFailed as exc:
            status = refused(exc, form, announce=True)
            return render_template("cases/new.html", form=CaseForm(formdata=None) if existing else form, lookup=lookup,
                                   matches=None), status
        flash(f"ケース {case.case_number} を登録しました。", "info")
        return redirect(url_for("cases.detail", case_id=case.id))
    if existing:  # a bad choice of person: back to the lookup step
        flash("対象者の選択が正しくありません。もう一度検索してください。", "error")
        return render_template("cases/new.html", form=CaseForm(formdata=None), lookup=lookup, matches=None), 422
    return render_template("cases/new.html", form=form, lookup=lookup, matches=None), (422 if form.errors else 200)


def _detail_context(case) -> dict:
    version = str(case.version)
    return {
        "case": case,
        "allowed": allowed_next(case.case_type, case.status),
        "unmet": services.eligibility_unmet(case) if case.case_type == "coordination" else [],
        "eligibility_form": EligibilityForm(formdata=None, data={**(case.eligibility or {}), "version": version,
                                                                 "consent_on": None}),
        "override_form": OverrideForm(formdata=None, data={"version": version}),
        "transition_form": TransitionForm(formdata=None, data={"version": version}),
        "follow_up_form": FollowUpForm(formdata=None, data={"version": version}),
        "need_forms": {n.id: NeedForm(formdata=None, obj=n, prefix=f"need-{n.id}") for n in case.needs},
    }


@bp.get("/<case_id>")
def detail(case_id):
    case = services.read_case(case_id) or abort(404)
    context = _detail_context(case)
    return render_template("cases/detail.html", **context)


def _act(case_id, action):
    """Run a change on the case page: conflicts and refusals come back as Japanese messages
    (the refusal, then each field error) above the case page as it is saved now."""
    case = services.read_case(case_id) or abort(404)
    try:
        return action(case)
    except (VersionConflict, InvalidState, ValidationFailed) as exc:
        status = refused(exc)
        case = services.read_case(case_id)
        context = _detail_context(case)
        transaction.keep_writes()  # the case page's reads stay audited even though the answer is a refusal
        return render_template("cases/detail.html", **context), status


def _version(form) -> int | None:
    try:
        return int(form.version.data)
    except (TypeError, ValueError):
        return None


@bp.post("/<case_id>/eligibility")
def eligibility(case_id):
    form = EligibilityForm()
    def action(case):
        if not form.validate_on_submit():
            raise ValidationFailed("入力内容に誤りがあります。", fields={k: v for k, v in form.errors.items()})
        services.set_eligibility(case, form.data, expected_version=_version(form))
        flash("特別調整の要件を記録しました。", "info")
        return redirect(url_for("cases.detail", case_id=case.id))
    return _act(case_id, action)


@bp.post("/<case_id>/eligibility/override")
def override(case_id):
    form = OverrideForm()
    def action(case):
        if not form.validate_on_submit():
            raise ValidationFailed("理由を5文字以上で記録してください。", fields={k: v for k, v in form.errors.items()})
        services.override_eligibility(case, form.reason.data, actor=current_user, expected_version=_version(form))
        flash("要件確認の省略を記録しました。", "info")
        return redirect(url_for("cases.detail", case_id=case.id))
    return _act(case_id, action)


@bp.post("/<case_id>/transition")
def transition(case_id):
    form = TransitionForm()
    def action(case):
        if not form.validate_on_submit():
            raise ValidationFailed("入力内容に誤りがあります。", fields={k: v for k, v in form.errors.items()})
        closing = None
        if form.to_status.data == "closed":
            closing = {k: _blank_to_none(getattr(form, k).data) for k in (
                "closing_reason", "closed_on", "outcome_placement", "outcome_municipality_name",
                "outcome_municipality_code", "closing_note")}
            closing = {k: v for k, v in closing.items() if v is not None}
        services.transition_case(case, form.to_status.data, expected_version=_version(form), closing=closing,
                                 released_on=form.released_on.data)
        flash("状態を変更しました。", "info")
        return redirect(url_for("cases.detail", case_id=case.id))
    return _act(case_id, action)


@bp.post("/<case_id>/follow-up")
def follow_up(case_id):
    form = FollowUpForm()
    def action(case):
        if not form.validate_on_submit():
            abort(400)
        fu = services.open_follow_up(case, expected_version=_version(form), created_by=current_user)
        flash(f"フォローアップのケース {fu.case_number} を開始しました。", "info")
        return redirect(url_for("cases.detail", case_id=fu.id))
    return _act(case_id, action)


@bp.post("/<case_id>/needs/<need_id>")
def need(case_id, need_id):
    case = services.read_case(case_id) or abort(404)
    item = services.get_need(case, need_id) or abort(404)
    form = NeedForm(prefix=f"need-{item.id}")
    def action(case):
        if not form.validate_on_submit():
            raise ValidationFailed("入力内容に誤りがあります。", fields={k: v for k, v in form.errors.items()})
        services.update_need(case, item, {"status": form.status.data, "responsible": form.responsible.data or "",
                                          "note": form.note.data or ""}, expected_version=_version(form))
        flash("ニーズを更新しました。", "info")
        return redirect(url_for("cases.detail", case_id=case.id))
    return _act(case_id, action)


@bp.route("/<case_id>/edit", methods=["GET", "POST"])
def edit(case_id):
    case = services.read_case(case_id) or abort(404)
    if request.method == "GET":
        form = CaseEditForm(formdata=None, obj=case)
        for key in PERSON_KEYS + ("support_needs", "public_assistance"):
            getattr(form, key).data = getattr(case.person, key)
        for cert in case.person.certificates or []:
            getattr(form, f"cert_{cert['kind']}").data = cert["status"]
        form.version.data = str(case.version)
        return render_template("cases/edit.html", form=form, case=case)
    form = CaseEditForm()
    if not form.validate_on_submit():
        return render_template("cases/edit.html", form=form, case=case), 422
    changes = {k: _blank_to_none(getattr(form, k).data) for k in CASE_KEYS}
    changes["requested_on"] = changes["requested_on"] or case.requested_on
    changes["person"] = _person_data(form)
    try:
        services.update_case(case, changes, expected_version=_version(form))
    except VersionConflict as exc:
        discard_changes()
        flash(exc.message + "（入力した内容は下に残っています）", "error")
        return render_template("cases/edit.html", form=form, case=services.read_case(case_id), stale=True), 409
    except ValidationFailed as exc:
        status = refused(exc, form, announce=True)
        return render_template("cases/edit.html", form=form, case=case), status
    flash("保存しました。", "info")
    return redirect(url_for("cases.detail", case_id=case.id))


@bp.get("/pre-release")
def pre_release():
    try:
        days = max(0, min(365, int(request.args.get("days", 30))))
    except ValueError:
        days = 30
    items = services.pre_release(days)
    return render_template("cases/pre_release.html", items=items, days=days)
