"""Counting rules of the national aggregates (集計の数え方): the one place they live.

Every figure the platform publishes is a count (or a day statistic) made by the functions here
from one row at a time; the rollups (``rollups``) only add these contributions up, and the
figures service (``figures``) only reads the sums.  ``tests/test_aggregates_rollups.py`` pins
each rule below with a test of its own.

Time
  1. **Fiscal year (年度)**: April to March, named after the year in which its April falls
     (31 March 2026 is FY2025, 1 April 2026 is FY2026), as the contract says.
  2. **Quarter (四半期)**: Q1 = April-June, Q2 = July-September, Q3 = October-December,
     Q4 = January-March.
  3. **Which date counts**: each family below names the one date that places a row in a fiscal
     year.  A case counts among the *requests* of the year of ``requested_on`` (the contract's
     rule); an *ending* counts in the year it happened (``closed_on``; a case moved to follow-up
     ended its coordination on ``released_on``, the day its FU case starts); a *release* in the
     year of ``released_on``; a transfer in the year it reached the receiving center
     (``sent_at`` in Japan time); an activity in the year of ``held_on``.

People
  4. **Unit**: one case is one person's piece of case work (件).  Totals count each case once
     (実人数); the support-need breakdown counts a case once under *each* need its person has
     (延べ), so its rows add up to more than the total whenever someone has several needs.
     A person with no recorded need counts under ``none`` so that no one is missing from it.
  5. **A person handed between centers** (広域調整, an accepted transfer): the sending center's
     case (施設所在地, role ``sending``) and the case the receiving center made on accepting
     (帰住予定地, role ``receiving``, linked through the transfer group) are the same person.
     Each center's own report counts its own case in every family, whatever its role.
     National figures count the person once: where the request first arrived, i.e. every case
     except the ``receiving`` ones (``NATIONAL_ROLES``).  A case that is both (received, then
     handed on again) is ``receiving``.
  6. **Support needs** are the person's current ones (高齢, 知的, 精神, 身体, 発達, 認知症).

The families (``FAMILIES``: code, dimensions, which date)
  - ``cases``: every case, by case type and quarter (requested_on).  The contract's cube.
  - ``cases_by_need``: every case, by case type, quarter and support need, 延べ (requested_on).
  - ``co_requests``: CO requests by requester and facility type (requested_on).  The requester
    is ``wide_area`` (another center) for a case made by accepting a transfer, else the type
    recorded on the case, else ``probation_office`` (保護観察所, who makes every 特別調整 request).
  - ``co_ended``: CO cases whose coordination ended, by closing reason, ``moved_to_follow_up``
    for those that went on to a FU case (closed_on; released_on for the latter).
  - ``co_placements``: CO cases closed with a receiving place, by type of place (closed_on).
  - ``co_return``: CO cases released, by return area (released_on): ``same_prefecture`` when
    the destination prefecture is that of the center where the request first arrived (the
    sending center's for a ``receiving`` case), ``wide_area`` when it differs, ``unknown``
    without a destination.
  - ``fu_closed``: FU cases closed, by closing reason (closed_on).  FU cases started are the
    ``follow_up`` rows of ``cases``.
  - ``fu_span``: FU cases by the fiscal year they ended (``open`` while open), placed in the
    year they started.  A FU case is *open during* fiscal year Y when it started in or before
    Y and did not end before Y (computed by ``figures`` from these rows alone).
  - ``ss_requests``: 被疑者等支援 requests by stage of release (requested_on).
  - ``ss_supported``: 被疑者等支援 cases supported at release, by stage (released_on).
  - ``ss_outcomes``: 被疑者等支援 cases ended, by closing reason and receiving place (closed_on;
    released_on for ``moved_to_follow_up``).
  - ``consultations``: 相談支援 cases by who asked (requested_on); ``unknown`` when not recorded.
  - ``transfers_sent`` / ``transfers_received`` / ``transfers_accepted`` /
    ``transfers_declined``: by the other center (so by pair of centers, prefectures and
    regions); sent counts the sending side's row (once per request, to its current receiving
    center), the others each receiving side's row (a request reassigned counts as received by
    every center it reached).  All in the year the request reached the receiving center.
  - ``activities`` / ``activity_participants``: network activities by type (the three add-on
    types and ``other``), and their participants by type and sector (held_on).

Day statistics (``MEASURES``, kept as exact histograms so medians are exact)
  - ``co_days_to_release``: CO cases released: days from ``requested_on`` to ``released_on``.
  - ``fu_days_to_end``: FU cases closed: days from the FU's start (its ``requested_on``, the
    release day when it was opened from a CO case) to ``closed_on``.
  - ``transfer_days_to_answer``: receiving rows answered (accepted or declined): days from the
    day it reached the center to the day of the answer, in Japan time, by the other center
    (``days_to_answer``; the transfers compliance report counts its median with it too).

Headline figures (``HEADLINES``: the dashboard's totals, the year-over-year comparison and the
5-year trend) are totals of one family, optionally of some values of one dimension; FU cases
open during the year come from ``fu_span`` as above.

A new family, measure or role needs a migration that widens the CHECK constraints of
``rollup_counts`` / ``rollup_day_counts`` (their values are frozen in each revision).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Iterator, NamedTuple

from ...platform.centers import REGIONS, canonical_centers
from ...platform.i18n import FISCAL_YEAR_FIRST_MONTH as FIRST_MONTH, JST, fiscal_year_of, jst_date
from ...tenants.activities.models import ACTIVITY_TYPES, ADDON_TYPES, SECTORS
from ...tenants.cases.lifecycle import (
    CASE_TYPES, CLOSING_REASONS, FACILITY_TYPES, PLACEMENTS, REQUESTER_TYPES, SUSPECT_STAGES,
)
from ...tenants.persons.models import SUPPORT_NEEDS


# Labels are the Japanese names of the figures as the centers' reports use them.  They are not
# marked for translation here: the reporting pages that show them add them to the catalogs.

# --- roles of a case in a transfer (rule 5) --------------------------------------------------

OWN, SENDING, RECEIVING = "own", "sending", "receiving"
ROLES = (OWN, SENDING, RECEIVING)
ROLE_LABELS = {
    OWN: "広域調整なし",
    SENDING: "施設所在地（広域調整の依頼元）",
    RECEIVING: "帰住予定地（広域調整の受入先）",
}
# Transfer statuses in which the two sides' cases are linked (rule 5: the case's role).
LINKED_STATUSES = ("accepted", "completed")
NATIONAL_ROLES = (OWN, SENDING)  # the person counted once, where the request first arrived
CENTER_ROLES = ROLES  # a center's own report counts its own case whatever its role

# --- dimension values besides the case-work lists ----------------------------------------------

UNKNOWN = "unknown"
NO_SUPPORT_NEED = "none"
MOVED_TO_FOLLOW_UP = "moved_to_follow_up"
NO_PLACEMENT = "none"
PROBATION_OFFICE, WIDE_AREA = "probation_office", "wide_area"
SAME_PREFECTURE = "same_prefecture"
STILL_OPEN = "open"
QUARTERS = (1, 2, 3, 4)

NEED_LABELS = {
    "elderly": "高齢", "intellectual": "知的障害", "mental": "精神障害",
    "physical": "身体障害", "developmental": "発達障害", "dementia": "認知症",
    NO_SUPPORT_NEED: "記録なし",
}
RETURN_AREA_LABELS = {SAME_PREFECTURE: "県内", WIDE_AREA: "県外（広域）", UNKNOWN: "不明"}
CO_REQUESTER_LABELS = {PROBATION_OFFICE: "保護観察所", WIDE_AREA: "他センター（広域調整）",
                       **REQUESTER_TYPES}

# --- the families ----------------------------------------------------------------------------

REQUESTED, CLOSED, RELEASED, ENDED, SENT, HELD = (
    "requested_on", "closed_on", "released_on", "ended_on", "sent_on", "held_on")


@dataclass(frozen=True)
class Family:
    """One table of counts: its dimensions (at most three) and the date that places a row in a year.

    ``unit``: ``cases`` (実人数: one per case), ``needs`` (延べ: one per case and need),
    ``transfers``, ``activities`` or ``participants`` (a sum of people, not a count of rows).
    """

    code: str
    label: str
    dimensions: tuple[str, ...]
    basis: str
    unit: str = "cases"
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # known values per dimension


_CASE_TYPES = tuple(CASE_TYPES)
_QUARTERS = tuple(str(q) for q in QUARTERS)
_NEEDS = (*SUPPORT_NEEDS, NO_SUPPORT_NEED)

FAMILIES: dict[str, Family] = {f.code: f for f in (
    Family("cases", "依頼件数（種別・四半期）", ("case_type", "quarter"), REQUESTED,
           values={"case_type": _CASE_TYPES, "quarter": _QUARTERS}),
    Family("cases_by_need", "支援の必要性別 延べ件数", ("case_type", "quarter", "support_need"), REQUESTED,
           unit="needs", values={"case_type": _CASE_TYPES, "quarter": _QUARTERS, "support_need": _NEEDS}),
    Family("co_requests", "コーディネート業務 依頼件数（依頼元・施設別）", ("requester", "facility_type"), REQUESTED,
           values={"requester": (PROBATION_OFFICE, WIDE_AREA, *REQUESTER_TYPES),
                   "facility_type": (*FACILITY_TYPES, UNKNOWN)}),
    Family("co_ended", "コーディネート業務 終結件数（理由別）", ("reason",), ENDED,
           values={"reason": (*CLOSING_REASONS, MOVED_TO_FOLLOW_UP)}),
    Family("co_placements", "コーディネート業務 受入先の種類別件数", ("placement",), CLOSED,
           values={"placement": tuple(PLACEMENTS)}),
    Family("co_return", "コーディネート業務 帰住先（県内・県外）", ("area",), RELEASED,
           values={"area": tuple(RETURN_AREA_LABELS)}),
    Family("fu_closed", "フォローアップ業務 終結件数（理由別）", ("reason",), CLOSED,
           values={"reason": tuple(CLOSING_REASONS)}),
    Family("fu_span", "フォローアップ業務 開始年度別の終了年度", ("ended_fiscal_year",), REQUESTED),
    Family("ss_requests", "被疑者等支援業務 依頼件数（段階別）", ("suspect_stage",), REQUESTED,
           values={"suspect_stage": (*SUSPECT_STAGES, UNKNOWN)}),
    Family("ss_supported", "被疑者等支援業務 釈放時に支援した件数（段階別）", ("suspect_stage",), RELEASED,
           values={"suspect_stage": (*SUSPECT_STAGES, UNKNOWN)}),
    Family("ss_outcomes", "被疑者等支援業務 終結件数（理由・受入先別）", ("reason", "placement"), ENDED,
           values={"reason": (*CLOSING_REASONS, MOVED_TO_FOLLOW_UP), "placement": (*PLACEMENTS, NO_PLACEMENT)}),
    Family("consultations", "相談支援業務 相談件数（相談者別）", ("requester_type",), REQUESTED,
           values={"requester_type": (*REQUESTER_TYPES, UNKNOWN)}),
    Family("transfers_sent", "広域調整 依頼した件数", ("other_center",), SENT, unit="transfers"),
    Family("transfers_received", "広域調整 依頼を受けた件数", ("other_center",), SENT, unit="transfers"),
    Family("transfers_accepted", "広域調整 受け入れた件数", ("other_center",), SENT, unit="transfers"),
    Family("transfers_declined", "広域調整 お断りした件数", ("other_center",), SENT, unit="transfers"),
    Family("activities", "地域ネットワーク強化の取組み 開催回数", ("activity_type",), HELD, unit="activities",
           values={"activity_type": tuple(ACTIVITY_TYPES)}),
    Family("activity_participants", "地域ネットワーク強化の取組み 参加者数", ("activity_type", "sector"), HELD,
           unit="participants", values={"activity_type": tuple(ACTIVITY_TYPES), "sector": tuple(SECTORS)}),
)}

MEASURES: dict[str, Family] = {m.code: m for m in (
    Family("co_days_to_release", "コーディネート業務 依頼から釈放までの日数", (), RELEASED),
    Family("fu_days_to_end", "釈放（FU開始）からフォローアップ終了までの日数", (), CLOSED),
    Family("transfer_days_to_answer", "広域調整 依頼から回答までの日数", ("other_center",), SENT,
           unit="transfers"),
)}

MAX_DIMENSIONS = 3


@dataclass(frozen=True)
class Headline:
    """A total: one family, all of it or only the rows whose ``dimension`` is in ``values``."""

    code: str
    label: str
    family: str
    dimension: str | None = None
    values: tuple[str, ...] = ()


FU_OPEN = "fu_open"  # FU cases open during the year (from ``fu_span``, not a plain total)
HEADLINES: dict[str, Headline] = {h.code: h for h in (
    Headline("co_requests", "コーディネート業務 依頼件数", "cases", "case_type", ("coordination",)),
    Headline("co_released", "コーディネート業務 釈放件数", "co_return"),
    Headline("co_ended", "コーディネート業務 終結件数", "co_ended"),
    Headline("fu_started", "フォローアップ業務 開始件数", "cases", "case_type", ("follow_up",)),
    Headline("fu_closed", "フォローアップ業務 終結件数", "fu_closed"),
    Headline("ss_requests", "被疑者等支援業務 依頼件数", "cases", "case_type", ("suspect_support",)),
    Headline("ss_supported", "被疑者等支援業務 支援件数", "ss_supported"),
    Headline("consultations", "相談支援業務 相談件数", "cases", "case_type", ("consultation",)),
    Headline("transfers_sent", "広域調整 依頼件数", "transfers_sent"),
    Headline("transfers_accepted", "広域調整 受入件数", "transfers_accepted"),
    Headline("addon_activities", "加算対象の取組み 開催回数", "activities", "activity_type", tuple(ADDON_TYPES)),
    Headline("addon_participants", "加算対象の取組み 参加者数", "activity_participants", "activity_type",
             tuple(ADDON_TYPES)),
)}
FU_OPEN_LABEL = "フォローアップ業務 年度内に支援中だった件数"


# --- time (rules 1-3) ------------------------------------------------------------------------
# Rule 1 and the Japan-time day of an instant are plain calendar helpers every layer needs:
# ``fiscal_year_of``, ``fiscal_year_bounds`` and ``jst_date`` live in ``platform.i18n``, imported above.

def quarter_of(day: date) -> int:
    """The fiscal quarter of a day: 1 for April-June ... 4 for January-March."""
    return (day.month - FIRST_MONTH) % 12 // 3 + 1


def fiscal_year_moments(fiscal_year: int) -> tuple[datetime, datetime]:
    """The fiscal year as [start, end) instants in Japan time (for timestamps such as sent_at)."""
    return (datetime(fiscal_year, FIRST_MONTH, 1, tzinfo=JST),
            datetime(fiscal_year + 1, FIRST_MONTH, 1, tzinfo=JST))


def fiscal_years_of(*days: date | None) -> set[int]:
    """The fiscal years of the days given (None is skipped)."""
    return {fiscal_year_of(d) for d in days if d is not None}


# --- geography ---------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def prefecture_regions() -> dict[str, str]:
    """Prefecture code (JIS X 0401) -> regional block (北海道 ... 九州・沖縄), from the canonical
    list of centers the platform ships (``platform/data/centers.csv``: one region per center)."""
    mapping = {row.prefecture_code: row.region for row in canonical_centers()}
    unknown = set(mapping.values()) - set(REGIONS)
    if unknown or len(mapping) != 47:
        raise RuntimeError("centers.csv must name 47 prefectures, each in one of the eight regional blocks")
    return mapping


def region_of(prefecture_code: str) -> str:
    return prefecture_regions()[prefecture_code]


# --- the rows the rules read (ids and codes only: nothing that names a person) ------------------

class CaseRow(NamedTuple):
    """The columns of a case the rules read (a tuple: the rebuild makes millions of them)."""

    case_type: str
    status: str
    requested_on: date
    released_on: date | None = None
    closed_on: date | None = None
    closing_reason: str | None = None
    outcome_placement: str | None = None
    destination_prefecture_code: str | None = None
    facility_type: str | None = None
    requester_type: str | None = None
    suspect_stage: str | None = None
    support_needs: tuple[str, ...] = ()


class TransferRow(NamedTuple):
    side: str
    sent_on: date | None  # the day (Japan time) the request reached the receiving center
    accepted_on: date | None
    declined_on: date | None
    other_center: str  # the code of the center on the other side


class ActivityRow(NamedTuple):
    held_on: date
    activity_type: str
    participants: dict[str, int]  # sector -> people


# A contribution to a rollup: (fiscal year, family, dims padded to three, role, value).
Contribution = tuple[int, str, tuple[str, str, str], str, int]
# A day-statistic observation: (fiscal year, measure, dim, role, days).
DayObservation = tuple[int, str, str, str, int]


def _dims(*values: str) -> tuple[str, str, str]:
    padded = tuple(values) + ("",) * (MAX_DIMENSIONS - len(values))
    return padded  # type: ignore[return-value]


def case_role(is_receiving: bool, is_sending: bool) -> str:
    """Rule 5: the case made by accepting a transfer is ``receiving`` (also when handed on again)."""
    return RECEIVING if is_receiving else SENDING if is_sending else OWN


def support_needs_of(case: CaseRow) -> tuple[str, ...]:
    """Rule 4: each need once (延べ), ``none`` for a person with none recorded."""
    return tuple(dict.fromkeys(case.support_needs)) or (NO_SUPPORT_NEED,)


def ended_on(case: CaseRow) -> date | None:
    """Rule 3: a case ends on ``closed_on``; moved to follow-up, on its release day."""
    if case.status == "closed":
        return case.closed_on
    if case.status == MOVED_TO_FOLLOW_UP:
        return case.released_on
    return None


def ending_reason(case: CaseRow) -> str:
    return MOVED_TO_FOLLOW_UP if case.status == MOVED_TO_FOLLOW_UP else case.closing_reason or UNKNOWN


def co_requester(case: CaseRow, role: str) -> str:
    if role == RECEIVING:
        return WIDE_AREA
    return case.requester_type or PROBATION_OFFICE


def return_area(case: CaseRow, first_prefecture: str) -> str:
    """Same prefecture as the center where the request first arrived, or another (広域)."""
    if not case.destination_prefecture_code:
        return UNKNOWN
    return SAME_PREFECTURE if case.destination_prefecture_code == first_prefecture else WIDE_AREA


def case_contributions(case: CaseRow, role: str, first_prefecture: str) -> Iterator[Contribution]:
    """Everything one case counts in (every family, its fiscal years), for its center and role.

    ``first_prefecture``: the prefecture of the center where the request first arrived (the
    sending center's for a ``receiving`` case, the case's own center's otherwise).
    """
    requested_year, quarter = fiscal_year_of(case.requested_on), str(quarter_of(case.requested_on))
    yield requested_year, "cases", _dims(case.case_type, quarter), role, 1
    for need in support_needs_of(case):
        yield requested_year, "cases_by_need", _dims(case.case_type, quarter, need), role, 1
    ended = ended_on(case)
    if case.case_type == "coordination":
        yield from _coordination(case, role, first_prefecture, requested_year, ended)
    elif case.case_type == "follow_up":
        yield from _follow_up(case, role, requested_year)
    elif case.case_type == "suspect_support":
        yield from _suspect_support(case, role, requested_year, ended)
    else:
        yield requested_year, "consultations", _dims(case.requester_type or UNKNOWN), role, 1


def _coordination(case: CaseRow, role: str, first_prefecture: str, requested_year: int,
                  ended: date | None) -> Iterator[Contribution]:
    yield (requested_year, "co_requests", _dims(co_requester(case, role), case.facility_type or UNKNOWN), role, 1)
    if ended is not None:
        yield fiscal_year_of(ended), "co_ended", _dims(ending_reason(case)), role, 1
    if case.status == "closed" and case.closed_on and case.outcome_placement:
        yield fiscal_year_of(case.closed_on), "co_placements", _dims(case.outcome_placement), role, 1
    if case.released_on is not None:
        yield fiscal_year_of(case.released_on), "co_return", _dims(return_area(case, first_prefecture)), role, 1


def _follow_up(case: CaseRow, role: str, requested_year: int) -> Iterator[Contribution]:
    closed = case.closed_on if case.status == "closed" else None
    yield requested_year, "fu_span", _dims(str(fiscal_year_of(closed)) if closed else STILL_OPEN), role, 1
    if closed is not None:
        yield fiscal_year_of(closed), "fu_closed", _dims(case.closing_reason or UNKNOWN), role, 1


def _suspect_support(case: CaseRow, role: str, requested_year: int, ended: date | None) -> Iterator[Contribution]:
    stage = case.suspect_stage or UNKNOWN
    yield requested_year, "ss_requests", _dims(stage), role, 1
    if case.released_on is not None:
        yield fiscal_year_of(case.released_on), "ss_supported", _dims(stage), role, 1
    if ended is not None:
        placement = case.outcome_placement if case.status == "closed" and case.outcome_placement else NO_PLACEMENT
        yield fiscal_year_of(ended), "ss_outcomes", _dims(ending_reason(case), placement), role, 1


def case_days(case: CaseRow, role: str) -> Iterator[DayObservation]:
    """The day statistics one case adds to (see ``MEASURES``)."""
    if case.case_type == "coordination" and case.released_on is not None:
        yield (fiscal_year_of(case.released_on), "co_days_to_release", "", role,
               (case.released_on - case.requested_on).days)
    if case.case_type == "follow_up" and case.status == "closed" and case.closed_on is not None:
        yield fiscal_year_of(case.closed_on), "fu_days_to_end", "", role, (case.closed_on - case.requested_on).days


def transfer_contributions(row: TransferRow) -> Iterator[Contribution]:
    """One side's row of a transfer: sent (sending side) or received / accepted / declined."""
    if row.sent_on is None:
        return  # still awaiting the sending center head's approval: it reached nobody
    year, other = fiscal_year_of(row.sent_on), _dims(row.other_center)
    if row.side == "sending":
        yield year, "transfers_sent", other, OWN, 1
        return
    yield year, "transfers_received", other, OWN, 1
    if row.accepted_on is not None:
        yield year, "transfers_accepted", other, OWN, 1
    if row.declined_on is not None:
        yield year, "transfers_declined", other, OWN, 1


def transfer_row(side: str, sent_at: datetime | None, accepted_at: datetime | None,
                 declined_at: datetime | None, other_center: str = "") -> TransferRow:
    """One side's row of a transfer as the rules read it: each moment as its day in Japan time."""
    return TransferRow(side=side, sent_on=jst_date(sent_at), accepted_on=jst_date(accepted_at),
                       declined_on=jst_date(declined_at), other_center=other_center)


def answered_on(row: TransferRow) -> date | None:
    """The day the receiving center answered: it accepted or it declined (one of the two)."""
    return row.accepted_on or row.declined_on


def days_to_answer(row: TransferRow) -> int | None:
    """Days to answer (``transfer_days_to_answer``): a receiving row answered, from the day the
    request reached the center to the day of the answer; None for any other row."""
    answered = answered_on(row)
    if row.side != "receiving" or row.sent_on is None or answered is None:
        return None
    return (answered - row.sent_on).days


def transfer_days(row: TransferRow) -> Iterator[DayObservation]:
    days = days_to_answer(row)
    if days is not None:
        yield fiscal_year_of(row.sent_on), "transfer_days_to_answer", row.other_center, OWN, days


def activity_contributions(row: ActivityRow) -> Iterator[Contribution]:
    """An activity counts once under its type; its participants by type and sector (a sum)."""
    year = fiscal_year_of(row.held_on)
    yield year, "activities", _dims(row.activity_type), OWN, 1
    for sector, people in sorted(row.participants.items()):
        if people:
            yield year, "activity_participants", _dims(row.activity_type, sector), OWN, people
