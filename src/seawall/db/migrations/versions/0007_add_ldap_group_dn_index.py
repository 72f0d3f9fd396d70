"""add a unique index on the DN of LDAP groups

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LDAP_GROUP = sa.text("group_type = 1")


def upgrade() -> None:
    # Before this index, two requests at once could add LDAP groups with
    # the same DN. Such pairs are named rather than merged, because each
    # may hold its own project memberships.
    duplicates = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT ldap_group_dn, COUNT(*) FROM user_groups "
                "WHERE group_type = 1 GROUP BY ldap_group_dn HAVING COUNT(*) > 1"
            )
        )
        .all()
    )
    if duplicates:
        names = ", ".join(f"{dn} ({count} groups)" for dn, count in duplicates)
        raise RuntimeError(
            f"LDAP groups share a DN: {names}; delete all but one group per DN "
            "through /api/v2.0/usergroups, then run seawall migrate again"
        )
    op.create_index(
        "ix_user_groups_ldap_dn",
        "user_groups",
        ["ldap_group_dn"],
        unique=True,
        sqlite_where=LDAP_GROUP,
        postgresql_where=LDAP_GROUP,
    )


def downgrade() -> None:
    op.drop_index("ix_user_groups_ldap_dn", table_name="user_groups")
