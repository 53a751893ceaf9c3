"""The one way a page reports a refused service call.

A service refuses by raising a ``DomainError`` (Japanese message, field errors in
``details["fields"]``).  The page then calls ``refused(exc, form)``: what the refused call wrote
is rolled back at once (so the page re-renders from what is saved), the signed-in account is
loaded again (the rollback expires it; an account without a center is visible only through the
account lookup), the field errors land on the form's fields and the rest is flashed.  The view
answers with ``refused``'s status (a form page) or redirects (a button); the transaction
boundary (``platform/transaction.py``) decides the rest.
"""
from __future__ import annotations

from flask import flash
from flask_login import current_user
from flask_wtf import FlaskForm

from ...platform.errors import DomainError
from ...platform.extensions import db
from ...platform.tenancy import account_lookup


def discard_changes() -> None:
    """Roll back now, and reload the signed-in account the rollback expired."""
    db.session.rollback()
    if current_user and current_user.is_authenticated:
        with account_lookup():
            db.session.refresh(current_user._get_current_object())


def refused(exc: DomainError, form: FlaskForm | None = None, *, announce: bool | None = None) -> int:
    """Report ``exc`` on the page and return the status to answer with (403, 409 or 422).

    Field errors go on the form's field of that name (``consent.witness`` finds
    ``consent_witness``, ``person.birth_date`` finds ``birth_date``), once each; those the form lacks are flashed.  The refusal's message is
    flashed when ``announce`` is true, or, by default, when no form took every field error."""
    discard_changes()
    unplaced: list[str] = []
    for name, messages in exc.details.get("fields", {}).items():
        texts = _texts(messages)
        field = _field(form, name)
        if field is None:
            unplaced.extend(texts)
        else:
            field.errors = list(field.errors) + [t for t in texts if t not in field.errors]
    if announce or (announce is None and (form is None or unplaced or not exc.details.get("fields"))):
        flash(exc.message, "error")
    for text in unplaced:
        flash(text, "error")
    return exc.status if exc.status in (403, 409, 422) else 422


def _field(form: FlaskForm | None, name: str):
    if form is None:
        return None
    for candidate in (name, name.replace(".", "_"), name.split(".")[0], name.split(".")[-1]):
        field = getattr(form, candidate, None)
        if field is not None and hasattr(field, "errors"):
            return field
    return None


def _texts(messages) -> list[str]:
    if isinstance(messages, dict):
        return [t for sub in messages.values() for t in _texts(sub)]
    if isinstance(messages, (list, tuple)):
        return [t for sub in messages for t in _texts(sub)]
    return [str(messages)]
