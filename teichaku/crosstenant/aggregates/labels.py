"""Japanese labels of the aggregates' figures (集計の表示名), marked for translation.

``rules`` keeps the labels of its families, measures and headlines as plain Japanese strings (it
is the counting module, not a presentation one).  The reporting pages, charts and exports show
them through ``_()``, so every one of them must be a msgid of the catalogs: this module repeats
them inside ``N_()`` (which pybabel extracts) and ``tests/test_aggregates_reporting.py`` checks
that every label ``rules`` defines is here, so a new family cannot reach a page untranslated.

Dimension values (case types, reasons, placements, ...) are labelled here too, by dimension, for
the tables' row and column headers.
"""
from __future__ import annotations

from ...tenants.cases.lifecycle import CLOSING_REASONS, FACILITY_TYPES, PLACEMENTS, REQUESTER_TYPES, SUSPECT_STAGES


def N_(text: str) -> str:
    """Marks a label for translation (extracted by pybabel ``-k N_``); shown through ``_()``."""
    return text


# Every label of ``rules`` (families, measures, headlines, needs, roles, return areas, requesters).
RULE_LABELS = frozenset({
    N_("依頼件数（種別・四半期）"), N_("支援の必要性別 延べ件数"),
    N_("コーディネート業務 依頼件数（依頼元・施設別）"), N_("コーディネート業務 終結件数（理由別）"),
    N_("コーディネート業務 受入先の種類別件数"), N_("コーディネート業務 帰住先（県内・県外）"),
    N_("フォローアップ業務 終結件数（理由別）"), N_("フォローアップ業務 開始年度別の終了年度"),
    N_("被疑者等支援業務 依頼件数（段階別）"), N_("被疑者等支援業務 釈放時に支援した件数（段階別）"),
    N_("被疑者等支援業務 終結件数（理由・受入先別）"), N_("相談支援業務 相談件数（相談者別）"),
    N_("広域調整 依頼した件数"), N_("広域調整 依頼を受けた件数"), N_("広域調整 受け入れた件数"),
    N_("広域調整 お断りした件数"), N_("地域ネットワーク強化の取組み 開催回数"),
    N_("地域ネットワーク強化の取組み 参加者数"),
    N_("コーディネート業務 依頼から釈放までの日数"), N_("釈放（FU開始）からフォローアップ終了までの日数"),
    N_("広域調整 依頼から回答までの日数"),
    N_("コーディネート業務 依頼件数"), N_("コーディネート業務 釈放件数"), N_("コーディネート業務 終結件数"),
    N_("フォローアップ業務 開始件数"), N_("フォローアップ業務 終結件数"), N_("被疑者等支援業務 依頼件数"),
    N_("被疑者等支援業務 支援件数"), N_("相談支援業務 相談件数"), N_("広域調整 依頼件数"), N_("広域調整 受入件数"),
    N_("加算対象の取組み 開催回数"), N_("加算対象の取組み 参加者数"),
    N_("フォローアップ業務 年度内に支援中だった件数"),
    N_("高齢"), N_("知的障害"), N_("精神障害"), N_("身体障害"), N_("発達障害"), N_("認知症"), N_("記録なし"),
    N_("県内"), N_("県外（広域）"), N_("不明"), N_("保護観察所"), N_("他センター（広域調整）"),
    N_("広域調整なし"), N_("施設所在地（広域調整の依頼元）"), N_("帰住予定地（広域調整の受入先）"),
})

CASE_TYPE_LABELS = {
    "coordination": N_("コーディネート業務（CO）"),
    "follow_up": N_("フォローアップ業務（FU）"),
    "suspect_support": N_("被疑者等支援業務"),
    "consultation": N_("相談支援業務"),
}
QUARTER_LABELS = {1: N_("第1四半期（4〜6月）"), 2: N_("第2四半期（7〜9月）"), 3: N_("第3四半期（10〜12月）"),
                  4: N_("第4四半期（1〜3月）")}
DIMENSION_LABELS = {
    "center": N_("センター"), "prefecture": N_("都道府県"), "region": N_("地域ブロック"),
    "case_type": N_("業務の種類"), "quarter": N_("四半期"), "support_need": N_("支援の必要性"),
    "requester": N_("依頼元"), "facility_type": N_("矯正施設の種類"), "reason": N_("終結の理由"),
    "placement": N_("受入先の種類"), "area": N_("帰住先"), "suspect_stage": N_("段階"),
    "requester_type": N_("相談者"), "activity_type": N_("取組みの種類"), "sector": N_("参加者の分野"),
    "sending_region": N_("依頼元の地域ブロック"), "receiving_region": N_("依頼先の地域ブロック"),
}
ACTIVITY_LABELS = {
    "regional_support_meeting": N_("地域福祉支援検討会"), "provider_outreach": N_("福祉事業者巡回開拓"),
    "regional_training": N_("地域福祉研修"), "other": N_("その他の活動"), "addon": N_("加算対象の取組み 計"),
}
SECTOR_LABELS = {
    "welfare": N_("福祉"), "medical": N_("医療"), "municipal": N_("行政"),
    "justice": N_("司法（保護観察所・矯正施設）"), "legal": N_("法律（弁護士等）"), "police": N_("警察"),
    "education": N_("教育"), "community": N_("地域"), "other": N_("その他"),
}
EXTRA_VALUE_LABELS = {
    "moved_to_follow_up": N_("フォローアップへ移行"), "none": N_("なし"), "unknown": N_("不明"),
    "same_prefecture": N_("県内"), "wide_area": N_("県外（広域）"), "probation_office": N_("保護観察所"),
}
NEED_VALUE_LABELS = {
    "elderly": N_("高齢"), "intellectual": N_("知的障害"), "mental": N_("精神障害"), "physical": N_("身体障害"),
    "developmental": N_("発達障害"), "dementia": N_("認知症"), "none": N_("記録なし"),
}
REQUESTER_VALUE_LABELS = {**REQUESTER_TYPES, "probation_office": N_("保護観察所"), "wide_area": N_("他センター（広域調整）"),
                          "unknown": N_("不明")}

# dimension -> value -> label (values not listed are shown as they are: codes, region names).
VALUE_LABELS: dict[str, dict] = {
    "case_type": CASE_TYPE_LABELS,
    "quarter": QUARTER_LABELS,
    "support_need": NEED_VALUE_LABELS,
    "requester": REQUESTER_VALUE_LABELS,
    "requester_type": REQUESTER_VALUE_LABELS,
    "facility_type": {**FACILITY_TYPES, "unknown": N_("不明")},
    "reason": {**CLOSING_REASONS, **EXTRA_VALUE_LABELS},
    "placement": {**PLACEMENTS, "none": N_("受入先なし")},
    "area": EXTRA_VALUE_LABELS,
    "suspect_stage": {**SUSPECT_STAGES, "unknown": N_("不明")},
    "activity_type": ACTIVITY_LABELS,
    "sector": SECTOR_LABELS,
}

TOTAL_LABEL = N_("計")
NATIONAL_LABEL = N_("全国")
SUPPRESSED_LABEL = N_("秘匿")


def value_label(dimension: str, value) -> str:
    """The msgid of a dimension value (the caller translates it), or the value itself (a center
    code, a prefecture code or a region name, which need no catalog)."""
    if value is None:
        return TOTAL_LABEL
    return VALUE_LABELS.get(dimension, {}).get(value, str(value))
