"""What each aggregates page shows, composed in one audited read (``reporting.reading``).

The views stay thin: they parse the query, call one function here, commit and render.  Every
number these functions hand over comes from ``reporting`` (suppressed for national figures,
exact for the viewer's own centers) or from a submission's stored snapshot (the viewer's own).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ...platform.audit.services import record
from . import exports, figures, reporting, rules, submissions
from .family_tables import PublishedGrid
from .reporting import ContractTable, Dashboard, OwnSection, Viewer
from .submissions import Submission


@dataclass(frozen=True)
class NationalPage:
    """The national dashboard (国・全国協議会)."""

    fiscal_year: int
    dashboard: Dashboard
    table: ContractTable
    level: str
    families: dict[str, PublishedGrid]
    transfers: dict[str, PublishedGrid]
    transfers_sent: dict
    rank_type: str | None
    ranking: list[dict]
    statuses: list[dict]
    centers: dict[str, figures.Geography]

    @property
    def as_of(self) -> datetime:
        return self.dashboard.as_of


def national_page(viewer: Viewer, fiscal_year: int, by: tuple[str, ...], level: str,
                  rank_type: str | None) -> NationalPage:
    """Everything the national dashboard shows, for a national viewer."""
    if not viewer.national:
        raise PermissionError("the national dashboard is for the ministry and the association")
    with reporting.reading():
        board = reporting.dashboard(fiscal_year)
        table = reporting.contract_table(viewer, fiscal_year, by)
        families = {code: reporting.national_family(fiscal_year, code, level if view.regional else "national")
                    for code, view in reporting.FAMILY_VIEWS.items()}
        transfers, sent = reporting.national_transfers(fiscal_year)
        ranking = reporting.ranking(fiscal_year, rank_type)
        statuses = submissions.national_statuses(fiscal_year)
        centers = figures.geography()
    return NationalPage(fiscal_year, board, table, level, families, transfers, sent, rank_type, ranking, statuses,
                        centers)


@dataclass(frozen=True)
class CenterBlock:
    """One center's own figures for the year: current, as submitted, and where the chain stands."""

    center: figures.Geography
    current: dict
    submission: Submission | None
    history: list
    comparison: list[dict]
    actions: set[str]

    @property
    def status(self) -> str:
        return submissions.status_of(self.submission)

    @property
    def sections(self) -> list[OwnSection]:
        return reporting.own_sections(self.current)

    @property
    def case_cube(self) -> dict:
        return reporting.own_case_cube(self.current)

    @property
    def needs(self) -> dict:
        return reporting.own_needs(self.current)


def _center_block(viewer: Viewer, fiscal_year: int, center: figures.Geography) -> CenterBlock:
    current = reporting.own_report(viewer, fiscal_year, center.code)
    submission = submissions.for_center(viewer, fiscal_year, center.code)
    snapshot = submission.snapshot if submission is not None and submission.status != "reopened" else None
    return CenterBlock(center, current, submission, submissions.history(submission),
                       submissions.compare(snapshot, current), submissions.allowed_actions(viewer, submission))


@dataclass(frozen=True)
class CenterPage:
    """A center admin's page: its own center next to the national figures."""

    fiscal_year: int
    block: CenterBlock
    national: Dashboard
    national_families: dict[str, PublishedGrid]
    centers: dict[str, figures.Geography]

    @property
    def as_of(self) -> datetime:
        return self.national.as_of


def center_page(viewer: Viewer, fiscal_year: int) -> CenterPage:
    with reporting.reading():
        (center,) = reporting.visible_centers(viewer)
        block = _center_block(viewer, fiscal_year, center)
        board = reporting.dashboard(fiscal_year)
        families = {code: reporting.national_family(fiscal_year, code) for code in reporting.FAMILY_VIEWS}
        centers = figures.geography()
    return CenterPage(fiscal_year, block, board, families, centers)


@dataclass(frozen=True)
class PrefecturePage:
    """A prefecture viewer's page: its prefecture's centers (one, or Hokkaido's two)."""

    fiscal_year: int
    blocks: list[CenterBlock]
    as_of: datetime
    centers: dict[str, figures.Geography]


def prefecture_page(viewer: Viewer, fiscal_year: int) -> PrefecturePage:
    with reporting.reading():
        blocks = [_center_block(viewer, fiscal_year, c) for c in reporting.visible_centers(viewer)]
        as_of = reporting.as_of(fiscal_year)
        centers = figures.geography()
    return PrefecturePage(fiscal_year, blocks, as_of, centers)


@dataclass(frozen=True)
class ReportView:
    """The 業務実績報告 to print or download: the figures as submitted while the year is submitted
    or confirmed, the current figures otherwise (the page says which)."""

    center: figures.Geography
    fiscal_year: int
    report: dict
    submitted: bool
    submission: Submission | None
    centers: dict[str, figures.Geography]

    @property
    def status(self) -> str:
        return submissions.status_of(self.submission)

    @property
    def as_of(self) -> datetime:
        return datetime.fromisoformat(self.report["as_of"])

    @property
    def sections(self) -> list[OwnSection]:
        return reporting.own_sections(self.report)

    @property
    def case_cube(self) -> dict:
        return reporting.own_case_cube(self.report)

    @property
    def needs(self) -> dict:
        return reporting.own_needs(self.report)

    @property
    def transfers(self) -> list[dict]:
        return reporting.own_transfers(self.report)


def report_view(viewer: Viewer, fiscal_year: int, center_code: str) -> ReportView:
    """``reporting.NotVisible`` for a center that is not the viewer's own."""
    with reporting.reading():
        centers = figures.geography()
        submission = submissions.for_center(viewer, fiscal_year, center_code)
        if submission is not None and submission.status in ("submitted", "confirmed"):
            data, submitted = submission.snapshot, True
        else:
            data, submitted = reporting.own_report(viewer, fiscal_year, center_code), False
    return ReportView(centers[center_code], fiscal_year, data, submitted, submission, centers)


# --- files ------------------------------------------------------------------------------------------

XLSX = exports.XLSX
TRANSFER_TABLES = tuple(f"transfers_{m}" for m in reporting.TRANSFER_MEASURES)


def export_table(viewer: Viewer, fiscal_year: int, table: str, by: tuple[str, ...], level: str,
                 fmt: str) -> tuple[bytes, str, str]:
    """A published table as a file: (content, mimetype, file name).  ``table``: ``cases`` (the
    contract's table by ``by``, as the API gives it to this viewer), a family of
    ``reporting.FAMILY_VIEWS`` (national or by region), or a transfer table by region pair.
    ``ValueError`` for anything else.  Audited (what was exported, never a value)."""
    with reporting.reading():
        if table == "cases":
            published = reporting.contract_table(viewer, fiscal_year, by)
            columns, rows, as_of = published.columns, published.rows, published.as_of
            limit = published.suppression_threshold
            title, suffix = rules.FAMILIES["cases"].label, "-".join(by) or "total"
        else:
            grid, title = _grid(fiscal_year, table, level)
            columns = [d for d in (grid.row_dimension, grid.column_dimension) if d] + ["count", "suppressed"]
            rows, as_of, limit, suffix = grid.rows, reporting.as_of(fiscal_year), grid.threshold, level
        record("aggregates.export", object_type="aggregate_table", object_id=table,
               details={"fiscal_year": fiscal_year, "by": list(by), "level": level, "format": fmt})
    filename = f"{table}-FY{fiscal_year}-{suffix}.{fmt}"
    if fmt == "csv":
        return exports.table_csv(columns, rows), exports.CSV, filename
    about = exports.about_lines(fiscal_year, as_of, limit, title)
    return exports.table_xlsx(columns, rows, about), exports.XLSX, filename


def _grid(fiscal_year: int, table: str, level: str) -> tuple[PublishedGrid, str]:
    if table in TRANSFER_TABLES:
        transfers, _sent = reporting.national_transfers(fiscal_year)
        return transfers[table.removeprefix("transfers_")], rules.FAMILIES[table].label
    if table not in reporting.FAMILY_VIEWS:
        raise ValueError(f"no such table: {table}")
    return reporting.national_family(fiscal_year, table, level), reporting.FAMILY_VIEWS[table].label


def report_workbook(viewer: Viewer, fiscal_year: int, center_code: str) -> tuple[bytes, str]:
    """The 業務実績報告 as XLSX (the figures the print view shows): (content, file name).  Audited."""
    view = report_view(viewer, fiscal_year, center_code)
    status = submissions.STATUS_LABELS[view.status]
    if not view.submitted:
        status += "（現在の集計）"
    content = exports.report_xlsx(view.report, view.sections, center_name=view.center.name, status_text=status,
                                  center_names={code: g.name for code, g in view.centers.items()})
    record("aggregates.report.export", object_type="aggregate_report", object_id=center_code,
           details={"fiscal_year": fiscal_year, "submitted": view.submitted})
    return content, f"annual-report-{center_code}-FY{fiscal_year}.xlsx"
