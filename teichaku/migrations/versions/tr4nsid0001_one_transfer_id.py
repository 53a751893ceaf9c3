"""One transfer, one id (and a human-readable number).

Outside, a transfer (and a pull request) has one id: the group's, which its per-side rows share.
Notifications carried the recipient's own row id; this revision rewrites ``transfer_id`` and
``pull_id`` of every outbox event and inbox entry to the group's id, so an old notification opens
the transfer with the id every party now uses.

Each transfer gets its number (広域-R8-0012): ``number_fiscal_year`` and ``number_seq``, the
sending center's counter per fiscal year (of the request's creation, in Japan time), given to
existing transfers in the order they were created, per sending center and fiscal year, and copied
to the receiving rows.  Unique per sending center and year (``uq_transfers_number``, sending rows).

The schema owner runs migrations and sees every center (BYPASSRLS).

Revision ID: tr4nsid0001
Revises: l4yers0001
Create Date: 2026-12-08 01:30:00

"""
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "tr4nsid0001"
down_revision = "l4yers0001"
branch_labels = None
depends_on = None

JST = timezone(timedelta(hours=9))
NOTIFIED = ("outbox_events", "notifications")
SENDING = "side = 'sending'"


def _moment(value) -> datetime:
    """A stored timestamp as an aware datetime (SQLite gives text, naive meaning UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _fiscal_year(moment: datetime) -> int:
    day = moment.astimezone(JST).date()
    return day.year if day.month >= 4 else day.year - 1


def _number_existing_transfers(conn) -> None:
    """Each sending center's transfers, per fiscal year of their creation, numbered 1, 2, ... in
    the order they were created; every row of a group gets its sending row's number."""
    counters: dict = {}
    sending = conn.execute(sa.text(f"SELECT group_id, center_id, created_at FROM transfers WHERE {SENDING} "
                                   "ORDER BY created_at, id")).all()
    for group_id, center_id, created_at in sending:
        year = _fiscal_year(_moment(created_at))
        seq = counters[(center_id, year)] = counters.get((center_id, year), 0) + 1
        conn.execute(sa.text("UPDATE transfers SET number_fiscal_year = :year, number_seq = :seq WHERE group_id = :g"),
                     {"year": year, "seq": seq, "g": group_id})


def _rewrite_notifications(to_group: bool) -> None:
    """``transfer_id`` / ``pull_id`` of outbox events and inbox entries: a row id -> its group's
    id (upgrade), or back to the recipient center's own row of the group (downgrade)."""
    for table in NOTIFIED:
        recipient_center = "to_center_id" if table == "outbox_events" else "center_id"
        for column, source, asking in (("transfer_id", "transfers", "sending"), ("pull_id", "transfer_pulls", "asking")):
            if to_group:
                op.execute(f"UPDATE {table} SET {column} = (SELECT s.group_id FROM {source} s WHERE s.id = {table}.{column}) "
                           f"WHERE {column} IN (SELECT id FROM {source})")
            else:  # the recipient center's own row; the association's: the asking side's row
                op.execute(f"UPDATE {table} SET {column} = (SELECT s.id FROM {source} s WHERE s.group_id = {table}.{column} "
                           f"AND (s.center_id = {table}.{recipient_center} OR ({table}.{recipient_center} IS NULL "
                           f"AND s.side = '{asking}')) ORDER BY s.created_at DESC LIMIT 1) "
                           f"WHERE {column} IN (SELECT group_id FROM {source})")


def upgrade():
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number_fiscal_year", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("number_seq", sa.Integer(), nullable=True))
    _number_existing_transfers(op.get_bind())
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.alter_column("number_fiscal_year", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("number_seq", existing_type=sa.Integer(), nullable=False)
        batch_op.create_check_constraint(op.f("ck_transfers_number_seq"), "number_seq > 0")
    op.create_index("uq_transfers_number", "transfers", ["center_id", "number_fiscal_year", "number_seq"], unique=True,
                    postgresql_where=sa.text(SENDING), sqlite_where=sa.text(SENDING))
    _rewrite_notifications(to_group=True)


def downgrade():
    _rewrite_notifications(to_group=False)
    op.drop_index("uq_transfers_number", table_name="transfers")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_transfers_number_seq"), type_="check")
        batch_op.drop_column("number_seq")
        batch_op.drop_column("number_fiscal_year")
