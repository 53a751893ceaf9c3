"""Transfer statuses, the actions that move them and the values a transfer's fields may take:
the one place they live.

A transfer (広域調整) keeps one row per side: the sending center's row and the receiving
center's row, joined by ``group_id``.  Every status change goes through ``workflow``, which asks
``next_status(action, side, status)`` here; the database CHECK constraints list the same values.
"""
from __future__ import annotations

from ...platform.errors import InvalidState
from ...platform.i18n import fiscal_year_era_code


def N_(text: str) -> str:
    """Marks a label for translation (extracted by pybabel ``-k N_``); shown through ``_()``."""
    return text


SIDES = ("sending", "receiving")

STATUS_LABELS = {
    "awaiting_approval": N_("センター長の承認待ち"),
    "requested": N_("依頼中（回答待ち）"),
    "accepted": N_("受入決定"),
    "declined": N_("お断り"),
    "withdrawn": N_("取下げ"),
    "completed": N_("完了"),
    "reassigned": N_("他センターへ振替"),
}
STATUSES = tuple(STATUS_LABELS)
# A request still waiting for someone: at most one per case and receiving center (partial unique index).
OPEN_STATUSES = ("awaiting_approval", "requested")
FINAL_STATUSES = ("withdrawn", "completed", "reassigned")

# action -> side -> (statuses it may start from, the status it leads to).
# A side missing under an action cannot take it (the receiving row does not exist before the
# request is sent, so it is never approved).  ``reassign`` is the association's: the old
# receiving row becomes ``reassigned`` and the sending row is ``requested`` again, of a new center.
ACTIONS: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "approve": {"sending": (("awaiting_approval",), "requested")},
    "withdraw": {"sending": (("awaiting_approval", "requested"), "withdrawn"),
                 "receiving": (("requested",), "withdrawn")},
    "accept": {"sending": (("requested",), "accepted"), "receiving": (("requested",), "accepted")},
    "decline": {"sending": (("requested",), "declined"), "receiving": (("requested",), "declined")},
    "complete": {"sending": (("accepted",), "completed"), "receiving": (("accepted",), "completed")},
    "reassign": {"sending": (("requested", "declined"), "requested"),
                 "receiving": (("requested", "declined"), "reassigned")},
}

# Which side's center may take each action (the association takes ``reassign`` and ``remind``).
ACTOR_SIDE = {"approve": "sending", "withdraw": "sending", "accept": "receiving", "decline": "receiving",
              "complete": "receiving"}

ACTION_LABELS = {
    "approve": N_("承認"), "withdraw": N_("取下げ"), "accept": N_("受入"), "decline": N_("お断り"),
    "complete": N_("完了"), "reassign": N_("振替"),
}

# status -> statuses it may move to, per side (derived from ACTIONS; shown in the docs and tests).
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    side: {status: tuple(dict.fromkeys(to for sides in ACTIONS.values() if side in sides
                                       for froms, to in [sides[side]] if status in froms and to != status))
           for status in STATUSES}
    for side in SIDES
}

DECLINE_REASONS = {
    "no_capacity": N_("受入れの余力がない"),
    "out_of_area": N_("対象地域外"),
    "no_resources": N_("受入先・社会資源が見つからない"),
    "person_declined": N_("本人が希望しなくなった"),
    "other": N_("その他"),
}

# The person's consent to a provision (APPI), as a transfer request and a pull request record it:
# the page forms, the API schema and ``sides.clean_consent`` all take its rules from here.
CONSENT_METHODS = {
    "written": N_("書面による同意"),
    "oral_with_witness": N_("立会人のいる口頭の同意"),
}
CONSENT_METHODS_NEEDING_WITNESS = ("oral_with_witness",)
CONSENT_WITNESS_MAX = 100  # the column's width
CONSENT_SCOPE_MAX = 2000
CONSENT_WITNESS_MISSING = "口頭の同意には立会人を記録してください。"

# Text limits (characters), for the API schemas and the page forms alike.
MESSAGE_MAX = 4000  # a request's or a pull request's message, a thread message, a shared update
COMMENT_MAX = 2000  # a decline's comment, a pull request's refusal

# What a request may carry besides the minimum identity (nothing is chosen by default).
PACKAGE_KINDS = {
    "face_sheet": N_("フェイスシート・アセスメント"),
    "plan": N_("福祉サービス等調整計画"),
    "record": N_("面談記録・支援経過"),
    "document": N_("書類"),
}
# The minimum identity the receiving center always gets (and the association never sees).
IDENTITY_FIELDS = ("family_name", "given_name", "family_name_kana", "given_name_kana", "birth_date", "sex",
                   "support_needs")
IDENTITY_LABEL = N_("本人確認のための最小限の情報（氏名・ふりがな・生年月日・性別・支援の必要性）と釈放予定日")

# Why a provision to another center was lawful (APPI: the person's consent), per provision record.
PROVISION_BASES = {
    "consent": N_("本人の同意"),
    "consent_reassigned": N_("本人の同意（全国協議会による受入先の振替）"),
}

# What a message of the thread is: a message, or an update the sending center shares after acceptance.
MESSAGE_KINDS = ("message", "shared_update")

# The request ended without the receiving center taking the person on (declined, withdrawn,
# reassigned away): that center's copy of the identity is erased (``sides.erase_identity``)
# and the thread is closed, on both sides, for messages and files alike: nothing more about the
# person may reach a center that no longer holds it.  After acceptance (and completion) the
# thread stays open: the receiving center has the person in its own case, and the sending center
# shares updates there.
NOT_TAKEN_ON_STATUSES = ("declined", "withdrawn", "reassigned")
THREAD_CLOSED = {
    "awaiting_approval": N_("センター長の承認前のため、相手のセンターにはまだ届いていません。"),
    "declined": N_("この依頼はお断りされたため、メッセージやファイルはもう送れません。"),
    "withdrawn": N_("この依頼は取り下げられたため、メッセージやファイルはもう送れません。"),
    "reassigned": N_("この依頼は他のセンターに振り替えられたため、メッセージやファイルはもう送れません。"),
}
# A file sent in the thread is a provision of personal data (第三者提供記録, written in the
# sending center's own records with its case's person): a receiving center before acceptance has
# no case of its own to record it in, so it sends text only until it accepts.
FILES_NEED_OWN_CASE = N_("受入れを決めるまでは、依頼を受けたセンターからファイルは送れません"
                         "（第三者提供記録を残す、このセンターのケースがまだないため）。本文でお知らせください。")
ATTACHMENT_ITEM_LABEL = N_("スレッドの添付ファイル")

# Deadlines (config overrides: TRANSFER_ANSWER_DAYS, TRANSFER_RELEASE_WARNING_DAYS).
# A transfer's human-readable number (広域-R8-0012): the sending center's counter per fiscal year,
# shown beside that center's name on both sides and printed on the letter.
NUMBER_PREFIX = "広域"
NUMBER_DIGITS = 4


def transfer_number(fiscal_year: int | None, seq: int | None) -> str | None:
    """広域-R8-0012: the prefix, the fiscal year's era code (令和8年度: R8) and the counter."""
    if fiscal_year is None or seq is None:
        return None
    return f"{NUMBER_PREFIX}-{fiscal_year_era_code(fiscal_year)}-{seq:0{NUMBER_DIGITS}d}"


ANSWER_DAYS = 3
RELEASE_WARNING_DAYS = 14
PROVISION_RETENTION_YEARS = 3  # APPI: records of provision to a third party are kept at least 3 years


def allowed(action: str, side: str, status: str) -> bool:
    rule = ACTIONS.get(action, {}).get(side)
    return bool(rule) and status in rule[0]


def next_status(action: str, side: str, status: str) -> str:
    """The status a row of ``side`` moves to under ``action``; ``InvalidState`` when not allowed."""
    if not allowed(action, side, status):
        raise InvalidState(
            f"「{STATUS_LABELS.get(status, status)}」の依頼には「{ACTION_LABELS.get(action, action)}」の操作はできません。",
            details={"status": status, "action": action})
    return ACTIONS[action][side][1]


def consent_lacks_witness(method: str | None, witness: str | None) -> bool:
    """Whether a consent given orally is recorded without the witness it needs (the database
    refuses it too: ``oral_consent_has_witness``)."""
    return method in CONSENT_METHODS_NEEDING_WITNESS and not (witness or "").strip()


def thread_closed_reason(status: str) -> str | None:
    """Why nothing may be sent in a thread whose side is in ``status`` (None: the thread is open)."""
    return THREAD_CLOSED.get(status)


def actions_for(side: str, status: str) -> tuple[str, ...]:
    """The actions the center on ``side`` may take now (for pages and the API's detail)."""
    return tuple(a for a, s in ACTOR_SIDE.items() if s == side and allowed(a, side, status))


# --- the destination center's pull request (開始依頼) -------------------------------------------------
# The center where the person will live (帰住予定地, the asking side) asks the facility's center
# (施設所在地, the asked side) to start a transfer.  One row per side, joined by ``group_id``,
# like a transfer; the asked center confirms by sending an ordinary transfer request.

PULL_SIDES = ("asking", "asked")

PULL_STATUS_LABELS = {
    "open": N_("開始依頼中（回答待ち）"),
    "confirmed": N_("広域調整の依頼を作成済み"),
    "refused": N_("お断り"),
    "cancelled": N_("取消し"),
}
PULL_STATUSES = tuple(PULL_STATUS_LABELS)
PULL_OPEN_STATUSES = ("open",)  # at most one per asking case and asked center (partial unique index)
# Refused or cancelled: the asked center will not start a transfer, so its copy of the identity is
# erased (``sides.erase_identity``, the same rule as a receiving center's in NOT_TAKEN_ON_STATUSES).
PULL_NOT_TAKEN_ON_STATUSES = ("refused", "cancelled")

# action -> side -> (statuses it may start from, the status it leads to); both rows move together.
PULL_ACTIONS: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "confirm": {"asking": (("open",), "confirmed"), "asked": (("open",), "confirmed")},
    "refuse": {"asking": (("open",), "refused"), "asked": (("open",), "refused")},
    "cancel": {"asking": (("open",), "cancelled"), "asked": (("open",), "cancelled")},
}
# Which side's center takes each action: the asked center confirms or refuses, the asker cancels.
PULL_ACTOR_SIDE = {"confirm": "asked", "refuse": "asked", "cancel": "asking"}
PULL_ACTION_LABELS = {"confirm": N_("広域調整の依頼を作成"), "refuse": N_("お断り"), "cancel": N_("取消し")}

# What the asking center sends (and records as a provision): the minimum identity for the asked
# center to find the person among its own cases, plus the facility and release date if known.
PULL_IDENTITY_FIELDS = ("family_name", "given_name", "family_name_kana", "given_name_kana", "birth_date", "sex")
PULL_IDENTITY_LABEL = N_("本人確認のための最小限の情報（氏名・ふりがな・生年月日・性別）と矯正施設名・釈放予定日（わかる場合）")
PULL_MESSAGE_LABEL = N_("開始依頼のメッセージ")


def pull_next_status(action: str, side: str, status: str) -> str:
    """The status a pull row of ``side`` moves to under ``action``; ``InvalidState`` when not allowed."""
    rule = PULL_ACTIONS.get(action, {}).get(side)
    if not rule or status not in rule[0]:
        raise InvalidState(
            f"「{PULL_STATUS_LABELS.get(status, status)}」の開始依頼には"
            f"「{PULL_ACTION_LABELS.get(action, action)}」の操作はできません。",
            details={"status": status, "action": action})
    return rule[1]


def pull_actions_for(side: str, status: str) -> tuple[str, ...]:
    """The actions the center on ``side`` may take on a pull now (for pages and the API)."""
    return tuple(a for a, s in PULL_ACTOR_SIDE.items()
                 if s == side and status in PULL_ACTIONS[a][side][0])


def sql_in(values) -> str:
    """A literal IN list for CHECK constraints (values are code constants, never input)."""
    return "(" + ",".join(f"'{v}'" for v in values) + ")"
