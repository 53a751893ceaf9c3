"""Input ranges: what any text, date or integer from outside may be, the same for pages and API.

One rule each, with its limits as named constants and its Japanese message (marked ``N_`` so the
pages translate it). The API applies them to every field of every schema
(``platform.validation.StrictSchema``), the pages to every field of every form
(``blueprints/pages/forms.RangedForm``); anything outside is a 422 with a field error, never a
500 from the database, the JSON encoder or the 和暦 filter further down.

- text: no NUL character (PostgreSQL refuses it) and no unpaired surrogate (it cannot be
  encoded as UTF-8), in values and in object keys alike;
- dates: from ``DATE_MIN`` to ``DATE_MAX_YEARS_AHEAD`` years after today in Japan; a birth date
  (a field named in ``BIRTH_DATE_FIELDS``) not after today;
- integers: within 32 bits (``INT_MIN`` .. ``INT_MAX``: the database's ``integer``).
"""
from __future__ import annotations

import re
from datetime import date, datetime

from .i18n import today_jst


def N_(text: str) -> str:
    """Marks a message for extraction; the pages translate it where it is shown."""
    return text


DATE_MIN = date(1900, 1, 1)
DATE_MAX_YEARS_AHEAD = 10
BIRTH_DATE_FIELDS = frozenset({"birth_date"})
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1

# The messages name the limits through placeholders (``say`` fills them from the constants above).
TEXT_MESSAGE = N_("使用できない文字（NUL 文字または不正な文字コード）が含まれています。")
DATE_MESSAGE = N_("日付は %(date_min)s から%(years_ahead)d年後までの範囲で入力してください。")
BIRTH_DATE_MESSAGE = N_("生年月日に未来の日付は指定できません。")
INTEGER_MESSAGE = N_("数値は %(int_min)d から %(int_max)d までの範囲で入力してください。")
MESSAGE_LIMITS = {"date_min": DATE_MIN.isoformat(), "years_ahead": DATE_MAX_YEARS_AHEAD, "int_min": INT_MIN, "int_max": INT_MAX}


def say(message: str, gettext=None) -> str:
    """A rule's message with its limits filled in; translated first by ``gettext`` when given
    (the pages), Japanese as written otherwise (the API)."""
    template = gettext(message) if gettext else message
    return template % MESSAGE_LIMITS if "%(" in template else template


_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def date_max(today: date | None = None) -> date:
    """The last date accepted: ``DATE_MAX_YEARS_AHEAD`` years after today in Japan (28 February
    for a 29 February that the later year lacks)."""
    today = today or today_jst()
    year = today.year + DATE_MAX_YEARS_AHEAD
    try:
        return today.replace(year=year)
    except ValueError:
        return today.replace(year=year, day=28)


def text_problem(value: str) -> str | None:
    """The message for a text with a NUL or an unpaired surrogate (None when it is fine).

    A ``str`` holds code points, so a surrogate in it is always unpaired (a pair would have been
    decoded into one code point)."""
    return TEXT_MESSAGE if _BAD_TEXT.search(value) else None


def date_problem(value: date, *, birth: bool = False) -> str | None:
    """The message for a date (or the day of a timestamp) outside the range; None when fine."""
    day = value.date() if isinstance(value, datetime) else value
    today = today_jst()
    if birth and day > today:
        return BIRTH_DATE_MESSAGE
    if not DATE_MIN <= day <= date_max(today):
        return DATE_MESSAGE
    return None


def integer_problem(value: int) -> str | None:
    """The message for an integer outside 32 bits; None when fine."""
    return INTEGER_MESSAGE if not INT_MIN <= value <= INT_MAX else None


def small_int(raw) -> int | None:
    """A number typed or posted as text (a version, a year, a count): ASCII digits within 32
    bits, else None.  ``str.isdigit`` alone also accepts "²" or "٣", which ``int`` then refuses
    or reads as another number."""
    text = str(raw or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if integer_problem(value) is None else None


def is_birth_date(name: str | None) -> bool:
    return name in BIRTH_DATE_FIELDS


def shown(text: str) -> str:
    """A key or field name that may carry the characters refused here, made safe to answer with
    (each refused character becomes U+FFFD)."""
    return _BAD_TEXT.sub("\ufffd", text)


def text_problems(data, path: tuple = ()) -> dict:
    """Every refused text in a parsed JSON value (object keys included), as marshmallow's nested
    error messages: ``{"person": {"family_name": [message]}}``; empty when all is fine."""
    errors: dict = {}

    def put(where: tuple) -> None:
        node = errors
        for part in where[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # already a message list at a shorter path
                return
        node.setdefault(where[-1] if where else "_schema", [say(TEXT_MESSAGE)])

    stack = [(data, path)]  # iterative: a deeply nested body must not exhaust the recursion limit
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if text_problem(value):
                put(where)
        elif isinstance(value, dict) or hasattr(value, "keys"):
            for key in list(value.keys()):
                name = key if isinstance(key, str) else str(key)
                if text_problem(name):
                    put(where + (shown(name),))
                    continue
                # a query string or form (a MultiDict) may repeat a key: every value counts
                items = value.getlist(key) if hasattr(value, "getlist") else [value[key]]
                stack.extend((item, where + (name,)) for item in items)
        elif isinstance(value, (list, tuple)):
            stack.extend((item, where + (index,)) for index, item in enumerate(value))
    return errors
