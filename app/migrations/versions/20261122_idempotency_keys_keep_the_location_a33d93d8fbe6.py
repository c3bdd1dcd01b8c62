"""idempotency keys keep the location header

A replayed 201 answers with the same Location as the first response, so a client that
retried after a lost response still learns where the created resource lives.

Revision ID: a33d93d8fbe6
Revises: 5ca17192dc14
Create Date: 2026-11-22 04:46:28.489135
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a33d93d8fbe6'
down_revision: str | None = '5ca17192dc14'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("location", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("location")
