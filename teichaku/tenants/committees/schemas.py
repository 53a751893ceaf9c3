"""Request and response schemas for the review committee (``/api/v1/committee``)."""
from __future__ import annotations

from marshmallow import fields, validate

from ...platform.validation import StrictSchema
from ..cases.schemas import KANA
from .models import PROFESSIONS

NOT_BLANK = validate.Regexp(r"\S", error="空白だけの値は入力できません。")
KANA_RULE = validate.Regexp(KANA, error="ふりがなはひらがなまたはカタカナで入力してください。")
PROFESSION_RULE = validate.OneOf(PROFESSIONS, error="職種の値が正しくありません（" + ", ".join(PROFESSIONS) + "）。")


# --- members ---------------------------------------------------------------------------------

class CommitteeMemberCreate(StrictSchema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=100), NOT_BLANK])
    name_kana = fields.String(required=True, validate=[validate.Length(min=1, max=100), KANA_RULE])
    profession = fields.String(required=True, validate=PROFESSION_RULE,
                               metadata={"description": "精神科医 psychiatrist, 社会福祉士 social_worker, 弁護士 lawyer, "
                                                        "保護観察官 probation_officer, 刑務所職員 prison_staff, 県職員 prefectural_staff, ..."})
    affiliation = fields.String(load_default="", validate=validate.Length(max=200))
    observer = fields.Boolean(load_default=False, metadata={"description": "オブザーバー"})
    active = fields.Boolean(load_default=True)


class CommitteeMemberPatch(StrictSchema):
    name = fields.String(validate=[validate.Length(min=1, max=100), NOT_BLANK])
    name_kana = fields.String(validate=[validate.Length(min=1, max=100), KANA_RULE])
    profession = fields.String(validate=PROFESSION_RULE)
    affiliation = fields.String(validate=validate.Length(max=200))
    observer = fields.Boolean()
    active = fields.Boolean()


class CommitteeMemberOut(StrictSchema):
    id = fields.UUID()
    name = fields.String()
    name_kana = fields.String()
    profession = fields.String()
    affiliation = fields.String()
    observer = fields.Boolean()
    active = fields.Boolean()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CommitteeMemberList(StrictSchema):
    items = fields.List(fields.Nested(CommitteeMemberOut))
    next_cursor = fields.String(allow_none=True)


class CommitteeAttendeeOut(StrictSchema):
    id = fields.UUID()
    name = fields.String()
    profession = fields.String()
    affiliation = fields.String()
    observer = fields.Boolean()


# --- agenda items ----------------------------------------------------------------------------

class CommitteeAgendaItemCreate(StrictSchema):
    case_id = fields.UUID(required=True)
    question = fields.String(required=True, validate=[validate.Length(min=1, max=4000), NOT_BLANK],
                             metadata={"description": "相談したいこと（配布資料に載る: 氏名・ケース番号は書かない）"})


class CommitteeAgendaItemPatch(StrictSchema):
    question = fields.String(validate=[validate.Length(min=1, max=4000), NOT_BLANK])


class CommitteeAdviceIn(StrictSchema):
    advice = fields.String(required=True, validate=[validate.Length(min=1, max=10000), NOT_BLANK])


class CommitteeFollowUpIn(StrictSchema):
    follow_up = fields.String(required=True, validate=[validate.Length(min=1, max=10000), NOT_BLANK])
    follow_up_on = fields.Date(required=True)


class CommitteeAgendaItemOut(StrictSchema):
    id = fields.UUID()
    meeting_id = fields.UUID()
    case_id = fields.UUID()
    round = fields.Integer(metadata={"description": "何回目の検討か（ケースごと、会議の開催日順）"})
    question = fields.String()
    advice = fields.String(allow_none=True)
    advice_recorded_at = fields.DateTime(allow_none=True)
    follow_up = fields.String(allow_none=True)
    follow_up_on = fields.Date(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


# --- meetings --------------------------------------------------------------------------------

class CommitteeMeetingCreate(StrictSchema):
    held_on = fields.Date(required=True)
    place = fields.String(load_default="", validate=validate.Length(max=200))
    notes = fields.String(load_default="", validate=validate.Length(max=20000))
    attendee_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=50))


class CommitteeMeetingPatch(StrictSchema):
    held_on = fields.Date()
    place = fields.String(validate=validate.Length(max=200))
    notes = fields.String(validate=validate.Length(max=20000))
    attendee_ids = fields.List(fields.UUID(), validate=validate.Length(max=50),
                               metadata={"description": "出席者の一覧（全体を置き換える）"})


class CommitteeMeetingSummary(StrictSchema):
    id = fields.UUID()
    held_on = fields.Date()
    place = fields.String()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CommitteeMeetingOut(CommitteeMeetingSummary):
    notes = fields.String()
    attendees = fields.List(fields.Nested(CommitteeAttendeeOut))
    agenda_items = fields.List(fields.Nested(CommitteeAgendaItemOut))


class CommitteeMeetingList(StrictSchema):
    items = fields.List(fields.Nested(CommitteeMeetingSummary))
    next_cursor = fields.String(allow_none=True)


# --- review history --------------------------------------------------------------------------

class CommitteeReviewRound(StrictSchema):
    round = fields.Integer()
    agenda_item_id = fields.UUID(attribute="id")
    meeting_id = fields.UUID()
    held_on = fields.Date(attribute="meeting.held_on")
    question = fields.String()
    advice = fields.String(allow_none=True)
    advice_recorded_at = fields.DateTime(allow_none=True)
    follow_up = fields.String(allow_none=True)
    follow_up_on = fields.Date(allow_none=True)


class CommitteeReviewHistory(StrictSchema):
    case_id = fields.UUID()
    rounds = fields.List(fields.Nested(CommitteeReviewRound))
