"""Request and response schemas of the case-study exchange (Japanese messages, unknown fields
refused).  Offsets of findings are Unicode code points, ``end`` exclusive (the contract)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from ...platform.validation import StrictSchema
from . import lifecycle as lc

TAG = fields.String(validate=validate.OneOf(lc.TAGS, error="選択肢にないタグです。"))
CENTER_CODE = validate.Regexp(r"^[a-z][a-z0-9\-]{1,31}$", error="センターのコード（例: osaka）を指定してください。")


def _text(field: str, *, required: bool) -> fields.String:
    minimum = 1 if field in lc.REQUIRED_FIELDS else 0
    return fields.String(required=required, validate=validate.Length(min=minimum, max=lc.MAX_LENGTHS[field]),
                         metadata={"description": str(lc.FIELD_LABELS[field])})


class CaseStudyCreate(StrictSchema):
    title = _text("title", required=True)
    background = _text("background", required=True)
    actions = _text("actions", required=True)
    outcomes = _text("outcomes", required=True)
    reference = _text("reference", required=False)
    tags = fields.List(TAG, load_default=None, validate=validate.Length(max=lc.MAX_TAGS),
                       metadata={"description": "テーマ・業務の種類・支援の必要性のタグ（lifecycle.TAGS）"})
    show_center = fields.Boolean(load_default=False, metadata={"description": "公開するセンター名を表示するか"})
    case_id = fields.UUID(load_default=None, metadata={"description": "元にするケース（タグだけを引き継ぐ）"})


class CaseStudyPatch(StrictSchema):
    title = _text("title", required=False)
    background = _text("background", required=False)
    actions = _text("actions", required=False)
    outcomes = _text("outcomes", required=False)
    reference = _text("reference", required=False)
    tags = fields.List(TAG, validate=validate.Length(max=lc.MAX_TAGS))
    show_center = fields.Boolean()


class ResolveIn(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf(lc.RESOLUTIONS,
                                                                  error="replace または dismiss を指定してください。"))
    replacement = fields.String(load_default=None, validate=validate.Length(min=1, max=lc.MAX_REPLACEMENT),
                                metadata={"description": "置き換える文字（省略時は候補）"})
    reason = fields.String(load_default=None, validate=validate.Length(min=1, max=lc.MAX_REASON),
                           metadata={"description": "問題ないと判断した理由（dismiss では必須）"})

    @validates_schema
    def _dismiss_needs_reason(self, data, **kwargs):
        if data.get("action") == "dismiss" and not (data.get("reason") or "").strip():
            raise ValidationError({"reason": ["問題ないと判断した理由を入力してください。"]})


class ListArgs(StrictSchema):
    q = fields.String(load_default=None, validate=validate.Length(max=200), metadata={"description": "検索語"})
    tag = fields.List(TAG, load_default=list, metadata={"description": "すべてを含む事例に絞る（複数指定可）"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None)


class GetArgs(StrictSchema):
    version = fields.Integer(load_default=None, validate=validate.Range(min=1),
                             metadata={"description": "過去の版（省略時は最新版）"})


class QuestionIn(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=lc.MAX_MESSAGE))


class AnswerIn(StrictSchema):
    asker_center = fields.String(required=True, validate=CENTER_CODE, metadata={"description": "質問したセンターのコード"})
    body = fields.String(required=True, validate=validate.Length(min=1, max=lc.MAX_MESSAGE))


class HideIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=lc.MAX_REASON))


class WithdrawIn(StrictSchema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                             metadata={"description": "取り下げる公開版の番号"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=lc.MAX_REASON),
                           metadata={"description": "取り下げる理由（監査ログに記録）"})


# --- answers ----------------------------------------------------------------------------------------

class FindingOut(StrictSchema):
    id = fields.UUID()
    field = fields.String()
    start = fields.Integer()
    end = fields.Integer()
    text = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    suggestion = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "open, replaced, dismissed"})
    replacement = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)


class CenterOut(StrictSchema):
    code = fields.String()
    name = fields.String()


class DraftOut(StrictSchema):
    """A draft as its author sees it (``id`` is the study's id, the handle of every call)."""

    id = fields.UUID()
    draft_id = fields.UUID()
    status = fields.String(metadata={"description": "draft（未対応の指摘あり）, checked（公開待ち）"})
    version = fields.Integer(metadata={"description": "下書きの版（If-Match）"})
    based_on_version = fields.Integer(allow_none=True, metadata={"description": "修正元の公開版"})
    title = fields.String()
    background = fields.String()
    actions = fields.String()
    outcomes = fields.String()
    reference = fields.String()
    tags = fields.List(fields.String())
    show_center = fields.Boolean()
    source_case_id = fields.UUID(allow_none=True)
    open_findings = fields.Integer()
    pii_findings = fields.List(fields.Nested(FindingOut))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class VersionRef(StrictSchema):
    version = fields.Integer()
    published_at = fields.DateTime()
    withdrawn = fields.Boolean(metadata={"description": "執筆者と全国協議会のみ: 取り下げられた版か"})
    withdrawn_at = fields.DateTime()
    withdrawn_reason = fields.String()


class CaseStudyOut(DraftOut):
    """A study: the published version (every reader), or a draft never published (its author).
    ``center`` is the publishing center only where the author chose to show it."""

    publisher = fields.String(metadata={"description": "center または association"})
    center = fields.Nested(CenterOut, allow_none=True)
    published_version = fields.Integer(metadata={"description": "表示している公開版の番号"})
    latest_version = fields.Integer()
    published_at = fields.DateTime()
    first_published_at = fields.DateTime()
    helpful_count = fields.Integer()
    marked_helpful = fields.Boolean()
    is_author = fields.Boolean()
    hidden_at = fields.DateTime()
    hidden_reason = fields.String()
    versions = fields.List(fields.Nested(VersionRef), metadata={
        "description": "読める版: 執筆者と全国協議会にはすべての版、他のセンターには現在の版のみ"})
    current_version = fields.Integer(allow_none=True, metadata={
        "description": "執筆者と全国協議会のみ: 取り下げられていない最新の版（他のセンターが読む版）"})
    withdrawn = fields.Boolean(metadata={"description": "執筆者と全国協議会のみ: 表示している版が取り下げられたか"})
    withdrawn_at = fields.DateTime()
    withdrawn_reason = fields.String()
    draft = fields.Nested(DraftOut, metadata={"description": "執筆者のみ: 編集中の修正版"})


class CaseStudyList(StrictSchema):
    items = fields.List(fields.Nested(CaseStudyOut))
    next_cursor = fields.String(allow_none=True)


class StudyMessageOut(StrictSchema):
    id = fields.UUID()
    from_side = fields.String(metadata={"description": "asker（質問したセンター）または author（執筆者）"})
    mine = fields.Boolean()
    body = fields.String()
    created_at = fields.DateTime()


class ThreadOut(StrictSchema):
    asker_center = fields.Nested(CenterOut)
    messages = fields.List(fields.Nested(StudyMessageOut))


class ThreadList(StrictSchema):
    items = fields.List(fields.Nested(ThreadOut))


class HelpfulOut(StrictSchema):
    id = fields.UUID()
    helpful_count = fields.Integer()
    marked_helpful = fields.Boolean()
