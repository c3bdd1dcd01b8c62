"""SAS transport (XPORT version 5) files of the SDTM export, written by pyreadstat a chunk
of rows at a time, so that a domain's size never decides the export's memory.

XPORT v5 is what regulators take (FDA's Study Data Technical Conformance Guide): names
of 8 characters at most, labels of 40, character values of 200 bytes (longer text is
cut at 200 bytes of UTF-8, never inside a character; text beyond ASCII is written as
UTF-8, which a regulator's ASCII-only rule would refuse: the protocol's names are the
sponsor's).

The facts of the format this module relies on (SAS technical support document TS-140,
"The record layout of a data set in SAS transport (XPORT) format"):

- the file is a sequence of 80-byte records: the library header (three records); the
  member's header and descriptor records; the NAMESTR header, then one 140-byte NAMESTR
  per variable (name, label, type, length in bytes and position in the observation),
  padded with blanks to whole records; then the OBS header record;
- version 5 stores no row count anywhere: the observations follow the OBS header back to
  back, each of the same length (the sum of the variables' lengths), numbers as 8-byte
  IBM floating point (a missing number is ``.`` followed by seven zero bytes), character
  values as their bytes padded with blanks to the variable's length;
- the file ends with the last record padded with blanks to 80 bytes.

So one header followed by the observations of several files whose NAMESTR records are
the same, then the padding, is the file of all their rows. pyreadstat sizes a character
variable by its longest value in bytes; each chunk is written with a first "width row"
(every character value at its column's full width, every number missing) whose
observation is then dropped: every chunk has the column widths decided up front, which
is checked by comparing each chunk's NAMESTR records with the header's.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

RECORD = 80  # every record of the file, and the padding of its end
MAX_BYTES = 200  # XPORT v5: a character value holds at most 200 bytes
NUMBER_BYTES = 8  # a number: 8-byte IBM floating point
NAMESTR = b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!"
OBS = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"
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


class LayoutError(ValueError):
    """A value, or a chunk, that does not fit the columns decided up front."""


def clip(text: str) -> str:
    """At most 200 bytes of UTF-8, never half a character."""
    if text.isascii() and len(text) <= MAX_BYTES:
        return text
    return text.encode("utf-8")[:MAX_BYTES].decode("utf-8", errors="ignore")


def width_of(*texts: str) -> int:
    """The width in bytes of a character column holding ``texts`` (1 to 200)."""
    return min(MAX_BYTES, max([1, *(len(t.encode("utf-8")) for t in texts)]))


@dataclass(frozen=True, slots=True)
class Dataset:
    """A domain's member: its name (SV, TV), label, columns and each character column's
    width in bytes (a number's is 8)."""

    name: str
    label: str
    columns: tuple[Column, ...]
    widths: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.columns):
            raise LayoutError(f"{self.name}: {len(self.columns)} columns,"
                              f" {len(self.widths)} widths")
        for column, width in zip(self.columns, self.widths, strict=True):
            if not 1 <= width <= MAX_BYTES or (column.numeric and width != NUMBER_BYTES):
                raise LayoutError(f"{self.name}.{column.name}: width {width}")

    @property
    def row_bytes(self) -> int:
        return sum(self.widths)


def dataset(name: str, label: str, columns: Sequence[Column],
            widths: dict[str, int]) -> Dataset:
    """A dataset whose character columns have the given widths (numbers: 8 bytes)."""
    return Dataset(name, label, tuple(columns),
                   tuple(NUMBER_BYTES if c.numeric else widths[c.name] for c in columns))


class XptWriter:
    """One dataset's XPORT v5 file: :meth:`header`, then :meth:`records` for each chunk of
    rows, then :meth:`end` with the number of bytes of records written."""

    def __init__(self, layout: Dataset) -> None:
        self.layout = layout
        handle, self._path = tempfile.mkstemp(suffix=".xpt")
        os.close(handle)
        self._header = self._write([])[0]
        self._namestr = _namestr(self._header)

    def __enter__(self) -> XptWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if os.path.exists(self._path):
            os.unlink(self._path)

    def header(self) -> bytes:
        """The library, member and variable headers, up to the OBS header record."""
        return self._header

    def records(self, rows: Sequence[Sequence[Value]]) -> bytes:
        """The observations of ``rows``, back to back (no padding)."""
        if not rows:
            return b""
        header, body = self._write(rows)
        if _namestr(header) != self._namestr:
            raise LayoutError(f"{self.layout.name}: a chunk's columns differ from the header's")
        return body[:len(rows) * self.layout.row_bytes]

    def end(self, written: int) -> bytes:
        """The blanks that pad the last record after ``written`` bytes of observations."""
        return b" " * (-written % RECORD)

    def _write(self, rows: Sequence[Sequence[Value]]) -> tuple[bytes, bytes]:
        """``rows`` after the width row as pyreadstat writes them: the header, and the
        observations after the width row's (padding included)."""
        # pandas and pyreadstat are loaded by the first XPT file only: importing them
        # costs every server process about 60 MB that only an SDTM export uses.
        import pandas as pd
        import pyreadstat

        layout = self.layout
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in layout.columns]
        frame = pd.DataFrame({
            column.name: _series(column, width, values)
            for column, width, values in zip(layout.columns, layout.widths, columns,
                                             strict=True)
        })
        pyreadstat.write_xport(
            frame, self._path, file_label=layout.label, table_name=layout.name,
            column_labels=[c.label for c in layout.columns], file_format_version=5,
        )
        with open(self._path, "rb") as file:
            data = file.read()
        start = data.find(OBS)
        if start < 0 or start % RECORD:
            raise LayoutError(f"{layout.name}: no OBS header record")
        start += RECORD
        return data[:start], data[start + layout.row_bytes:]


def _series(column: Column, width: int, values: Sequence[Value]) -> Any:  # a pandas Series
    import pandas as pd  # see XptWriter._write

    if column.numeric:  # missing numbers are SAS missing values
        return pd.Series([math.nan, *(math.nan if v is None else float(v) for v in values)],
                         dtype="float64")
    texts = ["x" * width]
    for value in values:
        text = "" if value is None else clip(str(value))
        if len(text) > width // 4 and len(text.encode("utf-8")) > width:
            raise LayoutError(f"{column.name}: {text!r} is longer than its {width} bytes")
        texts.append(text)
    return pd.Series(texts, dtype="object")


def _namestr(header: bytes) -> bytes:
    """The NAMESTR header and records: every variable's name, type, length, position."""
    return header[header.find(NAMESTR):]
