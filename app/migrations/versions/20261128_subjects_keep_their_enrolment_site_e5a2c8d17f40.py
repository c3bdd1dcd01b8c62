"""subjects keep their enrolment site

A subject may be transferred to another site from a date. ``subjects.site_id`` is the
site after the latest transfer; the site at any date follows from the enrolment site
and the transfer events, so the enrolment site is kept beside it. Every subject
enrolled so far is still at its enrolment site (no transfer could be recorded before
this revision), so the backfill copies ``site_id``.

Revision ID: e5a2c8d17f40
Revises: c4e1d7a9b2f3
Create Date: 2026-11-28 11:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e5a2c8d17f40'
down_revision: str | None = 'c4e1d7a9b2f3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("enrolled_site_id", sa.Integer(), nullable=True))
    op.execute("UPDATE subjects SET enrolled_site_id = site_id")
    with op.batch_alter_table("subjects") as batch:
        batch.alter_column("enrolled_site_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            "fk_subjects_enrolled_site_id_sites", "sites", ["enrolled_site_id"], ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.drop_constraint("fk_subjects_enrolled_site_id_sites", type_="foreignkey")
        batch.drop_column("enrolled_site_id")
