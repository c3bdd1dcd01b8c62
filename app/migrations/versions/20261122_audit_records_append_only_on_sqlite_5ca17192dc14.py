"""audit records append-only on sqlite

PostgreSQL refuses UPDATE and DELETE on audit_records since the initial schema; this
gives SQLite the same guarantee, so a stray statement fails on both databases.

Revision ID: 5ca17192dc14
Revises: dd453a416f9d
Create Date: 2026-11-22 01:53:14.236786
"""
from collections.abc import Sequence

from alembic import op

revision: str = '5ca17192dc14'
down_revision: str | None = 'dd453a416f9d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPERATIONS = ("UPDATE", "DELETE")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for operation in OPERATIONS:
        op.execute(
            f"CREATE TRIGGER audit_records_no_{operation.lower()} BEFORE {operation}"
            " ON audit_records BEGIN"
            f" SELECT RAISE(ABORT, 'audit_records is append-only: {operation} refused');"
            " END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for operation in OPERATIONS:
        op.execute(f"DROP TRIGGER IF EXISTS audit_records_no_{operation.lower()}")
