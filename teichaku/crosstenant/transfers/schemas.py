"""Request and response schemas for transfers (Japanese messages, unknown fields refused)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from ...platform.validation import StrictSchema, one_of
from .lifecycle import (COMMENT_MAX, CONSENT_METHODS, CONSENT_SCOPE_MAX, CONSENT_WITNESS_MAX, CONSENT_WITNESS_MISSING,
                        DECLINE_REASONS, MESSAGE_MAX, PACKAGE_KINDS, PULL_SIDES, PULL_STATUSES, SIDES, STATUSES,
                        consent_lacks_witness)

CENTER_CODE = validate.Regexp(r"^[a-z][a-z0-9\-]{1,31}$", error="センターのコード（例: osaka）を指定してください。")


class ConsentIn(StrictSchema):
    obtained_on = fields.Date(required=True, metadata={"description": "本人の同意を得た日"})
    method = fields.String(required=True, validate=one_of(CONSENT_METHODS))
    witness = fields.String(allow_none=True, validate=validate.Length(max=CONSENT_WITNESS_MAX),
                            metadata={"description": "立会人（口頭の同意では必須）"})
    scope = fields.String(allow_none=True, validate=validate.Length(max=CONSENT_SCOPE_MAX), metadata={"description": "同意の範囲"})

    @validates_schema
    def _oral_needs_witness(self, data, **kwargs):
        if consent_lacks_witness(data.get("method"), data.get("witness")):
            raise ValidationError({"witness": [CONSENT_WITNESS_MISSING]})


class PackageItemIn(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(tuple(PACKAGE_KINDS),
                                                                error="face_sheet, plan, record, document のいずれかを指定してください。"))
    id = fields.UUID(required=True)


class TransferCreate(StrictSchema):
    case_id = fields.UUID(required=True)
    to_center = fields.String(required=True, validate=CENTER_CODE, metadata={"description": "依頼先センターのコード"})
    consent = fields.Nested(ConsentIn, required=True)
    message = fields.String(required=True, validate=validate.Length(min=1, max=MESSAGE_MAX), metadata={"description": "依頼の内容"})
    package = fields.List(fields.Nested(PackageItemIn), load_default=list, validate=validate.Length(max=100),
                          metadata={"description": "一緒に送る資料（既定では何も送らない）"})
    pull_id = fields.UUID(load_default=None, metadata={
        "description": "受け取った開始依頼に応じる場合、その開始依頼の ID（依頼先は開始依頼をしたセンター）"})


class DeclineIn(StrictSchema):
    reason = fields.String(required=True, validate=one_of(DECLINE_REASONS))
    comment = fields.String(allow_none=True, validate=validate.Length(max=COMMENT_MAX))


class MessageIn(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=MESSAGE_MAX))


class AcceptIn(StrictSchema):
    person_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "受入れを結び付ける、このセンターの既存の対象者（受け取った本人情報と生年月日・氏名またはふりがなが一致する人）。"
                       "省略すると、受け取った本人情報から新しい対象者を登録する"})


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


class SideOut(StrictSchema):
    """What the API shows of a center's own side of a transfer or a pull request alike
    (``sides.side_view``); each kind's schema adds its own fields."""

    id = fields.UUID(metadata={"description": "the request's one id: the same for both centers (and, for a "
                                             "transfer, the association), accepted by every /<id> endpoint"})
    side = fields.String()
    status = fields.String()
    version = fields.Integer()
    from_center = fields.String()
    from_center_name = fields.String()
    to_center = fields.String()
    to_center_name = fields.String()
    case_id = fields.UUID(allow_none=True)
    release_date = fields.Date(allow_none=True)
    consent = fields.Nested(ConsentOut)
    message = fields.String()
    allowed_actions = fields.List(fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    requested_at = fields.DateTime()


class TransferOut(SideOut):
    """A transfer as its caller may see it.  The two centers get their own side (``case_id`` is
    the own side's case; ``receiving_case_id`` and ``person`` only on the receiving side).  The
    association gets metadata only: centers, status, dates, deadlines, ``receiving_case_id``,
    never the person, the message, the package or the sending side's case."""

    number = fields.String(metadata={
        "description": "human-readable number, the same on both sides and on the letter: the sending center's "
                       "counter per fiscal year (広域-R8-0012: 令和8年度の12件目), shown beside that center's name"})
    receiving_case_id = fields.UUID(allow_none=True)
    person = fields.Nested(PersonSnapshotOut, allow_none=True)
    snapshot_erased_at = fields.DateTime(allow_none=True, metadata={
        "description": "受入側: お断り・取下げ・振替により本人情報（person）を消去した日時"})
    package = fields.List(fields.Nested(PackageItemOut))
    decline_reason = fields.String(allow_none=True)
    decline_comment = fields.String(allow_none=True)
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


class AttachmentOut(StrictSchema):
    """A file attached to a message (this center's own copy)."""

    id = fields.UUID()
    filename = fields.String()
    size = fields.Integer(metadata={"description": "bytes"})
    content_type = fields.String()


class MessageOut(StrictSchema):
    id = fields.UUID()
    author_center = fields.String()
    author_center_name = fields.String()
    author_name = fields.String()
    mine = fields.Boolean()
    body = fields.String()
    kind = fields.String(metadata={"description": "message, or shared_update (an update shared after acceptance)"})
    created_at = fields.DateTime()
    attachments = fields.List(fields.Nested(AttachmentOut), metadata={
        "description": "添付ファイル（このセンターの写し）: GET /transfers/<id>/attachments/<attachment_id> で取得"})


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
    transfer_id = fields.UUID(allow_none=True, metadata={"description": "広域調整の依頼による提供"})
    pull_id = fields.UUID(allow_none=True, metadata={"description": "開始依頼による提供"})
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


# --- the destination center's pull request (開始依頼) ------------------------------------------------

class PullCreate(StrictSchema):
    case_id = fields.UUID(required=True, metadata={"description": "このセンター（帰住予定地）のケース"})
    to_center = fields.String(required=True, validate=CENTER_CODE,
                              metadata={"description": "開始を依頼するセンター（矯正施設の所在地）のコード"})
    consent = fields.Nested(ConsentIn, required=True, metadata={"description": "相手のセンターに伝えることへの本人の同意"})
    message = fields.String(required=True, validate=validate.Length(min=1, max=MESSAGE_MAX), metadata={"description": "依頼の内容"})


class PullRefuseIn(StrictSchema):
    comment = fields.String(required=True, validate=validate.Length(min=1, max=COMMENT_MAX),
                            metadata={"description": "お断りの理由（依頼したセンターに伝わります）"})


class PullListArgs(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)
    side = fields.String(load_default=None, validate=validate.OneOf(PULL_SIDES))
    status = fields.String(load_default=None, validate=validate.OneOf(PULL_STATUSES))


class PullPersonOut(StrictSchema):
    """The minimum identity the asked center gets to find the person."""

    family_name = fields.String()
    given_name = fields.String()
    family_name_kana = fields.String()
    given_name_kana = fields.String()
    birth_date = fields.String()
    sex = fields.String()


class CandidateCaseOut(StrictSchema):
    id = fields.UUID()
    case_number = fields.String()
    case_type = fields.String()
    status = fields.String()
    release_date = fields.Date(allow_none=True)


class CandidateOut(StrictSchema):
    """A person of the asked center who may be the one asked about, with their cases."""

    person_id = fields.UUID()
    name = fields.String()
    name_kana = fields.String()
    birth_date = fields.Date()
    sex = fields.String()
    reasons = fields.List(fields.String(), metadata={"description": "birth_date, name, kana"})
    cases = fields.List(fields.Nested(CandidateCaseOut))


class PullOut(SideOut):
    """A pull request as a center sees its own side: ``case_id`` is the own side's case (the asked
    side's once confirmed); ``person`` and ``candidates`` only on the asked side; ``transfer_id``
    the (one) id of the transfer that confirmed it, once this center has a side of it."""

    person = fields.Nested(PullPersonOut, allow_none=True)
    snapshot_erased_at = fields.DateTime(allow_none=True, metadata={
        "description": "依頼を受けた側: お断り・取消しにより本人情報（person）を消去した日時"})
    facility_name = fields.String(allow_none=True)
    refuse_comment = fields.String(allow_none=True)
    transfer_id = fields.UUID(allow_none=True)
    candidates = fields.List(fields.Nested(CandidateOut))
    confirmed_at = fields.DateTime(allow_none=True)
    refused_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)


class PullList(StrictSchema):
    items = fields.List(fields.Nested(PullOut))
    next_cursor = fields.String(allow_none=True)
