"""The inbox (``/notifications``): every signed-in role's notifications of cross-tenant events,
marking them read, and the user's e-mail preference.  Also puts the unread count in the header."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, has_request_context, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import BuildError
from wtforms import BooleanField

from ...crosstenant.notifications import services
from ...platform.extensions import db
from .forms import EmptyForm, RangedForm

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

PAGE_SIZE = 50


class EmailPreferenceForm(RangedForm):
    email_notifications = BooleanField(_l("新しいお知らせをメールでも受け取る"))


@bp.app_context_processor
def _header_unread_count() -> dict:
    """``unread_notifications`` for the header: counted once per request, signed-in users only."""
    return {"unread_notifications": unread_for_header()}


def unread_for_header() -> int | None:
    if not has_request_context() or not getattr(current_user, "is_authenticated", False):
        return None
    if "unread_notifications" not in g:
        try:
            g.unread_notifications = services.unread_count(current_user)
        except SQLAlchemyError:  # an error page rendered after a database failure: no count
            db.session.rollback()
            g.unread_notifications = None
    return g.unread_notifications


def transfer_url(transfer_id) -> str | None:
    """The transfer's page, once the transfers module provides one."""
    if transfer_id is None:
        return None
    try:
        return url_for("transfers.detail", transfer_id=transfer_id)
    except BuildError:
        return None


@bp.get("")
def inbox():
    cursor = request.args.get("cursor") or None
    items, next_cursor = services.list_notifications(current_user, limit=PAGE_SIZE, cursor=cursor)
    preference = EmailPreferenceForm(email_notifications=current_user.email_notifications)
    return render_template("notifications/inbox.html", items=items, next_cursor=next_cursor, cursor=cursor,
                           form=EmptyForm(), preference=preference, transfer_url=transfer_url,
                           smtp_configured=bool(current_app.config.get("SMTP_HOST")))


@bp.post("/<notification_id>/read")
def read(notification_id):
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.mark_read(current_user, notification_id) or abort(404)
    return redirect(url_for("notifications.inbox"))


@bp.post("/read-all")
def read_all():
    if not EmptyForm().validate_on_submit():
        abort(400)
    count = services.mark_all_read(current_user)
    if count:
        flash(_("%(count)s件のお知らせを既読にしました。", count=count), "info")
    return redirect(url_for("notifications.inbox"))


@bp.post("/preferences")
def preferences():
    form = EmailPreferenceForm()
    if not form.validate_on_submit():
        abort(400)
    services.set_email_preference(current_user, form.email_notifications.data)
    flash(_("メール通知の設定を保存しました。"), "info")
    return redirect(url_for("notifications.inbox"))
