"""Request and response schemas for the local resources directory (社会資源).

Field rules live here (types, lengths, codes, the municipality check digit).  Rules across fields
(openings ≤ capacity, the entrustment period) are ``services.rule_errors``: the create schema
reports them together with the field errors, and the services apply them to the record as it
would be after every change (a PATCH may change one side of a rule only).
"""
from __future__ import annotations

from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from ...platform.validation import StrictSchema
from ..common.municipality import MunicipalityCode
from .models import ACCEPTS_RECORD, RESOURCE_TYPES
from .services import rule_errors

# Organisation names read in kana; digits and Latin letters occur in them (第2, NPO).
KANA = r"^[\u3041-\u3096\u309D\u309E\u30A1-\u30FA\u30FC\u30FB\u30FD\u30FE\u3000 0-9０-９A-Za-zＡ-Ｚａ-ｚ・ー（）()\-]*$"
PHONE = r"^[0-9０-９+＋()（）\-‐－ ]{0,30}$"

TYPE_ERROR = "社会資源の種別が正しくありません。"
ACCEPTS_ERROR = "受入可否は yes, no, case_by_case のいずれかを指定してください。"
CAPACITY_RANGE = validate.Range(min=0, max=100000, error="0以上の整数を入力してください。")
MAX_CONTACTS = 20


def _strip_strings(data):
    """Trim surrounding spaces of every string (full-width too) before validation."""
    if isinstance(data, dict):
        return {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items()}
    return data


def _email_or_empty(value: str) -> None:
    if value:
        fields.Email().deserialize(value)  # raises ValidationError with the Japanese message


class ContactIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(load_default="", validate=validate.Length(max=100))
    phone = fields.String(load_default="", validate=[validate.Length(max=30),
                                                     validate.Regexp(PHONE, error="電話番号は数字とハイフンで入力してください。")])
    email = fields.String(load_default="", validate=[validate.Length(max=254), _email_or_empty])

    @pre_load
    def _strip(self, data, **kwargs):
        return _strip_strings(data)


class ResourceIn(StrictSchema):
    """A new resource.  Unknown fields, unknown codes and a bad check digit are a 422."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kana = fields.String(load_default="", validate=[validate.Length(max=200),
                                                    validate.Regexp(KANA, error="ふりがなはひらがなまたはカタカナで入力してください。")])
    resource_type = fields.String(required=True, validate=validate.OneOf(RESOURCE_TYPES, error=TYPE_ERROR))
    municipality_name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=50))
    municipality_code = fields.String(allow_none=True, load_default=None, validate=MunicipalityCode())
    address = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=300))
    contacts = fields.List(fields.Nested(ContactIn), load_default=list,
                           validate=validate.Length(max=MAX_CONTACTS, error=f"連絡先は{MAX_CONTACTS}件までです。"))
    capacity = fields.Integer(allow_none=True, load_default=None, validate=CAPACITY_RANGE)
    openings = fields.Integer(allow_none=True, load_default=None, validate=CAPACITY_RANGE)
    accepts_record = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(ACCEPTS_RECORD, error=ACCEPTS_ERROR))
    self_reliance_home_registered = fields.Boolean(load_default=False)
    entrustment_from = fields.Date(allow_none=True, load_default=None)
    entrustment_to = fields.Date(allow_none=True, load_default=None)
    notes = fields.String(load_default="", validate=validate.Length(max=5000))
    active = fields.Boolean(load_default=True)

    @pre_load
    def _blank_is_none(self, data, **kwargs):
        """Empty optional strings mean "not set" (forms send them); names stay as given."""
        data = _strip_strings(data)
        if isinstance(data, dict):
            for key in ("municipality_name", "municipality_code", "address", "accepts_record",
                        "capacity", "openings", "entrustment_from", "entrustment_to"):
                if data.get(key) == "":
                    data[key] = None
        return data

    @validates_schema(skip_on_field_errors=False)
    def _rules_across_fields(self, data, partial=None, **kwargs):
        """All mistakes at once: the cross-field rules run on the fields that are valid.

        A partial load (PATCH) skips them: the service checks them on the merged record.
        """
        if partial:
            return
        errors = rule_errors(data)
        if errors:
            raise ValidationError(errors)


class ResourcePatch(ResourceIn):
    """Changes to a resource: any subset of the fields; ``contacts`` replaces the whole list."""

    def __init__(self, *args, **kwargs):
        # partial: nothing is required and no default is filled in, so only what was sent changes
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


class ResourceFilter(StrictSchema):
    """Search the directory: no personal data, so these may travel in a query string."""

    resource_type = fields.String(load_default=None, validate=validate.OneOf(RESOURCE_TYPES, error=TYPE_ERROR))
    municipality = fields.String(load_default=None, validate=validate.Length(max=50),
                                 metadata={"description": "municipality name (partial match) or code (prefix match)"})
    accepts_record = fields.String(load_default=None, validate=validate.OneOf(ACCEPTS_RECORD, error=ACCEPTS_ERROR))
    has_openings = fields.Boolean(load_default=False, metadata={"description": "only resources with openings > 0"})
    q = fields.String(load_default=None, validate=validate.Length(max=100),
                      metadata={"description": "name or kana (hiragana and katakana match each other)"})
    include_inactive = fields.Boolean(load_default=False)

    @pre_load
    def _blank_is_absent(self, data, **kwargs):
        if hasattr(data, "items"):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data


class ContactOut(StrictSchema):
    id = fields.UUID()
    name = fields.String()
    role = fields.String()
    phone = fields.String()
    email = fields.String()


class ResourceOut(StrictSchema):
    id = fields.UUID()
    name = fields.String()
    kana = fields.String()
    resource_type = fields.String()
    municipality_name = fields.String(allow_none=True)
    municipality_code = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    contacts = fields.List(fields.Nested(ContactOut))
    capacity = fields.Integer(allow_none=True)
    openings = fields.Integer(allow_none=True)
    accepts_record = fields.String(allow_none=True)
    self_reliance_home_registered = fields.Boolean()
    entrustment_from = fields.Date(allow_none=True)
    entrustment_to = fields.Date(allow_none=True)
    notes = fields.String()
    active = fields.Boolean()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ResourceList(StrictSchema):
    items = fields.List(fields.Nested(ResourceOut))
    next_cursor = fields.String(allow_none=True)
