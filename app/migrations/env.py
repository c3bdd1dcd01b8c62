"""Alembic environment. The URL is taken, in order, from a connection or URL handed
over by the caller (tests, ``followup db upgrade``), then from DATABASE_URL."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine, event, text

import app.models  # noqa: F401 - registers the tables on the metadata
from app.db import DEFAULT_CONNECT_TIMEOUT, Base, make_engine
from app.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _foreign_keys_off_while_migrating(engine: Engine) -> None:
    """On SQLite a batch migration copies a table, drops the old one and renames the
    copy. With foreign keys enforced, dropping a table that others refer to deletes their
    rows (ON DELETE CASCADE) or fails (RESTRICT), so a downgrade of a table with data
    would lose or refuse it. SQLite's own procedure for such changes: keys off while the
    schema changes, then a check that every key still holds (``_check_foreign_keys``)."""

    @event.listens_for(engine, "connect")
    def _off(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
    if broken:
        tables = ", ".join(sorted({str(row[0]) for row in broken}))
        raise RuntimeError(f"the migration left rows whose foreign keys do not hold: {tables}")


def run_migrations_offline() -> None:
    url = config.attributes.get("url") or get_settings().database_url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.attributes.get("url")
    if url:
        engine = make_engine(url, connect_timeout=config.attributes.get(
            "connect_timeout", DEFAULT_CONNECT_TIMEOUT))
    else:
        settings = get_settings()
        engine = make_engine(settings.database_url,
                             connect_timeout=settings.db_connect_timeout_seconds)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys_off_while_migrating(engine)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                _check_foreign_keys(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
