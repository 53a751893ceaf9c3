"""What the transfer pages and the pull-request pages share: the choice of a receiving center.

Why a module of its own: ``transfers`` and ``transfer_pulls`` both need it, and a page module
must not import another's private helpers.  A refused service call becomes a page through
``refusals.refused``, as on every other page.
"""
from __future__ import annotations

from ...platform.centers import list_centers


def center_choices(exclude=()) -> list[tuple[str, str]]:
    return [(c.code, f"{c.name}（{c.prefecture_name}）") for c in list_centers() if c.active and c.id not in exclude]
