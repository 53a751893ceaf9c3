"""Network activities: record, change, list, and the yearly figures for the add-on report.

The only way to change an activity.  Every change is audited in the caller's transaction; the
view, command or job commits.  Everything here runs inside the current center's scope, so the
yearly figures are the center's own activities only.
"""
from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from sqlalchemy import select

from ...platform import csv_export
from ...platform.audit.services import record
from ...platform.errors import PreconditionRequired, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.pagination import keyset_page
from ...platform.i18n import fiscal_year_bounds, fiscal_year_label, fiscal_year_of, today_jst, wareki
from ...platform.models import utcnow
from ...platform.tenancy import get_owned
from .models import (ACTIVITY_TYPES, ADDON_TYPES, MAX_PARTICIPANTS, SECTOR_LABELS, SECTORS, TYPE_LABELS,
                     ActivityParticipants, NetworkActivity)

# Centers started in FY2009 (平成21年度); activities may be entered up to the end of next year.
FIRST_FISCAL_YEAR = 2009
TEXT_FIELDS = ("title", "place", "organisations", "minutes")
FIELDS = ("held_on", "activity_type", *TEXT_FIELDS)
MAX_LENGTHS = {"title": 200, "place": 200, "organisations": 2000, "minutes": 20000}


# --- fiscal years ----------------------------------------------------------------------------

def current_fiscal_year() -> int:
    return fiscal_year_of(today_jst())


def last_fiscal_year() -> int:
    """The latest fiscal year that may hold activities (next year: activities planned ahead)."""
    return current_fiscal_year() + 1


def fiscal_year_error(fiscal_year) -> str | None:
    """The Japanese message for a fiscal year out of range, or None when it is fine."""
    low, high = FIRST_FISCAL_YEAR, last_fiscal_year()
    if not isinstance(fiscal_year, int) or isinstance(fiscal_year, bool) or not low <= fiscal_year <= high:
        return f"年度は{low}（{fiscal_year_label(low)}）から{high}（{fiscal_year_label(high)}）までの西暦で指定してください。"
    return None


def check_fiscal_year(fiscal_year) -> int:
    message = fiscal_year_error(fiscal_year)
    if message:
        raise ValidationFailed("年度の指定が正しくありません。", fields={"fiscal_year": [message]})
    return fiscal_year


def held_on_error(held_on) -> str | None:
    if not isinstance(held_on, date):
        return "日付は YYYY-MM-DD の形式で入力してください。"
    first, _ = fiscal_year_bounds(FIRST_FISCAL_YEAR)
    _, last = fiscal_year_bounds(last_fiscal_year())
    if not first <= held_on <= last:
        return f"開催日は{wareki(first)}から{wareki(last)}までの日付を入力してください。"
    return None


# --- validation shared by every door (the API schema checks the same first) ------------------

def _clean(data: dict, *, partial: bool) -> dict:
    """Check and normalise the fields of a create (``partial=False``) or a change."""
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(FIELDS) - {"participants"}
    for name in sorted(unknown):
        errors[name] = ["不明な項目です。"]
    out: dict = {}
    for name in FIELDS:
        if name not in data:
            if not partial and name in ("held_on", "activity_type", "title"):
                errors[name] = ["必須項目です。"]
            continue
        value = data[name]
        if name in TEXT_FIELDS:
            if value is not None and not isinstance(value, str):
                errors[name] = ["文字列を入力してください。"]
                continue
            value = (value or "").strip() or None
            if value is None and name == "title":
                errors[name] = ["必須項目です。"]
                continue
            if value is not None and len(value) > MAX_LENGTHS[name]:
                errors[name] = [f"{MAX_LENGTHS[name]}文字以内で入力してください。"]
                continue
        elif name == "held_on":
            message = held_on_error(value)
            if message:
                errors[name] = [message]
                continue
        elif name == "activity_type" and value not in ACTIVITY_TYPES:
            errors[name] = ["regional_support_meeting, provider_outreach, regional_training, other のいずれかを指定してください。"]
            continue
        out[name] = value
    if "participants" in data:
        participants = data["participants"]
        if not isinstance(participants, dict):
            errors["participants"] = ["オブジェクトを入力してください。"]
        else:
            clean = {}
            for sector, count in participants.items():
                if sector not in SECTORS:
                    errors[f"participants.{sector}"] = ["不明な分野です。"]
                elif isinstance(count, bool) or not isinstance(count, int):
                    errors[f"participants.{sector}"] = ["整数を入力してください。"]
                elif not 0 <= count <= MAX_PARTICIPANTS:
                    errors[f"participants.{sector}"] = [f"0以上{MAX_PARTICIPANTS}以下の値を入力してください。"]
                else:
                    clean[sector] = count
            out["participants"] = clean
    if errors:
        raise ValidationFailed("入力内容に誤りがあります。", fields=errors)
    return out


def _set_participants(activity: NetworkActivity, counts: dict[str, int]) -> dict[str, list[int]]:
    """Apply per-sector counts (sectors not named keep theirs); a sector with 0 has no row."""
    rows = {row.sector: row for row in activity.participant_rows}
    diff = {}
    for sector in SECTORS:
        if sector not in counts:
            continue
        old, new = (rows[sector].participants if sector in rows else 0), counts[sector]
        if old == new:
            continue
        diff[sector] = [old, new]
        if new == 0:
            activity.participant_rows.remove(rows[sector])
        elif sector in rows:
            rows[sector].participants = new
        else:
            activity.participant_rows.append(ActivityParticipants(sector=sector, participants=new))
    return diff


def _audit_values(values: dict) -> dict:
    # Minutes can be long (and may name people): the log keeps their length, not the text.
    return {k: (len(v) if k == "minutes" and v is not None else v) for k, v in values.items()}


# --- actions ---------------------------------------------------------------------------------

def create_activity(data: dict, *, created_by=None) -> NetworkActivity:
    clean = _clean(data, partial=False)
    activity = NetworkActivity(
        held_on=clean["held_on"], activity_type=clean["activity_type"], title=clean["title"],
        place=clean.get("place"), organisations=clean.get("organisations"), minutes=clean.get("minutes"),
        created_by_user_id=getattr(created_by, "id", None),
    )
    _set_participants(activity, clean.get("participants", {}))
    db.session.add(activity)
    db.session.flush()
    record("activity.create", object_type="network_activity", object_id=activity.id,
           details=_audit_values({**{k: clean.get(k) for k in FIELDS}, "participants": activity.participants}))
    return activity


def read_activity(activity_id) -> NetworkActivity | None:
    """Load an activity of the current center (its minutes may name people: the read is audited)."""
    activity = get_owned(NetworkActivity, activity_id)
    if activity is not None:
        record("activity.read", object_type="network_activity", object_id=activity.id)
    return activity


def update_activity(activity: NetworkActivity, changes: dict, *, expected_version: int | None) -> NetworkActivity:
    """Change an activity if the caller saw its current version.  ``participants`` is merged:
    the sectors named get the new counts, the others keep theirs."""
    if expected_version is None:
        raise PreconditionRequired("If-Match ヘッダーで版番号を指定してください。")
    clean = _clean(changes, partial=True)
    if expected_version != activity.version:
        raise VersionConflict("他の職員が先に更新しました。最新の内容を確認してから再度保存してください。",
                              details={"current_version": activity.version})
    diff = {}
    for name in FIELDS:
        if name in clean and getattr(activity, name) != clean[name]:
            diff[name] = [getattr(activity, name), clean[name]]
            setattr(activity, name, clean[name])
    participants_diff = _set_participants(activity, clean.get("participants", {}))
    if participants_diff:
        diff["participants"] = participants_diff
    if diff:
        activity.updated_at = utcnow()  # bumps the version even when only the participants changed
        if "minutes" in diff:
            diff["minutes"] = [_audit_values({"minutes": v})["minutes"] for v in diff["minutes"]]
        record("activity.update", object_type="network_activity", object_id=activity.id, details=diff)
        db.session.flush()
    return activity


# --- lists -----------------------------------------------------------------------------------

def list_activities(*, fiscal_year: int | None = None, activity_type: str | None = None, limit: int = 50,
                    cursor: str | None = None) -> tuple[list[NetworkActivity], str | None]:
    """A page of the center's activities, latest date first, and the cursor of the next page."""
    stmt = select(NetworkActivity)
    if fiscal_year is not None:
        first, last = fiscal_year_bounds(check_fiscal_year(fiscal_year))
        stmt = stmt.where(NetworkActivity.held_on >= first, NetworkActivity.held_on <= last)
    if activity_type is not None:
        if activity_type not in ACTIVITY_TYPES:
            raise ValidationFailed("種別の指定が正しくありません。", fields={"activity_type": ["選択肢にない値です。"]})
        stmt = stmt.where(NetworkActivity.activity_type == activity_type)
    order = (NetworkActivity.held_on, NetworkActivity.created_at, NetworkActivity.id)
    return keyset_page(stmt, order, limit, cursor)


def activities_in_fiscal_year(fiscal_year: int) -> list[NetworkActivity]:
    first, last = fiscal_year_bounds(check_fiscal_year(fiscal_year))
    stmt = (select(NetworkActivity)
            .where(NetworkActivity.held_on >= first, NetworkActivity.held_on <= last)
            .order_by(NetworkActivity.held_on, NetworkActivity.created_at, NetworkActivity.id))
    return list(db.session.scalars(stmt))


# --- the yearly summary (加算の実績報告) ------------------------------------------------------

def _empty_line() -> dict:
    return {"events": 0, "participants": 0, "by_sector": {sector: 0 for sector in SECTORS}}


def _add(line: dict, activity: NetworkActivity) -> None:
    line["events"] += 1
    for sector, count in activity.participants.items():
        line["by_sector"][sector] += count
        line["participants"] += count


def yearly_summary(fiscal_year: int) -> dict:
    """Per type: the number of activities and of participants (in all and by sector) held in
    the fiscal year (1 April to 31 March), the add-on's three types together, and all types."""
    activities = activities_in_fiscal_year(fiscal_year)
    first, last = fiscal_year_bounds(fiscal_year)
    lines = {activity_type: _empty_line() for activity_type in ACTIVITY_TYPES}
    addon, total = _empty_line(), _empty_line()
    for activity in activities:
        _add(lines[activity.activity_type], activity)
        _add(total, activity)
        if activity.is_addon:
            _add(addon, activity)
    return {
        "fiscal_year": fiscal_year,
        "fiscal_year_label": fiscal_year_label(fiscal_year),
        "period_start": first,
        "period_end": last,
        "sectors": list(SECTORS),
        "types": [{"activity_type": t, "label": TYPE_LABELS[t], "addon": t in ADDON_TYPES, **lines[t]}
                  for t in ACTIVITY_TYPES],
        "addon_total": addon,
        "total": total,
    }


# --- exports ---------------------------------------------------------------------------------

SUMMARY_HEADER = ["年度", "区分", "開催回数", "参加者数（合計）", *(f"参加者数（{SECTOR_LABELS[s]}）" for s in SECTORS)]
ADDON_TOTAL_LABEL = "加算対象の取組み 計"
TOTAL_LABEL = "合計"
EVENTS_HEADER = ["開催日", "種別", "名称", "会場", "参加機関・団体", "参加者数（合計）",
                 *(f"参加者数（{SECTOR_LABELS[s]}）" for s in SECTORS)]


def summary_rows(summary: dict) -> list[list]:
    """The summary as a table: the header, one row per type, the add-on total and the total."""
    label = summary["fiscal_year_label"]

    def row(name: str, line: dict) -> list:
        return [label, name, line["events"], line["participants"], *(line["by_sector"][s] for s in SECTORS)]

    return [SUMMARY_HEADER,
            *(row(t["label"], t) for t in summary["types"]),
            row(ADDON_TOTAL_LABEL, summary["addon_total"]),
            row(TOTAL_LABEL, summary["total"])]


def export_summary(fiscal_year: int, fmt: str, *, center_name: str | None = None) -> tuple[bytes, str, str]:
    """The yearly summary as a file: (content, mimetype, file name).  Audited."""
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed("形式の指定が正しくありません。", fields={"format": ["csv または xlsx を指定してください。"]})
    summary = yearly_summary(fiscal_year)
    if fmt == "csv":
        content, mimetype = _summary_csv(summary), csv_export.MIMETYPE
    else:
        content = _summary_xlsx(summary, activities_in_fiscal_year(fiscal_year), center_name)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    record("activity.export", object_type="network_activity_summary", object_id=str(fiscal_year),
           details={"fiscal_year": fiscal_year, "format": fmt})
    return content, mimetype, f"network-activities-FY{fiscal_year}.{fmt}"


def _summary_csv(summary: dict) -> bytes:
    """Through the platform's one CSV writer: UTF-8 with a BOM, CRLF, no cell starting a formula."""
    header, *rows = summary_rows(summary)
    return csv_export.csv_bytes(header, rows)


def _text_cell(cell, value) -> None:
    """Free text goes in as text, never as a formula (a title starting with "=" stays a title);
    control characters a spreadsheet cannot hold are dropped."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


def _summary_xlsx(summary: dict, activities: list[NetworkActivity], center_name: str | None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "集計"
    for values in summary_rows(summary):
        sheet.append(values)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.column_dimensions["B"].width = 24

    events = workbook.create_sheet("開催一覧")
    events.append(EVENTS_HEADER)
    for cell in events[1]:
        cell.font = Font(bold=True)
    for activity in activities:
        values = [wareki(activity.held_on), TYPE_LABELS[activity.activity_type], activity.title, activity.place or "",
                  activity.organisations or "", activity.participants_total,
                  *(activity.participants[s] for s in SECTORS)]
        row = events.max_row + 1
        for column, value in enumerate(values, start=1):
            _text_cell(events.cell(row=row, column=column), value)
    events.column_dimensions["C"].width = 30

    props = workbook.properties
    props.title = f"{summary['fiscal_year_label']} 地域ネットワーク強化の取組み 実績"
    if center_name:
        props.creator = center_name
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
