"""社会資源 pages: the directory with filters, add, view (with contacts and placements), edit.

The form only carries the values (and the CSRF token); they are checked by the same schema and
service the API uses, so a page and an API call refuse exactly the same input.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from wtforms import BooleanField, FieldList, Form, FormField, SelectField, StringField, TextAreaField

from ...platform.errors import ValidationFailed, VersionConflict
from ...platform.input_ranges import small_int
from ...tenants.resources import services
from ...tenants.resources.models import ACCEPTS_RECORD_LABELS, RESOURCE_TYPE_LABELS
from ...tenants.resources.schemas import MAX_CONTACTS, ResourceFilter, ResourceIn
from .forms import RangedForm
from .refusals import discard_changes, refused

bp = Blueprint("resources", __name__, url_prefix="/resources")

BLANK_CONTACT_ROWS = 2


class ContactForm(Form):
    """One row of the contacts table (no CSRF token of its own: it sits inside ResourceForm)."""

    name = StringField(_l("担当者名"))
    role = StringField(_l("役職・役割"))
    phone = StringField(_l("電話番号"), render_kw={"type": "tel", "autocomplete": "off"})
    email = StringField(_l("メールアドレス"), render_kw={"type": "email", "autocomplete": "off"})


class ResourceForm(RangedForm):
    name = StringField(_l("名称"))
    kana = StringField(_l("ふりがな"))
    resource_type = SelectField(_l("種別"), choices=list(RESOURCE_TYPE_LABELS.items()), validate_choice=False)
    municipality_name = StringField(_l("市区町村名"))
    municipality_code = StringField(_l("全国地方公共団体コード（6桁）"), render_kw={"inputmode": "numeric", "maxlength": 6})
    address = StringField(_l("所在地"))
    capacity = StringField(_l("定員"), render_kw={"inputmode": "numeric"})
    openings = StringField(_l("空き"), render_kw={"inputmode": "numeric"})
    accepts_record = SelectField(_l("受入可否（犯罪歴のある方）"), choices=[("", _l("未確認")), *ACCEPTS_RECORD_LABELS.items()],
                                 validate_choice=False)
    self_reliance_home_registered = BooleanField(_l("自立準備ホームとして登録されている"))
    entrustment_from = StringField(_l("委託期間（開始）"), render_kw={"type": "date"})
    entrustment_to = StringField(_l("委託期間（終了）"), render_kw={"type": "date"})
    notes = TextAreaField(_l("備考"))
    active = BooleanField(_l("有効（一覧に表示する）"), default=True)
    contacts = FieldList(FormField(ContactForm), min_entries=0, max_entries=MAX_CONTACTS + BLANK_CONTACT_ROWS)


SIMPLE_FIELDS = ("name", "kana", "resource_type", "municipality_name", "municipality_code", "address", "capacity",
                 "openings", "accepts_record", "self_reliance_home_registered", "entrustment_from", "entrustment_to",
                 "notes", "active")


def _payload(form: ResourceForm) -> tuple[dict, list[int]]:
    """The form as the API's body; blank contact rows are dropped (returns the rows kept)."""
    data = {field: getattr(form, field).data for field in SIMPLE_FIELDS}
    data = {k: (v if v is not None else "") for k, v in data.items()}
    contacts, rows = [], []
    for index, entry in enumerate(form.contacts):
        values = {k: (v or "").strip() for k, v in entry.form.data.items()}
        if any(values.values()):
            contacts.append(values)
            rows.append(index)
    data["contacts"] = contacts
    return data, rows


def _show_errors(form: ResourceForm, errors: dict, rows: list[int]) -> None:
    """Put the schema's errors on the form's fields (contacts by their row: blank rows were dropped
    before the schema saw them)."""
    for key, messages in errors.items():
        if key == "contacts" and isinstance(messages, dict):
            for index, sub in messages.items():
                entry = form.contacts[rows[int(index)]].form
                for name, texts in sub.items():
                    getattr(entry, name, entry.name).errors = list(texts)
        elif key in SIMPLE_FIELDS:
            getattr(form, key).errors = list(messages) if isinstance(messages, list) else [str(messages)]
        else:
            for text in messages if isinstance(messages, list) else [messages]:
                flash(str(text), "error")


def _pad_contacts(form: ResourceForm) -> None:
    while len(form.contacts) < MAX_CONTACTS and sum(1 for e in form.contacts if not any(e.form.data.values())) < BLANK_CONTACT_ROWS:
        form.contacts.append_entry()


def _posted_version() -> int:
    """The version the editor saw (hidden field); anything unreadable counts as stale."""
    raw = request.form.get("version", "")
    return small_int(raw) or 0


def _validated(form: ResourceForm) -> tuple[dict | None, list[int]]:
    data, rows = _payload(form)
    try:
        return ResourceIn().load(data), rows
    except ValidationError as exc:
        _show_errors(form, exc.messages, rows)
        return None, rows


def _index_page(filters: dict, resources=(), next_cursor=None, errors=None):
    return render_template("resources/index.html", resources=resources, next_cursor=next_cursor, filters=filters,
                           filter_errors=errors or {}, types=RESOURCE_TYPE_LABELS, accepts=ACCEPTS_RECORD_LABELS)


@bp.get("")
def index():
    """The directory; filters come in the query string (no personal data in them)."""
    raw = {k: request.args.get(k) for k in ResourceFilter().fields if k in request.args}
    try:
        filters = ResourceFilter().load(raw)
        items, next_cursor = services.list_resources(limit=50, cursor=request.args.get("cursor"), **filters)
    except ValidationError as exc:
        return _index_page(raw, errors=exc.messages), 422
    except ValidationFailed as exc:  # a damaged cursor
        return _index_page(raw, errors=exc.details.get("fields", {})), 422
    return _index_page(raw, items, next_cursor)


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = ResourceForm()
    if form.validate_on_submit():
        body, rows = _validated(form)
        if body is not None:
            try:
                resource = services.create_resource(body)
            except ValidationFailed as exc:
                refused(exc, form)
            else:
                flash(_("社会資源「%(name)s」を登録しました。", name=resource.name), "info")
                return redirect(url_for("resources.detail", resource_id=resource.id))
        flash(_("入力内容に誤りがあります。"), "error")
        _pad_contacts(form)
        return render_template("resources/new.html", form=form), 422
    _pad_contacts(form)
    return render_template("resources/new.html", form=form), (422 if form.errors else 200)


@bp.get("/<resource_id>")
def detail(resource_id):
    resource = services.get_resource(resource_id) or abort(404)
    placements = services.placement_history(resource)
    return render_template("resources/detail.html", resource=resource, placements=placements,
                           history_available=services.placement_history_available())


@bp.route("/<resource_id>/edit", methods=["GET", "POST"])
def edit(resource_id):
    resource = services.get_resource(resource_id) or abort(404)
    if request.method == "GET":
        form = ResourceForm(obj=resource)
        form.accepts_record.data = resource.accepts_record or ""
        for field in ("capacity", "openings", "entrustment_from", "entrustment_to"):
            value = getattr(resource, field)
            getattr(form, field).data = "" if value is None else str(value)
        _pad_contacts(form)
        return render_template("resources/edit.html", form=form, resource=resource)
    form = ResourceForm()
    if not form.validate_on_submit():
        _pad_contacts(form)
        return render_template("resources/edit.html", form=form, resource=resource), 422
    body, rows = _validated(form)
    if body is not None:
        try:
            services.update_resource(resource, body, expected_version=_posted_version())
        except VersionConflict:
            discard_changes()
            flash(_("他の職員が先に更新しました。入力した内容は下に残っています。保存されている内容と見比べてから、もう一度保存してください。"), "error")
            current = services.get_resource(resource_id) or abort(404)
            _pad_contacts(form)
            return render_template("resources/edit.html", form=form, resource=current, stale=True), 409
        except ValidationFailed as exc:
            refused(exc, form)
        else:
            flash(_("保存しました。"), "info")
            return redirect(url_for("resources.detail", resource_id=resource.id))
    flash(_("入力内容に誤りがあります。"), "error")
    _pad_contacts(form)
    resource = services.get_resource(resource_id) or abort(404)
    return render_template("resources/edit.html", form=form, resource=resource), 422
