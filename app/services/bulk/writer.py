"""Write many rows of one table fast: driver-level executemany (COPY on PostgreSQL).

The bulk paths (CSV import, batch API, demo data) write hundreds of thousands of rows.
SQLAlchemy Core spends more time processing each row's parameters than the database
spends storing it, and ORM objects cost ten times more again, so rows here are plain
tuples handed to the driver. Values are converted with the column types' own bind
processors (the ones Core would apply), looked up once per table: what lands in the
database is exactly what an ORM insert would have written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, Table

Processor = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str:
    return json.dumps(value)  # SQLAlchemy's default JSON serialiser


class RowWriter:
    """Inserts tuples whose values follow ``columns`` into ``table`` on ``connection``.

    ``connection`` is the session's connection, so the rows join its transaction.
    """

    def __init__(self, connection: Connection, table: Table, columns: Sequence[str]) -> None:
        dialect = connection.dialect
        self.connection = connection
        self.table = table
        self.columns = tuple(columns)
        self.use_copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self._processors: list[tuple[int, Processor]] = []
        for i, name in enumerate(self.columns):
            column = table.c[name]
            # The drivers store Python booleans correctly; skipping their processor
            # saves a call per value.
            if isinstance(column.type, Boolean):
                continue
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if self.use_copy and isinstance(column.type, JSON):
                # COPY takes JSON as text: serialise it once here (and once per
                # distinct value where callers cache), not again in the driver per row.
                processor = _json_text
            if processor is not None:
                self._processors.append((i, processor))
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in self.columns)
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._insert_sql = (
            f"INSERT INTO {quote(table.name)} ({names}) "
            f"VALUES ({', '.join([mark] * len(self.columns))})"
        )
        self._copy_sql = f"COPY {quote(table.name)} ({names}) FROM STDIN"
        self.rows_written = 0

    def processor(self, name: str) -> Processor:
        """The conversion of one column's non-null values (identity when none is needed),
        for callers that convert repeated values once and write with ``adapted=True``."""
        index = self.columns.index(name)
        return next((p for i, p in self._processors if i == index), _identity)

    def adapt(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """The row as the driver wants it (dates as text on SQLite, JSON serialised...)."""
        if not self._processors:
            return tuple(row)
        values = list(row)
        for i, processor in self._processors:
            value = values[i]
            if value is not None:
                values[i] = processor(value)
        return tuple(values)

    def write(self, rows: Iterable[Sequence[Any]], *, adapted: bool = False) -> int:
        """Insert the rows; ``adapted`` says they already went through :meth:`adapt`."""
        batch = [tuple(r) for r in rows] if adapted else [self.adapt(r) for r in rows]
        if not batch:
            return 0
        if self.use_copy:
            self._copy(batch)
        else:
            self.connection.exec_driver_sql(self._insert_sql, batch)
        self.rows_written += len(batch)
        return len(batch)

    def _copy(self, batch: list[tuple[Any, ...]]) -> None:
        # COPY is 4x faster than executemany on PostgreSQL; it runs on the same DBAPI
        # connection, hence inside the same transaction.
        driver = self.connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(self._copy_sql) as copy:
            for row in batch:
                copy.write_row(row)
