"""Sign-in, two-factor step, sign-out, password and two-factor settings.

The request's boundary commits what a view wrote.  A failed sign-in and a wrong current code
keep their audit entries (``keep_writes``): the record of the attempt must outlive the refusal.
"""
from __future__ import annotations

import time

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user

from ...platform.auth import services
from ...platform.auth.sessions import end_session, start_session
from ...platform.auth.throttle import pending_account_key, throttled_signin
from ...platform.i18n import LOCALES
from ...platform.redirects import same_site_path
from ...platform.transaction import keep_writes
from .forms import LoginForm, OtpForm, PasswordForm, SecondFactorProofForm, TotpChangeForm, TotpSetupForm

bp = Blueprint("auth", __name__)
INVALID = "メールアドレス、パスワードまたは確認コードが正しくありません。"
PENDING_SECONDS = 300


def _safe_next(target: object) -> str:
    """A same-site path to go to after the action, or the dashboard (see ``platform.redirects``)."""
    return same_site_path(target) or url_for("pages.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@throttled_signin
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data, None, enforce_enrollment=False)
        except services.OtpRequired as pending:
            session.clear()
            session["pending_2fa"] = {"user_id": str(pending.user.id), "at": int(time.time()), "next": _safe_next(request.args.get("next"))}
            return redirect(url_for("auth.login_otp"))
        except services.InvalidCredentials:
            g.signin_failed = True
            keep_writes()  # the failed attempt's audit entry
            flash(INVALID, "error")
            return render_template("auth/login.html", form=form), 200
        start_session(user)
        services.record_signin(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.route("/login/otp", methods=["GET", "POST"])
@throttled_signin(account_key=pending_account_key)
def login_otp():
    pending = session.get("pending_2fa")
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        session.pop("pending_2fa", None)
        return redirect(url_for("auth.login"))
    form = OtpForm()
    if form.validate_on_submit():
        user = services.pending_user(pending["user_id"])
        if user is None or not services.verify_second_factor(user, form.otp.data):
            g.signin_failed = True
            keep_writes()  # the failed attempt's audit entry
            flash(INVALID, "error")
            return render_template("auth/otp.html", form=form), 200
        target = pending.get("next")
        start_session(user)
        services.record_signin(user)
        return redirect(_safe_next(target))
    return render_template("auth/otp.html", form=form)


@bp.post("/logout")
def logout():
    end_session()
    flash("ログアウトしました。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.new_password.data)
        except (services.AccountError, ValueError) as exc:
            form.new_password.errors.append(str(exc))
            return render_template("auth/password.html", form=form), 422
        flash("パスワードを変更しました。もう一度ログインしてください。", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/password.html", form=form)


def _this_session() -> str | None:
    """The token hash of the session making a change (spared when the others end)."""
    row = g.get("user_session")
    return row.token_hash if row is not None else None


@bp.route("/account/two-factor", methods=["GET", "POST"])
def totp_setup():
    """Enrol, or replace the second factor (which takes the password and a current code)."""
    changing = current_user.two_factor_enabled
    form = TotpChangeForm() if changing else TotpSetupForm()
    secret = session.get("totp_setup_secret")
    if not secret or request.method == "GET":
        secret = services.new_totp_secret()
        session["totp_setup_secret"] = secret
    status = 200
    if form.validate_on_submit():
        try:
            codes = services.enable_totp(current_user, secret, form.code.data,
                                         password=form.password.data if changing else None,
                                         current_code=form.current_code.data if changing else None,
                                         keep_session=_this_session())
        except services.AccountError as exc:
            keep_writes()  # the audit entry of a wrong current code
            form.code.errors.append(str(exc))
            status = 422
        else:
            session.pop("totp_setup_secret", None)
            return render_template("auth/recovery_codes.html", codes=codes)
    elif form.errors:
        status = 422
    return render_template("auth/totp_setup.html", form=form, secret=secret, changing=changing,
                           uri=services.provisioning_uri(current_user, secret), disable_form=SecondFactorProofForm(),
                           required=services.two_factor_required(current_user)), status


@bp.post("/account/two-factor/disable")
def totp_disable():
    """Remove the second factor: password and a current code; the account's other sessions end."""
    form = SecondFactorProofForm()
    if not form.validate_on_submit():
        flash("パスワードと現在の確認コードを入力してください。", "error")
        return redirect(url_for("auth.totp_setup"))
    try:
        services.disable_totp(current_user, form.password.data, form.current_code.data, keep_session=_this_session())
    except services.AccountError as exc:
        keep_writes()  # the audit entry of a wrong current code
        flash(str(exc), "error")
        return redirect(url_for("auth.totp_setup"))
    flash("二要素認証を無効にしました。", "info")
    return redirect(url_for("auth.totp_setup"))


@bp.post("/locale")
def set_locale():
    locale = request.form.get("locale")
    if locale in LOCALES:
        session["locale"] = locale
    return redirect(_safe_next(request.form.get("next")))
