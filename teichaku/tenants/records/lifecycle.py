"""The kinds of records and documents, the assessment's sections and the plan's life areas, with
their labels, and the limits of their text: the one place they live.

The database CHECK constraints (``models``) list the same codes; the API schemas, the page forms,
the templates (``RL``), the transfer package's item labels and the 開示請求 export take codes,
labels and limits from here, so a new kind or a changed label reaches every one of them.
"""
from __future__ import annotations


def N_(text: str) -> str:
    """Marks a label for translation (extracted by pybabel ``-k N_``); shown through ``_()``."""
    return text


RECORD_LABELS = {
    "assessment": N_("フェイスシート・アセスメント"),
    "interview": N_("面談記録"),
    "progress": N_("支援経過"),
}
RECORD_KINDS = tuple(RECORD_LABELS)

# フェイスシート・アセスメントの項目 (in the order they are shown)
SECTION_LABELS = {
    "life_history": N_("生活歴"),
    "family": N_("家族・親族"),
    "health": N_("健康状態"),
    "disability": N_("障害の状況"),
    "offence_history": N_("犯罪歴の概要"),
    "housing": N_("住まい"),
    "income": N_("収入"),
    "wishes": N_("本人の希望"),
}
ASSESSMENT_SECTIONS = tuple(SECTION_LABELS)

DOCUMENT_LABELS = {
    "request_letter": N_("特別調整協力等依頼書"),
    "assessment": N_("アセスメント"),
    "plan": N_("調整計画"),
    "other": N_("その他"),
}
DOCUMENT_KINDS = tuple(DOCUMENT_LABELS)

# The coordination plan's life areas (福祉サービス等調整計画)
AREA_LABELS = {
    "housing": N_("住まい"),
    "income": N_("収入・生活費"),
    "health_care": N_("医療・健康"),
    "certificates": N_("手帳・証明書"),
    "welfare_services": N_("福祉サービス"),
    "family": N_("家族・親族"),
    "daytime_activity": N_("日中活動"),
}
PLAN_AREAS = tuple(AREA_LABELS)

# Text limits (characters), for the API schemas and the page forms alike.
TEXT_MAX = 20000  # an interview's or a progress note's content
SECTION_MAX = 10000  # one assessment section; the plan's wishes, goals and notes
PLACE_MAX = 200
PARTICIPANTS_MAX = 1000
DOCUMENT_NOTE_MAX = 500
PLAN_TITLE_MAX = 200
PLAN_SUPPORT_MAX = 5000
PLAN_PROVIDER_MAX = 500
PLAN_ITEMS_MAX = 100
