"""The platform admin's pages: centers and their first admin.  No case data is reachable here."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Email, Length

from ...platform import centers as center_services
from ...platform.auth import services as account_services
from ...platform.auth.passwords import PasswordPolicyError
from ...platform.extensions import db
from ...platform.handover import services as handover_services
from .forms import REQUIRED, CenterEditForm, CenterForm, FirstAdminForm

bp = Blueprint("platform_admin", __name__, url_prefix="/platform")


def _center_or_404(code: str):
    return center_services.center_by_code(code) or abort(404)


@bp.get("/centers")
def centers():
    return render_template("platform_admin/centers.html", centers=center_services.list_centers())


@bp.route("/centers/new", methods=["GET", "POST"])
def center_new():
    form = CenterForm()
    if form.validate_on_submit():
        try:
            center_services.add_center(form.code.data, form.name.data, form.prefecture_code.data,
                                       form.region.data, form.prefecture_name.data)
        except center_services.CenterError as exc:
            flash(str(exc), "error")
            return render_template("platform_admin/center_new.html", form=form), 422
        db.session.commit()
        flash("センターを追加しました。", "info")
        return redirect(url_for("platform_admin.centers"))
    return render_template("platform_admin/center_new.html", form=form), (422 if form.errors else 200)


@bp.route("/centers/<code>", methods=["GET", "POST"])
def center_edit(code):
    center = _center_or_404(code)
    form = CenterEditForm(obj=center)
    if form.validate_on_submit():
        try:
            if form.name.data != center.name:
                center_services.rename_center(center, form.name.data)
            if form.active.data != center.active:
                center_services.set_center_active(center, form.active.data)
        except center_services.CenterError as exc:
            flash(str(exc), "error")
            return render_template("platform_admin/center_edit.html", form=form, center=center, admin_form=FirstAdminForm()), 422
        db.session.commit()
        flash("センターを更新しました。", "info")
        return redirect(url_for("platform_admin.centers"))
    return render_template("platform_admin/center_edit.html", form=form, center=center, admin_form=FirstAdminForm()), (422 if form.errors else 200)


@bp.post("/centers/<code>/first-admin")
def center_first_admin(code):
    center = _center_or_404(code)
    form = FirstAdminForm()
    if form.validate_on_submit():
        try:
            account_services.create_user(email=form.email.data, password=form.password.data, role="center_admin",
                                         center_code=center.code, display_name=form.display_name.data)
        except (account_services.AccountError, ValueError) as exc:
            flash(str(exc), "error")
            return redirect(url_for("platform_admin.center_edit", code=code))
        db.session.commit()
        flash("センター長のアカウントを作成しました。", "info")
    else:
        flash("入力内容に誤りがあります。", "error")
    return redirect(url_for("platform_admin.center_edit", code=code))


# --- 受託法人の変更 (center handover inside this installation) -----------------------------------

class HandoverForm(FlaskForm):
    operator_name = StringField(_l("新しい受託法人の名称"), validators=[DataRequired(REQUIRED), Length(max=200)])
    admin_name = StringField(_l("新しいセンター長の氏名"), validators=[DataRequired(REQUIRED), Length(max=100)])
    admin_email = EmailField(_l("新しいセンター長のメールアドレス"), validators=[
        DataRequired(REQUIRED), Email(_l("メールアドレスの形式が正しくありません。"))])
    confirm = BooleanField(_l("旧受託法人の職員とセンター長のアカウントをすべて無効にすることを確認しました"),
                           validators=[DataRequired(_l("確認のチェックを入れてください。"))])


def _handover_page(center, form, status: int = 200):
    return render_template("platform_admin/center_handover.html", center=center, form=form,
                           history=handover_services.operator_history(center),
                           accounts=len(handover_services.operator_accounts(center))), status


@bp.route("/centers/<code>/handover", methods=["GET", "POST"])
def center_handover(code):
    """Disable the old operator's accounts, record the new operator, invite the new center admin;
    the one-time set-password link is shown on the answer page, once."""
    center = _center_or_404(code)
    form = HandoverForm()
    if not form.validate_on_submit():
        return _handover_page(center, form, 422 if form.errors else 200)
    try:
        result = handover_services.hand_over_center(
            center, operator_name=form.operator_name.data, new_admin_email=form.admin_email.data,
            new_admin_name=form.admin_name.data, actor=current_user)
    except (handover_services.HandoverError, account_services.AccountError, PasswordPolicyError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _handover_page(center, form, 422)
    db.session.commit()
    return render_template("platform_admin/handover_done.html", center=center, result=result)
