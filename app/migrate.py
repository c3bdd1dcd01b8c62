"""Run the Alembic migrations from code (CLI, tests, readiness)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from app.db import make_engine

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(*, url: str | None = None, connection: Connection | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if url is not None:
        config.attributes["url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    *, url: str | None = None, connection: Connection | None = None, revision: str = "head"
) -> None:
    command.upgrade(alembic_config(url=url, connection=connection), revision)


def downgrade(
    *, url: str | None = None, connection: Connection | None = None, revision: str = "base"
) -> None:
    command.downgrade(alembic_config(url=url, connection=connection), revision)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(*, url: str) -> str | None:
    """The revision the database at ``url`` is migrated to (None: never migrated)."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def is_known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this code's migrations."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False
