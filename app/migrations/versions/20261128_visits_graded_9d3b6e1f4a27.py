"""visits: graded, false for a visit the protocol gives no window

A visit declared with ``window: none`` is never graded early or late: its stored window
is the span it is due (from its target to its horizon), and completing it on any date is
``completed``. Every visit stored before this revision had a window, so it is graded.

Revision ID: 9d3b6e1f4a27
Revises: 440270815aeb
Create Date: 2026-11-28 15:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9d3b6e1f4a27'
down_revision: str | None = '440270815aeb'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.add_column(
            sa.Column("graded", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("graded")
