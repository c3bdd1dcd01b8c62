"""Run the Alembic migrations from code (CLI, tests, readiness).

The migration scripts are part of the package (``app/migrations``), so an installed
wheel migrates without the source tree. ``alembic.ini`` at the repository root points
the ``alembic`` command at the same folder, for developers writing new revisions.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from app.db import DEFAULT_CONNECT_TIMEOUT, make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(
    *, url: str | None = None, connection: Connection | None = None,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> Config:
    # No ini file: the URL comes from the caller or DATABASE_URL (see app/migrations/env.py)
    # and logging is the application's.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.attributes["url"] = url
        config.attributes["connect_timeout"] = connect_timeout
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    *, url: str | None = None, connection: Connection | None = None, revision: str = "head",
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> None:
    config = alembic_config(url=url, connection=connection, connect_timeout=connect_timeout)
    command.upgrade(config, revision)


def downgrade(
    *, url: str | None = None, connection: Connection | None = None, revision: str = "base",
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> None:
    config = alembic_config(url=url, connection=connection, connect_timeout=connect_timeout)
    command.downgrade(config, revision)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(*, url: str, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT) -> str | None:
    """The revision the database at ``url`` is migrated to (None: never migrated)."""
    engine = make_engine(url, pool_size=1, max_overflow=0, connect_timeout=connect_timeout)
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
