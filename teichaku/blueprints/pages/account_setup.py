"""Setting the password of an invited account (the one-time link of a handover invitation).

Public: the invited person is not signed in yet.  The token travels in the query string of the
link (request logs carry the path only) and then in the form's hidden field; an invalid, expired,
used or disabled account's token gets one answer (404), whichever it is.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo

from ...platform.auth.passwords import PasswordPolicyError
from ...platform.auth.setup_links import SETUP_PATH
from ...platform.handover import invitations
from .forms import REQUIRED, RangedForm

bp = Blueprint("account_setup", __name__)


class SetupForm(RangedForm):
    token = HiddenField()
    password = PasswordField(_l("新しいパスワード（12文字以上）"), validators=[DataRequired(REQUIRED)])
    password_again = PasswordField(_l("新しいパスワード（確認）"), validators=[
        DataRequired(REQUIRED), EqualTo("password", _l("確認用のパスワードが一致しません。"))])


@bp.route(SETUP_PATH, methods=["GET", "POST"])
def setup():
    form = SetupForm()
    token = form.token.data if request.method == "POST" else request.args.get("token", "")
    user = invitations.user_for_token(token)
    if user is None:
        return render_template("account_setup/invalid.html"), 404
    form.token.data = token
    if form.validate_on_submit():
        try:
            invitations.complete_setup(user, form.password.data)
        except PasswordPolicyError as exc:
            form.password.errors.append(str(exc))
            return render_template("account_setup/setup.html", form=form, email=user.email), 422
        flash(_("パスワードを設定しました。メールアドレスと新しいパスワードでログインしてください。"), "info")
        return redirect(url_for("auth.login"))
    return render_template("account_setup/setup.html", form=form, email=user.email), (422 if form.errors else 200)
