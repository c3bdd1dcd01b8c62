"""digest messages recorded one by one

Each message of a site's digest that the SMTP server accepted is recorded as soon as
it is accepted, so that a retry after a failure later in the same connection (another
message refused, the connection dropped, QUIT answered with an error) sends only the
messages not yet accepted. ``digest_sends.state`` gains the value "partial" (a
String(10) already: no change to the column).

Revision ID: 314c0af01e72
Revises: a740b1c3b37b
Create Date: 2026-11-28 08:06:11.259879
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "314c0af01e72"
down_revision: str | None = "a740b1c3b37b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("study_code", sa.String(length=40), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("accepted_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["send_id"],
            ["digest_sends.id"],
            name=op.f("fk_digest_messages_send_id_digest_sends"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_messages")),
    )
    with op.batch_alter_table("digest_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_messages_send_id"), ["send_id"], unique=False)


def downgrade() -> None:
    # A "partial" row stays: the older code takes it over like any unsent claim and
    # sends the whole digest again (its rule: one extra email rather than a missing one).
    with op.batch_alter_table("digest_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_messages_send_id"))

    op.drop_table("digest_messages")
