"""Review committee (検討委員会) pages: members, meetings, agenda items, advice, follow-up,
the pseudonymized handout and a case's review history.  Views are thin: form → service → render
(the request's boundary commits)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from ...platform import transaction
from ...platform.errors import InvalidState, ValidationFailed, VersionConflict
from ...platform.i18n import today_jst
from ...platform.input_ranges import small_int
from ...tenants.cases import services as case_services
from ...tenants.cases.schemas import KANA
from ...tenants.committees import services
from .forms import EmptyForm, RangedForm
from .refusals import discard_changes, refused

bp = Blueprint("committees", __name__, url_prefix="/committee")

REQUIRED = _l("必須項目です。")
PROFESSION_CHOICES = [
    ("psychiatrist", _l("精神科医")), ("physician", _l("医師")), ("social_worker", _l("社会福祉士")),
    ("psychiatric_social_worker", _l("精神保健福祉士")), ("care_manager", _l("介護支援専門員")),
    ("clinical_psychologist", _l("臨床心理士・公認心理師")), ("lawyer", _l("弁護士")),
    ("probation_officer", _l("保護観察官")), ("prison_staff", _l("刑務所職員")), ("prefectural_staff", _l("県職員")),
    ("municipal_staff", _l("市町村職員")), ("welfare_facility", _l("社会福祉施設関係者")),
    ("academic", _l("学識経験者")), ("other", _l("その他")),
]


class MemberForm(RangedForm):
    name = StringField(_l("氏名"), validators=[DataRequired(REQUIRED), Length(max=100)])
    name_kana = StringField(_l("ふりがな"), validators=[DataRequired(REQUIRED), Length(max=100),
                                                       Regexp(KANA, message=_l("ひらがなまたはカタカナで入力してください。"))])
    profession = SelectField(_l("職種"), choices=PROFESSION_CHOICES)
    affiliation = StringField(_l("所属"), validators=[Optional(), Length(max=200)])
    observer = BooleanField(_l("オブザーバー"))
    active = BooleanField(_l("委嘱中"), default=True)


class MeetingForm(RangedForm):
    held_on = DateField(_l("開催日"), validators=[DataRequired(_l("日付を入力してください。"))])
    place = StringField(_l("場所"), validators=[Optional(), Length(max=200)])
    attendee_ids = SelectMultipleField(_l("出席者"), choices=[], validators=[Optional()])
    notes = TextAreaField(_l("議事録・メモ"), validators=[Optional(), Length(max=20000)])


class AgendaItemForm(RangedForm):
    # The service decides on the case: another center's case and a missing one answer 404 alike.
    case_id = SelectField(_l("対象ケース"), choices=[], validate_choice=False, validators=[DataRequired(REQUIRED)])
    question = TextAreaField(_l("委員会に相談したいこと"), validators=[DataRequired(REQUIRED), Length(max=4000)])


class QuestionForm(RangedForm):
    question = TextAreaField(_l("委員会に相談したいこと"), validators=[DataRequired(REQUIRED), Length(max=4000)])


class AdviceForm(RangedForm):
    advice = TextAreaField(_l("助言"), validators=[DataRequired(REQUIRED), Length(max=10000)])


class FollowUpForm(RangedForm):
    follow_up = TextAreaField(_l("対応（助言を受けて行ったこと）"), validators=[DataRequired(REQUIRED), Length(max=10000)])
    follow_up_on = DateField(_l("対応日"), validators=[DataRequired(_l("日付を入力してください。"))])


def _form_version() -> int:
    raw = request.form.get("version", "")
    version = small_int(raw)
    return -1 if version is None else version  # a missing or forged version conflicts


def _attempt(form, change):
    """Run a service change; returns (its result, None), or (None, the status to re-render with:
    409 for a conflict, 422 for bad input) once a refusal is rolled back and reported on the form."""
    try:
        return change(), None
    except VersionConflict:
        discard_changes()
        flash(_("他の職員が先に更新しました。最新の内容を確認してから再度保存してください。（入力した内容は下に残っています）"), "error")
        return None, 409
    except (ValidationFailed, InvalidState) as exc:
        return None, refused(exc, form, announce=True)


# --- members ---------------------------------------------------------------------------------

@bp.get("/members")
def members():
    items = services.members_by_kana()
    return render_template("committees/members.html", members=items)


def _member_data(form: MemberForm) -> dict:
    return {"name": form.name.data, "name_kana": form.name_kana.data, "profession": form.profession.data,
            "affiliation": form.affiliation.data or "", "observer": bool(form.observer.data),
            "active": bool(form.active.data)}


@bp.route("/members/new", methods=["GET", "POST"])
def member_new():
    form = MemberForm()
    status = 422 if request.method == "POST" else 200
    if form.validate_on_submit():
        member, status = _attempt(form, lambda: services.create_member(_member_data(form)))
        if member is not None:
            flash(_("委員を登録しました。"), "info")
            return redirect(url_for("committees.members"))
    return render_template("committees/member_form.html", form=form, member=None), status


@bp.route("/members/<committee_member_id>/edit", methods=["GET", "POST"])
def member_edit(committee_member_id):
    member = services.get_member(committee_member_id) or abort(404)
    form = MemberForm(obj=member if request.method == "GET" else None)
    status = 422 if request.method == "POST" else 200
    if form.validate_on_submit():
        done, status = _attempt(form, lambda: services.update_member(member, _member_data(form),
                                                                      expected_version=_form_version()))
        if done is not None:
            flash(_("保存しました。"), "info")
            return redirect(url_for("committees.members"))
        member = services.get_member(committee_member_id) or abort(404)  # the current version
    return render_template("committees/member_form.html", form=form, member=member, stale=status == 409), status


# --- meetings --------------------------------------------------------------------------------

@bp.get("/meetings")
def meetings():
    items, next_cursor = services.list_meetings(limit=50, cursor=request.args.get("cursor"))
    return render_template("committees/meetings.html", meetings=items, next_cursor=next_cursor)


def _attendee_choices(form: MeetingForm, meeting=None) -> None:
    """Serving members, plus those already on the meeting (who may have left since)."""
    current = {m.id for m in services.attendees(meeting)} if meeting is not None else set()
    form.attendee_ids.choices = [
        (str(m.id), f"{m.name}{_('（オブザーバー）') if m.observer else ''}")
        for m in services.members_by_kana() if m.active or m.id in current
    ]


def _meeting_data(form: MeetingForm) -> dict:
    return {"held_on": form.held_on.data, "place": form.place.data or "", "notes": form.notes.data or "",
            "attendee_ids": list(form.attendee_ids.data or [])}


@bp.route("/meetings/new", methods=["GET", "POST"])
def meeting_new():
    form = MeetingForm()
    _attendee_choices(form)
    status = 422 if request.method == "POST" else 200
    if form.validate_on_submit():
        meeting, status = _attempt(form, lambda: services.create_meeting(_meeting_data(form)))
        if meeting is not None:
            flash(_("会議を登録しました。"), "info")
            return redirect(url_for("committees.meeting_detail", committee_meeting_id=meeting.id))
    return render_template("committees/meeting_form.html", form=form, meeting=None), status


@bp.get("/meetings/<committee_meeting_id>")
def meeting_detail(committee_meeting_id):
    meeting, attendees, items = services.read_meeting(committee_meeting_id) or abort(404)
    return render_template("committees/meeting_detail.html", meeting=meeting, attendees=attendees, items=items,
                           remove_form=EmptyForm())


@bp.route("/meetings/<committee_meeting_id>/edit", methods=["GET", "POST"])
def meeting_edit(committee_meeting_id):
    meeting = services.get_meeting(committee_meeting_id) or abort(404)
    form = MeetingForm(obj=meeting if request.method == "GET" else None)
    _attendee_choices(form, meeting)
    if request.method == "GET":
        form.attendee_ids.data = [str(m.id) for m in services.attendees(meeting)]
    status = 422 if request.method == "POST" else 200
    if form.validate_on_submit():
        done, status = _attempt(form, lambda: services.update_meeting(meeting, _meeting_data(form),
                                                                       expected_version=_form_version()))
        if done is not None:
            flash(_("保存しました。"), "info")
            return redirect(url_for("committees.meeting_detail", committee_meeting_id=meeting.id))
        meeting = services.get_meeting(committee_meeting_id) or abort(404)
    return render_template("committees/meeting_form.html", form=form, meeting=meeting, stale=status == 409), status


@bp.get("/meetings/<committee_meeting_id>/handout")
def handout(committee_meeting_id):
    """The committee's paper: cases pseudonymized, printable on A4 (its own print template)."""
    sheet = services.handout(committee_meeting_id) or abort(404)
    return render_template("committees/handout.html", sheet=sheet, meeting_id=committee_meeting_id)


# --- agenda items ----------------------------------------------------------------------------

@bp.route("/meetings/<committee_meeting_id>/agenda-items/new", methods=["GET", "POST"])
def agenda_item_new(committee_meeting_id):
    meeting = services.get_meeting(committee_meeting_id) or abort(404)
    form = AgendaItemForm()
    status = 422 if request.method == "POST" else 200
    if form.validate_on_submit():
        data = {"case_id": form.case_id.data, "question": form.question.data}
        item, status = _attempt(form, lambda: services.add_agenda_item(meeting, data))
        if item is not None:
            flash(_("議題に加えました。"), "info")
            return redirect(url_for("committees.meeting_detail", committee_meeting_id=meeting.id))
    cases, _cursor = case_services.list_cases(limit=200)
    form.case_id.choices = [("", _("選んでください"))] + [
        (str(c.id), f"{c.case_number} {c.person.full_name}") for c in cases]
    return render_template("committees/agenda_item_new.html", form=form, meeting=meeting), status


def _item_or_404(committee_item_id):
    return services.read_agenda_item(committee_item_id) or abort(404)


@bp.route("/agenda-items/<committee_item_id>/edit", methods=["GET", "POST"])
def agenda_item_edit(committee_item_id):
    item = _item_or_404(committee_item_id)
    form = QuestionForm(obj=item if request.method == "GET" else None)
    status = 422 if request.method == "POST" else 200
    if form.validate_on_submit():
        done, status = _attempt(form, lambda: services.update_agenda_item(
            item, {"question": form.question.data}, expected_version=_form_version()))
        if done is not None:
            flash(_("保存しました。"), "info")
            return redirect(url_for("committees.meeting_detail", committee_meeting_id=item.meeting_id))
        item = _item_or_404(committee_item_id)
    transaction.keep_writes()  # the item's read stays audited when the form comes back with errors
    return render_template("committees/agenda_item_edit.html", form=form, item=item, stale=status == 409), status


@bp.post("/agenda-items/<committee_item_id>/remove")
def agenda_item_remove(committee_item_id):
    item = services.get_agenda_item(committee_item_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    meeting_id = item.meeting_id
    done, status = _attempt(EmptyForm(), lambda: services.remove_agenda_item(item, expected_version=_form_version()) or True)
    if done:
        flash(_("議題から外しました。"), "info")
    return redirect(url_for("committees.meeting_detail", committee_meeting_id=meeting_id))


def _history(item):
    """The case's earlier and later rounds beside the form (the item's read is audited)."""
    return services.history_for_case_page(item.case)


@bp.route("/agenda-items/<committee_item_id>/advice", methods=["GET", "POST"])
def advice(committee_item_id):
    item = _item_or_404(committee_item_id)
    form = AdviceForm(obj=item if request.method == "GET" else None)
    status = 422 if request.method == "POST" else 200
    if form.validate_on_submit():
        done, status = _attempt(form, lambda: services.record_advice(
            item, form.advice.data, expected_version=_form_version(), recorded_by=current_user))
        if done is not None:
            flash(_("助言を記録しました。"), "info")
            return redirect(url_for("committees.meeting_detail", committee_meeting_id=item.meeting_id))
        item = _item_or_404(committee_item_id)
    rounds = _history(item)
    transaction.keep_writes()  # the item's read stays audited when the form comes back with errors
    return render_template("committees/advice.html", form=form, item=item, rounds=rounds, stale=status == 409), status


@bp.route("/agenda-items/<committee_item_id>/follow-up", methods=["GET", "POST"])
def follow_up(committee_item_id):
    item = _item_or_404(committee_item_id)
    form = FollowUpForm(obj=item if request.method == "GET" else None)
    if request.method == "GET" and item.follow_up_on is None:
        form.follow_up_on.data = today_jst()
    status = 422 if request.method == "POST" else 200
    if form.validate_on_submit():
        done, status = _attempt(form, lambda: services.record_follow_up(
            item, form.follow_up.data, form.follow_up_on.data, expected_version=_form_version()))
        if done is not None:
            flash(_("対応を記録しました。"), "info")
            return redirect(url_for("committees.case_history", case_id=item.case_id))
        item = _item_or_404(committee_item_id)
    rounds = _history(item)
    transaction.keep_writes()  # the item's read stays audited when the form comes back with errors
    return render_template("committees/follow_up.html", form=form, item=item, rounds=rounds, stale=status == 409), status


# --- a case's review history -----------------------------------------------------------------

@bp.get("/cases/<case_id>/history")
def case_history(case_id):
    case, rounds = services.review_history(case_id)
    return render_template("committees/case_history.html", case=case, rounds=rounds)


@bp.app_template_global("committee_review_rounds")
def committee_review_rounds(case):
    """For ``committees/_case_section.html`` inside a case's page (whose read is audited there)."""
    return services.history_for_case_page(case)
