"""Network activity pages (地域ネットワーク強化): list by fiscal year, record, view (audited), edit
with a version check, and the yearly summary with its downloads."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ...platform import transaction
from ...platform.errors import ValidationFailed, VersionConflict
from ...platform.i18n import fiscal_year_label
from ...platform.input_ranges import small_int
from ...tenants.activities import services
from ...tenants.activities.models import MAX_PARTICIPANTS, SECTORS, NetworkActivity
from .forms import RangedForm
from .refusals import discard_changes, refused

bp = Blueprint("activities", __name__, url_prefix="/activities")

REQUIRED = _l("必須項目です。")
TYPE_CHOICES = [
    SelectChoice("regional_support_meeting", _l("地域福祉支援検討会")),
    SelectChoice("provider_outreach", _l("福祉事業者巡回開拓")),
    SelectChoice("regional_training", _l("地域福祉研修")),
    SelectChoice("other", _l("その他の活動")),
]
SECTOR_FIELD_LABELS = {
    "welfare": _l("福祉"),
    "medical": _l("医療"),
    "municipal": _l("行政"),
    "justice": _l("司法（保護観察所・矯正施設）"),
    "legal": _l("法律（弁護士等）"),
    "police": _l("警察"),
    "education": _l("教育"),
    "community": _l("地域"),
    "other": _l("その他"),
}
COUNT_MESSAGE = _l("0以上の整数を入力してください。")


class ActivityForm(RangedForm):
    held_on = DateField(_l("開催日"), validators=[DataRequired(_l("日付を入力してください。"))])
    activity_type = SelectField(_l("種別"), choices=TYPE_CHOICES)
    title = StringField(_l("名称"), validators=[DataRequired(REQUIRED), Length(max=200)])
    place = StringField(_l("会場"), validators=[Optional(), Length(max=200)])
    organisations = TextAreaField(_l("参加機関・団体"), validators=[Optional(), Length(max=2000)])
    minutes = TextAreaField(_l("議事録"), validators=[Optional(), Length(max=20000)])


for _sector in SECTORS:
    setattr(ActivityForm, f"participants_{_sector}", IntegerField(
        SECTOR_FIELD_LABELS[_sector], default=0,
        validators=[Optional(), NumberRange(min=0, max=MAX_PARTICIPANTS, message=COUNT_MESSAGE)]))


def _sector_fields(form: ActivityForm) -> list:
    return [getattr(form, f"participants_{sector}") for sector in SECTORS]


def _form_to_data(form: ActivityForm) -> dict:
    return {
        "held_on": form.held_on.data,
        "activity_type": form.activity_type.data,
        "title": form.title.data or "",
        "place": form.place.data or None,
        "organisations": form.organisations.data or None,
        "minutes": form.minutes.data or None,
        "participants": {sector: getattr(form, f"participants_{sector}").data or 0 for sector in SECTORS},
    }


def _fill_form(form: ActivityForm, activity: NetworkActivity) -> None:
    for name in ("held_on", "activity_type", "title", "place", "organisations", "minutes"):
        getattr(form, name).data = getattr(activity, name)
    for sector, count in activity.participants.items():
        getattr(form, f"participants_{sector}").data = count


def _fiscal_year_arg() -> tuple[int, list[str]]:
    """The ``fiscal_year`` of the query string (this fiscal year when absent) and its errors."""
    raw = request.args.get("fiscal_year", "").strip()
    if not raw:
        return services.current_fiscal_year(), []
    year = small_int(raw)
    if year is None:
        return services.current_fiscal_year(), ["年度は西暦の数字で指定してください。"]
    message = services.fiscal_year_error(year)
    return (services.current_fiscal_year(), [message]) if message else (year, [])


def _year_choices() -> list[tuple[int, str]]:
    return [(year, fiscal_year_label(year)) for year in range(services.last_fiscal_year(), services.FIRST_FISCAL_YEAR - 1, -1)]


@bp.get("")
def index():
    fiscal_year, errors = _fiscal_year_arg()
    cursor = request.args.get("cursor") if not errors else None
    items, next_cursor = services.list_activities(fiscal_year=fiscal_year, limit=100, cursor=cursor)
    return render_template("activities/list.html", activities=items, next_cursor=next_cursor, fiscal_year=fiscal_year,
                           year_choices=_year_choices(), year_errors=errors), (422 if errors else 200)


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = ActivityForm()
    if form.validate_on_submit():
        try:
            activity = services.create_activity(_form_to_data(form), created_by=current_user)
        except ValidationFailed as exc:
            status = refused(exc, form)
            return render_template("activities/new.html", form=form, sector_fields=_sector_fields(form)), status
        flash(f"「{activity.title}」を登録しました。", "info")
        return redirect(url_for("activities.detail", activity_id=activity.id))
    return render_template("activities/new.html", form=form, sector_fields=_sector_fields(form)), (422 if form.errors else 200)


@bp.get("/<activity_id>")
def detail(activity_id):
    activity = services.read_activity(activity_id) or abort(404)
    return render_template("activities/detail.html", activity=activity)


@bp.route("/<activity_id>/edit", methods=["GET", "POST"])
def edit(activity_id):
    activity = services.read_activity(activity_id) or abort(404)
    form = ActivityForm()
    if request.method == "GET":
        _fill_form(form, activity)
    if form.validate_on_submit():
        version = request.form.get("version", "")
        try:
            services.update_activity(activity, _form_to_data(form),
                                     expected_version=small_int(version) or 0)
        except VersionConflict as exc:
            discard_changes()
            flash(exc.message + "（入力した内容は下に残っています）", "error")
            current = services.read_activity(activity_id) or abort(404)
            transaction.keep_writes()  # the re-read is audited even though the answer is a 409
            return render_template("activities/edit.html", form=form, activity=current, stale=True,
                                   sector_fields=_sector_fields(form)), 409
        except ValidationFailed as exc:
            status = refused(exc, form)
            return render_template("activities/edit.html", form=form, activity=activity,
                                   sector_fields=_sector_fields(form)), status
        flash("保存しました。", "info")
        return redirect(url_for("activities.detail", activity_id=activity.id))
    transaction.keep_writes()  # the activity's read stays audited when the form comes back with errors
    return render_template("activities/edit.html", form=form, activity=activity,
                           sector_fields=_sector_fields(form)), (422 if form.errors else 200)


@bp.get("/summary")
def summary():
    fiscal_year, errors = _fiscal_year_arg()
    data = services.yearly_summary(fiscal_year)
    return render_template("activities/summary.html", summary=data, fiscal_year=fiscal_year,
                           year_choices=_year_choices(), year_errors=errors), (422 if errors else 200)


@bp.get("/summary/export")
def summary_export():
    fiscal_year, errors = _fiscal_year_arg()
    fmt = request.args.get("format", "")
    if errors or fmt not in ("csv", "xlsx"):
        message = errors[0] if errors else "形式は csv または xlsx を指定してください。"
        return render_template("error.html", status=422, title="入力内容に誤りがあります。", message=message), 422
    center = getattr(current_user, "center", None)
    content, mimetype, filename = services.export_summary(fiscal_year, fmt, center_name=getattr(center, "name", None))
    return Response(content, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
