"""Files of the aggregates: tables as CSV and XLSX, and a center's annual report as XLSX.

They only write what they are given: the tables come from ``reporting`` already suppressed (a
suppressed count arrives as ``None`` and leaves as an empty cell), the annual report is the
center's own (exact) figures.  CSV goes through the platform's one writer
(``platform.csv_export``: UTF-8 with a BOM, CRLF, text never starting a formula, numbers left as
numbers); its header is the rows' JSON keys, as the contract says.  The files are official
documents in Japanese whatever the page's language (the prefecture files them as they are).
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Font

from ...platform import csv_export
from ...platform.i18n import fiscal_year_label, jst_datetime
from . import labels, rules
from .reporting import SUPPORT_NEEDS, own_case_cube, own_needs, own_transfers

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = csv_export.MIMETYPE


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table_csv(columns: Sequence[str], rows: Sequence[dict]) -> bytes:
    """Header = the JSON keys; a suppressed count, and the key a total row totals, are empty
    (``None``); ``suppressed`` is ``true``/``false``; counts stay numbers, text is guarded."""
    return csv_export.csv_bytes(columns, ([row[c] for c in columns] for row in rows))


def _text(cell, value) -> None:
    """Text stays text: a value that looks like a formula is stored as a string, never evaluated."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


def _bold_header(sheet) -> None:
    for cell in sheet[1]:
        cell.font = Font(bold=True)


def table_xlsx(columns: Sequence[str], rows: Sequence[dict], about: Sequence[tuple[str, str]]) -> bytes:
    """Sheet 集計表: the same cells as the CSV (a suppressed count is an empty cell, ``suppressed``
    says why); sheet 説明: what the table is (fiscal year, as of, threshold)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "集計表"
    sheet.append(list(columns))
    _bold_header(sheet)
    for row in rows:
        line = sheet.max_row + 1
        for position, column in enumerate(columns, start=1):
            value = row[column]
            _text(sheet.cell(row=line, column=position), _csv_value(value) if isinstance(value, bool) else value)
    notes = workbook.create_sheet("説明")
    for key, value in about:
        notes.append([key, value])
    notes.column_dimensions["A"].width = 24
    notes.column_dimensions["B"].width = 60
    return _save(workbook)


def _save(workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def about_lines(fiscal_year: int, as_of: datetime, threshold: int, title: str) -> list[tuple[str, str]]:
    """The 説明 sheet: which table, which fiscal year, as of when, and the suppression rule."""
    return [
        ("表", title),
        ("年度", f"{fiscal_year_label(fiscal_year)}（FY{fiscal_year}）"),
        ("集計時点", jst_datetime(as_of)),
        ("秘匿の基準", f"1以上{threshold}未満の件数と、そこから計算で分かってしまう件数は空欄（秘匿）。0は表示。"),
    ]


# --- the annual report (業務実績報告) ------------------------------------------------------------

def report_xlsx(report: dict, sections: list, *, center_name: str, status_text: str,
                center_names: dict[str, str]) -> bytes:
    """One sheet per part of the report, in Japanese, ready to hand to the prefecture: 概要
    (headlines), 種別・四半期, 支援の必要性, one sheet of the family tables, 日数 and 広域調整."""
    workbook = Workbook()
    summary = workbook.active
    summary.title = "概要"
    _report_summary(summary, report, center_name, status_text)
    _report_cases(workbook.create_sheet("種別・四半期"), report)
    _report_needs(workbook.create_sheet("支援の必要性"), report)
    _report_sections(workbook.create_sheet("内訳"), sections)
    _report_days(workbook.create_sheet("日数"), report)
    _report_transfers(workbook.create_sheet("広域調整"), report, center_names)
    return _save(workbook)


def _report_summary(sheet, report: dict, center_name: str, status_text: str) -> None:
    year = report["fiscal_year"]
    sheet.append(["業務実績報告", f"{fiscal_year_label(year)}（FY{year}）"])
    sheet.append(["センター", center_name])
    sheet.append(["集計時点", jst_datetime(datetime.fromisoformat(report["as_of"]))])
    sheet.append(["提出状況", status_text])
    sheet.append([])
    sheet.append(["項目", "件数"])
    for code, headline in rules.HEADLINES.items():
        sheet.append([headline.label, report["headlines"].get(code, 0)])
    sheet.append([rules.FU_OPEN_LABEL, report["fu_open"]])
    sheet.column_dimensions["A"].width = 48
    sheet.column_dimensions["B"].width = 24


def _report_cases(sheet, report: dict) -> None:
    cube = own_case_cube(report)
    sheet.append(["業務の種類", *(labels.QUARTER_LABELS[q] for q in rules.QUARTERS), labels.TOTAL_LABEL])
    for case_type in (*labels.CASE_TYPE_LABELS, None):
        name = labels.value_label("case_type", case_type)
        sheet.append([name, *(cube.get((case_type, q), 0) for q in (*rules.QUARTERS, None))])
    _bold_header(sheet)
    sheet.column_dimensions["A"].width = 32


def _report_needs(sheet, report: dict) -> None:
    needs = own_needs(report)
    sheet.append(["支援の必要性（延べ件数）", *(labels.value_label("case_type", c) for c in labels.CASE_TYPE_LABELS),
                  labels.TOTAL_LABEL])
    for need in SUPPORT_NEEDS:
        sheet.append([labels.value_label("support_need", need),
                      *(needs.get((c, need), 0) for c in (*labels.CASE_TYPE_LABELS, None))])
    _bold_header(sheet)
    sheet.column_dimensions["A"].width = 28


def _report_sections(sheet, sections: list) -> None:
    """Each family table one after the other: its title, a header row, its rows with totals."""
    for section in sections:
        sheet.append([section.label])
        sheet.cell(row=sheet.max_row, column=1).font = _bold()
        header = [labels.DIMENSION_LABELS.get(section.row_dimension, "") if section.row_dimension else ""]
        sheet.append(header + [labels.value_label(section.column_dimension, c) for c in section.columns])
        for row in (*section.rows, None) if section.row_dimension else (None,):
            name = labels.value_label(section.row_dimension, row) if section.row_dimension else labels.TOTAL_LABEL
            sheet.append([name, *(section.cells[(row, c)] for c in section.columns)])
        sheet.append([])
    sheet.column_dimensions["A"].width = 36


def _bold():
    return Font(bold=True)


def _report_days(sheet, report: dict) -> None:
    sheet.append(["項目", "件数", "中央値（日）", "平均（日）"])
    for measure, spec in rules.MEASURES.items():
        stats = report["day_statistics"].get(measure, {})
        sheet.append([spec.label, stats.get("count", 0), stats.get("median"), stats.get("mean")])
    _bold_header(sheet)
    sheet.column_dimensions["A"].width = 48


def _report_transfers(sheet, report: dict, center_names: dict[str, str]) -> None:
    sheet.append(["相手のセンター", "依頼した件数", "依頼を受けた件数", "受け入れた件数", "お断りした件数"])
    for line in own_transfers(report):
        name = center_names.get(line["center"], line["center"])
        sheet.append([name, line["sent"], line["received"], line["accepted"], line["declined"]])
    _bold_header(sheet)
    sheet.column_dimensions["A"].width = 24
