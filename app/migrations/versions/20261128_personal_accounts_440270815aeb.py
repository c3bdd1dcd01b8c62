"""personal accounts

People sign in with a username and a password (its Argon2id hash is stored in
``users``); failed sign-ins are counted per account and per client address in
``sign_in_throttles``. A personal API token (``api_tokens.user_id``) acts as its user.
A browser session signs in with a token or a user (``web_sessions.token_id`` becomes
optional beside ``user_id``). Audit records name the person and the token a change came
through in three new columns; the records before this revision keep their meaning (the
token's name in ``actor``) and are not touched: they are append-only.

Revision ID: 440270815aeb
Revises: f3a9c1e27b64
Create Date: 2026-11-28 13:45:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '440270815aeb'
down_revision: str | None = 'f3a9c1e27b64'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("studies", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "sign_in_throttles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_throttles")),
        sa.UniqueConstraint("key", name=op.f("uq_sign_in_throttles_key")),
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_api_tokens_user_id"), ["user_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_api_tokens_user_id_users"), "users", ["user_id"], ["id"],
            ondelete="RESTRICT",
        )
    with op.batch_alter_table("web_sessions") as batch:
        batch.alter_column("token_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_web_sessions_user_id"), ["user_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_web_sessions_user_id_users"), "users", ["user_id"], ["id"],
            ondelete="CASCADE",
        )
    # Plain ADD COLUMN, never a batch: rebuilding audit_records on SQLite would drop its
    # append-only triggers.
    op.add_column("audit_records", sa.Column("user_name", sa.String(length=60), nullable=True))
    op.add_column("audit_records",
                  sa.Column("user_display_name", sa.String(length=200), nullable=True))
    op.add_column("audit_records", sa.Column("token_name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_records", "token_name")
    op.drop_column("audit_records", "user_display_name")
    op.drop_column("audit_records", "user_name")
    # Without users, a personal token would act with whatever role its row names: gone.
    op.execute("DELETE FROM web_sessions WHERE token_id IS NULL OR token_id IN"
               " (SELECT id FROM api_tokens WHERE user_id IS NOT NULL)")
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_constraint(batch.f("fk_web_sessions_user_id_users"), type_="foreignkey")
        batch.drop_index(batch.f("ix_web_sessions_user_id"))
        batch.drop_column("user_id")
        batch.alter_column("token_id", existing_type=sa.Integer(), nullable=False)
    op.execute("DELETE FROM api_tokens WHERE user_id IS NOT NULL")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint(batch.f("fk_api_tokens_user_id_users"), type_="foreignkey")
        batch.drop_index(batch.f("ix_api_tokens_user_id"))
        batch.drop_column("user_id")
    op.drop_table("sign_in_throttles")
    op.drop_table("users")
