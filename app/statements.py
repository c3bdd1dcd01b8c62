"""Statements of the EDC's hot path, run on the driver's cursor.

Recording a visit runs the same five statements every time, each short. SQLAlchemy's
execution of a Core statement costs several times the driver's own work for such a
statement (it looks the compiled form up in its cache, builds the parameters, runs the
execution events and wraps every row), and that, not the database, was the largest part
of a completion after the route's own rules. A :class:`Prepared` statement is compiled
once per dialect instead; each run binds its values through the type processors
SQLAlchemy itself would use (dates as text on SQLite, JSON, aware timestamps), fills the
columns' Python-side defaults as SQLAlchemy would (``updated_at``, an audit record's
``at``), and executes on the cursor of the session's connection, inside the session's
transaction.

What stays the same as SQLAlchemy's own execution:

- a driver error is raised as :class:`sqlalchemy.exc.DBAPIError` (the statement's shape
  only, never its values), and a connection found lost is invalidated, so the edges map
  both exactly as they map any other statement's failure (:func:`app.db.outage_of`);
- listeners of ``before_cursor_execute`` and ``after_cursor_execute`` see the statement
  (those that count or record statements; ``context`` is None).

Not the same: such a statement is not echoed by ``echo=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.schema import Column

from app.db import tersen

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Default:
    """A column's Python-side default (or ``onupdate``) value, made at each execution."""

    name: str
    make: Callable[[], Any]


@dataclass(slots=True)
class _Compiled:
    """A statement compiled for one dialect, with what each run needs to bind and read."""

    sql: str
    names: tuple[str, ...]  # the bound parameters, in the statement's order
    positional: bool
    binds: tuple[Processor | None, ...]  # per name
    defaults: tuple[_Default, ...]
    fixed: dict[str, Any]  # the values the statement carries itself, by name
    columns: tuple[Any, ...]  # the result columns' types (empty: no rows)
    results: tuple[Processor | None, ...] | None = None  # per column, set at the first read


def _default_of(column: Column[Any], *, update: bool) -> _Default:
    default = column.onupdate if update else column.default
    arg = getattr(default, "arg", None)
    if getattr(default, "is_callable", False) and callable(arg):
        return _Default(column.key, lambda: arg(None))  # SQLAlchemy's form: f(context)
    if getattr(default, "is_scalar", False):
        return _Default(column.key, lambda: arg)
    raise TypeError(f"column {column.key}: only Python defaults can be filled here")


def _compile(statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys) or None)
    assert isinstance(compiled, SQLCompiler)
    if compiled.escaped_bind_names or any(b.expanding for b in compiled.binds.values()):
        raise TypeError("a prepared statement binds plain names, one value each")
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    positional = compiled.positiontup is not None
    names = tuple(compiled.positiontup) if compiled.positiontup is not None \
        else tuple(by_name)
    binds = tuple(by_name[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
    defaults = tuple(
        [_default_of(c, update=False) for c in compiled.insert_prefetch]
        + [_default_of(c, update=True) for c in compiled.update_prefetch])
    filled = {d.name for d in defaults}
    # Values written into the statement itself (``Visit.state == "planned"``).
    fixed = {n: by_name[n].effective_value for n in names
             if not by_name[n].required and n not in filled}
    selected = getattr(statement, "selected_columns", None)
    columns = tuple(c.type for c in selected) if selected is not None else ()
    return _Compiled(compiled.string, names, positional, binds, defaults, fixed, columns)


class Prepared:
    """A Core statement run on the session connection's cursor (see the module's doc).

    ``keys``: for an INSERT, the columns the parameters carry (the others get their
    defaults). Parameters are plain names, one value each; rows come back as tuples.
    """

    __slots__ = ("_statement", "_keys", "_by_dialect")

    def __init__(self, statement: ClauseElement, *, keys: Sequence[str] = ()) -> None:
        self._statement = statement
        self._keys = tuple(keys)
        self._by_dialect: dict[tuple[str, str, str], _Compiled] = {}

    @property
    def statement(self) -> ClauseElement:
        return self._statement

    def _for(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        compiled = self._by_dialect.get(key)
        if compiled is None:
            compiled = self._by_dialect[key] = _compile(self._statement, dialect, self._keys)
        return compiled

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row the statement answers, each a tuple of processed values."""
        return list(self._run(session, params))

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row, or None."""
        return next(self._run(session, params, one=True), None)

    def execute(self, session: Session, params: Mapping[str, Any]) -> None:
        """Run a statement that answers no rows."""
        connection = session.connection()
        compiled = self._for(connection.dialect)
        _execute(connection, compiled, _bind(compiled, params), many=False, read=False)

    def execute_many(self, session: Session, params: Sequence[Mapping[str, Any]]) -> None:
        """Run a statement that answers no rows once for each set of parameters."""
        connection = session.connection()
        compiled = self._for(connection.dialect)
        bound = [_bind(compiled, p) for p in params]
        _execute(connection, compiled, bound, many=True, read=False)

    def _run(self, session: Session, params: Mapping[str, Any], *,
             one: bool = False) -> Iterator[tuple[Any, ...]]:
        connection = session.connection()
        compiled = self._for(connection.dialect)
        rows = _execute(connection, compiled, _bind(compiled, params), many=False,
                        read=bool(compiled.columns), one=one)
        if not rows:
            return iter(())
        results = compiled.results
        assert results is not None
        if not any(results):
            return iter(rows)
        return (tuple(v if p is None or v is None else p(v)
                      for p, v in zip(results, row, strict=True)) for row in rows)


def _bind(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    if compiled.defaults or compiled.fixed:
        params = {**compiled.fixed,
                  **{d.name: d.make() for d in compiled.defaults if d.name not in params},
                  **params}
    values = [params[n] if p is None else p(params[n])
              for n, p in zip(compiled.names, compiled.binds, strict=True)]
    return tuple(values) if compiled.positional else dict(zip(compiled.names, values,
                                                               strict=True))


def _execute(connection: Connection, compiled: _Compiled, bound: Any, *, many: bool,
             read: bool, one: bool = False) -> Sequence[Any]:
    dispatch = connection.dispatch
    watched = bool(dispatch.before_cursor_execute) or bool(dispatch.after_cursor_execute)
    pooled = connection.connection
    cursor = pooled.cursor()
    sql = compiled.sql
    try:
        if watched:
            dispatch.before_cursor_execute(connection, cursor, sql, bound, None, many)
        if many:
            cursor.executemany(sql, bound)
        else:
            cursor.execute(sql, bound)
        if watched:
            dispatch.after_cursor_execute(connection, cursor, sql, bound, None, many)
        rows: Sequence[Any] = []
        if read:
            if compiled.results is None:
                compiled.results = _result_processors(connection.dialect, compiled,
                                                      cursor.description)
            if one:
                row = cursor.fetchone()
                rows = [] if row is None else [row]
            else:
                rows = cursor.fetchall()
        return rows
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, error, cursor, sql) from error
    finally:
        cursor.close()


def _result_processors(dialect: Dialect, compiled: _Compiled,
                       description: Any) -> tuple[Processor | None, ...]:
    return tuple(kind.dialect_impl(dialect).result_processor(dialect, column[1])
                 for kind, column in zip(compiled.columns, description, strict=True))


def _wrapped(connection: Connection, error: Any, cursor: Any, sql: str) -> Exception:
    """The driver's error as SQLAlchemy raises it from its own execution."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    wrapped: Exception = sa_exc.DBAPIError.instance(
        sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True,
        connection_invalidated=lost, dialect=dialect)
    tersen(error, wrapped)
    if lost:
        connection.invalidate(error)
    return wrapped
