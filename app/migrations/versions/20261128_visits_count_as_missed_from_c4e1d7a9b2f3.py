"""visits count as missed from a date

The engine derives the date from which a visit still to do counts as missed (a later
visit of its schedule was done, the protocol's grace period passed, the subject left
after its window closed). It is stored beside the window so the worklist and the digest
say "missed, not documented" in SQL, with a partial index for that class. Existing rows
get the date the next time their subject changes, or at once with
``followup subjects resync``.

Revision ID: c4e1d7a9b2f3
Revises: b72c201ca6c7
Create Date: 2026-11-28 10:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c4e1d7a9b2f3'
down_revision: str | None = 'b72c201ca6c7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "state = 'planned' AND missed_from IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.add_column(sa.Column("missed_from", sa.Date(), nullable=True))
    op.create_index(
        "ix_visits_open_site_missed_from", "visits", ["site_id", "missed_from"],
        postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_visits_open_site_missed_from", table_name="visits")
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("missed_from")
