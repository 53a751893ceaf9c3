"""``/api/v1/aggregates``: the contract's case counts (``/cases``) and the national dashboard
(``/dashboard``), both already suppressed by ``crosstenant/aggregates/reporting``."""
from __future__ import annotations

from flask import Response
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, validate

from ...crosstenant.aggregates import exports, reporting
from ...crosstenant.aggregates.reporting import Viewer
from ...platform.i18n import fiscal_year_label
from ...platform.validation import StrictSchema

blp = Blueprint("api_aggregates", __name__, url_prefix="/api/v1/aggregates",
                description="National aggregates: counts only, small counts suppressed (全国集計)")

FISCAL_YEAR_HELP = {"description": "年度（4月〜翌3月）の始まる年（西暦）。例: 2025 = 令和7年度"}
BY_HELP = {"description": "内訳の次元（カンマ区切り）: " + "; ".join(reporting.BREAKDOWN_CHOICES[1:])}


def _fiscal_year(value) -> None:
    message = reporting.fiscal_year_error(value)
    if message:
        raise ValidationError(message)


def _breakdown(value: str) -> None:
    try:
        reporting.parse_by(value)
    except ValueError:
        raise ValidationError("内訳の指定が正しくありません。指定できる組合せ: "
                              + " / ".join(b or "（なし）" for b in reporting.BREAKDOWN_CHOICES)) from None


class CasesArgs(StrictSchema):
    fiscal_year = fields.Integer(required=True, validate=_fiscal_year, metadata=FISCAL_YEAR_HELP)
    by = fields.String(load_default="", validate=_breakdown, metadata=BY_HELP)
    format = fields.String(load_default="json",
                           validate=validate.OneOf(("json", "csv"), error="json または csv を指定してください。"),
                           metadata={"description": "json（既定）または csv（UTF-8 BOM 付き・CRLF、秘匿した件数は空欄）"})


class DashboardArgs(StrictSchema):
    fiscal_year = fields.Integer(required=True, validate=_fiscal_year, metadata=FISCAL_YEAR_HELP)


class CasesOut(StrictSchema):
    fiscal_year = fields.Integer()
    by = fields.List(fields.String())
    suppression_threshold = fields.Integer()
    as_of = fields.String(metadata={"description": "集計時点（ISO 8601）: これより前の変更はすべて含まれる"})
    rows = fields.List(fields.Dict(), metadata={
        "description": "内訳の次元ごとのキー（計の行は null）、count（秘匿は null）、suppressed"})


class HeadlineOut(StrictSchema):
    code = fields.String()
    label = fields.String()
    count = fields.Integer(allow_none=True)
    suppressed = fields.Boolean()
    previous_count = fields.Integer(allow_none=True)
    previous_suppressed = fields.Boolean()


class TrendPoint(StrictSchema):
    fiscal_year = fields.Integer()
    count = fields.Integer(allow_none=True)


class DashboardOut(StrictSchema):
    fiscal_year = fields.Integer()
    fiscal_year_label = fields.String()
    suppression_threshold = fields.Integer()
    as_of = fields.String()
    headlines = fields.List(fields.Nested(HeadlineOut))
    trend = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(TrendPoint)))


@blp.route("/cases", methods=["GET"], endpoint="cases")
@blp.arguments(CasesArgs, location="query")
@blp.response(200, CasesOut, description="JSON; with format=csv the same rows as text/csv (UTF-8 with BOM, CRLF)")
def cases(args):
    """Cases of a fiscal year (counted in the year of ``requested_on``) by the dimensions of
    ``by``.  The ministry and the association get every row with small counts suppressed; a
    center admin or a prefecture viewer gets its own center's (prefecture's) rows exactly, plus
    the national rows."""
    table = reporting.contract_table(Viewer.of(current_user), args["fiscal_year"], reporting.parse_by(args["by"]))
    if args["format"] == "csv":
        name = "-".join(table.by) or "total"
        return Response(exports.table_csv(table.columns, table.rows), mimetype=exports.CSV, headers={
            "Content-Disposition": f'attachment; filename="cases-FY{table.fiscal_year}-{name}.csv"',
            "X-Suppression-Threshold": str(table.suppression_threshold), "X-As-Of": table.as_of.isoformat()})
    return table.as_json()


@blp.route("/dashboard", methods=["GET"], endpoint="dashboard")
@blp.arguments(DashboardArgs, location="query")
@blp.response(200, DashboardOut)
def dashboard(args):
    """The national dashboard: every headline of the fiscal year with last year's, and its 5-year
    trend, each year suppressed with that year's pattern (ministry and association)."""
    board = reporting.dashboard(args["fiscal_year"])
    return {
        "fiscal_year": board.fiscal_year, "fiscal_year_label": fiscal_year_label(board.fiscal_year),
        "suppression_threshold": board.threshold, "as_of": board.as_of.isoformat(),
        "headlines": [{"code": h.code, "label": h.label, "count": h.current["count"],
                       "suppressed": h.current["suppressed"], "previous_count": h.previous["count"],
                       "previous_suppressed": h.previous["suppressed"]} for h in board.headlines],
        "trend": {code: [{"fiscal_year": y, "count": v} for y, v in series] for code, series in board.trend.items()},
    }
