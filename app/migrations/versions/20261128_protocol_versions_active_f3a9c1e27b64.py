"""protocol versions: the active one is explicit

New subjects are enrolled on the study's active version, which an admin chooses
(``followup protocol activate``) instead of it being whichever was loaded last. Until
this revision the newest version was the one in use, so it becomes the active one.

Revision ID: f3a9c1e27b64
Revises: e5a2c8d17f40
Create Date: 2026-11-28 14:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'f3a9c1e27b64'
down_revision: str | None = 'e5a2c8d17f40'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("protocol_versions") as batch:
        batch.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        "UPDATE protocol_versions SET active = TRUE WHERE id IN"
        " (SELECT MAX(id) FROM protocol_versions GROUP BY study_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("protocol_versions") as batch:
        batch.drop_column("active")
