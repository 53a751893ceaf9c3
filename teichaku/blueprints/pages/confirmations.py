"""The association's confirmations (two people): center admins invited by the operator, and
second-factor resets the operator asked for.  Confirm or refuse; both are audited."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ...platform import transaction
from ...platform.auth import duties
from .forms import EmptyForm

bp = Blueprint("confirmations", __name__, url_prefix="/association")


@bp.get("/confirmations")
def index():
    return render_template("confirmations/index.html", items=duties.pending_confirmations(), form=EmptyForm(),
                           labels=duties.STATUS_LABELS)


@bp.post("/confirmations/<confirmation_id>")
def decide(confirmation_id):
    confirmation = duties.get_pending(confirmation_id) or abort(404)
    decision = request.form.get("decision")
    if not EmptyForm().validate_on_submit() or decision not in ("confirm", "refuse"):
        abort(400)
    try:
        duties.decide(confirmation, current_user, confirm=decision == "confirm")
    except duties.DutyError as exc:
        transaction.refuse()  # answered by a redirect: the refused decision changes nothing
        flash(str(exc), "error")
        return redirect(url_for("confirmations.index"))
    flash("確認しました。" if decision == "confirm" else "確認しないことにしました。", "info")
    return redirect(url_for("confirmations.index"))
