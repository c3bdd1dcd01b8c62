"""SAS transport (XPORT version 5) files of the SDTM export, written by pyreadstat.

XPORT v5 is what regulators take (FDA's Study Data Technical Conformance Guide): names
of 8 characters at most, labels of 40, character values of 200 bytes (longer text is
cut at 200 bytes of UTF-8; text beyond ASCII is written as UTF-8, which a regulator's
ASCII-only rule would refuse: the protocol's names are the sponsor's). pyreadstat writes
a whole table from a pandas DataFrame to a file, so a :class:`Table` holds its values
(column by column) until it is written; the file is then read back in pieces into the
archive and removed.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd
import pyreadstat

PIECE = 64 * 1024
MAX_BYTES = 200  # XPORT v5: a character value holds at most 200 bytes
Value = str | float | int | None


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # at most 8 characters
    label: str  # at most 40
    numeric: bool = False


SV_COLUMNS = (
    Column("STUDYID", "Study Identifier"),
    Column("DOMAIN", "Domain Abbreviation"),
    Column("USUBJID", "Unique Subject Identifier"),
    Column("VISITNUM", "Visit Number", numeric=True),
    Column("VISIT", "Visit Name"),
    Column("VISITDY", "Planned Study Day of Visit", numeric=True),
    Column("EPOCH", "Epoch"),
    Column("SVSTDTC", "Start Date/Time of Visit"),
    Column("SVENDTC", "End Date/Time of Visit"),
    Column("SVSTDY", "Study Day of Start of Visit", numeric=True),
    Column("SVENDY", "Study Day of End of Visit", numeric=True),
    Column("SVUPDES", "Description of Unplanned Visit"),
)
TV_COLUMNS = (
    Column("STUDYID", "Study Identifier"),
    Column("DOMAIN", "Domain Abbreviation"),
    Column("VISITNUM", "Visit Number", numeric=True),
    Column("VISIT", "Visit Name"),
    Column("VISITDY", "Planned Study Day of Visit", numeric=True),
    Column("ARMCD", "Planned Arm Code"),
    Column("ARM", "Description of Planned Arm"),
    Column("TVSTRL", "Visit Start Rule"),
    Column("TVENRL", "Visit End Rule"),
)


@dataclass(slots=True)
class Table:
    """A domain's values, column by column, until its file is written."""

    name: str  # the dataset name (SV, TV)
    label: str
    columns: Sequence[Column]
    values: list[list[Value]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.values = [[] for _ in self.columns]

    def extend(self, rows: Sequence[Sequence[Value]]) -> None:
        for row in rows:
            for column, value in zip(self.values, row, strict=True):
                column.append(value)


def _series(column: Column, values: list[Value]) -> pd.Series:
    if column.numeric:  # missing numbers are SAS missing values
        return pd.Series([math.nan if v is None else float(v) for v in values], dtype="float64")
    return pd.Series(["" if v is None else clip(str(v)) for v in values], dtype="object")


def clip(text: str) -> str:
    """At most 200 bytes of UTF-8, never half a character."""
    return text.encode("utf-8")[:MAX_BYTES].decode("utf-8", errors="ignore")


def frame(table: Table) -> pd.DataFrame:
    return pd.DataFrame({c.name: _series(c, v) for c, v in zip(table.columns, table.values,
                                                                strict=True)})


def xpt_pieces(table: Table) -> Iterator[bytes]:
    """The table as an XPORT v5 file, piece by piece."""
    handle, path = tempfile.mkstemp(suffix=".xpt")
    os.close(handle)
    try:
        pyreadstat.write_xport(
            frame(table), path, file_label=table.label, table_name=table.name,
            column_labels=[c.label for c in table.columns], file_format_version=5,
        )
        table.values = [[] for _ in table.columns]  # written: the values may go
        with open(path, "rb") as file:
            while piece := file.read(PIECE):
                yield piece
    finally:
        os.unlink(path)
