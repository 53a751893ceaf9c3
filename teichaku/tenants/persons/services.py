"""Person actions: create and update a person (audited); find people by name or kana."""
from __future__ import annotations

from sqlalchemy import Select, select

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


def name_matches(stmt: Select, term: str) -> Select:
    """Restrict a statement over ``Person`` to names or kana containing ``term``.

    Two characters or more: the bigrams must all be present (GIN index on PostgreSQL), then the
    normalised text must contain the term (bigrams alone would also match 田山 for 山田).  One
    character: a plain substring match.  Hiragana and katakana match alike.
    """
    key = normalize(term)
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    condition = Person.name_search.like(f"%{escaped}%", escape="\\")
    if len(key) >= 2 and db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.where(Person.name_grams.contains(bigrams(key)))
    return stmt.where(condition)


def find_people(term: str, limit: int = 20) -> list[Person]:
    """Existing people of the current center matching a name or kana (checked before creating one)."""
    if not normalize(term):
        return []
    stmt = name_matches(select(Person), term).order_by(Person.family_name_kana, Person.given_name_kana).limit(limit)
    people = list(db.session.scalars(stmt))
    record("person.search", object_type="person")
    return people
