"""保存期間と削除 (retention) and 開示請求 (disclosure) pages: the center admin's.

The review list (due and held files, and the last erasures), confirming an erasure or holding
it, the keeping periods per case type, and the export of everything held about one person.
Every rule lives in ``crosstenant/retention``; these views only translate forms and errors (the
request's boundary commits).
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

from ...platform.errors import DomainError
from ...platform.transaction import keep_writes
from ...platform.input_ranges import small_int
from ...tenants.cases.lifecycle import CASE_TYPES
from ...crosstenant.retention import services
from ...crosstenant.retention.disclosure_request import build_disclosure
from ...crosstenant.retention.models import MAX_YEARS, MIN_YEARS
from .forms import EmptyForm, RangedForm
from .refusals import refused

bp = Blueprint("retention", __name__, url_prefix="/retention")

YEARS_MESSAGE = _l("%(low)s年から%(high)s年の間で入力してください。", low=MIN_YEARS, high=MAX_YEARS)


class HoldForm(RangedForm):
    reason = TextAreaField(_l("保留の理由"), validators=[DataRequired(_l("必須項目です。")),
                                                       Length(max=services.MAX_REASON_CHARS)])
    until = DateField(_l("保留の期限"), validators=[DataRequired(_l("日付を入力してください。"))])


class RulesForm(RangedForm):
    pass


for _case_type in CASE_TYPES:
    setattr(RulesForm, f"years_{_case_type}", IntegerField(
        validators=[DataRequired(YEARS_MESSAGE), NumberRange(min=MIN_YEARS, max=MAX_YEARS, message=YEARS_MESSAGE)]))


def _version() -> int | None:
    raw = request.form.get("version", "")
    return small_int(raw)


def _render_reviews(status: int = 200, hold_form: HoldForm | None = None, failed_review=None):
    due = services.list_reviews(("due",))
    held = services.list_reviews(("held",))
    erased = services.list_reviews(("erased",), limit=50)
    cases = services.cases_of([r.person_id for r in due + held])
    return render_template("retention/reviews.html", due=due, held=held, erased=erased, cases=cases,
                           form=EmptyForm(), hold_form=hold_form, blank_hold_form=HoldForm(formdata=None),
                           failed_review=failed_review, rules=services.rules()), status


@bp.get("")
def reviews():
    return _render_reviews()


@bp.post("/<review_id>/erase")
def erase(review_id):
    if not EmptyForm().validate_on_submit():
        abort(400)
    if request.form.get("confirm") != "yes":
        flash(_("削除するには「元に戻せないことを確認しました」にチェックを入れてください。"), "error")
        return _render_reviews(422)
    try:
        outcome = services.confirm_erasure(review_id, actor=current_user, expected_version=_version())
    except LookupError:
        abort(404)
    except DomainError as exc:
        refused(exc)
        return _render_reviews(exc.status)
    if not outcome.erased:
        keep_writes()  # the review withdrawn instead, and its audit entry
        flash(_("新しいケースや手続きがあるため、この方はもう削除の対象ではありません。確認の一覧から外しました。"), "error")
        return _render_reviews(409)
    flash(_("個人情報を削除しました（記録 %(n)s 件ほか）。統計に必要な項目だけが残っています。",
            n=outcome.counts.get("case_records", 0)), "info")
    return redirect(url_for("retention.reviews"))


@bp.post("/<review_id>/hold")
def hold(review_id):
    form = HoldForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _render_reviews(422, form, review_id)
    try:
        services.hold(review_id, reason=form.reason.data, until=form.until.data, actor=current_user,
                      expected_version=_version())
    except LookupError:
        abort(404)
    except DomainError as exc:
        refused(exc, form, announce=True)
        return _render_reviews(exc.status, form, review_id)
    flash(_("削除を保留しました。期限が来ると次の確認に再び載ります。"), "info")
    return redirect(url_for("retention.reviews"))


@bp.route("/rules", methods=["GET", "POST"])
def rules():
    form = RulesForm()
    if request.method == "GET":
        for case_type, years in services.rules().items():
            getattr(form, f"years_{case_type}").data = years
    elif form.validate_on_submit():
        try:
            services.set_rules({t: getattr(form, f"years_{t}").data for t in CASE_TYPES}, actor=current_user,
                               expected=_seen_rules())
        except DomainError as exc:
            refused(exc)
            current = services.rules()
            return render_template("retention/rules.html", form=form, case_types=CASE_TYPES, seen=current,
                                   current=current), exc.status
        flash(_("保存期間を変更しました。次の確認から使われます。"), "info")
        return redirect(url_for("retention.rules"))
    seen = services.rules() if request.method == "GET" else _seen_rules()
    return (render_template("retention/rules.html", form=form, case_types=CASE_TYPES, seen=seen),
            422 if form.errors else 200)


def _seen_rules() -> dict[str, int] | None:
    """The periods the editor's page showed (hidden fields), to refuse overwriting a later change."""
    seen = {t: request.form.get(f"seen_{t}", "") for t in CASE_TYPES}
    return {t: small_int(v) for t, v in seen.items() if small_int(v) is not None} or None


@bp.post("/persons/<person_id>/disclosure")
def disclosure(person_id):
    """開示請求: a ZIP of everything the center holds about the person (audited)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        package = build_disclosure(person_id)
    except LookupError:
        abort(404)
    return Response(package.content, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{package.filename}"',
                             "Cache-Control": "no-store"})
