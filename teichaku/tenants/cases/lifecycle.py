"""Case types, statuses and the transitions allowed between them: the one place they live.

Every status change goes through ``services.transition_case``, which consults ``TRANSITIONS``
and the guards in ``services``; the database CHECK constraints list the same values.
"""
from __future__ import annotations


def N_(text: str) -> str:
    """Marks a label for translation (extracted by pybabel ``-k N_``); shown through ``_()``."""
    return text


CASE_TYPES = ("coordination", "follow_up", "suspect_support", "consultation")

NUMBER_PREFIX = {
    "coordination": "CO",
    "follow_up": "FU",
    "suspect_support": "SS",
    "consultation": "CS",
}

# status -> statuses it may move to, per case type.  Final statuses map to ().
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    # コーディネート業務: request → assessment → plan → services arranged → release → close / FU
    "coordination": {
        "request_received": ("assessing", "closed"),
        "assessing": ("plan_drafted", "closed"),
        "plan_drafted": ("services_arranged", "assessing", "closed"),
        "services_arranged": ("released", "plan_drafted", "closed"),
        "released": ("closed", "moved_to_follow_up"),
        "closed": (),
        "moved_to_follow_up": (),
    },
    # フォローアップ業務
    "follow_up": {
        "active": ("closed",),
        "closed": (),
    },
    # 被疑者等支援業務: days, not months
    "suspect_support": {
        "request_received": ("assessing", "closed"),
        "assessing": ("services_arranged", "closed"),
        "services_arranged": ("released", "assessing", "closed"),
        "released": ("closed", "moved_to_follow_up"),
        "closed": (),
        "moved_to_follow_up": (),
    },
    # 相談支援業務
    "consultation": {
        "open": ("in_progress", "closed"),
        "in_progress": ("closed",),
        "closed": (),
    },
}

INITIAL_STATUS = {case_type: next(iter(states)) for case_type, states in TRANSITIONS.items()}
ALL_STATUSES = tuple(dict.fromkeys(s for states in TRANSITIONS.values() for s in states))
FINAL_STATUSES = ("closed", "moved_to_follow_up")
# Statuses from which a CO case has passed assessment: eligibility must be met (or overridden).
PAST_ASSESSMENT = ("plan_drafted", "services_arranged", "released")

STATUS_LABELS = {
    "request_received": N_("依頼受付"),
    "assessing": N_("アセスメント中"),
    "plan_drafted": N_("計画作成済"),
    "services_arranged": N_("サービス調整済"),
    "released": N_("釈放・退所済"),
    "closed": N_("終結"),
    "moved_to_follow_up": N_("FUへ移行"),
    "active": N_("支援中"),
    "open": N_("受付"),
    "in_progress": N_("対応中"),
}

FACILITY_TYPES = {
    "prison": N_("刑務所"),
    "juvenile_prison": N_("少年刑務所"),
    "detention_house": N_("拘置所"),
    "juvenile_training_school": N_("少年院"),
}

CLOSING_REASONS = {
    "placement_secured": N_("受入先確保"),
    "declined_by_person": N_("本人辞退"),
    "withdrawn": N_("取下げ"),
    "death": N_("死亡"),
    "other": N_("その他"),
}

# Where the person went (the aggregates count these).
PLACEMENTS = {
    "rehabilitation_facility": N_("更生保護施設"),
    "self_reliance_home": N_("自立準備ホーム"),
    "relief_facility": N_("救護施設"),
    "nursing_home_yogo": N_("養護老人ホーム"),
    "nursing_home_tokuyo": N_("特別養護老人ホーム"),
    "disability_facility": N_("障害者支援施設"),
    "group_home": N_("グループホーム"),
    "hospital": N_("病院"),
    "public_housing": N_("公営住宅"),
    "private_rental": N_("民間賃貸住宅"),
    "relatives": N_("親族宅"),
    "other": N_("その他"),
}

# 相談支援: who asked.
REQUESTER_TYPES = {
    "person": N_("本人"),
    "family": N_("家族"),
    "municipality": N_("市区町村"),
    "facility": N_("施設・事業所"),
    "lawyer": N_("弁護士"),
    "other": N_("その他"),
}

# 被疑者等支援: the stage at which the person was released.
SUSPECT_STAGES = {
    "prosecution_suspended": N_("起訴猶予"),
    "suspended_sentence": N_("執行猶予"),
    "fine": N_("罰金"),
    "other": N_("その他"),
}

# The conditions of 特別調整 (CO eligibility checklist).
ELIGIBILITY_CONDITIONS = {
    "elderly_or_disabled": N_("高齢（65歳以上）又は障害がある"),
    "no_residence": N_("適当な帰住予定地がない"),
    "needs_welfare_services": N_("福祉サービス等を受ける必要がある"),
    "appropriate": N_("特別調整の対象とすることが相当である"),
    "person_wishes": N_("本人が特別調整を希望している"),
    "consent_to_share": N_("個人情報の提供に本人が同意している"),
}
# The consent to share is recorded with its date and its witness (``services.set_eligibility``);
# the page form and the API schema take the witness's limit from here.
CONSENT_WITNESS_MAX = 100
OVERRIDE_REASON_MIN, OVERRIDE_REASON_MAX = 5, 2000  # why an admin lets a case pass with unmet conditions

# Life areas of needs (the dashboard, the plan and the pre-release view use them).
NEED_AREAS = {
    "housing": N_("住まい"),
    "income": N_("収入（年金・生活保護）"),
    "health_care": N_("医療"),
    "certificates": N_("障害者手帳等"),
    "welfare_services": N_("福祉・介護サービス"),
    "family": N_("家族"),
    "daytime_activity": N_("就労・日中活動"),
}
NEED_STATUSES = {
    "not_started": N_("未着手"),
    "in_progress": N_("対応中"),
    "met": N_("充足"),
    "declined": N_("本人辞退"),
    "not_needed": N_("不要"),
}
OPEN_NEED_STATUSES = ("not_started", "in_progress")

CERTIFICATE_KINDS = {
    "ryoiku_techo": N_("療育手帳"),
    "seishin_techo": N_("精神障害者保健福祉手帳"),
    "shintai_techo": N_("身体障害者手帳"),
    "kaigo_nintei": N_("要介護認定"),
}
CERTIFICATE_STATUSES = {"held": "所持", "applied": "申請中", "planned": "申請予定"}

PUBLIC_ASSISTANCE = {
    "none": N_("受給なし"),
    "receiving": N_("受給中"),
    "applied": N_("申請中"),
    "planned": N_("申請予定"),
}


def allowed_next(case_type: str, status: str) -> tuple[str, ...]:
    return TRANSITIONS[case_type].get(status, ())


def sql_in(values) -> str:
    """A literal IN list for CHECK constraints (values are code constants, never input)."""
    return "(" + ",".join(f"'{v}'" for v in values) + ")"
