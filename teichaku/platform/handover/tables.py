"""What a center's archive holds: every table with a ``center_id``, minus a documented list.

The list of tables is computed from the SQLAlchemy metadata (after the app factory registered
every model), never written out, so a table added next week travels with the center without
anyone touching this module.  A table that must *not* travel is named in ``EXCLUDED`` with the
reason; ``tests/test_center_handover.py`` fails when a table with a ``center_id`` is neither
exported nor excluded, or when an excluded name no longer exists.

Accounts (``users``) travel, deactivated: the archive carries who they were (id, e-mail, name,
role), because the records name their authors by user id, but never a password hash, a TOTP
secret, a session, an API token or a recovery code.  The importing installation stores them with
an unusable password and ``active = false``; the new operator invites its own staff afresh
(``centers handover`` or ``users create``), and its center admin may re-enable an account of a
person who stays on.
"""
from __future__ import annotations

import secrets
from typing import Callable

from sqlalchemy import MetaData, Table

from ..auth.passwords import hash_password

# Tables with a center_id that do not travel, and why.
EXCLUDED: dict[str, str] = {
    "notifications": (
        "inbox entries of the center's users: pointers to this installation's outbox events (a "
        "platform table), read state and e-mail delivery state.  What they announced is in the "
        "transfers and threads, which travel; the imported accounts are deactivated, so nobody "
        "would read these inboxes."),
    "case_study_messages": (
        "question threads about studies of the shared case-study library (``case_studies``), a "
        "publication of this installation that does not move with one center; the rows cannot "
        "be loaded where that library is not.  The center's own writing (drafts and findings) "
        "travels."),
    "case_study_helpful_marks": (
        "参考になった marks on studies of this installation's shared library (see "
        "case_study_messages)."),
    "center_operators": (
        "this installation's record of which operator (受託法人) ran the center and when; the "
        "receiving installation records its own operator (``centers handover``)."),
}

# Columns never written to an archive (secrets and state the importer sets itself), per table.
NOT_EXPORTED: dict[str, frozenset[str]] = {
    "users": frozenset({"password_hash", "totp_secret", "totp_enabled_at", "totp_last_step", "active"}),
}

# Tables of counts derived from the center's rows (the national aggregates' rollups).  They
# travel, but the importing installation may already hold an empty center's (zero) slices, so
# its rows for the center are replaced instead of counting as "the center already has data".
REPLACED_ON_IMPORT: frozenset[str] = frozenset({
    "rollup_counts", "rollup_day_counts", "rollup_slices", "rollup_dirty_slices",
})


def tenant_tables(metadata: MetaData) -> list[Table]:
    """Every table with a ``center_id`` column, in dependency order (parents first)."""
    return [t for t in metadata.sorted_tables if "center_id" in t.c]


def exported_tables(metadata: MetaData) -> list[Table]:
    """The tables an archive holds, in dependency order, so that rows load parents first."""
    return [t for t in tenant_tables(metadata) if t.name not in EXCLUDED]


def exported_columns(table: Table) -> list:
    skip = NOT_EXPORTED.get(table.name, frozenset())
    return [c for c in table.c if c.name not in skip]


def _unusable_password() -> str:
    """An argon2 hash of a random secret nobody knows: the account cannot sign in until its
    password is set through an invitation (or by an administrator)."""
    return hash_password(secrets.token_urlsafe(32))


# Values the importer fills for the columns left out of the archive.
IMPORT_FILL: dict[str, Callable[[], dict]] = {
    "users": lambda: {"password_hash": _unusable_password(), "totp_secret": None, "totp_enabled_at": None,
                      "totp_last_step": None, "active": False},
}


def self_references(table: Table) -> list[tuple[list[str], list[str]]]:
    """Foreign keys of a table onto itself, as (local columns, referenced columns)."""
    out = []
    for constraint in table.foreign_key_constraints:
        if constraint.referred_table is table:
            out.append(([c.name for c in constraint.columns], [e.column.name for e in constraint.elements]))
    return out
