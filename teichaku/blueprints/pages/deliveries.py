"""配信の失敗 (``/platform/deliveries``): the platform admin's view of notification deliveries
that failed or are stuck, with a retry button.  Ids, kinds, counts, codes and times only."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ...crosstenant.notifications import services
from ...crosstenant.notifications.models import KIND_LABELS
from ...platform.centers import list_centers
from .forms import EmptyForm

bp = Blueprint("deliveries", __name__, url_prefix="/platform/deliveries")


@bp.get("")
def index():
    events = services.problem_deliveries()
    counts = services.delivery_counts()
    centers = {c.id: c for c in list_centers()}
    return render_template("deliveries/index.html", events=events, counts=counts, centers=centers,
                           kind_labels=KIND_LABELS, form=EmptyForm())


@bp.post("/<event_id>/retry")
def retry(event_id):
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.retry_delivery(event_id) or abort(404)  # the delivery is enqueued after the request commits
    flash(_("再配信を開始しました。"), "info")
    return redirect(url_for("deliveries.index"))
