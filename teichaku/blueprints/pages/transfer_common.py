"""What the transfer pages and the pull-request pages share: the center choices, and how a
refused service call becomes a page (its field errors on the form, a flash, the status code).

Why a module of its own: ``transfers`` and ``transfer_pulls`` both need these, and a page module
must not import another's private helpers.
"""
from __future__ import annotations

from flask import flash
from flask_login import current_user

from ...platform.centers import list_centers
from ...platform.errors import DomainError
from ...platform.extensions import db
from ...platform.tenancy import account_lookup


def center_choices(exclude=()) -> list[tuple[str, str]]:
    return [(c.code, f"{c.name}（{c.prefecture_name}）") for c in list_centers() if c.active and c.id not in exclude]


def field_errors(form, exc: DomainError) -> None:
    for name, messages in exc.details.get("fields", {}).items():
        target = getattr(form, name.split(".")[-1], None) or getattr(form, name.replace(".", "_"), None)
        if target is not None:
            target.errors = list(target.errors) + list(messages)
    flash(exc.message, "error")


def rollback_refused() -> None:
    """Undo a refused action, then reload the signed-in account: the rollback expires it, and the
    association's account (no center) is visible again only through the account lookup."""
    db.session.rollback()
    with account_lookup():
        db.session.refresh(current_user._get_current_object())


def status_of(exc: DomainError) -> int:
    return exc.status if exc.status in (403, 409, 422) else 422
