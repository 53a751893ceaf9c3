"""Person actions: create and update a person (audited); find people by name or kana."""
from __future__ import annotations

from sqlalchemy import Select, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from ...platform.audit.services import record
from ...platform.extensions import db
from .models import Person
from .names import bigrams, name_grams, normalize, search_key

PERSON_FIELDS = ("family_name", "given_name", "family_name_kana", "given_name_kana", "birth_date", "sex",
                 "support_needs", "certificates", "public_assistance")


def _refresh_search(person: Person) -> None:
    parts = (person.family_name + person.given_name, person.family_name_kana + person.given_name_kana,
             person.family_name, person.given_name, person.family_name_kana, person.given_name_kana)
    person.name_search = search_key(*parts)
    person.name_grams = name_grams(*parts)


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


def matching_person_ids(term: str):
    """A subquery of the current center's people whose name or kana contains ``term``.

    Two characters or more on PostgreSQL: ``tenant_person_ids`` finds the people having every
    bigram through the GIN index on ``(center_id, name_grams)`` and then checks the normalised
    text (bigrams alone would also match 田山 for 山田).  Otherwise a substring match.
    Hiragana, katakana and half-width kana match alike.
    """
    key = normalize(term)
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    if len(key) >= 2 and db.session.get_bind().dialect.name == "postgresql":
        grams = bindparam("grams", bigrams(key), type_=ARRAY(Text))
        return select(func.tenant_person_ids(grams, bindparam("pattern", pattern)))
    return select(Person.id).where(Person.name_search.like(pattern, escape="\\"))


def name_matches(stmt: Select, term: str) -> Select:
    """Restrict a statement over ``Person`` to names or kana containing ``term``."""
    return stmt.where(Person.id.in_(matching_person_ids(term)))


def find_people(term: str, limit: int = 20) -> list[Person]:
    """Existing people of the current center matching a name or kana (checked before creating one)."""
    if not normalize(term):
        return []
    stmt = name_matches(select(Person), term).order_by(Person.family_name_kana, Person.given_name_kana).limit(limit)
    people = list(db.session.scalars(stmt))
    record("person.search", object_type="person")
    return people
