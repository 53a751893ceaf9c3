"""Three CHECK constraints get the names the models give them.

An early revision passed already-prefixed names through the naming convention, so PostgreSQL
holds ``ck_case_needs_ck_case_needs_area`` where the model says ``ck_case_needs_area`` (likewise
``ck_case_needs_status`` and ``ck_reminders_kind``).  The definitions were always equal
(tests/test_migrations.py compares them); only the names differ, and a later migration that
drops or widens one by the model's name would miss it.  PostgreSQL renames them in place.
SQLite cannot rename a constraint, and nothing there refers to one by name: its tables keep them.

Revision ID: l4yers0001
Revises: h4rden0006
Create Date: 2026-12-08 01:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "l4yers0001"
down_revision = "h4rden0006"
branch_labels = None
depends_on = None

RENAMES = (
    ("case_needs", "ck_case_needs_ck_case_needs_area", "ck_case_needs_area"),
    ("case_needs", "ck_case_needs_ck_case_needs_status", "ck_case_needs_status"),
    ("reminders", "ck_reminders_ck_reminders_kind", "ck_reminders_kind"),
)


def _rename(old_index: int, new_index: int) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for names in RENAMES:
        table, old, new = names[0], names[old_index], names[new_index]
        op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{old}" TO "{new}"')


def upgrade():
    _rename(1, 2)


def downgrade():
    _rename(2, 1)
