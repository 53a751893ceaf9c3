"""WTForms for the pages (CSRF on every form through Flask-WTF).

Every form of the pages derives from ``RangedForm``: the input ranges of the API
(``platform.input_ranges``) hold for every field of every form, subforms included.
"""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, FieldList, FormField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp, ValidationError

from ...platform import input_ranges

from ...tenants.cases.lifecycle import (
    CERTIFICATE_STATUSES, CLOSING_REASONS, CONSENT_WITNESS_MAX, ELIGIBILITY_CONDITIONS, FACILITY_TYPES, NEED_STATUSES,
    OVERRIDE_REASON_MAX, OVERRIDE_REASON_MIN, PLACEMENTS, PUBLIC_ASSISTANCE, REQUESTER_TYPES, STATUS_LABELS,
    SUSPECT_STAGES,
)
from ...tenants.common.municipality import is_valid_municipality_code

REQUIRED = _l("必須項目です。")


def range_problem(field) -> str | None:
    """The input-range message (untranslated) for a field's value, None when it is fine: text
    (also each value of a multiple choice), dates and timestamps, integers."""
    data = field.data
    if isinstance(data, str):
        return input_ranges.text_problem(data)
    if isinstance(data, (list, tuple)):
        return next((input_ranges.text_problem(v) for v in data if isinstance(v, str) and input_ranges.text_problem(v)), None)
    if isinstance(data, date):
        return input_ranges.date_problem(data, birth=input_ranges.is_birth_date(field.short_name))
    if isinstance(data, int) and not isinstance(data, bool):
        return input_ranges.integer_problem(data)
    return None


def _leaf_fields(fields):
    """Every field of a form, the fields of its subforms (FormField, FieldList) included."""
    for field in fields:
        if isinstance(field, (FormField, FieldList)):
            yield from _leaf_fields(field)
        else:
            yield field


class RangedForm(FlaskForm):
    """The base of every page form: after the form's own validators, each field's value must
    keep to the input ranges (text without NUL or unpaired surrogates, dates in range, birth
    dates not in the future, 32-bit integers); the message goes under the field, in the
    user's language."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in _leaf_fields(self):
            message = range_problem(field)
            if message:
                field.errors = [*field.errors, input_ranges.say(message, _)]
                valid = False
        return valid


class LoginForm(RangedForm):
    email = EmailField(_l("メールアドレス"), validators=[DataRequired(REQUIRED)])
    password = PasswordField(_l("パスワード"), validators=[DataRequired(REQUIRED)])


class OtpForm(RangedForm):
    otp = StringField(_l("確認コード"), validators=[DataRequired(REQUIRED), Length(max=20)])


class PasswordForm(RangedForm):
    current_password = PasswordField(_l("現在のパスワード"), validators=[DataRequired(REQUIRED)])
    new_password = PasswordField(_l("新しいパスワード（12文字以上）"), validators=[DataRequired(REQUIRED)])


class TotpSetupForm(RangedForm):
    code = StringField(_l("認証アプリに表示された6桁の数字"), validators=[DataRequired(REQUIRED), Regexp(r"^\s*\d{6}\s*$", message=_l("6桁の数字を入力してください。"))])


class SecondFactorProofForm(RangedForm):
    """Removing (or, with TotpChangeForm, replacing) a second factor: password and a current code."""
    password = PasswordField(_l("パスワード"), validators=[DataRequired(REQUIRED)])
    current_code = StringField(_l("現在の確認コード（認証アプリの6桁、または回復コード）"),
                               validators=[DataRequired(REQUIRED), Length(max=20)])


class TotpChangeForm(SecondFactorProofForm):
    code = StringField(_l("新しい認証アプリに表示された6桁の数字"), validators=[DataRequired(REQUIRED), Regexp(r"^\s*\d{6}\s*$", message=_l("6桁の数字を入力してください。"))])


class InviteAdminForm(RangedForm):
    email = EmailField(_l("メールアドレス"), validators=[DataRequired(REQUIRED), Email(_l("メールアドレスの形式が正しくありません。"))])
    display_name = StringField(_l("氏名"), validators=[DataRequired(REQUIRED), Length(max=100)])


class ResetRequestForm(RangedForm):
    email = EmailField(_l("アカウントのメールアドレス"), validators=[DataRequired(REQUIRED), Email(_l("メールアドレスの形式が正しくありません。"))])


class EmptyForm(RangedForm):
    """A form with only the CSRF token (buttons that change something)."""


class AuditFilterForm(RangedForm):
    """The center admin's audit log filter (in the POST body, so no id sits in a URL)."""
    person_id = StringField(validators=[Optional()])
    actor_id = StringField(validators=[Optional()])
    action = StringField(validators=[Optional()])


class UserForm(RangedForm):
    email = EmailField(_l("メールアドレス"), validators=[DataRequired(REQUIRED), Email(_l("メールアドレスの形式が正しくありません。"))])
    display_name = StringField(_l("氏名"), validators=[DataRequired(REQUIRED), Length(max=100)])
    display_name_kana = StringField(_l("ふりがな"), validators=[Optional(), Length(max=100)])
    # A center creates only its own staff and admins; prefecture officials are the operator's.
    role = SelectField(_l("役割"), choices=[("staff", _l("センター職員")), ("center_admin", _l("センター長（管理者）"))])
    password = PasswordField(_l("初期パスワード（12文字以上）"), validators=[DataRequired(REQUIRED)])


# The stored value stays Japanese (it is data); only the label shown is translated.
REGION_CHOICES = [
    ("北海道", _l("北海道")), ("東北", _l("東北")), ("関東", _l("関東")), ("中部", _l("中部")),
    ("近畿", _l("近畿")), ("中国", _l("中国")), ("四国", _l("四国")), ("九州・沖縄", _l("九州・沖縄")),
]


class CenterForm(RangedForm):
    code = StringField(_l("コード（半角英小文字）"), validators=[DataRequired(REQUIRED), Regexp(r"^[a-z][a-z0-9\-]{1,31}$", message=_l("半角英小文字・数字・ハイフンで入力してください。"))])
    name = StringField(_l("名称"), validators=[DataRequired(REQUIRED), Length(max=200)])
    prefecture_code = StringField(_l("都道府県コード（01〜47）"), validators=[DataRequired(REQUIRED), Regexp(r"^(0[1-9]|[1-3][0-9]|4[0-7])$", message=_l("01〜47で入力してください。"))])
    prefecture_name = StringField(_l("都道府県名"), validators=[DataRequired(REQUIRED), Length(max=10)])
    region = SelectField(_l("地域ブロック"), choices=REGION_CHOICES)


class CenterEditForm(RangedForm):
    name = StringField(_l("名称"), validators=[DataRequired(REQUIRED), Length(max=200)])
    active = BooleanField(_l("有効"))


SEX_CHOICES = [("male", _l("男性")), ("female", _l("女性")), ("other", _l("その他"))]
NEED_CHOICES = [("elderly", _l("高齢")), ("intellectual", _l("知的障害")), ("mental", _l("精神障害")), ("physical", _l("身体障害")), ("developmental", _l("発達障害")), ("dementia", _l("認知症の疑い"))]
CASE_TYPE_CHOICES = [("coordination", _l("コーディネート業務（CO）")), ("follow_up", _l("フォローアップ業務（FU）")), ("suspect_support", _l("被疑者等支援業務")), ("consultation", _l("相談支援業務"))]


def _choices(mapping: dict, blank: str | None = None) -> list:
    """Choices from a lifecycle label table (labels marked with N_, translated here)."""
    out = [("", blank)] if blank is not None else []
    return out + [(key, _l(label)) for key, label in mapping.items()]


def _municipality_code(form, field) -> None:
    if field.data and not is_valid_municipality_code(field.data.strip()):
        raise ValidationError(_l("全国地方公共団体コード（6桁、検査数字付き）が正しくありません。"))


PREFECTURE_CODE = Regexp(r"^(0[1-9]|[1-3][0-9]|4[0-7])$", message=_l("01〜47で入力してください。"))


class PersonFieldsMixin:
    family_name = StringField(_l("姓"), validators=[DataRequired(REQUIRED), Length(max=50)])
    given_name = StringField(_l("名"), validators=[DataRequired(REQUIRED), Length(max=50)])
    family_name_kana = StringField(_l("せい（ふりがな）"), validators=[DataRequired(REQUIRED), Length(max=100), Regexp(r"^[\u3041-\u3096\u30A1-\u30FA\u30FC\u30FB\u3000 ー・]+$", message=_l("ふりがなはひらがなまたはカタカナで入力してください。"))])
    given_name_kana = StringField(_l("めい（ふりがな）"), validators=[DataRequired(REQUIRED), Length(max=100), Regexp(r"^[\u3041-\u3096\u30A1-\u30FA\u30FC\u30FB\u3000 ー・]+$", message=_l("ふりがなはひらがなまたはカタカナで入力してください。"))])
    birth_date = DateField(_l("生年月日"), validators=[DataRequired(_l("日付を入力してください。"))])
    sex = SelectField(_l("性別"), choices=SEX_CHOICES)
    support_needs = SelectMultipleField(_l("支援の必要性"), choices=NEED_CHOICES, validators=[Optional()])
    public_assistance = SelectField(_l("生活保護"), choices=_choices(PUBLIC_ASSISTANCE))
    cert_ryoiku_techo = SelectField(_l("療育手帳"), choices=_choices(CERTIFICATE_STATUSES, _l("なし")), validators=[Optional()])
    cert_seishin_techo = SelectField(_l("精神障害者保健福祉手帳"), choices=_choices(CERTIFICATE_STATUSES, _l("なし")), validators=[Optional()])
    cert_shintai_techo = SelectField(_l("身体障害者手帳"), choices=_choices(CERTIFICATE_STATUSES, _l("なし")), validators=[Optional()])
    cert_kaigo_nintei = SelectField(_l("要介護認定"), choices=_choices(CERTIFICATE_STATUSES, _l("なし")), validators=[Optional()])


class CaseFieldsMixin:
    requested_on = DateField(_l("依頼日"), validators=[Optional()])
    request_source = StringField(_l("依頼元（保護観察所など）"), validators=[Optional(), Length(max=100)])
    probation_office = StringField(_l("担当保護観察所"), validators=[Optional(), Length(max=100)])
    facility_name = StringField(_l("矯正施設名"), validators=[Optional(), Length(max=100)])
    facility_type = SelectField(_l("施設の種類"), choices=_choices(FACILITY_TYPES, "—"), validators=[Optional()])
    release_date = DateField(_l("釈放・出所予定日"), validators=[Optional()])
    destination_prefecture_code = StringField(_l("帰住予定地（都道府県コード）"), validators=[Optional(), PREFECTURE_CODE])
    destination_municipality_name = StringField(_l("帰住予定地（市区町村名）"), validators=[Optional(), Length(max=50)])
    destination_municipality_code = StringField(_l("帰住予定地（全国地方公共団体コード）"), validators=[Optional(), _municipality_code])
    follow_up_on = DateField(_l("次回フォローアップ日"), validators=[Optional()])
    requester_type = SelectField(_l("相談者"), choices=_choices(REQUESTER_TYPES, "—"), validators=[Optional()])
    topic = StringField(_l("相談内容"), validators=[Optional(), Length(max=2000)])
    suspect_stage = SelectField(_l("段階（被疑者等支援）"), choices=_choices(SUSPECT_STAGES, "—"), validators=[Optional()])
    outcome_at_release = StringField(_l("釈放時の結果"), validators=[Optional(), Length(max=2000)])


class CaseForm(PersonFieldsMixin, CaseFieldsMixin, RangedForm):
    case_type = SelectField(_l("業務の種類"), choices=CASE_TYPE_CHOICES)
    person_id = StringField(validators=[Optional()])  # an existing person chosen in the lookup step


class ExistingPersonCaseForm(CaseFieldsMixin, RangedForm):
    """Opening a case for a person the center already knows (chosen in the lookup step)."""

    case_type = SelectField(_l("業務の種類"), choices=CASE_TYPE_CHOICES)
    person_id = StringField(validators=[DataRequired()])


class CaseEditForm(PersonFieldsMixin, CaseFieldsMixin, RangedForm):
    version = StringField(validators=[DataRequired()])


class PersonLookupForm(RangedForm):
    q = StringField(_l("氏名・ふりがなで既存の対象者を検索"), validators=[DataRequired(REQUIRED), Length(max=50)])


class CaseSearchForm(RangedForm):
    q = StringField(_l("氏名・ふりがな"), validators=[Optional(), Length(max=50)])
    case_number = StringField(_l("ケース番号"), validators=[Optional(), Length(max=32)])
    case_type = SelectField(_l("業務の種類"), choices=[("", _l("すべて"))] + CASE_TYPE_CHOICES, validators=[Optional()])
    status = SelectField(_l("状態"), choices=_choices(STATUS_LABELS, _l("すべて")), validators=[Optional()])
    assigned_user_id = SelectField(_l("担当者"), choices=[("", _l("すべて"))], validators=[Optional()], validate_choice=False)
    requested_from = DateField(_l("依頼日（から）"), validators=[Optional()])
    requested_to = DateField(_l("依頼日（まで）"), validators=[Optional()])
    release_from = DateField(_l("釈放予定日（から）"), validators=[Optional()])
    release_to = DateField(_l("釈放予定日（まで）"), validators=[Optional()])
    cursor = StringField(validators=[Optional()])


class EligibilityForm(RangedForm):
    version = StringField(validators=[DataRequired()])
    elderly_or_disabled = BooleanField(_l(ELIGIBILITY_CONDITIONS["elderly_or_disabled"]))
    no_residence = BooleanField(_l(ELIGIBILITY_CONDITIONS["no_residence"]))
    needs_welfare_services = BooleanField(_l(ELIGIBILITY_CONDITIONS["needs_welfare_services"]))
    appropriate = BooleanField(_l(ELIGIBILITY_CONDITIONS["appropriate"]))
    person_wishes = BooleanField(_l(ELIGIBILITY_CONDITIONS["person_wishes"]))
    consent_to_share = BooleanField(_l(ELIGIBILITY_CONDITIONS["consent_to_share"]))
    consent_on = DateField(_l("同意を得た日"), validators=[Optional()])
    consent_witness = StringField(_l("立会人"), validators=[Optional(), Length(max=CONSENT_WITNESS_MAX)])


class OverrideForm(RangedForm):
    version = StringField(validators=[DataRequired()])
    reason = StringField(_l("要件を満たさないまま進める理由"),
                         validators=[DataRequired(REQUIRED), Length(min=OVERRIDE_REASON_MIN, max=OVERRIDE_REASON_MAX)])


class TransitionForm(RangedForm):
    version = StringField(validators=[DataRequired()])
    to_status = SelectField(_l("次の状態"), choices=_choices(STATUS_LABELS))
    released_on = DateField(_l("釈放・出所日"), validators=[Optional()])
    closing_reason = SelectField(_l("終結理由"), choices=_choices(CLOSING_REASONS, "—"), validators=[Optional()])
    closed_on = DateField(_l("終結日"), validators=[Optional()])
    outcome_placement = SelectField(_l("帰住先・受入先"), choices=_choices(PLACEMENTS, "—"), validators=[Optional()])
    outcome_municipality_name = StringField(_l("帰住先の市区町村名"), validators=[Optional(), Length(max=50)])
    outcome_municipality_code = StringField(_l("帰住先の全国地方公共団体コード"), validators=[Optional(), _municipality_code])
    closing_note = StringField(_l("備考"), validators=[Optional(), Length(max=2000)])


class FollowUpForm(RangedForm):
    version = StringField(validators=[DataRequired()])


class NeedForm(RangedForm):
    version = StringField(validators=[DataRequired()])
    status = SelectField(_l("状況"), choices=_choices(NEED_STATUSES))
    responsible = StringField(_l("担当"), validators=[Optional(), Length(max=100)])
    note = StringField(_l("メモ"), validators=[Optional(), Length(max=2000)])
