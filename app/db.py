"""Engine, declarative base and the one-transaction session helpers."""

from __future__ import annotations

import enum
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
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
# How long connecting to PostgreSQL may take, in whole seconds (libpq's connect_timeout,
# at least 2), unless told otherwise (DB_CONNECT_TIMEOUT_SECONDS): a server that is down
# behind a firewall that drops packets, or one that accepts and never answers, fails a
# request or a command in this time instead of the driver's two minutes or more.
DEFAULT_CONNECT_TIMEOUT = 5


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    echo: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    pool_timeout: float = 30.0,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
) -> Engine:
    """Build an engine. SQLite gets WAL, foreign keys, a busy timeout and real SAVEPOINTs.

    A failed statement is reported (in its exception, so in every log) by its shape
    only: never the values of its parameters (they may be personal data), nor the
    values PostgreSQL quotes back in its error messages (see :func:`_terse_errors`).

    ``lock_timeout`` bounds how long SQLite waits for another writer (then "database is
    locked", see :func:`outage_of`); ``pool_timeout`` how long a checkout waits for a
    pooled connection to come free; ``connect_timeout`` how long a new PostgreSQL
    connection may take (a ``connect_timeout`` in the URL's query wins).
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
        engine = create_engine(url, echo=echo, hide_parameters=True, **kwargs)
        _sqlite_pragmas(engine, lock_timeout)
        return engine
    connect_args = {} if "connect_timeout" in make_url(url).query else {
        "connect_timeout": connect_timeout
    }
    engine = create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True,
        pool_timeout=pool_timeout, hide_parameters=True, connect_args=connect_args,
    )
    _terse_errors(engine)
    return engine


# In a data exception (SQLSTATE class 22) PostgreSQL quotes the input it refused:
# 'invalid input syntax for type date: "..."'.
_QUOTED = re.compile(r'".*"', re.DOTALL)


def terse_message(sqlstate: str | None, primary: str) -> str:
    """A PostgreSQL error message without the values it may quote.

    >>> terse_message("22007", 'invalid input syntax for type date: "1980-05-O1"')
    'invalid input syntax for type date: "..."'
    >>> terse_message("23505", 'duplicate key value violates unique constraint "uq_x"')
    'duplicate key value violates unique constraint "uq_x"'
    """
    return _QUOTED.sub('"..."', primary) if (sqlstate or "").startswith("22") else primary


def _terse_errors(engine: Engine) -> None:
    """PostgreSQL errors keep their first line only (what libpq calls terse).

    The lines after it repeat data: DETAIL names the values of the failing row ("Key
    (subject_id)=(YC3H-001) already exists", "Failing row contains (...)"), CONTEXT
    may show a parameter. They stay readable in ``exc.orig.diag``; the messages that
    end up in logs lose them.
    """

    @event.listens_for(engine, "handle_error")
    def _terse(context: ExceptionContext) -> None:
        tersen(context.original_exception, context.sqlalchemy_exception)


def tersen(original: BaseException, wrapped: BaseException | None) -> None:
    """Cut a PostgreSQL error (and SQLAlchemy's exception wrapping it) to its first
    line, without the values it may quote (see :func:`_terse_errors`)."""
    diag = getattr(original, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not isinstance(primary, str):
        return
    full, short = str(original), terse_message(getattr(diag, "sqlstate", None), primary)
    if full == short:
        return
    original.args = (short,)
    if wrapped is not None and wrapped.args and isinstance(wrapped.args[0], str):
        wrapped.args = (wrapped.args[0].replace(full, short), *wrapped.args[1:])


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


def writing(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions like ``factory``'s whose transaction begins as a writer at its first
    statement (``BEGIN IMMEDIATE`` on SQLite, see ``_sqlite_pragmas``), with no statement
    of their own: their engine carries the option (it shares the original's pool)."""
    bind = factory.kw["bind"]
    return sessionmaker(**{**factory.kw, "bind": bind.execution_options(**{WRITE_OPTION: True})})


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


class Outage(enum.Enum):
    """Why the database cannot serve a request right now (see :func:`outage_of`)."""

    BUSY = "busy"  # another writer held the lock longer than the lock timeout
    UNAVAILABLE = "unavailable"  # no connection: refused, lost, or none came free in time


# SQLite's primary result codes for "another connection holds the lock".
_SQLITE_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
# PostgreSQL's SQLSTATEs of a server that is going away or refuses connections: class 08
# (connection exception), admin or crash shutdown, not accepting connections yet, and
# too many connections.
_PG_GONE = frozenset({"57P01", "57P02", "57P03", "53300"})
_PG_LOCK_NOT_AVAILABLE = "55P03"


def outage_of(exc: BaseException) -> Outage | None:
    """Whether ``exc`` says the database is busy or out of reach, rather than that the
    statement was wrong (integrity, data and programming errors are not outages)."""
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return Outage.UNAVAILABLE  # the pool gave up waiting; a connection was dropped
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    if exc.connection_invalidated:  # SQLAlchemy saw the connection die under it
        return Outage.UNAVAILABLE
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if isinstance(code, int):
            return Outage.BUSY if code & 0xFF in _SQLITE_BUSY_CODES else None
        return Outage.BUSY if "database is locked" in str(orig) else None
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        # psycopg: no SQLSTATE means the client side failed (cannot connect, connection
        # lost); with one, only the connection classes count, and a lock wait cut short
        # by the server's lock_timeout is the busy case.
        sqlstate = getattr(orig, "sqlstate", "")
        if sqlstate == _PG_LOCK_NOT_AVAILABLE:
            return Outage.BUSY
        if sqlstate is None or (
            isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _PG_GONE)
        ):
            return Outage.UNAVAILABLE
    return None
