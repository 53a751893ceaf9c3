"""Request and response schemas for cases (the contract's fields and the case-work additions)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from ...platform.validation import StrictSchema
from ..common.municipality import MunicipalityCode
from ..persons.models import SEXES, SUPPORT_NEEDS
from .lifecycle import (
    ALL_STATUSES, CASE_TYPES, CERTIFICATE_KINDS, CERTIFICATE_STATUSES, CLOSING_REASONS, CONSENT_WITNESS_MAX,
    FACILITY_TYPES, NEED_STATUSES, OVERRIDE_REASON_MAX, OVERRIDE_REASON_MIN, PLACEMENTS, PUBLIC_ASSISTANCE,
    REQUESTER_TYPES, SUSPECT_STAGES,
)

KANA = r"^[\u3041-\u3096\u30A1-\u30FA\u30FC\u30FB\u3000 ー・]+$"
KANA_ERROR = "ふりがなはひらがなまたはカタカナで入力してください。"
PREFECTURE = validate.Regexp(r"^(0[1-9]|[1-3][0-9]|4[0-7])$", error="都道府県コード（01〜47）を入力してください。")


def one_of(choices, label: str = "値") -> validate.OneOf:
    return validate.OneOf(tuple(choices), error=f"{label}が選択肢にありません。")


class CertificateIn(StrictSchema):
    kind = fields.String(required=True, validate=one_of(CERTIFICATE_KINDS, "手帳・認定の種類"))
    status = fields.String(required=True, validate=one_of(CERTIFICATE_STATUSES, "状況"))
    grade = fields.String(load_default="", validate=validate.Length(max=20))


class PersonIn(StrictSchema):
    family_name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    given_name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    family_name_kana = fields.String(required=True, validate=[validate.Length(min=1, max=100), validate.Regexp(KANA, error=KANA_ERROR)])
    given_name_kana = fields.String(required=True, validate=[validate.Length(min=1, max=100), validate.Regexp(KANA, error=KANA_ERROR)])
    birth_date = fields.Date(required=True)
    sex = fields.String(required=True, validate=validate.OneOf(SEXES, error="male, female, other のいずれかを指定してください。"))
    support_needs = fields.List(fields.String(validate=validate.OneOf(SUPPORT_NEEDS, error="支援の必要性の値が正しくありません。")), load_default=list)
    certificates = fields.List(fields.Nested(CertificateIn), load_default=list)
    public_assistance = fields.String(load_default="none", validate=one_of(PUBLIC_ASSISTANCE, "生活保護の状況"))
    # birth_date: not in the future, like every birth date (platform/input_ranges.py, through StrictSchema)


class PersonPatch(PersonIn):
    """Any subset of the person's fields (marshmallow 4 ignores ``Meta.partial``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


class CertificateOut(StrictSchema):
    kind = fields.String()
    status = fields.String()
    grade = fields.String()


class CaseFields(StrictSchema):
    """The case fields a create or a PATCH may set."""

    release_date = fields.Date(allow_none=True)
    destination_prefecture_code = fields.String(allow_none=True, validate=PREFECTURE)
    destination_municipality_name = fields.String(allow_none=True, validate=validate.Length(max=50))
    destination_municipality_code = fields.String(allow_none=True, validate=MunicipalityCode())
    requested_on = fields.Date()
    request_source = fields.String(allow_none=True, validate=validate.Length(max=100))
    probation_office = fields.String(allow_none=True, validate=validate.Length(max=100))
    facility_name = fields.String(allow_none=True, validate=validate.Length(max=100))
    facility_type = fields.String(allow_none=True, validate=one_of(FACILITY_TYPES, "施設の種類"))
    follow_up_on = fields.Date(allow_none=True)
    assigned_user_id = fields.UUID(allow_none=True)
    requester_type = fields.String(allow_none=True, validate=one_of(REQUESTER_TYPES, "相談者"))
    topic = fields.String(allow_none=True, validate=validate.Length(max=2000))
    suspect_stage = fields.String(allow_none=True, validate=one_of(SUSPECT_STAGES, "段階"))
    outcome_at_release = fields.String(allow_none=True, validate=validate.Length(max=2000))


class CaseCreate(CaseFields):
    case_type = fields.String(required=True, validate=validate.OneOf(CASE_TYPES, error="coordination, follow_up, suspect_support, consultation のいずれかを指定してください。"))
    person = fields.Nested(PersonIn)
    person_id = fields.UUID()

    @validates_schema
    def _one_person(self, data, **kwargs):
        if ("person" in data) == ("person_id" in data):
            raise ValidationError({"person": ["person か person_id のどちらか一方を指定してください。"]})


class CasePatch(CaseFields):
    person = fields.Nested(PersonPatch)


class NeedOut(StrictSchema):
    id = fields.UUID()
    area = fields.String()
    status = fields.String()
    responsible = fields.String()
    note = fields.String()
    version = fields.Integer()


class NeedPatch(StrictSchema):
    status = fields.String(validate=one_of(NEED_STATUSES, "状況"))
    responsible = fields.String(validate=validate.Length(max=100))
    note = fields.String(validate=validate.Length(max=2000))


class PersonSummary(StrictSchema):
    id = fields.UUID()
    family_name = fields.String()
    given_name = fields.String()
    family_name_kana = fields.String()
    given_name_kana = fields.String()
    birth_date = fields.Date()
    sex = fields.String()
    support_needs = fields.List(fields.String())


class CaseSummary(StrictSchema):
    """A case in a list: what a list page shows.  ``GET /cases/<id>`` has every field."""

    id = fields.UUID()
    case_number = fields.String()
    case_type = fields.String()
    status = fields.String()
    version = fields.Integer()
    person = fields.Nested(PersonSummary)
    requested_on = fields.Date()
    release_date = fields.Date(allow_none=True)
    destination_prefecture_code = fields.String(allow_none=True)
    assigned_user_id = fields.UUID(allow_none=True)
    follow_up_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PersonOut(PersonSummary):
    certificates = fields.List(fields.Nested(CertificateOut))
    public_assistance = fields.String()


class CaseOut(CaseSummary):
    """Every field of a case (``CaseSummary`` plus the rest)."""

    person = fields.Nested(PersonOut)
    parent_case_id = fields.UUID(allow_none=True)
    released_on = fields.Date(allow_none=True)
    destination_municipality_name = fields.String(allow_none=True)
    destination_municipality_code = fields.String(allow_none=True)
    request_source = fields.String(allow_none=True)
    probation_office = fields.String(allow_none=True)
    facility_name = fields.String(allow_none=True)
    facility_type = fields.String(allow_none=True)
    requester_type = fields.String(allow_none=True)
    topic = fields.String(allow_none=True)
    suspect_stage = fields.String(allow_none=True)
    outcome_at_release = fields.String(allow_none=True)
    eligibility = fields.Dict()
    eligibility_override_reason = fields.String(allow_none=True)
    closed_on = fields.Date(allow_none=True)
    closing_reason = fields.String(allow_none=True)
    closing_note = fields.String(allow_none=True)
    outcome_placement = fields.String(allow_none=True)
    outcome_municipality_name = fields.String(allow_none=True)
    outcome_municipality_code = fields.String(allow_none=True)
    placement_resource_id = fields.UUID(allow_none=True)


class CaseDetailOut(CaseOut):
    needs = fields.List(fields.Nested(NeedOut))
    allowed_transitions = fields.List(fields.String())


class CaseList(StrictSchema):
    items = fields.List(fields.Nested(CaseSummary))
    next_cursor = fields.String(allow_none=True)


class ClosingIn(StrictSchema):
    closing_reason = fields.String(required=True, validate=one_of(CLOSING_REASONS, "終結理由"))
    closed_on = fields.Date()
    closing_note = fields.String(validate=validate.Length(max=2000))
    outcome_placement = fields.String(validate=one_of(PLACEMENTS, "受入先の種類"))
    outcome_municipality_name = fields.String(validate=validate.Length(max=50))
    outcome_municipality_code = fields.String(validate=MunicipalityCode())
    placement_resource_id = fields.UUID()


class TransitionIn(StrictSchema):
    to_status = fields.String(required=True, validate=one_of(ALL_STATUSES, "状態"))
    released_on = fields.Date()
    closing = fields.Nested(ClosingIn)


class EligibilityIn(StrictSchema):
    elderly_or_disabled = fields.Boolean(load_default=False)
    no_residence = fields.Boolean(load_default=False)
    needs_welfare_services = fields.Boolean(load_default=False)
    appropriate = fields.Boolean(load_default=False)
    person_wishes = fields.Boolean(load_default=False)
    consent_to_share = fields.Boolean(load_default=False)
    consent_on = fields.Date(allow_none=True)
    consent_witness = fields.String(allow_none=True, validate=validate.Length(max=CONSENT_WITNESS_MAX))


class OverrideIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=OVERRIDE_REASON_MIN, max=OVERRIDE_REASON_MAX))


class SearchIn(StrictSchema):
    """Search criteria travel in the body: names never appear in URLs or logs."""

    q = fields.String(validate=validate.Length(max=50))
    case_number = fields.String(validate=validate.Length(max=32))
    case_type = fields.String(validate=validate.OneOf(CASE_TYPES))
    status = fields.String(validate=one_of(ALL_STATUSES, "状態"))
    assigned_user_id = fields.UUID()
    requested_from = fields.Date()
    requested_to = fields.Date()
    release_from = fields.Date()
    release_to = fields.Date()
    include_closed = fields.Boolean(load_default=True)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, allow_none=True)


class PreReleaseItem(StrictSchema):
    case = fields.Nested(CaseSummary)
    days_to_release = fields.Integer()
    open_needs = fields.List(fields.String())


class PreReleaseList(StrictSchema):
    items = fields.List(fields.Nested(PreReleaseItem))
    next_cursor = fields.String(allow_none=True)
