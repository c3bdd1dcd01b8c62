"""single sign-on: users' e-mail addresses, sessions that came through it

A user may have an e-mail address (lowercase, unique), which OpenID Connect sign-in can
match the provider's ``email`` claim against. A web session records whether it was
started by single sign-on: such a session used no password, so it is not held to a
pending password change.

Revision ID: 7e41c0b9d2a5
Revises: 9d3b6e1f4a27
Create Date: 2026-11-28 16:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7e41c0b9d2a5'
down_revision: str | None = '9d3b6e1f4a27'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_users_email"), ["email"])
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("single_sign_on", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_column("single_sign_on")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_email"), type_="unique")
        batch_op.drop_column("email")
