"""Case pages: list, open a case, view (audited), edit with a version check."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ...platform.errors import VersionConflict, ValidationFailed
from ...platform.extensions import db
from ...tenants.cases import services
from .forms import CaseForm

bp = Blueprint("cases", __name__, url_prefix="/cases")


@bp.get("")
def list():  # noqa: A001 - endpoint name "cases.list"
    items, next_cursor = services.list_cases(limit=50, cursor=request.args.get("cursor"))
    db.session.commit()
    return render_template("cases/list.html", cases=items, next_cursor=next_cursor)


def _form_to_data(form: CaseForm) -> dict:
    return {
        "case_type": form.case_type.data,
        "person": {
            "family_name": form.family_name.data.strip(), "given_name": form.given_name.data.strip(),
            "family_name_kana": form.family_name_kana.data.strip(), "given_name_kana": form.given_name_kana.data.strip(),
            "birth_date": form.birth_date.data, "sex": form.sex.data, "support_needs": form.support_needs.data or [],
        },
        "requested_on": form.requested_on.data,
        "release_date": form.release_date.data,
        "destination_prefecture_code": form.destination_prefecture_code.data or None,
    }


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = CaseForm()
    if form.validate_on_submit():
        try:
            case = services.create_case(_form_to_data(form), created_by=current_user)
        except ValidationFailed as exc:
            for field, messages in exc.details.get("fields", {}).items():
                getattr(form, field, form.release_date).errors = [*messages]
            db.session.rollback()
            return render_template("cases/new.html", form=form), 422
        db.session.commit()
        flash(f"ケース {case.case_number} を登録しました。", "info")
        return redirect(url_for("cases.detail", case_id=case.id))
    return render_template("cases/new.html", form=form), (422 if form.errors else 200)


@bp.get("/<case_id>")
def detail(case_id):
    case = services.read_case(case_id) or abort(404)
    db.session.commit()
    return render_template("cases/detail.html", case=case)


@bp.route("/<case_id>/edit", methods=["GET", "POST"])
def edit(case_id):
    case = services.read_case(case_id) or abort(404)
    form = CaseForm(obj=case.person if request.method == "GET" else None)
    if request.method == "GET":
        form.case_type.data = case.case_type
        form.requested_on.data, form.release_date.data = case.requested_on, case.release_date
        form.destination_prefecture_code.data = case.destination_prefecture_code
    if form.validate_on_submit():
        data = _form_to_data(form)
        data.pop("case_type")
        try:
            services.update_case(case, data, expected_version=int(request.form.get("version", "0") or 0))
            db.session.commit()
        except VersionConflict as exc:
            db.session.rollback()
            flash(exc.message + "（入力した内容は下に残っています）", "error")
            return render_template("cases/edit.html", form=form, case=services.read_case(case_id), stale=True), 409
        except ValidationFailed as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return render_template("cases/edit.html", form=form, case=case), 422
        flash("保存しました。", "info")
        return redirect(url_for("cases.detail", case_id=case.id))
    db.session.commit()
    return render_template("cases/edit.html", form=form, case=case), (422 if form.errors else 200)


