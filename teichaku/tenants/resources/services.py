"""Resource actions: the only way to create, change and search the local resources directory.

Every change is audited in the caller's transaction; the view or job commits.  Raises
``ValidationFailed`` (fields compared with each other or with the stored record),
``PreconditionRequired`` (no version given) and ``VersionConflict`` (a stale version).
"""
from __future__ import annotations

import unicodedata

from sqlalchemy import select

from ...platform.audit.services import record
from ...platform.errors import PreconditionRequired, ValidationFailed, VersionConflict
from ...platform.extensions import db
from ...platform.pagination import keyset_page
from ...platform.models import utcnow
from ...platform.tenancy import get_owned
from ..cases.models import Case
from ..common.municipality import is_valid_municipality_code
from ..persons.names import normalize, search_key
from .models import Resource, ResourceContact

RESOURCE_FIELDS = (
    "name", "kana", "resource_type", "municipality_name", "municipality_code", "address", "capacity",
    "openings", "accepts_record", "self_reliance_home_registered", "entrustment_from", "entrustment_to",
    "notes", "active",
)
CONTACT_FIELDS = ("name", "role", "phone", "email")
DEFAULTS = {"kana": "", "notes": "", "self_reliance_home_registered": False, "active": True}

CONFLICT_MESSAGE = "他の職員が先に更新しました。最新の内容を確認してから再度保存してください。"


def rule_errors(values: dict) -> dict[str, list[str]]:
    """Rules across fields, on the record as it would be after the change: {field: [message]}.

    The create schema reports them together with the field errors; the services apply them to
    the merged record (a PATCH may change one side of a rule only).
    """
    errors: dict[str, list[str]] = {}
    code = values.get("municipality_code")
    if code is not None and not is_valid_municipality_code(code):
        errors["municipality_code"] = ["全国地方公共団体コード（6桁、検査数字付き）が正しくありません。"]
    capacity, openings = values.get("capacity"), values.get("openings")
    for field, value in (("capacity", capacity), ("openings", openings)):
        if value is not None and value < 0:
            errors[field] = ["0以上の整数を入力してください。"]
    if capacity is not None and openings is not None and openings > capacity and "openings" not in errors:
        errors["openings"] = ["空きは定員以下の数を入力してください。"]
    start, end = values.get("entrustment_from"), values.get("entrustment_to")
    if start and end and end < start:
        errors["entrustment_to"] = ["委託期間の終了日は開始日以降の日付を入力してください。"]
    if (start or end) and not values.get("self_reliance_home_registered"):
        errors["self_reliance_home_registered"] = ["委託期間を入力する場合は、自立準備ホームとしての登録を選んでください。"]
    return errors


def _check(values: dict) -> None:
    errors = rule_errors(values)
    if errors:
        raise ValidationFailed("入力内容に誤りがあります。", fields=errors)


def _contact_values(contact) -> dict:
    if isinstance(contact, ResourceContact):
        return {f: getattr(contact, f) for f in CONTACT_FIELDS}
    return {f: (contact.get(f) or "") for f in CONTACT_FIELDS}


def _refresh_search(resource: Resource) -> None:
    resource.name_search = search_key(resource.name, resource.kana)


def create_resource(data: dict) -> Resource:
    """Add a partner organisation (and its contacts) to the current center's directory."""
    values = {field: data.get(field, DEFAULTS.get(field)) for field in RESOURCE_FIELDS}
    _check(values)
    contacts = [_contact_values(c) for c in data.get("contacts") or []]
    resource = Resource(**values)
    resource.contacts = [ResourceContact(position=i, **c) for i, c in enumerate(contacts)]
    _refresh_search(resource)
    db.session.add(resource)
    db.session.flush()
    record("resource.create", object_type="resource", object_id=resource.id,
           details={**values, "contacts": contacts})
    return resource


def get_resource(resource_id) -> Resource | None:
    """A resource of the current center; None for another center's or a missing one."""
    return get_owned(Resource, resource_id)


def update_resource(resource: Resource, changes: dict, *, expected_version: int | None) -> Resource:
    """Apply changes if the caller saw the current version; ``contacts`` replaces the list.

    Audits ``{field: [old, new]}`` of what really changed; nothing changed writes nothing.
    """
    if expected_version is None:
        raise PreconditionRequired("If-Match ヘッダーで版番号を指定してください。")
    if expected_version != resource.version:
        raise VersionConflict(CONFLICT_MESSAGE, details={"current_version": resource.version})
    merged = {field: changes[field] if field in changes else getattr(resource, field) for field in RESOURCE_FIELDS}
    _check(merged)
    diff = {}
    for field in RESOURCE_FIELDS:
        if field in changes and getattr(resource, field) != changes[field]:
            diff[field] = [getattr(resource, field), changes[field]]
            setattr(resource, field, changes[field])
    if "contacts" in changes:
        before = [_contact_values(c) for c in resource.contacts]
        after = [_contact_values(c) for c in changes["contacts"] or []]
        if before != after:
            _replace_contacts(resource, after)
            diff["contacts"] = [before, after]
    if diff:
        _refresh_search(resource)
        resource.updated_at = utcnow()  # bumps the version even when only the contacts changed
        db.session.flush()
        record("resource.update", object_type="resource", object_id=resource.id, details=diff)
    return resource


def _replace_contacts(resource: Resource, contacts: list[dict]) -> None:
    """Rows are kept by position (their ids stay stable); extra rows go, missing rows come."""
    existing = list(resource.contacts)
    for position, values in enumerate(contacts):
        if position < len(existing):
            row = existing[position]
            for field, value in values.items():
                setattr(row, field, value)
            row.position = position
        else:
            resource.contacts.append(ResourceContact(position=position, **values))
    for row in existing[len(contacts):]:
        resource.contacts.remove(row)


# --- search ------------------------------------------------------------------------------------

def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_resources(*, limit: int = 50, cursor: str | None = None, resource_type: str | None = None,
                   municipality: str | None = None, accepts_record: str | None = None,
                   has_openings: bool = False, q: str | None = None,
                   include_inactive: bool = False) -> tuple[list[Resource], str | None]:
    """A page of the current center's directory, newest first, and the cursor of the next page.

    ``municipality`` is a name (partial match) or a code (digits: prefix match, so the five
    digits without the check digit find it too).  ``q`` matches name or kana, hiragana and
    katakana alike.
    """
    stmt = select(Resource)
    if not include_inactive:
        stmt = stmt.where(Resource.active.is_(True))
    if resource_type:
        stmt = stmt.where(Resource.resource_type == resource_type)
    if accepts_record:
        stmt = stmt.where(Resource.accepts_record == accepts_record)
    if has_openings:
        stmt = stmt.where(Resource.openings > 0)
    term = unicodedata.normalize("NFKC", municipality or "").strip()
    if term:
        if term.isdigit():
            stmt = stmt.where(Resource.municipality_code.like(f"{_like_escape(term)}%", escape="\\"))
        else:
            stmt = stmt.where(Resource.municipality_name.like(f"%{_like_escape(term)}%", escape="\\"))
    key = normalize(q or "")
    if key:
        stmt = stmt.where(Resource.name_search.like(f"%{_like_escape(key)}%", escape="\\"))
    return keyset_page(stmt, (Resource.created_at, Resource.id), limit, cursor)


# --- placement history -------------------------------------------------------------------------

def placement_history_available() -> bool:
    """Whether cases record the resource they were placed at (the case-work migration)."""
    return getattr(Case, "placement_resource_id", None) is not None


def placement_history(resource_id) -> list:
    """The current center's cases that closed with a placement at this resource, latest first.

    Cases gain ``placement_resource_id`` in the case-work migration; until then (or if the
    column goes) this answers an empty list.  The read shows people's records, so it is audited
    (one entry listing the cases and people shown).
    """
    resource = resource_id if isinstance(resource_id, Resource) else get_resource(resource_id)
    if resource is None or not placement_history_available():
        return []
    column = Case.placement_resource_id
    order = [c.desc().nulls_last() for c in (getattr(Case, "closed_on", None),) if c is not None]
    stmt = select(Case).where(column == resource.id).order_by(*order, Case.created_at.desc(), Case.id.desc())
    cases = list(db.session.scalars(stmt))
    if cases:
        record("resource.placement_history", object_type="resource", object_id=resource.id,
               details={"case_ids": [str(c.id) for c in cases], "person_ids": [str(c.person_id) for c in cases]})
    return cases
