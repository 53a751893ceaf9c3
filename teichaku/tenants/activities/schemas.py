"""Request and response schemas for network activities."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from ...platform.validation import StrictSchema
from .models import ACTIVITY_TYPES, MAX_PARTICIPANTS, SECTORS
from . import services

TYPE_CHOICE = validate.OneOf(ACTIVITY_TYPES, error="regional_support_meeting, provider_outreach, regional_training, other のいずれかを指定してください。")
COUNT = validate.Range(min=0, max=MAX_PARTICIPANTS, error=f"0以上{MAX_PARTICIPANTS}以下の値を入力してください。")


class Trimmed(fields.String):
    """A string with surrounding blanks removed."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def _held_on_in_range(value) -> None:
    message = services.held_on_error(value)
    if message:
        raise ValidationError(message)


def fiscal_year_in_range(value) -> None:
    message = services.fiscal_year_error(value)
    if message:
        raise ValidationError(message)


# Participants by sector: one integer per sector (an unknown sector is an unknown field).
ParticipantsIn = StrictSchema.from_dict(
    {sector: fields.Integer(strict=True, validate=COUNT) for sector in SECTORS}, name="ParticipantsIn")
ParticipantsOut = StrictSchema.from_dict({sector: fields.Integer() for sector in SECTORS}, name="ParticipantsOut")


def _activity_fields(*, create: bool) -> dict:
    """The fields a client may send; on a create the date, type and title are required."""
    return {
        "held_on": fields.Date(required=create, validate=_held_on_in_range, metadata={"description": "開催日"}),
        "activity_type": fields.String(required=create, validate=TYPE_CHOICE),
        "title": Trimmed(required=create, validate=validate.Length(min=1, max=200)),
        "place": Trimmed(allow_none=True, validate=validate.Length(max=200)),
        "organisations": Trimmed(allow_none=True, validate=validate.Length(max=2000),
                                 metadata={"description": "参加機関・団体（名称）"}),
        "participants": fields.Nested(ParticipantsIn, metadata={"description": (
            "分野別の参加者数。作成時に省略した分野は0人、更新時は指定した分野だけを変更" if create else
            "分野別の参加者数。指定した分野だけを変更（ほかの分野はそのまま）")}),
        "minutes": Trimmed(allow_none=True, validate=validate.Length(max=20000), metadata={"description": "議事録"}),
    }


ActivityCreate = StrictSchema.from_dict(_activity_fields(create=True), name="ActivityCreate")
# Any subset of the fields; ``participants`` sets the sectors it names and keeps the others.
ActivityPatch = StrictSchema.from_dict(_activity_fields(create=False), name="ActivityPatch")


class ActivityOut(StrictSchema):
    id = fields.UUID()
    held_on = fields.Date()
    fiscal_year = fields.Integer()
    activity_type = fields.String()
    title = fields.String()
    place = fields.String(allow_none=True)
    organisations = fields.String(allow_none=True)
    participants = fields.Nested(ParticipantsOut)
    participants_total = fields.Integer()
    minutes = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ActivityList(StrictSchema):
    items = fields.List(fields.Nested(ActivityOut))
    next_cursor = fields.String(allow_none=True)


class SummaryLine(StrictSchema):
    events = fields.Integer()
    participants = fields.Integer()
    by_sector = fields.Nested(ParticipantsOut)


class SummaryTypeLine(SummaryLine):
    activity_type = fields.String()
    label = fields.String()
    addon = fields.Boolean(metadata={"description": "地域ネットワーク強化の加算の対象"})


class ActivitySummary(StrictSchema):
    fiscal_year = fields.Integer()
    fiscal_year_label = fields.String()
    period_start = fields.Date()
    period_end = fields.Date()
    sectors = fields.List(fields.String())
    types = fields.List(fields.Nested(SummaryTypeLine))
    addon_total = fields.Nested(SummaryLine)
    total = fields.Nested(SummaryLine)
