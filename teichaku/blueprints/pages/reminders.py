"""Dismissing a deadline reminder from the dashboard."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for

from ...tenants.cases.services import dismiss_reminder
from .forms import EmptyForm

bp = Blueprint("reminders", __name__, url_prefix="/reminders")


@bp.post("/<reminder_id>/dismiss")
def dismiss(reminder_id):
    if not EmptyForm().validate_on_submit():
        abort(400)
    dismiss_reminder(reminder_id)
    return redirect(url_for("pages.dashboard"))
