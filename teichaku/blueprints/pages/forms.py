"""WTForms for the pages (CSRF on every form through Flask-WTF)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

REQUIRED = _l("必須項目です。")


class LoginForm(FlaskForm):
    email = EmailField(_l("メールアドレス"), validators=[DataRequired(REQUIRED)])
    password = PasswordField(_l("パスワード"), validators=[DataRequired(REQUIRED)])


class OtpForm(FlaskForm):
    otp = StringField(_l("確認コード"), validators=[DataRequired(REQUIRED), Length(max=20)])


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("現在のパスワード"), validators=[DataRequired(REQUIRED)])
    new_password = PasswordField(_l("新しいパスワード（12文字以上）"), validators=[DataRequired(REQUIRED)])


class TotpSetupForm(FlaskForm):
    code = StringField(_l("認証アプリに表示された6桁の数字"), validators=[DataRequired(REQUIRED), Regexp(r"^\s*\d{6}\s*$", message=_l("6桁の数字を入力してください。"))])


class ConfirmPasswordForm(FlaskForm):
    password = PasswordField(_l("パスワード"), validators=[DataRequired(REQUIRED)])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token (buttons that change something)."""


class UserForm(FlaskForm):
    email = EmailField(_l("メールアドレス"), validators=[DataRequired(REQUIRED), Email(_l("メールアドレスの形式が正しくありません。"))])
    display_name = StringField(_l("氏名"), validators=[DataRequired(REQUIRED), Length(max=100)])
    display_name_kana = StringField(_l("ふりがな"), validators=[Optional(), Length(max=100)])
    role = SelectField(_l("役割"), choices=[("staff", _l("センター職員")), ("center_admin", _l("センター長（管理者）")), ("prefecture", _l("都道府県担当者"))])
    password = PasswordField(_l("初期パスワード（12文字以上）"), validators=[DataRequired(REQUIRED)])


# The stored value stays Japanese (it is data); only the label shown is translated.
REGION_CHOICES = [
    ("北海道", _l("北海道")), ("東北", _l("東北")), ("関東", _l("関東")), ("中部", _l("中部")),
    ("近畿", _l("近畿")), ("中国", _l("中国")), ("四国", _l("四国")), ("九州・沖縄", _l("九州・沖縄")),
]


class CenterForm(FlaskForm):
    code = StringField(_l("コード（半角英小文字）"), validators=[DataRequired(REQUIRED), Regexp(r"^[a-z][a-z0-9\-]{1,31}$", message=_l("半角英小文字・数字・ハイフンで入力してください。"))])
    name = StringField(_l("名称"), validators=[DataRequired(REQUIRED), Length(max=200)])
    prefecture_code = StringField(_l("都道府県コード（01〜47）"), validators=[DataRequired(REQUIRED), Regexp(r"^(0[1-9]|[1-3][0-9]|4[0-7])$", message=_l("01〜47で入力してください。"))])
    prefecture_name = StringField(_l("都道府県名"), validators=[DataRequired(REQUIRED), Length(max=10)])
    region = SelectField(_l("地域ブロック"), choices=REGION_CHOICES)


class CenterEditForm(FlaskForm):
    name = StringField(_l("名称"), validators=[DataRequired(REQUIRED), Length(max=200)])
    active = BooleanField(_l("有効"))


class FirstAdminForm(FlaskForm):
    email = EmailField(_l("メールアドレス"), validators=[DataRequired(REQUIRED), Email(_l("メールアドレスの形式が正しくありません。"))])
    display_name = StringField(_l("氏名"), validators=[DataRequired(REQUIRED), Length(max=100)])
    password = PasswordField(_l("初期パスワード（12文字以上）"), validators=[DataRequired(REQUIRED)])


SEX_CHOICES = [("male", _l("男性")), ("female", _l("女性")), ("other", _l("その他"))]
NEED_CHOICES = [("elderly", _l("高齢")), ("intellectual", _l("知的障害")), ("mental", _l("精神障害")), ("physical", _l("身体障害")), ("developmental", _l("発達障害")), ("dementia", _l("認知症の疑い"))]
CASE_TYPE_CHOICES = [("coordination", _l("コーディネート業務（CO）")), ("follow_up", _l("フォローアップ業務（FU）")), ("suspect_support", _l("被疑者等支援業務")), ("consultation", _l("相談支援業務"))]


class CaseForm(FlaskForm):
    case_type = SelectField(_l("業務の種類"), choices=CASE_TYPE_CHOICES)
    family_name = StringField(_l("姓"), validators=[DataRequired(REQUIRED), Length(max=50)])
    given_name = StringField(_l("名"), validators=[DataRequired(REQUIRED), Length(max=50)])
    family_name_kana = StringField(_l("せい（ふりがな）"), validators=[DataRequired(REQUIRED), Length(max=100)])
    given_name_kana = StringField(_l("めい（ふりがな）"), validators=[DataRequired(REQUIRED), Length(max=100)])
    birth_date = DateField(_l("生年月日"), validators=[DataRequired(_l("日付を入力してください。"))])
    sex = SelectField(_l("性別"), choices=SEX_CHOICES)
    support_needs = SelectMultipleField(_l("支援の必要性"), choices=NEED_CHOICES, validators=[Optional()])
    requested_on = DateField(_l("依頼日"), validators=[Optional()])
    release_date = DateField(_l("釈放・出所予定日"), validators=[Optional()])
    destination_prefecture_code = StringField(_l("帰住予定地（都道府県コード）"), validators=[Optional(), Regexp(r"^(0[1-9]|[1-3][0-9]|4[0-7])$", message=_l("01〜47で入力してください。"))])
