"""Request and response schemas for transfers (Japanese messages, unknown fields refused)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from ...platform.validation import StrictSchema
from .lifecycle import CONSENT_METHODS, DECLINE_REASONS, PACKAGE_KINDS, SIDES, STATUSES

CENTER_CODE = validate.Regexp(r"^[a-z][a-z0-9\-]{1,31}$", error="センターのコード（例: osaka）を指定してください。")


class ConsentIn(StrictSchema):
    obtained_on = fields.Date(required=True, metadata={"description": "本人の同意を得た日"})
    method = fields.String(required=True, validate=validate.OneOf(tuple(CONSENT_METHODS),
                                                                  error="written または oral_with_witness を指定してください。"))
    witness = fields.String(allow_none=True, validate=validate.Length(max=100), metadata={"description": "立会人（口頭の同意では必須）"})
    scope = fields.String(allow_none=True, validate=validate.Length(max=2000), metadata={"description": "同意の範囲"})

    @validates_schema
    def _oral_needs_witness(self, data, **kwargs):
        if data.get("method") == "oral_with_witness" and not (data.get("witness") or "").strip():
            raise ValidationError({"witness": ["口頭の同意には立会人を記録してください。"]})


class PackageItemIn(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(tuple(PACKAGE_KINDS),
                                                                error="face_sheet, plan, record, document のいずれかを指定してください。"))
    id = fields.UUID(required=True)


class TransferCreate(StrictSchema):
    case_id = fields.UUID(required=True)
    to_center = fields.String(required=True, validate=CENTER_CODE, metadata={"description": "依頼先センターのコード"})
    consent = fields.Nested(ConsentIn, required=True)
    message = fields.String(required=True, validate=validate.Length(min=1, max=4000), metadata={"description": "依頼の内容"})
    package = fields.List(fields.Nested(PackageItemIn), load_default=list, validate=validate.Length(max=100),
                          metadata={"description": "一緒に送る資料（既定では何も送らない）"})


class DeclineIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.OneOf(tuple(DECLINE_REASONS),
                                                                  error="no_capacity, out_of_area, no_resources, person_declined, other のいずれかを指定してください。"))
    comment = fields.String(allow_none=True, validate=validate.Length(max=2000))


class MessageIn(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class ReassignIn(StrictSchema):
    to_center = fields.String(required=True, validate=CENTER_CODE, metadata={"description": "新しい依頼先センターのコード"})


class TransferListArgs(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)
    side = fields.String(load_default=None, validate=validate.OneOf(SIDES))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    overdue = fields.Boolean(load_default=False, metadata={"description": "全国協議会: 期限を過ぎた依頼だけ"})


class ReportArgs(StrictSchema):
    fiscal_year = fields.Integer(required=True, validate=validate.Range(min=2009, max=2100),
                                 metadata={"description": "年度（4月〜翌3月）の始まる年（西暦）"})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class FormatArgs(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)


# --- answers ------------------------------------------------------------------------------------

class ConsentOut(StrictSchema):
    obtained_on = fields.Date()
    method = fields.String()
    witness = fields.String(allow_none=True)
    scope = fields.String(allow_none=True)


class PersonSnapshotOut(StrictSchema):
    """The minimum identity the receiving center gets (never shown to the association)."""

    family_name = fields.String()
    given_name = fields.String()
    family_name_kana = fields.String()
    given_name_kana = fields.String()
    birth_date = fields.String()
    sex = fields.String()
    support_needs = fields.List(fields.String())


class PackageItemOut(StrictSchema):
    kind = fields.String()
    id = fields.String(metadata={"description": "送付元の資料の ID（依頼したセンターのみ）"})
    label = fields.String()
    revision = fields.Integer()
    copied_id = fields.String(metadata={"description": "受入れ後、受入側のケースに写した資料の ID"})
    missing = fields.Boolean()


class HistoryOut(StrictSchema):
    to_center = fields.String()
    to_center_name = fields.String()
    status = fields.String()
    sent_at = fields.DateTime(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    reassigned_at = fields.DateTime(allow_none=True)


class TransferOut(StrictSchema):
    """A transfer as its caller may see it.  The two centers get their own side (``case_id`` is
    the own side's case; ``receiving_case_id`` and ``person`` only on the receiving side).  The
    association gets metadata only: centers, status, dates, deadlines, ``receiving_case_id``,
    never the person, the message, the package or the sending side's case."""

    id = fields.UUID()
    side = fields.String()
    status = fields.String()
    version = fields.Integer()
    from_center = fields.String()
    from_center_name = fields.String()
    to_center = fields.String()
    to_center_name = fields.String()
    case_id = fields.UUID(allow_none=True)
    receiving_case_id = fields.UUID(allow_none=True)
    person = fields.Nested(PersonSnapshotOut, allow_none=True)
    release_date = fields.Date(allow_none=True)
    consent = fields.Nested(ConsentOut)
    message = fields.String()
    package = fields.List(fields.Nested(PackageItemOut))
    decline_reason = fields.String(allow_none=True)
    decline_comment = fields.String(allow_none=True)
    allowed_actions = fields.List(fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    requested_at = fields.DateTime()
    approved_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    accepted_at = fields.DateTime(allow_none=True)
    declined_at = fields.DateTime(allow_none=True)
    withdrawn_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    reassigned_at = fields.DateTime(allow_none=True)
    # the association's metadata
    days_waiting = fields.Integer(allow_none=True)
    days_to_release = fields.Integer(allow_none=True)
    overdue = fields.Boolean()
    past_release = fields.Boolean()
    flagged_at = fields.DateTime(allow_none=True)
    reminded_at = fields.DateTime(allow_none=True)
    reminder_count = fields.Integer()
    reassign_count = fields.Integer()
    history = fields.List(fields.Nested(HistoryOut))


class TransferList(StrictSchema):
    items = fields.List(fields.Nested(TransferOut))
    next_cursor = fields.String(allow_none=True)


class MessageOut(StrictSchema):
    id = fields.UUID()
    author_center = fields.String()
    author_center_name = fields.String()
    author_name = fields.String()
    mine = fields.Boolean()
    body = fields.String()
    kind = fields.String(metadata={"description": "message, or shared_update (an update shared after acceptance)"})
    created_at = fields.DateTime()


class MessageList(StrictSchema):
    items = fields.List(fields.Nested(MessageOut))
    next_cursor = fields.String(allow_none=True)


class ReportRow(StrictSchema):
    center = fields.String(allow_none=True)
    center_name = fields.String(allow_none=True)
    received = fields.Integer()
    answered = fields.Integer()
    answered_within_deadline = fields.Integer()
    median_days_to_answer = fields.Float(allow_none=True)
    unanswered = fields.Integer()
    open_past_release = fields.Integer()
    reassigned_away = fields.Integer()
    withdrawn_before_answer = fields.Integer()
    sent = fields.Integer()


class ReportOut(StrictSchema):
    fiscal_year = fields.Integer()
    fiscal_year_label = fields.String()
    answer_days = fields.Integer()
    as_of = fields.Date()
    rows = fields.List(fields.Nested(ReportRow))
    total = fields.Nested(ReportRow)


class ProvisionItemOut(StrictSchema):
    kind = fields.String()
    label = fields.String()


class ProvisionOut(StrictSchema):
    id = fields.UUID()
    provided_on = fields.Date()
    recipient_center = fields.String()
    recipient_center_name = fields.String()
    person_id = fields.UUID()
    person_name = fields.String()
    case_id = fields.UUID()
    case_number = fields.String()
    transfer_id = fields.UUID()
    items = fields.List(fields.Nested(ProvisionItemOut))
    consent_obtained_on = fields.Date()
    consent_method = fields.String()
    consent_witness = fields.String(allow_none=True)
    consent_scope = fields.String(allow_none=True)
    basis = fields.String()
    retain_until = fields.Date()
    created_at = fields.DateTime()


class ProvisionList(StrictSchema):
    items = fields.List(fields.Nested(ProvisionOut))
    next_cursor = fields.String(allow_none=True)
