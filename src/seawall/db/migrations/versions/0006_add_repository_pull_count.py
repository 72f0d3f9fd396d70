"""add repository pull count

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pull_count", sa.BigInteger(), nullable=False, server_default="0")
        )
    # The server default only filled existing rows; new rows get their value
    # from the application, as the model declares.
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.alter_column("pull_count", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("pull_count")
