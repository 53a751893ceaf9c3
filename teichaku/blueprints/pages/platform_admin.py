"""The platform admin's pages: centers, the invitation of their first admin, second-factor reset
requests.  No case data is reachable here, and no password or set-password link either: an
invitee's link goes to the invitee (e-mail) or to the shell, and the association confirms
(platform/auth/duties.py)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Email, Length

from ...platform import centers as center_services
from ...platform import transaction
from ...platform.auth import duties
from ...platform.auth import services as account_services
from ...platform.auth.passwords import PasswordPolicyError
from ...platform.handover import services as handover_services
from .forms import REQUIRED, CenterEditForm, CenterForm, InviteAdminForm, ResetRequestForm, RangedForm

bp = Blueprint("platform_admin", __name__, url_prefix="/platform")
# A refused change is never committed: the request's boundary rolls back an answer with an error
# status, and a refusal answered by a redirect says ``transaction.refuse()``.  (An explicit
# rollback here would expire the signed-in operator's row, which RLS then no longer shows.)


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
            return _center_page(center, form, 422)
        flash("センターを更新しました。", "info")
        return redirect(url_for("platform_admin.centers"))
    return _center_page(center, form, 422 if form.errors else 200)


def _center_page(center, form, status: int = 200):
    """The center's settings with its invitations (status only: never a link or a token)."""
    return render_template("platform_admin/center_edit.html", form=form, center=center, admin_form=InviteAdminForm(),
                           invitations=duties.invitations_of_center(center), labels=duties.STATUS_LABELS,
                           has_admin=duties.has_usable_admin(center)), status


def _send_invitation(user) -> None:
    """The link to the invitee by e-mail, or a pointer to the shell command.  The invitation and the
    record of the e-mail are committed together when the page answers (were that commit to fail, the
    link would lead to the invalid-link page and nothing else)."""
    try:
        sent = duties.send_invitation(user)
    except OSError:  # smtplib's errors are OSErrors: the invitation stands, the link goes by the shell
        flash("招待メールを送信できませんでした。サーバーのシェルで `flask --app wsgi users invitation-link "
              "メールアドレス` を実行してリンクを取得し、本人に届けてください。", "error")
        return
    if sent:
        flash("招待メールを送信しました。本人がパスワードを設定し、全国協議会が確認するとログインできます。", "info")
    else:
        flash("招待しました。メール送信が設定されていないため、リンクはサーバーのシェルで `flask --app wsgi users "
              "invitation-link メールアドレス` を実行して取得し、本人に届けてください。全国協議会の確認後にログインできます。", "info")


@bp.post("/centers/<code>/invite-admin")
def center_invite_admin(code):
    """Invite the center's first admin: no password chosen here, no link shown here."""
    center = _center_or_404(code)
    form = InviteAdminForm()
    if not form.validate_on_submit():
        flash("入力内容に誤りがあります。", "error")
        return redirect(url_for("platform_admin.center_edit", code=code))
    try:
        user = duties.invite_first_admin(center, email=form.email.data, display_name=form.display_name.data,
                                         actor=current_user)
    except (duties.DutyError, account_services.AccountError, PasswordPolicyError) as exc:
        transaction.refuse()  # answered by a redirect: the refused invitation changes nothing
        flash(str(exc), "error")
        return redirect(url_for("platform_admin.center_edit", code=code))
    _send_invitation(user)
    return redirect(url_for("platform_admin.center_edit", code=code))


# --- lost second factors of accounts other than staff (the association confirms) -------------------

@bp.route("/second-factor-resets", methods=["GET", "POST"])
def second_factor_resets():
    """Ask for the reset of an account's lost second factor; nothing changes until an association
    account confirms.  (A center's staff are reset by their center admin.)"""
    form = ResetRequestForm()
    status = 200
    if form.validate_on_submit():
        try:
            duties.request_second_factor_reset(form.email.data, current_user)
        except duties.DutyError as exc:
            flash(str(exc), "error")
            status = 422
        else:
            flash("リセットを依頼しました。全国協議会のアカウントが確認するとリセットされます。", "info")
            return redirect(url_for("platform_admin.second_factor_resets"))
    elif form.errors:
        status = 422
    return render_template("platform_admin/second_factor_resets.html", form=form, requests=duties.second_factor_resets(),
                           labels=duties.STATUS_LABELS), status


# --- 受託法人の変更 (center handover inside this installation) -----------------------------------

class HandoverForm(RangedForm):
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
    """Disable the old operator's accounts, record the new operator, invite the new center admin
    (its link goes to the invitee or the shell, never this page; the association confirms)."""
    center = _center_or_404(code)
    form = HandoverForm()
    if not form.validate_on_submit():
        return _handover_page(center, form, 422 if form.errors else 200)
    try:
        result = handover_services.hand_over_center(
            center, operator_name=form.operator_name.data, new_admin_email=form.admin_email.data,
            new_admin_name=form.admin_name.data, actor=current_user)
    except (handover_services.HandoverError, account_services.AccountError, PasswordPolicyError) as exc:
        flash(str(exc), "error")
        return _handover_page(center, form, 422)
    _send_invitation(result.new_admin)
    return render_template("platform_admin/handover_done.html", center=center, operator_name=result.operator_name,
                           previous_operator=result.previous_operator, deactivated=result.deactivated,
                           invitee_email=result.new_admin.email)
