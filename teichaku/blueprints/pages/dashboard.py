"""The signed-in home page: what each role starts its day with."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from ...platform.permissions import can
from ...tenants.cases.dashboard import center_overview

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return redirect(url_for("pages.dashboard"))


@bp.get("/dashboard")
def dashboard():
    overview = center_overview() if can(current_user.role, "case.read") else None
    return render_template("dashboard.html", overview=overview)
