"""WTForms for the pages (CSRF on every form through Flask-WTF)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

REQUIRED = "必須項目です。"


class LoginForm(FlaskForm):
    email = EmailField("メールアドレス", validators=[DataRequired(REQUIRED)])
    password = PasswordField("パスワード", validators=[DataRequired(REQUIRED)])


class OtpForm(FlaskForm):
    otp = StringField("確認コード", validators=[DataRequired(REQUIRED), Length(max=20)])


class PasswordForm(FlaskForm):
    current_password = PasswordField("現在のパスワード", validators=[DataRequired(REQUIRED)])
    new_password = PasswordField("新しいパスワード（12文字以上）", validators=[DataRequired(REQUIRED)])


class TotpSetupForm(FlaskForm):
    code = StringField("認証アプリに表示された6桁の数字", validators=[DataRequired(REQUIRED), Regexp(r"^\s*\d{6}\s*$", message="6桁の数字を入力してください。")])


class ConfirmPasswordForm(FlaskForm):
    password = PasswordField("パスワード", validators=[DataRequired(REQUIRED)])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token (buttons that change something)."""


class UserForm(FlaskForm):
    email = EmailField("メールアドレス", validators=[DataRequired(REQUIRED), Email("メールアドレスの形式が正しくありません。")])
    display_name = StringField("氏名", validators=[DataRequired(REQUIRED), Length(max=100)])
    display_name_kana = StringField("ふりがな", validators=[Optional(), Length(max=100)])
    role = SelectField("役割", choices=[("staff", "センター職員"), ("center_admin", "センター長（管理者）"), ("prefecture", "都道府県担当者")])
    password = PasswordField("初期パスワード（12文字以上）", validators=[DataRequired(REQUIRED)])


class CenterForm(FlaskForm):
    code = StringField("コード（半角英小文字）", validators=[DataRequired(REQUIRED), Regexp(r"^[a-z][a-z0-9\-]{1,31}$", message="半角英小文字・数字・ハイフンで入力してください。")])
    name = StringField("名称", validators=[DataRequired(REQUIRED), Length(max=200)])
    prefecture_code = StringField("都道府県コード（01〜47）", validators=[DataRequired(REQUIRED), Regexp(r"^(0[1-9]|[1-3][0-9]|4[0-7])$", message="01〜47で入力してください。")])
    prefecture_name = StringField("都道府県名", validators=[DataRequired(REQUIRED), Length(max=10)])
    region = SelectField("地域ブロック", choices=[(r, r) for r in ("北海道", "東北", "関東", "中部", "近畿", "中国", "四国", "九州・沖縄")])


class CenterEditForm(FlaskForm):
    name = StringField("名称", validators=[DataRequired(REQUIRED), Length(max=200)])
    active = BooleanField("有効")


class FirstAdminForm(FlaskForm):
    email = EmailField("メールアドレス", validators=[DataRequired(REQUIRED), Email("メールアドレスの形式が正しくありません。")])
    display_name = StringField("氏名", validators=[DataRequired(REQUIRED), Length(max=100)])
    password = PasswordField("初期パスワード（12文字以上）", validators=[DataRequired(REQUIRED)])


SEX_CHOICES = [("male", "男性"), ("female", "女性"), ("other", "その他")]
NEED_CHOICES = [("elderly", "高齢"), ("intellectual", "知的障害"), ("mental", "精神障害"), ("physical", "身体障害"), ("developmental", "発達障害"), ("dementia", "認知症の疑い")]
CASE_TYPE_CHOICES = [("coordination", "コーディネート業務（CO）"), ("follow_up", "フォローアップ業務（FU）"), ("suspect_support", "被疑者等支援業務"), ("consultation", "相談支援業務")]


class CaseForm(FlaskForm):
    case_type = SelectField("業務の種類", choices=CASE_TYPE_CHOICES)
    family_name = StringField("姓", validators=[DataRequired(REQUIRED), Length(max=50)])
    given_name = StringField("名", validators=[DataRequired(REQUIRED), Length(max=50)])
    family_name_kana = StringField("せい（ふりがな）", validators=[DataRequired(REQUIRED), Length(max=100)])
    given_name_kana = StringField("めい（ふりがな）", validators=[DataRequired(REQUIRED), Length(max=100)])
    birth_date = DateField("生年月日", validators=[DataRequired("日付を入力してください。")])
    sex = SelectField("性別", choices=SEX_CHOICES)
    support_needs = SelectMultipleField("支援の必要性", choices=NEED_CHOICES, validators=[Optional()])
    requested_on = DateField("依頼日", validators=[Optional()])
    release_date = DateField("釈放・出所予定日", validators=[Optional()])
    destination_prefecture_code = StringField("帰住予定地（都道府県コード）", validators=[Optional(), Regexp(r"^(0[1-9]|[1-3][0-9]|4[0-7])$", message="01〜47で入力してください。")])
