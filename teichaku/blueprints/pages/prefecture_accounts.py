"""The operator's page of prefecture officials (都道府県担当者): invite one, disable or re-enable it.

A prefecture official confirms the figures of every center of its prefecture, so no center
creates or manages it (``auth.services``).  The operator invites it by e-mail address and
prefecture (chosen by name); the account gets a password nobody knows, and its owner sets one
through the one-time link, which goes by e-mail when ``SMTP_HOST`` is set and is otherwise
printed only on the shell (``flask --app wsgi users prefecture-link EMAIL``).  These pages never
show the link.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from ...platform.auth import services as account_services
from ...platform.centers import list_prefectures
from .forms import REQUIRED, EmptyForm, RangedForm

bp = Blueprint("prefecture_accounts", __name__, url_prefix="/platform/prefectures")


class InviteForm(RangedForm):
    display_name = StringField(_l("氏名"), validators=[DataRequired(REQUIRED), Length(max=100)])
    email = EmailField(_l("メールアドレス"), validators=[
        DataRequired(REQUIRED), Email(_l("メールアドレスの形式が正しくありません。"))])
    prefecture = SelectField(_l("都道府県"), validators=[DataRequired(REQUIRED)])


def _invite_form() -> InviteForm:
    form = InviteForm()
    form.prefecture.choices = [("", _("選択してください"))] + [(p.code, p.name) for p in list_prefectures()]
    return form


def _page(form: InviteForm, status: int = 200):
    names = {p.code: p.name for p in list_prefectures()}
    return render_template("platform_admin/prefectures.html", form=form, toggle_form=EmptyForm(),
                           officials=account_services.prefecture_officials(), prefecture_names=names), status


@bp.route("", methods=["GET", "POST"])
def index():
    """The list, and the invitation form (POST)."""
    form = _invite_form()
    if not form.validate_on_submit():
        return _page(form, 422 if form.errors else 200)
    try:
        user = account_services.invite_prefecture_official(
            email=form.email.data, prefecture_code=form.prefecture.data, display_name=form.display_name.data)
    except account_services.AccountError as exc:  # refused before anything was written
        flash(str(exc), "error")
        return _page(form, 422)
    # The e-mail leaves inside the request's transaction, which commits when the page answers: were
    # that commit to fail, the link would lead to the invalid-link page and nothing else.
    if account_services.send_setup_email(user):
        flash(_("招待メールを送りました。本人がメールのリンクからパスワードを設定すると、ログインできます。"), "info")
    else:
        flash(_("アカウントを作成しました。招待メールは送られていません。パスワード設定用のリンクは、"
                "サーバーで flask --app wsgi users prefecture-link（メールアドレス）を実行して取得し、本人に渡してください。"),
              "info")
    return redirect(url_for("prefecture_accounts.index"))


@bp.post("/<user_id>/toggle")
def toggle(user_id):
    """Disable (its sessions and tokens end now) or re-enable a prefecture official."""
    user = account_services.get_prefecture_official(user_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    account_services.set_prefecture_official_active(user, not user.active)
    flash(_("アカウントを更新しました。"), "info")
    return redirect(url_for("prefecture_accounts.index"))
