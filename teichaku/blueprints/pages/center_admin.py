"""The center admin's pages: accounts of their own center and its audit log."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ...platform import transaction
from ...platform.audit.services import entries_for_center
from ...platform.auth import duties, services
from .forms import AuditFilterForm, EmptyForm, UserForm

bp = Blueprint("center_admin", __name__, url_prefix="/center")


@bp.get("/users")
def users():
    return render_template("center_admin/users.html", users=services.users_of_current_center(), form=EmptyForm())


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = services.create_center_account(email=form.email.data, password=form.password.data,
                                                  role=form.role.data, display_name=form.display_name.data,
                                                  display_name_kana=form.display_name_kana.data or "")
            duties.announce_center_admin(user)  # a new center admin reaches the association and the admins
        except (services.AccountError, ValueError) as exc:
            flash(str(exc), "error")
            return render_template("center_admin/user_new.html", form=form), 422
        flash("アカウントを作成しました。", "info")
        return redirect(url_for("center_admin.users"))
    return render_template("center_admin/user_new.html", form=form), (422 if form.errors else 200)


@bp.post("/users/<user_id>/toggle")
def user_toggle(user_id):
    user = services.get_center_user(user_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if user.id == current_user.id:
        flash("自分自身のアカウントは無効にできません。", "error")
        return redirect(url_for("center_admin.users"))
    services.set_user_active(user, not user.active)
    flash("アカウントを更新しました。", "info")
    return redirect(url_for("center_admin.users"))


@bp.post("/users/<user_id>/reset-second-factor")
def user_reset_second_factor(user_id):
    """A staff member lost its second factor: the center admin clears it (audited, the account is
    told, its sessions end; it enrols again at its next sign-in)."""
    user = services.get_center_user(user_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        duties.reset_staff_second_factor(user, current_user)
    except duties.DutyError as exc:
        transaction.refuse()  # answered by a redirect: the refused reset changes nothing
        flash(str(exc), "error")
        return redirect(url_for("center_admin.users"))
    flash("二要素認証をリセットしました。次のログインで登録し直します。", "info")
    return redirect(url_for("center_admin.users"))


def _uuid_or_none(value: str | None):
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@bp.route("/audit", methods=["GET", "POST"])
def audit_log():
    """Filter by person or user; filters come in the POST body so no id sits in a URL."""
    source = request.form if request.method == "POST" else {}
    if request.method == "POST":
        form = AuditFilterForm()
        if not form.validate_on_submit():  # a bad CSRF token is a 400; a filter out of the input ranges a 422
            abort(400 if "csrf_token" in form.errors else 422)
    entries = entries_for_center(person_id=_uuid_or_none(source.get("person_id")),
                                 actor_id=_uuid_or_none(source.get("actor_id")),
                                 action=(source.get("action") or None))
    users = {u.id: u for u in services.users_of_current_center()}
    return render_template("center_admin/audit.html", entries=entries, users=users, form=EmptyForm(), filters=source)
