"""The case-study exchange's statuses, the actions that move them and the values its fields may
take: the one place they live (the database CHECK constraints list the same values).

Two lifecycles meet here.

* A **draft** (下書き) belongs to its author (a center, or the association's workspace) and moves
  ``draft`` → ``checked`` → ``published``.  The automatic PII check runs on every change of the
  text: a draft with an open finding is ``draft``, one whose findings are all resolved is
  ``checked``; only a ``checked`` draft may be approved and published by the center head (the
  association's moderator for its own studies), in one step.  A published draft is frozen.
* A **study** (事例) in the shared library is ``published`` or ``hidden``: the association hides
  a published study with a reason and may show it again.  A correction is a new draft of the same
  study, published as the next version.  Other centers read only the current version (the latest
  the association has not withdrawn); the author and the association read every version.  The
  association withdraws a single version with a reason (permanent, audited).
"""
from __future__ import annotations

from ...platform.errors import InvalidState


def N_(text: str) -> str:
    """Marks a label for translation (extracted by pybabel ``-k N_``); shown through ``_()``."""
    return text


# --- drafts --------------------------------------------------------------------------------------

DRAFT_STATUS_LABELS = {
    "draft": N_("下書き（確認が必要な箇所があります）"),
    "checked": N_("確認済み（公開の承認待ち）"),
    "published": N_("公開済み"),
}
DRAFT_STATUSES = tuple(DRAFT_STATUS_LABELS)
OPEN_DRAFT_STATUSES = ("draft", "checked")  # at most one per study and author (partial unique index)

# action -> (statuses it may start from, the status it leads to; None: decided by the PII check)
DRAFT_ACTIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "edit": (OPEN_DRAFT_STATUSES, None),
    "resolve": (OPEN_DRAFT_STATUSES, None),
    "publish": (("checked",), "published"),
}
ACTION_LABELS = {
    "edit": N_("編集"), "resolve": N_("指摘への対応"), "publish": N_("承認して公開"),
    "hide": N_("非表示"), "unhide": N_("再表示"),
}

# --- studies in the shared library ------------------------------------------------------------------

STUDY_STATUS_LABELS = {
    "published": N_("公開中"),
    "hidden": N_("全国協議会により非表示"),
}
STUDY_STATUSES = tuple(STUDY_STATUS_LABELS)
STUDY_ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "hide": (("published",), "hidden"),
    "unhide": (("hidden",), "published"),
}

# Who published: a center (shown or not, by the author's choice) or the association.
PUBLISHERS = ("center", "association")

# --- the PII check's findings ----------------------------------------------------------------------

FINDING_STATUS_LABELS = {
    "open": N_("未対応"),
    "replaced": N_("置き換え済み"),
    "dismissed": N_("問題なしと判断"),
}
FINDING_STATUSES = tuple(FINDING_STATUS_LABELS)
RESOLUTIONS = ("replace", "dismiss")
MAX_REPLACEMENT = 200  # the author's words for a replaced finding
MAX_REASON = 1000  # why a finding is no personal information; why a study is hidden or a version withdrawn

# --- the text: the structure the field's good-practice collections use ------------------------------

FIELD_LABELS = {
    "title": N_("タイトル"),
    "background": N_("取組みの経緯"),
    "actions": N_("取組んだこと"),
    "outcomes": N_("取組みの成果"),
    "reference": N_("参考資料"),
}
TEXT_FIELDS = tuple(FIELD_LABELS)  # every one of them is checked for personal information
REQUIRED_FIELDS = ("title", "background", "actions", "outcomes")
MAX_LENGTHS = {"title": 200, "background": 20000, "actions": 20000, "outcomes": 20000, "reference": 10000}

# --- tags: one flat vocabulary in three groups ------------------------------------------------------
# Suspect support (被疑者等支援) is both a theme and a case type in the field; it is one tag here
# (the case-type group), so a filter on it finds both kinds of study.

THEME_LABELS = {
    "review_committee": N_("検討委員会"),
    "regional_network": N_("地域ネットワーク・連携体制"),
    "municipal_cooperation": N_("市町村との役割分担"),
    "partner_community": N_("関係機関の団体・コミュニティ"),
    "receiving_places": N_("受入先の開拓"),
    "training": N_("研修・人材育成"),
    "transfer": N_("広域調整"),
    "center_operation": N_("センターの運営"),
    "other": N_("その他"),
}
CASE_TYPE_LABELS = {
    "coordination": N_("コーディネート業務（CO）"),
    "follow_up": N_("フォローアップ業務（FU）"),
    "suspect_support": N_("被疑者等支援業務"),
    "consultation": N_("相談支援業務"),
}
SUPPORT_NEED_LABELS = {
    "elderly": N_("高齢"),
    "intellectual": N_("知的障害"),
    "mental": N_("精神障害"),
    "physical": N_("身体障害"),
    "developmental": N_("発達障害"),
    "dementia": N_("認知症の疑い"),
}
TAG_GROUPS = {
    "themes": (N_("テーマ"), THEME_LABELS),
    "case_types": (N_("業務の種類"), CASE_TYPE_LABELS),
    "support_needs": (N_("支援の必要性"), SUPPORT_NEED_LABELS),
}
TAG_LABELS = {**THEME_LABELS, **CASE_TYPE_LABELS, **SUPPORT_NEED_LABELS}
TAGS = tuple(TAG_LABELS)
MAX_TAGS = 20

# --- questions to the author -------------------------------------------------------------------------

MAX_MESSAGE = 4000  # a question or an answer


def ordered_tags(tags) -> list[str]:
    """Known tags, each once, in the vocabulary's order (themes, case types, needs)."""
    chosen = set(tags or ())
    return [t for t in TAGS if t in chosen]


# --- transitions -------------------------------------------------------------------------------------

def status_after_check(open_findings: int) -> str:
    """A draft's status once its findings are known: checked only when none is left open."""
    return "draft" if open_findings else "checked"


def require_draft_action(action: str, status: str) -> str | None:
    """The status a draft moves to under ``action`` (None: decided by the check).

    Raises ``InvalidState`` (409) when the draft's status does not allow it.
    """
    froms, to = DRAFT_ACTIONS[action]
    if status not in froms:
        raise InvalidState(
            f"「{DRAFT_STATUS_LABELS.get(status, status)}」の事例には「{ACTION_LABELS[action]}」の操作はできません。",
            details={"status": status, "action": action})
    return to


def require_study_action(action: str, status: str) -> str:
    """The status a library study moves to under ``action``; ``InvalidState`` (409) otherwise."""
    froms, to = STUDY_ACTIONS[action]
    if status not in froms:
        raise InvalidState(
            f"「{STUDY_STATUS_LABELS.get(status, status)}」の事例には「{ACTION_LABELS[action]}」の操作はできません。",
            details={"status": status, "action": action})
    return to


def sql_in(values) -> str:
    """A literal IN list for CHECK constraints (values are code constants, never input)."""
    return "(" + ",".join(f"'{v}'" for v in values) + ")"
