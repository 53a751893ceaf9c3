"""marshmallow defaults for the whole platform: Japanese messages, unknown fields refused.

Every request schema derives from ``StrictSchema``: an unknown field is a 422, so nobody can
mass-assign a center, an owner or a status.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields

_FIELD_MESSAGES = {
    fields.Field: {
        "required": "必須項目です。",
        "null": "空にはできません。",
        "validator_failed": "値が正しくありません。",
    },
    fields.String: {"invalid": "文字列を入力してください。", "invalid_utf8": "文字コードが正しくありません。"},
    fields.Integer: {"invalid": "整数を入力してください。", "too_large": "数値が大きすぎます。"},
    fields.Number: {"invalid": "数値を入力してください。", "too_large": "数値が大きすぎます。"},
    fields.Boolean: {"invalid": "真偽値（true / false）を入力してください。"},
    fields.Date: {"invalid": "日付は YYYY-MM-DD の形式で入力してください。", "format": "日付の形式が正しくありません。"},
    fields.DateTime: {"invalid": "日時の形式が正しくありません。", "invalid_awareness": "タイムゾーン付きの日時を入力してください。", "format": "日時の形式が正しくありません。"},
    fields.UUID: {"invalid_uuid": "ID の形式が正しくありません。"},
    fields.Email: {"invalid": "メールアドレスの形式が正しくありません。"},
    fields.List: {"invalid": "配列を入力してください。"},
    fields.Nested: {"type": "オブジェクトを入力してください。"},
    fields.Dict: {"invalid": "オブジェクトを入力してください。"},
    fields.Enum: {"unknown": "選択肢にない値です: {choices}"},
}


def install_japanese_messages() -> None:
    for cls, messages in _FIELD_MESSAGES.items():
        cls.default_error_messages = {**cls.default_error_messages, **messages}


install_japanese_messages()

from marshmallow import validate  # noqa: E402

validate.OneOf.default_message = "選択肢にない値です。"
validate.Length.message_min = "{min}文字以上で入力してください。"
validate.Length.message_max = "{max}文字以内で入力してください。"
validate.Length.message_all = "{min}文字以上{max}文字以内で入力してください。"
validate.Length.message_equal = "{equal}文字で入力してください。"
validate.Range.message_min = "{{min}}{min_op}の値を入力してください。"
validate.Range.message_max = "{{max}}{max_op}の値を入力してください。"
validate.Range.message_all = "{{min}}{min_op}、{{max}}{max_op}の値を入力してください。"
validate.Range.message_gte, validate.Range.message_gt = "以上", "より大きい"
validate.Range.message_lte, validate.Range.message_lt = "以下", "未満"
validate.Regexp.default_message = "形式が正しくありません。"


class StrictSchema(Schema):
    """Refuses unknown fields (422) with a Japanese message."""

    class Meta:
        unknown = RAISE

    error_messages = {
        "unknown": "不明な項目です。",
        "type": "オブジェクトを入力してください。",
    }


def choice_message(codes) -> str:
    """The message naming every code a field accepts ("a または b", "a, b, c のいずれか"), built
    from the table that defines the codes so a new code reaches the message too."""
    codes = tuple(codes)
    if len(codes) == 2:
        return f"{codes[0]} または {codes[1]} を指定してください。"
    return f"{', '.join(codes)} のいずれかを指定してください。"


def one_of(codes) -> validate.OneOf:
    """A ``OneOf`` over a lifecycle table's codes, its message naming them (``choice_message``)."""
    return validate.OneOf(tuple(codes), error=choice_message(codes))
