"""marshmallow defaults for the whole platform: Japanese messages, unknown fields refused, the
input ranges applied.

Every request schema derives from ``StrictSchema``: an unknown field is a 422, so nobody can
mass-assign a center, an owner or a status; and every text, date and integer it takes (inside
lists, dicts and nested schemas too) keeps to ``platform.input_ranges``, else a 422 with a field
error.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

from . import input_ranges

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


def _ranged(validate):
    """A marshmallow validator from an ``input_ranges`` rule (a function giving the message)."""
    def check(value) -> None:
        if value is not None:
            message = validate(value)
            if message:
                raise ValidationError(input_ranges.say(message))
    check.input_range = True  # marks what ``apply_input_ranges`` added (added once)
    return check


def _date_in_range(value) -> str | None:
    return input_ranges.date_problem(value)


def _birth_date_in_range(value) -> str | None:
    return input_ranges.date_problem(value, birth=True)


def apply_input_ranges(field_name: str | None, field: fields.Field) -> None:
    """Adds the input-range validators to a field and to the fields inside it (a List's items, a
    Tuple's members, a Dict's keys and values; a Nested schema is a ``StrictSchema`` itself).
    Text is checked before deserialization (``StrictSchema._refuse_bad_text``), on the raw input."""
    if any(getattr(v, "input_range", False) for v in field.validators):
        return
    if isinstance(field, fields.Date):
        rule = _birth_date_in_range if input_ranges.is_birth_date(field_name) else _date_in_range
        field.validators.append(_ranged(rule))
    elif isinstance(field, fields.DateTime):
        field.validators.append(_ranged(_date_in_range))
    elif isinstance(field, fields.Integer):
        # a Range, so the OpenAPI document states the bounds (minimum, maximum) too
        within = validate.Range(min=input_ranges.INT_MIN, max=input_ranges.INT_MAX,
                                error=input_ranges.say(input_ranges.INTEGER_MESSAGE))
        within.input_range = True
        field.validators.append(within)
    for inner in _inner_fields(field):
        apply_input_ranges(field_name, inner)


def _inner_fields(field: fields.Field) -> list:
    if isinstance(field, fields.List):
        return [field.inner]
    if isinstance(field, fields.Tuple):
        return list(field.tuple_fields)
    if isinstance(field, fields.Mapping):
        return [f for f in (field.key_field, field.value_field) if f is not None]
    return []


class StrictSchema(Schema):
    """Refuses unknown fields (422) with a Japanese message, and anything outside the input
    ranges (``platform.input_ranges``): a text with a NUL or an unpaired surrogate anywhere in
    the input (keys too), a date outside the range or a birth date in the future, an integer
    beyond 32 bits.  Query arguments too: webargs loads them through the same schemas."""

    class Meta:
        unknown = RAISE

    error_messages = {
        "unknown": "不明な項目です。",
        "type": "オブジェクトを入力してください。",
    }

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        super().on_bind_field(field_name, field_obj)
        apply_input_ranges(field_name, field_obj)

    @pre_load(pass_collection=True)
    def _refuse_bad_text(self, data, **kwargs):
        problems = input_ranges.text_problems(data)
        if problems:
            raise ValidationError(problems)
        return data


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
