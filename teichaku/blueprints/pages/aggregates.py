"""National aggregate pages (全国集計): the national dashboard (ministry, association), a center's
own figures next to the national ones with its annual report and the submission (center admin),
the prefecture's centers with confirmation (prefecture viewer), and the exports.

Views are thin: parse the query or form, call ``crosstenant/aggregates/overview`` (which hands
over only suppressed national figures and the viewer's own exact ones), render; the request's
boundary commits.  A page answered with an error status keeps its audited read.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ...crosstenant.aggregates import charts, labels, overview, reporting, rules, submissions
from ...crosstenant.aggregates.reporting import NotVisible, Viewer
from ...platform.errors import DomainError, ValidationFailed
from ...platform.i18n import fiscal_year_label
from ...platform.permissions import ROLE_LABELS, Role
from ...platform.transaction import keep_writes
from ...platform.input_ranges import small_int
from ...tenants.cases.lifecycle import CASE_TYPES
from .forms import RangedForm
from .refusals import refused

bp = Blueprint("aggregates", __name__, url_prefix="/aggregates")

DEFAULT_BY = ("region", "case_type")
GEOGRAPHIC = ("center", "prefecture", "region")


class SubmitForm(RangedForm):
    fiscal_year = IntegerField(validators=[DataRequired()])
    version = IntegerField(validators=[Optional()])


class ConfirmForm(SubmitForm):
    center = HiddenField(validators=[DataRequired()])


class ReopenForm(ConfirmForm):
    reason = TextAreaField(_l("再開の理由"), validators=[DataRequired(_l("再開の理由を入力してください。")),
                                                     Length(max=submissions.REASON_MAX)])


# --- query parsing -------------------------------------------------------------------------------

def _fiscal_year_arg() -> tuple[int, list[str]]:
    """The ``fiscal_year`` of the query (this fiscal year when absent) and its errors."""
    raw = request.args.get("fiscal_year", "").strip()
    current = reporting.current_fiscal_year()
    if not raw:
        return current, []
    year = small_int(raw)
    message = reporting.fiscal_year_error(year) if year is not None else _("年度は西暦の数字で指定してください。")
    return (current, [message]) if message else (year, [])


def _by_arg() -> tuple[tuple[str, ...], list[str]]:
    raw = request.args.get("by")
    if raw is None:
        return DEFAULT_BY, []
    try:
        return reporting.parse_by(raw), []
    except ValueError:
        return DEFAULT_BY, [_("内訳の指定が正しくありません。一覧から選んでください。")]


def _choice_arg(name: str, allowed, default) -> tuple[str | None, list[str]]:
    raw = request.args.get(name, "")
    if raw == "" or raw in allowed:
        return (raw or default), []
    return default, [_("選択肢にない値です。")]


def _year_choices() -> list[tuple[int, str]]:
    years = range(reporting.current_fiscal_year(), reporting.FIRST_FISCAL_YEAR - 1, -1)
    return [(y, fiscal_year_label(y)) for y in years]


def _viewer() -> Viewer:
    return Viewer.of(current_user)


# --- labels for templates ----------------------------------------------------------------------------

def _labeller(centers):
    """A function the templates call to name a key: a center or prefecture by name, a region as it
    is, a total as 全国 (geographic) or 計, any other value by its translated label."""
    prefectures = {g.prefecture_code: g.prefecture_name for g in centers.values()}

    def label(dimension, value) -> str:
        if value is None:
            geographic = dimension in (*GEOGRAPHIC, "sending_region", "receiving_region")
            return _(labels.NATIONAL_LABEL) if geographic else _(labels.TOTAL_LABEL)
        if dimension == "center":
            return centers[value].name if value in centers else str(value)
        if dimension == "prefecture":
            return prefectures.get(value, str(value))
        return _(labels.value_label(dimension, value))
    return label


def _cell_key(row: dict, keys) -> str:
    """A stable name of a published cell (``data-cell`` in the page): its keys, "" for totals."""
    return "|".join("" if row[k] is None else str(row[k]) for k in keys)


def crosstab(rows: list[dict], by: tuple[str, ...]):
    """Rows of a table by one or two dimensions laid out for display: (row keys, column keys,
    (row, column) -> published row).  One dimension: a single column."""
    if len(by) < 2:
        keys = list(dict.fromkeys(r[by[0]] for r in rows)) if by else [None]
        return keys, [None], {(r[by[0]] if by else None, None): r for r in rows}
    first, second = by
    row_keys = list(dict.fromkeys(r[first] for r in rows))
    column_keys = list(dict.fromkeys(r[second] for r in rows))
    return row_keys, column_keys, {(r[first], r[second]): r for r in rows}


def _breakdown_label(choice: str) -> str:
    """"region,case_type" -> 地域ブロック × 業務の種類; "" -> 全国（合計のみ）."""
    if not choice:
        return _("全国（合計のみ）")
    return " × ".join(_(labels.DIMENSION_LABELS[d]) for d in choice.split(","))


def _common_context(centers) -> dict:
    return {
        "label": _labeller(centers), "labels": labels, "cell_key": _cell_key, "crosstab": crosstab,
        "year_choices": _year_choices(), "status_labels": submissions.STATUS_LABELS,
        "action_labels": submissions.ACTION_LABELS, "role_names": _role_names(),
        "reporting_choices": reporting.BREAKDOWN_CHOICES, "breakdown_label": _breakdown_label,
        "family_labels": {code: view.label for code, view in reporting.FAMILY_VIEWS.items()},
        "transfer_labels": {m: _(rules.FAMILIES[f"transfers_{m}"].label) + _("（依頼元 × 依頼先の地域ブロック）")
                            for m in reporting.TRANSFER_MEASURES},
        "measure_labels": {code: spec.label for code, spec in rules.MEASURES.items()},
        "headline_labels": [(code, reporting.headline_label(code)) for code in (*rules.HEADLINES, rules.FU_OPEN)],
    }


def _role_names() -> dict:
    return {str(role): name for role, name in ROLE_LABELS.items()}


# --- pages ---------------------------------------------------------------------------------------------

@bp.get("")
def index():
    """Where each role's figures are."""
    role = Role(current_user.role)
    target = {Role.CENTER_ADMIN: "aggregates.center", Role.PREFECTURE: "aggregates.prefecture"}.get(
        role, "aggregates.national")
    return redirect(url_for(target))


@bp.get("/national")
def national():
    fiscal_year, errors = _fiscal_year_arg()
    by, by_errors = _by_arg()
    level, level_errors = _choice_arg("level", reporting.LEVELS, "national")
    rank_type, rank_errors = _choice_arg("rank", CASE_TYPES, None)
    errors = {"fiscal_year": errors, "by": by_errors, "level": level_errors, "rank": rank_errors}
    return _render_national(fiscal_year, errors, by=by, level=level, rank_type=rank_type)


def _render_national(fiscal_year: int, errors: dict, *, by=DEFAULT_BY, level="national", rank_type=None,
                     status: int = 200):
    page = overview.national_page(_viewer(), fiscal_year, by, level, rank_type)
    if status == 200 and any(errors.values()):
        status = 422
    _keep_audited_read(status)
    return render_template("aggregates/national.html", page=page, by=by, errors=errors,
                           **_national_charts(page), **_common_context(page.centers)), status


def _national_charts(page: overview.NationalPage) -> dict:
    """The three charts of the national dashboard, from the published tables only."""
    label = _labeller(page.centers)
    by = page.table.by
    bars = None
    if by:
        first = by[0]
        margins = [r for r in page.table.rows if r[first] is not None and all(r[d] is None for d in by[1:])]
        bars = charts.bar_chart([(label(first, r[first]), r["count"]) for r in margins])
    years = [y for y, _ in page.dashboard.trend["co_requests"]]
    trend = charts.line_chart([fiscal_year_label(y) for y in years], [
        (code, _(reporting.headline_label(code)), [v for _, v in page.dashboard.trend[code]])
        for code in reporting.CUBE_HEADLINES])
    ranking = charts.bar_chart([(label("prefecture", r["prefecture"]), r["count"]) for r in page.ranking])
    return {"bars": bars, "trend_chart": trend, "ranking_chart": ranking}


@bp.get("/center")
def center():
    fiscal_year, errors = _fiscal_year_arg()
    return _render_center(fiscal_year, errors)


def _render_center(fiscal_year: int, errors: list[str], status: int = 200, reopen_form=None):
    page = overview.center_page(_viewer(), fiscal_year)
    block = page.block
    status = 422 if errors and status == 200 else status
    _keep_audited_read(status)
    return render_template("aggregates/center.html", page=page, own=block, errors=errors,
                           reopen_form=reopen_form or _reopen_form(block), **_common_context(page.centers)), status


def _reopen_form(block: overview.CenterBlock) -> ReopenForm:
    form = ReopenForm()
    form.center.data = block.center.code
    return form


@bp.get("/prefecture")
def prefecture():
    fiscal_year, errors = _fiscal_year_arg()
    return _render_prefecture(fiscal_year, errors)


def _render_prefecture(fiscal_year: int, errors: list[str], status: int = 200):
    page = overview.prefecture_page(_viewer(), fiscal_year)
    status = 422 if errors and status == 200 else status
    _keep_audited_read(status)
    return render_template("aggregates/prefecture.html", page=page, errors=errors, **_common_context(page.centers)), status


def _keep_audited_read(status: int) -> None:
    """A page answered with an error status (a wrong query, a refused step) still showed
    figures: the audit entry of that cross-tenant read is committed like a 200's."""
    if status >= 400:
        keep_writes()


def _report_center() -> str:
    """The ``center`` of the query; by default the center admin's own, or a prefecture
    official's only center (Hokkaido's official names one of its two: "" answers 404)."""
    if request.args.get("center"):
        return request.args["center"]
    visible = reporting.visible_centers(_viewer())
    return visible[0].code if len(visible) == 1 else ""


@bp.get("/report")
def report():
    """業務実績報告: the A4 print view of one of the viewer's own centers."""
    fiscal_year, errors = _fiscal_year_arg()
    if errors:
        raise ValidationFailed(errors[0])
    try:
        view = overview.report_view(_viewer(), fiscal_year, _report_center())
    except NotVisible:
        abort(404)
    return render_template("aggregates/report.html", view=view, **_common_context(view.centers))


def _required_fiscal_year() -> int:
    """A downloaded file names its fiscal year: the query must give it (422 otherwise)."""
    fiscal_year, errors = _fiscal_year_arg()
    if not request.args.get("fiscal_year"):
        errors = [_("年度を指定してください。")]
    if errors:
        raise ValidationFailed(errors[0], fields={"fiscal_year": errors})
    return fiscal_year


@bp.get("/report/xlsx")
def report_xlsx():
    fiscal_year = _required_fiscal_year()
    try:
        content, filename = overview.report_workbook(_viewer(), fiscal_year, _report_center())
    except NotVisible:
        abort(404)
    return Response(content, mimetype=overview.XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/export")
def export():
    """A published table as CSV or XLSX: ``table`` is ``cases`` (the contract's, with ``by``), a
    family code (with ``level``), or ``transfers_received`` / ``_accepted`` / ``_declined``."""
    fiscal_year = _required_fiscal_year()
    by, by_errors = _by_arg()
    level, level_errors = _choice_arg("level", reporting.LEVELS, "national")
    fmt, format_errors = _choice_arg("format", ("csv", "xlsx"), "csv")
    problems = by_errors + level_errors + format_errors
    if problems:
        raise ValidationFailed(problems[0])
    try:
        content, mimetype, filename = overview.export_table(_viewer(), fiscal_year, request.args.get("table", "cases"),
                                                            by, level, fmt)
    except ValueError:
        raise ValidationFailed(_("表の指定が正しくありません。")) from None
    return Response(content, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- the approval chain ----------------------------------------------------------------------------------

def _form_failure(form: FlaskForm) -> ValidationFailed:
    return ValidationFailed(_("入力内容に誤りがあります。"),
                            fields={k: [str(m) for m in v] for k, v in form.errors.items()})


@bp.post("/submit")
def submit():
    """The center admin locks the year's figures as they stand (提出)."""
    form = SubmitForm()
    fiscal_year = form.fiscal_year.data or reporting.current_fiscal_year()
    try:
        if not form.validate_on_submit() or reporting.fiscal_year_error(fiscal_year):
            raise _form_failure(form)
        submissions.submit(current_user, fiscal_year, expected_version=form.version.data)
    except DomainError as exc:
        refused(exc)
        return _render_center(reporting.current_fiscal_year() if reporting.fiscal_year_error(fiscal_year)
                              else fiscal_year, [], exc.status)
    flash(_("%(year)sの集計を提出しました。都道府県の確認をお待ちください。", year=fiscal_year_label(fiscal_year)), "info")
    return redirect(url_for("aggregates.center", fiscal_year=fiscal_year))


@bp.post("/confirm")
def confirm():
    """The prefecture viewer confirms a submitted year of one of its centers (確認)."""
    form = ConfirmForm()
    fiscal_year = form.fiscal_year.data or reporting.current_fiscal_year()
    try:
        if not form.validate_on_submit() or reporting.fiscal_year_error(fiscal_year):
            raise _form_failure(form)
        submissions.confirm(current_user, fiscal_year, form.center.data, expected_version=form.version.data)
    except NotVisible:
        abort(404)
    except DomainError as exc:
        refused(exc)
        return _render_prefecture(reporting.current_fiscal_year() if reporting.fiscal_year_error(fiscal_year)
                                  else fiscal_year, [], exc.status)
    flash(_("%(year)sの集計を確認しました。", year=fiscal_year_label(fiscal_year)), "info")
    return redirect(url_for("aggregates.prefecture", fiscal_year=fiscal_year))


@bp.post("/reopen")
def reopen():
    """Reopen a submitted year for a correction, with the reason (center admin, ministry)."""
    form = ReopenForm()
    fiscal_year = form.fiscal_year.data or reporting.current_fiscal_year()
    back = "aggregates.center" if Role(current_user.role) == Role.CENTER_ADMIN else "aggregates.national"
    try:
        if not form.validate_on_submit() or reporting.fiscal_year_error(fiscal_year):
            raise _form_failure(form)
        submissions.reopen(current_user, fiscal_year, form.center.data, form.reason.data,
                           expected_version=form.version.data)
    except NotVisible:
        abort(404)
    except DomainError as exc:
        refused(exc)
        year = reporting.current_fiscal_year() if reporting.fiscal_year_error(fiscal_year) else fiscal_year
        if back == "aggregates.center":
            return _render_center(year, [], exc.status, reopen_form=form)
        return _render_national(year, {}, status=exc.status)
    flash(_("%(year)sの集計を修正のため再開しました。", year=fiscal_year_label(fiscal_year)), "info")
    return redirect(url_for(back, fiscal_year=fiscal_year))
