"""visits: after_leaving, true for a visit of a phase the end of follow-up opens

A phase opened by a withdrawal or by the completion of the study (an early-termination
or end-of-study visit) is due after the subject left. The worklist's default view (the
subjects still on study) shows these visits too, which it can only tell from the row.
No visit stored before this revision belongs to such a phase: the language could not
declare one.

Revision ID: 6f2d8a4c1e93
Revises: 7e41c0b9d2a5
Create Date: 2026-11-28 17:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '6f2d8a4c1e93'
down_revision: str | None = '7e41c0b9d2a5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.add_column(
            sa.Column("after_leaving", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("after_leaving")
