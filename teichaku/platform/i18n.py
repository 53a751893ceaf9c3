"""Japanese first: locale selection, Japanese-era dates (和暦) and Japan-time formatting."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, request, session
from flask_babel import get_locale

from .extensions import babel

JST = ZoneInfo("Asia/Tokyo")
LOCALES = ("ja", "en")
FISCAL_YEAR_FIRST_MONTH = 4  # the fiscal year (年度) starts in April

# (first day, era name); each era starts on its first day.
ERAS = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
    (date(1912, 7, 30), "大正"),
    (date(1868, 1, 25), "明治"),
)


def era_year(value: date) -> tuple[str, int]:
    for start, name in ERAS:
        if value >= start:
            return name, value.year - start.year + 1
    raise ValueError("dates before 明治 are not supported")


def _year_text(name: str, year: int) -> str:
    return f"{name}{'元' if year == 1 else year}年"


def wareki(value: date | datetime | None) -> str:
    """令和7年4月1日 (元年 for an era's first year).  Timestamps are shown in Japan time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(JST).date()
    name, year = era_year(value)
    return f"{_year_text(name, year)}{value.month}月{value.day}日"


def fiscal_year_label(fiscal_year: int) -> str:
    """令和7年度 (FY2025) for the fiscal year whose April falls in ``fiscal_year``.

    A fiscal year is named after the era in force for most of it (its midpoint, 1 October), as
    official documents do: FY2019 (April 2019 to March 2020, 令和 from 1 May) is 令和元年度,
    while FY1988 (平成 from 8 January 1989) stays 昭和63年度.
    """
    name, year = era_year(date(fiscal_year, 10, 1))
    return f"{name}{'元' if year == 1 else year}年度"


# The letter of each era, as numbers and forms abbreviate it (R8 for 令和8年).
ERA_LETTERS = {"令和": "R", "平成": "H", "昭和": "S", "大正": "T", "明治": "M"}


def fiscal_year_era_code(fiscal_year: int) -> str:
    """R8 for 令和8年度 (FY2026): the era's letter and the year of ``fiscal_year_label``."""
    name, year = era_year(date(fiscal_year, 10, 1))
    return f"{ERA_LETTERS[name]}{year}"


def fiscal_year_of(day: date) -> int:
    """The fiscal year a day falls in: the year in which its April falls (31 March 2026 is FY2025)."""
    return day.year if day.month >= FISCAL_YEAR_FIRST_MONTH else day.year - 1


def fiscal_year_bounds(fiscal_year: int) -> tuple[date, date]:
    """The first and last day of a fiscal year (1 April, 31 March)."""
    return date(fiscal_year, FISCAL_YEAR_FIRST_MONTH, 1), date(fiscal_year + 1, FISCAL_YEAR_FIRST_MONTH, 1) - timedelta(days=1)


def jst_date(moment: datetime | None) -> date | None:
    """The day in Japan of an instant: days and fiscal years are counted in Japan time."""
    return moment.astimezone(JST).date() if moment is not None else None


def jst_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = value.astimezone(JST)
    return f"{wareki(local)} {local:%H:%M}"


def age_on(birth: date | None, on: date) -> int | None:
    """Age in whole years; None for an erased person (no birth date kept)."""
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def today_jst() -> date:
    return datetime.now(JST).date()


def select_locale() -> str:
    chosen = session.get("locale") if request else None
    return chosen if chosen in LOCALES else "ja"


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, default_timezone="Asia/Tokyo")
    app.jinja_env.globals["get_locale"] = get_locale  # base.html: <html lang="...">
    app.jinja_env.filters["wareki"] = wareki
    app.jinja_env.filters["jst"] = jst_datetime
    app.jinja_env.filters["fiscal_year"] = fiscal_year_label
    app.jinja_env.globals["today_jst"] = today_jst
    app.jinja_env.globals["age_on"] = age_on
