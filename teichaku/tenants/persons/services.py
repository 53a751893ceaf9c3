"""Person actions: create and update a person, with audit; find people by name or kana."""
from __future__ import annotations

from sqlalchemy import select

from ...platform.audit.services import record
from ...platform.extensions import db
from .models import Person
from .names import normalize, search_key

PERSON_FIELDS = ("family_name", "given_name", "family_name_kana", "given_name_kana", "birth_date", "sex", "support_needs")


def _refresh_search(person: Person) -> None:
    person.name_search = search_key(
        person.family_name + person.given_name, person.family_name_kana + person.given_name_kana,
        person.family_name, person.given_name,
    )


def create_person(data: dict) -> Person:
    person = Person(**{k: data[k] for k in PERSON_FIELDS if k in data})
    person.support_needs = list(dict.fromkeys(person.support_needs or []))
    _refresh_search(person)
    db.session.add(person)
    db.session.flush()
    record("person.create", object_type="person", object_id=person.id, person_id=person.id,
           details={k: data.get(k) for k in PERSON_FIELDS})
    return person


def update_person(person: Person, changes: dict) -> dict:
    """Apply changes; returns {field: [old, new]} of what really changed (audited)."""
    diff = {}
    for field in PERSON_FIELDS:
        if field in changes and getattr(person, field) != changes[field]:
            diff[field] = [getattr(person, field), changes[field]]
            setattr(person, field, changes[field])
    if diff:
        _refresh_search(person)
        record("person.update", object_type="person", object_id=person.id, person_id=person.id, details=diff)
    return diff


def find_people(term: str, limit: int = 20) -> list[Person]:
    """People of the current center whose name or kana contains the term (hiragana = katakana)."""
    key = normalize(term)
    if not key:
        return []
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = select(Person).where(Person.name_search.like(f"%{escaped}%", escape="\\")).order_by(Person.family_name_kana).limit(limit)
    return list(db.session.scalars(stmt))
