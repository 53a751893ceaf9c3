"""Hardening: prefecture officials belong to a prefecture, not a center.

A ``prefecture`` account used to carry the ``center_id`` of the center it was created in (by that
center's admin), so the contractor minted the official who confirms its own figures, and on
Hokkaido one center's account saw the other's.  From here on the account stores the prefecture
(``prefecture_code``, JIS X 0401) and no center: it is outside every center's account scope
(the RLS policy ``accounts`` matches ``center_id`` to the tenant, so a row without one is read
only through the account lookup, as the association's are), outside center user management,
handover and export.

Existing prefecture accounts get the prefecture of their center and lose the center link.  Their
past audit entries stay where they were written (the center's chain): nothing in a chain is
changed, so every chain still verifies.

Runs as the schema owner (BYPASSRLS, see README), which sees every account.

Revision ID: h4rden0003
Revises: h4rden0002
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "h4rden0003"
down_revision = "h4rden0002"
branch_labels = None
depends_on = None

OLD_CENTER_CHECK = "(role IN ('staff','center_admin','prefecture')) = (center_id IS NOT NULL)"
NEW_CENTER_CHECK = "(role IN ('staff','center_admin')) = (center_id IS NOT NULL)"
PREFECTURE_CHECK = "(role = 'prefecture') = (prefecture_code IS NOT NULL)"
PREFECTURE_CODE_CHECK = "prefecture_code IS NULL OR (prefecture_code >= '01' AND prefecture_code <= '47')"


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prefecture_code", sa.String(length=2), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_users_center_matches_role"), type_="check")
    op.execute(
        "UPDATE users SET prefecture_code = "
        "(SELECT centers.prefecture_code FROM centers WHERE centers.id = users.center_id), center_id = NULL "
        "WHERE role = 'prefecture'"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f("ck_users_center_matches_role"), NEW_CENTER_CHECK)
        batch_op.create_check_constraint(batch_op.f("ck_users_prefecture_matches_role"), PREFECTURE_CHECK)
        batch_op.create_check_constraint(batch_op.f("ck_users_prefecture_code"), PREFECTURE_CODE_CHECK)


def downgrade():
    """Back to the old shape: each prefecture account is tied to the first center (by code) of
    its prefecture (Hokkaido's official to hokkaido-1), as the old schema requires a center."""
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_users_prefecture_code"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_users_prefecture_matches_role"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_users_center_matches_role"), type_="check")
    op.execute(
        "UPDATE users SET center_id = (SELECT c.id FROM centers c WHERE c.prefecture_code = users.prefecture_code "
        "ORDER BY c.code LIMIT 1) WHERE role = 'prefecture'"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f("ck_users_center_matches_role"), OLD_CENTER_CHECK)
        batch_op.drop_column("prefecture_code")
