"""web_sessions: id_token, the single sign-on's ID token, for signing out at the provider

A session started by single sign-on keeps the provider's ID token until it ends, to hand
it back (``id_token_hint``) when the person signs out and is sent to the provider's
``end_session_endpoint`` (OpenID Connect RP-Initiated Logout). Sessions started before
this revision have none: signing out of them ends the local session only.

Revision ID: 3b7d9e2f6a15
Revises: 8c3e5f1a2d47
Create Date: 2026-11-28 20:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3b7d9e2f6a15'
down_revision: str | None = '8c3e5f1a2d47'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("id_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("id_token")
