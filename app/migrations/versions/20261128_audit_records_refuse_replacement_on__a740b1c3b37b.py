"""audit records refuse replacement on sqlite

SQLite's REPLACE conflict resolution (``INSERT OR REPLACE``, ``REPLACE INTO``) deletes
the conflicting row without firing DELETE triggers, so the append-only triggers alone
let a record be rewritten. An insert that names the id of an existing record is now
refused before the conflict is resolved. PostgreSQL has no REPLACE, and its upsert
(``ON CONFLICT DO UPDATE``) fires the UPDATE trigger of the initial schema.

Revision ID: a740b1c3b37b
Revises: a33d93d8fbe6
Create Date: 2026-11-28 07:45:03.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = 'a740b1c3b37b'
down_revision: str | None = 'a33d93d8fbe6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TRIGGER audit_records_no_replace BEFORE INSERT ON audit_records"
        " WHEN EXISTS (SELECT 1 FROM audit_records WHERE id = NEW.id) BEGIN"
        " SELECT RAISE(ABORT, 'audit_records is append-only: replacing a record refused');"
        " END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_records_no_replace")
