"""Engine, declarative base and the one-transaction session helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC timestamps on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


WRITE_OPTION = "followup_writes"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# How long a connection waits for another writer's lock (SQLite's busy timeout) unless
# told otherwise. The server passes DB_LOCK_TIMEOUT_SECONDS (shorter); commands wait longer.
DEFAULT_LOCK_TIMEOUT = 30.0


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    echo: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    pool_timeout: float = 30.0,
) -> Engine:
    """Build an engine. SQLite gets WAL, foreign keys, a busy timeout and real SAVEPOINTs.

    ``lock_timeout`` bounds how long SQLite waits for another writer (then "database is
    locked"); ``pool_timeout`` how long a checkout waits for a pooled connection to come
    free.
    """
    if is_sqlite(url):
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": lock_timeout}
        }
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow,
                          pool_timeout=pool_timeout)
        engine = create_engine(url, echo=echo, **kwargs)
        _sqlite_pragmas(engine, lock_timeout)
        return engine
    return create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True,
        pool_timeout=pool_timeout,
    )


def _sqlite_pragmas(engine: Engine, lock_timeout: float) -> None:
    busy_ms = max(1, round(lock_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writing unit of work takes the write lock up front (IMMEDIATE), so two
        # writers queue on the busy timeout instead of one failing with "database is
        # locked" halfway through; a writer that waits longer than the busy timeout
        # fails here, before it has done anything. Readers begin DEFERRED and never
        # block in WAL mode.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def begin_writing(session: Session) -> None:
    """Start the session's transaction as a writer (see ``_sqlite_pragmas``)."""
    session.connection(execution_options={WRITE_OPTION: True})


@contextmanager
def transaction(factory: sessionmaker[Session], *, write: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session:
        if write:
            begin_writing(session)
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()

