"""One line saying what went wrong with the database (or its migrations) under a command.

Imported only once a command has failed: it loads SQLAlchemy and Alembic, which
`followup --help` must not.
"""

from __future__ import annotations

from pathlib import Path

from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from app import migrate

# SQLSTATEs of PostgreSQL that mean the schema is not the one the code expects.
UNDEFINED_TABLE, UNDEFINED_COLUMN = "42P01", "42703"
READ_ONLY_TRANSACTION = "25006"
UPGRADE = "run followup db upgrade"


def shown_url(url: str) -> str:
    """The URL as it may be printed: never with its password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "DATABASE_URL"  # unparseable: it could be anything, a password included
    # As written when there is no password to hide (rendering would re-escape it).
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def describe_failure(exc: BaseException, *, database_url: str | None) -> str | None:
    """The one line (without "error: ") for a database or migration error; None for others."""
    if isinstance(exc, CommandError):  # Alembic: e.g. an unknown --revision
        return f"migrations: {_first_line(str(exc))}"
    if not isinstance(exc, SQLAlchemyError):
        return None
    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return f"DATABASE_URL is not a database URL this service can use: {_first_line(str(exc))}"
    where = shown_url(database_url) if database_url else "DATABASE_URL"
    if not isinstance(exc, DBAPIError):
        return f"database error at {where}: {_hide(_first_line(str(exc)), database_url)}"
    reason = _hide(_first_line(str(exc.orig)), database_url)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if "readonly database" in reason or sqlstate == READ_ONLY_TRANSACTION:
        return f"the database at {where} is read-only: {reason}"
    if exc.statement is None:  # no statement ran: connecting failed
        return f"cannot reach the database at {where}: {_connect_reason(reason, database_url)}"
    missing = sqlstate in (UNDEFINED_TABLE, UNDEFINED_COLUMN) or reason.startswith(
        ("no such table", "no such column")
    )
    if missing and database_url:
        problem = _migration_problem(database_url)
        if problem:
            return problem
    return f"database error at {where}: {reason}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else "unknown error"


def _hide(text: str, database_url: str | None) -> str:
    """Drivers do not echo passwords, but a message must never carry one."""
    if database_url:
        try:
            password = make_url(database_url).password
        except ArgumentError:
            password = None
        if password:
            text = text.replace(str(password), "***")
    return text


def _connect_reason(reason: str, database_url: str | None) -> str:
    """psycopg's 'connection failed: connection to server at "h", port 1 failed: Connection
    refused' becomes 'connection refused'; SQLite's "unable to open database file" names
    the directory when that is missing."""
    if "failed: " in reason:
        reason = reason.rsplit("failed: ", 1)[1]
    reason = reason.removeprefix("FATAL:").strip()
    if reason[:1].isupper() and reason[1:2].islower():
        reason = reason[0].lower() + reason[1:]
    if reason == "unable to open database file" and database_url:
        path = _sqlite_path(database_url)
        if path is not None and not path.parent.is_dir():
            return f"{reason} (the directory {path.parent} does not exist)"
    return reason


def _sqlite_path(database_url: str) -> Path | None:
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    name = url.database.removeprefix("file:") if url.query.get("uri") else url.database
    return None if name == ":memory:" else Path(name)


def _migration_problem(database_url: str) -> str | None:
    """Why the schema is not the code's, as read from the database's Alembic revision."""
    try:
        current = migrate.current_revision(url=database_url)
    except SQLAlchemyError:
        return None
    head = migrate.head_revision()
    if current == head:
        return None
    if current is None:
        return f"the database is not migrated: {UPGRADE}"
    if not migrate.is_known_revision(current):
        return (
            f"the database is at migration {current}, which this version of followup does"
            " not know (was it migrated by a newer one?)"
        )
    return f"the database is not migrated to this version (at {current}, needs {head}): {UPGRADE}"
