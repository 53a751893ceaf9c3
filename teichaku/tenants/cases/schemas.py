"""Request and response schemas for cases (the contract's fields)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from ...platform.validation import StrictSchema
from ..persons.models import SEXES, SUPPORT_NEEDS
from .models import CASE_TYPES

KANA = r"^[\u3041-\u3096\u30A1-\u30FA\u30FC\u30FB\u3000 ー・]+$"
PREFECTURE = validate.Regexp(r"^(0[1-9]|[1-3][0-9]|4[0-7])$", error="都道府県コード（01〜47）を入力してください。")


class PersonIn(StrictSchema):
    family_name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    given_name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    family_name_kana = fields.String(required=True, validate=[validate.Length(min=1, max=100), validate.Regexp(KANA, error="ふりがなはひらがなまたはカタカナで入力してください。")])
    given_name_kana = fields.String(required=True, validate=[validate.Length(min=1, max=100), validate.Regexp(KANA, error="ふりがなはひらがなまたはカタカナで入力してください。")])
    birth_date = fields.Date(required=True)
    sex = fields.String(required=True, validate=validate.OneOf(SEXES, error="male, female, other のいずれかを指定してください。"))
    support_needs = fields.List(fields.String(validate=validate.OneOf(SUPPORT_NEEDS, error="支援の必要性の値が正しくありません。")), load_default=list)

    @validates_schema
    def _birth_in_past(self, data, **kwargs):
        from ...platform.i18n import today_jst

        if data.get("birth_date") and data["birth_date"] >= today_jst():
            raise ValidationError({"birth_date": ["生年月日は今日より前の日付を入力してください。"]})


class PersonPatch(PersonIn):
    class Meta:
        partial = True


class PersonOut(StrictSchema):
    id = fields.UUID()
    family_name = fields.String()
    given_name = fields.String()
    family_name_kana = fields.String()
    given_name_kana = fields.String()
    birth_date = fields.Date()
    sex = fields.String()
    support_needs = fields.List(fields.String())


class CaseCreate(StrictSchema):
    case_type = fields.String(required=True, validate=validate.OneOf(CASE_TYPES, error="coordination, follow_up, suspect_support, consultation のいずれかを指定してください。"))
    person = fields.Nested(PersonIn)
    person_id = fields.UUID()
    release_date = fields.Date(allow_none=True)
    destination_prefecture_code = fields.String(allow_none=True, validate=PREFECTURE)
    requested_on = fields.Date()

    @validates_schema
    def _one_person(self, data, **kwargs):
        if ("person" in data) == ("person_id" in data):
            raise ValidationError({"person": ["person か person_id のどちらか一方を指定してください。"]})


class CasePatch(StrictSchema):
    person = fields.Nested(PersonPatch)
    release_date = fields.Date(allow_none=True)
    destination_prefecture_code = fields.String(allow_none=True, validate=PREFECTURE)
    requested_on = fields.Date()


class CaseOut(StrictSchema):
    id = fields.UUID()
    case_number = fields.String()
    case_type = fields.String()
    status = fields.String()
    version = fields.Integer()
    person = fields.Nested(PersonOut)
    release_date = fields.Date(allow_none=True)
    destination_prefecture_code = fields.String(allow_none=True)
    requested_on = fields.Date()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CaseList(StrictSchema):
    items = fields.List(fields.Nested(CaseOut))
    next_cursor = fields.String(allow_none=True)
