"""Request and response schemas for records, documents and plans (Japanese messages, unknown
fields refused)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from ...platform.validation import StrictSchema, one_of
from .lifecycle import (ASSESSMENT_SECTIONS, DOCUMENT_KINDS, DOCUMENT_NOTE_MAX, PARTICIPANTS_MAX, PLACE_MAX, PLAN_AREAS,
                        PLAN_ITEMS_MAX, PLAN_PROVIDER_MAX, PLAN_SUPPORT_MAX, PLAN_TITLE_MAX, RECORD_KINDS, SECTION_LABELS,
                        SECTION_MAX, TEXT_MAX)

# Which fields each kind of record carries (the rest are refused for that kind).
KIND_FIELDS = {
    "assessment": {"recorded_on", "sections"},
    "interview": {"recorded_on", "place", "participants", "content"},
    "progress": {"recorded_on", "content"},
}
REQUIRED_FIELDS = {
    "assessment": {"sections"},
    "interview": {"recorded_on", "content"},
    "progress": {"recorded_on", "content"},
}


class AssessmentSections(StrictSchema):
    """フェイスシート・アセスメントの項目 (each free text)."""

    life_history = fields.String(validate=validate.Length(max=SECTION_MAX), metadata={"description": SECTION_LABELS["life_history"]})
    family = fields.String(validate=validate.Length(max=SECTION_MAX), metadata={"description": SECTION_LABELS["family"]})
    health = fields.String(validate=validate.Length(max=SECTION_MAX), metadata={"description": SECTION_LABELS["health"]})
    disability = fields.String(validate=validate.Length(max=SECTION_MAX), metadata={"description": SECTION_LABELS["disability"]})
    offence_history = fields.String(validate=validate.Length(max=SECTION_MAX), metadata={"description": SECTION_LABELS["offence_history"]})
    housing = fields.String(validate=validate.Length(max=SECTION_MAX), metadata={"description": SECTION_LABELS["housing"]})
    income = fields.String(validate=validate.Length(max=SECTION_MAX), metadata={"description": SECTION_LABELS["income"]})
    wishes = fields.String(validate=validate.Length(max=SECTION_MAX), metadata={"description": SECTION_LABELS["wishes"]})


assert tuple(AssessmentSections().fields) == ASSESSMENT_SECTIONS


class _RecordFields(StrictSchema):
    recorded_on = fields.Date(metadata={"description": "記録日・面談日"})
    place = fields.String(allow_none=True, validate=validate.Length(max=PLACE_MAX), metadata={"description": "面談場所"})
    participants = fields.String(allow_none=True, validate=validate.Length(max=PARTICIPANTS_MAX), metadata={"description": "参加者"})
    content = fields.String(validate=validate.Length(max=TEXT_MAX), metadata={"description": "内容"})
    sections = fields.Nested(AssessmentSections, metadata={"description": "アセスメントの項目"})


def check_record_fields(kind: str, data: dict, *, creating: bool) -> None:
    """Fields that do not belong to the kind, and missing required ones, as field errors."""
    errors: dict[str, list[str]] = {}
    for name in data:
        if name != "kind" and name not in KIND_FIELDS[kind]:
            errors[name] = ["この種類の記録には指定できない項目です。"]
    required = REQUIRED_FIELDS[kind] if creating else {f for f in REQUIRED_FIELDS[kind] if f in data}
    for name in required:
        value = data.get(name)
        if name == "sections":
            if not value or not any((v or "").strip() for v in value.values()):
                errors[name] = ["少なくとも1つの項目を入力してください。"]
        elif value is None or (isinstance(value, str) and not value.strip()):
            errors[name] = ["必須項目です。"]
    if errors:
        raise ValidationError(errors)


class RecordCreate(_RecordFields):
    kind = fields.String(required=True, validate=one_of(RECORD_KINDS))

    @validates_schema
    def _fields_of_kind(self, data, **kwargs):
        if data.get("kind") in KIND_FIELDS:
            check_record_fields(data["kind"], data, creating=True)


class RecordPatch(_RecordFields):
    """The fields to change (the kind of the record decides which are allowed); ``sections``
    replaces all the sections of an assessment."""


class RecordOut(StrictSchema):
    id = fields.UUID()
    case_id = fields.UUID()
    kind = fields.String()
    recorded_on = fields.Date()
    place = fields.String(allow_none=True)
    participants = fields.String(allow_none=True)
    content = fields.String(allow_none=True)
    sections = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    author_id = fields.UUID(allow_none=True)
    updated_by_id = fields.UUID(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class RecordList(StrictSchema):
    items = fields.List(fields.Nested(RecordOut))
    next_cursor = fields.String(allow_none=True)


class DocumentUploadIn(StrictSchema):
    """The form fields sent with the file (multipart/form-data, the file in ``file``)."""

    kind = fields.String(required=True, validate=one_of(DOCUMENT_KINDS))
    note = fields.String(load_default=None, validate=validate.Length(max=DOCUMENT_NOTE_MAX))


class DocumentOut(StrictSchema):
    id = fields.UUID()
    case_id = fields.UUID()
    kind = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()
    note = fields.String(allow_none=True)
    uploaded_by_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()


class DocumentList(StrictSchema):
    items = fields.List(fields.Nested(DocumentOut))
    next_cursor = fields.String(allow_none=True)


class PlanItem(StrictSchema):
    area = fields.String(required=True, validate=one_of(PLAN_AREAS))
    support = fields.String(required=True, validate=validate.Length(min=1, max=PLAN_SUPPORT_MAX), metadata={"description": "支援内容"})
    provider = fields.String(load_default="", validate=validate.Length(max=PLAN_PROVIDER_MAX), metadata={"description": "担当（機関・人）"})
    due_on = fields.Date(load_default=None, allow_none=True, metadata={"description": "期限"})


class PlanContent(StrictSchema):
    wishes = fields.String(load_default="", validate=validate.Length(max=SECTION_MAX), metadata={"description": "本人の意向"})
    goals = fields.String(load_default="", validate=validate.Length(max=SECTION_MAX), metadata={"description": "目標"})
    items = fields.List(fields.Nested(PlanItem), load_default=list, validate=validate.Length(max=PLAN_ITEMS_MAX))
    notes = fields.String(load_default="", validate=validate.Length(max=SECTION_MAX), metadata={"description": "備考"})

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not (data.get("wishes", "").strip() or data.get("goals", "").strip() or data.get("items")):
            raise ValidationError({"goals": ["本人の意向・目標・支援項目のいずれかを入力してください。"]})


class PlanCreate(StrictSchema):
    title = fields.String(load_default=None, validate=validate.Length(min=1, max=PLAN_TITLE_MAX))
    content = fields.Nested(PlanContent, required=True)


class RevisionCreate(StrictSchema):
    base_revision = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                                   metadata={"description": "改訂のもとにした版（最新でなければ 409 version_conflict）"})
    content = fields.Nested(PlanContent, required=True)


class PlanItemOut(StrictSchema):
    area = fields.String()
    support = fields.String()
    provider = fields.String()
    due_on = fields.Date(allow_none=True)


class PlanContentOut(StrictSchema):
    wishes = fields.String()
    goals = fields.String()
    items = fields.List(fields.Nested(PlanItemOut))
    notes = fields.String()


class RevisionOut(StrictSchema):
    plan_id = fields.UUID()
    revision = fields.Integer()
    content = fields.Nested(PlanContentOut)
    author_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()


class RevisionSummary(StrictSchema):
    revision = fields.Integer()
    author_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()


class PlanOut(StrictSchema):
    id = fields.UUID()
    case_id = fields.UUID()
    title = fields.String()
    latest_revision = fields.Integer()
    version = fields.Integer()
    created_by_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PlanDetail(PlanOut):
    revisions = fields.List(fields.Nested(RevisionSummary))
    latest = fields.Nested(RevisionOut)


class PlanList(StrictSchema):
    items = fields.List(fields.Nested(PlanOut))
    next_cursor = fields.String(allow_none=True)
