"""The SAS transport (XPT v5) files of the SDTM export, written a chunk of rows at a time
and read back with pyreadstat."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from app.services.exports.sdtm_xpt import (
    OBS,
    RECORD,
    SV_COLUMNS,
    TV_COLUMNS,
    Dataset,
    LayoutError,
    Value,
    XptWriter,
    clip,
    dataset,
    width_of,
)

LONG = "Rash check, " + "随访" * 40  # 12 + 240 bytes: cut at 200, inside no character
SV_ROWS: list[list[Value]] = [
    ["ST", "SV", "ST-01-007", 1, "Screening", -14, "SCREENING", "2026-01-01", "2026-01-01",
     -14, -14, None],
    ["ST", "SV", "ST-01-007", 4.01, "UNSCHEDULED UNS-1", None, "FOLLOW-UP", "2026-02-25",
     "2026-02-25", 25, 25, LONG],
    ["ST", "SV", "ST-01-008", 1, "Screening", -14, "SCREENING", "2026-01-03", "2026-01-03",
     None, None, ""],
    ["ST", "SV", "ST-01-008", 2, "Day 1", 1, "TREATMENT", "2026-01-17", "2026-01-17", 1, 1,
     None],
    ["ST", "SV", "ST-01-009", 3.5, "Day 15", 15, "FOLLOW-UP", "2026-02-01", "2026-02-01",
     16, 16, "Fever"],
]
SV_WIDTHS = {"STUDYID": 2, "DOMAIN": 2, "USUBJID": 12, "VISIT": 40, "EPOCH": 9,
             "SVSTDTC": 10, "SVENDTC": 10, "SVUPDES": 200}


def sv_layout() -> Dataset:
    return dataset("SV", "Subject Visits", SV_COLUMNS, SV_WIDTHS)


def write_in_chunks(layout: Dataset, rows: Sequence[Sequence[Value]], size: int,
                    path: Path) -> bytes:
    with XptWriter(layout) as writer:
        records = b"".join(writer.records(rows[i:i + size]) for i in range(0, len(rows), size))
        data = writer.header() + records + writer.end(len(records))
    path.write_bytes(data)
    return data


def expected(rows: Sequence[Sequence[Value]], columns: Sequence[str]) -> pd.DataFrame:
    """What pyreadstat reads back: missing numbers NaN, missing text empty, text cut."""
    return pd.DataFrame(
        [[math.nan if v is None and n else "" if v is None else clip(v) if isinstance(v, str)
          else float(v) for v, n in zip(row, numeric, strict=True)] for row in rows],
        columns=list(columns),
    ).astype({c: "float64" for c, n in zip(columns, numeric, strict=True) if n})


numeric = [c.numeric for c in SV_COLUMNS]


@pytest.mark.parametrize("size", [1, 2, 5])
def test_chunks_read_back_as_one_dataset(tmp_path: Path, size: int) -> None:
    """One chunk, two rows a chunk (a boundary inside a subject) and a row a chunk: the
    file reads back as the rows, with its names, labels, widths, missing numbers and the
    long description cut at 200 bytes."""
    data = write_in_chunks(sv_layout(), SV_ROWS, size, tmp_path / "sv.xpt")
    assert len(data) % RECORD == 0
    frame, meta = pyreadstat.read_xport(str(tmp_path / "sv.xpt"))
    assert meta.table_name == "SV" and meta.file_label == "Subject Visits"
    assert meta.column_names == [c.name for c in SV_COLUMNS]
    assert meta.column_labels == [c.label for c in SV_COLUMNS]
    assert meta.variable_storage_width == {c.name: 8 if c.numeric else SV_WIDTHS[c.name]
                                           for c in SV_COLUMNS}
    pd.testing.assert_frame_equal(frame, expected(SV_ROWS, meta.column_names))
    assert frame["SVUPDES"][1] == "Rash check, " + "随访" * 31  # 198 bytes: a 3-byte one cut
    assert math.isnan(frame["VISITDY"][1]) and math.isnan(frame["SVSTDY"][2])


def test_the_chunks_make_the_file_pyreadstat_writes_in_one_go(tmp_path: Path) -> None:
    """With the widths the values give, the chunked file has the same variables and the
    same observation bytes as pyreadstat's own file of the whole table."""
    rows = [[clip(v) if isinstance(v, str) else v for v in row] for row in SV_ROWS]
    widths = {c.name: width_of(*(str(r[i]) for r in rows if r[i] is not None))
              for i, c in enumerate(SV_COLUMNS) if not c.numeric}
    ours = write_in_chunks(dataset("SV", "Subject Visits", SV_COLUMNS, widths), rows, 2,
                           tmp_path / "ours.xpt")
    frame = expected(rows, [c.name for c in SV_COLUMNS])
    pyreadstat.write_xport(frame, str(tmp_path / "whole.xpt"), file_label="Subject Visits",
                           table_name="SV", column_labels=[c.label for c in SV_COLUMNS],
                           file_format_version=5)
    whole = (tmp_path / "whole.xpt").read_bytes()
    # The headers differ only by the time they were written (records 2, 3, 6 and 7).
    assert ours.index(OBS) == whole.index(OBS)
    start = ours.index(OBS)
    assert ours[7 * RECORD:start] == whole[7 * RECORD:start]  # the NAMESTR records
    assert ours[start:] == whole[start:]


def test_the_last_record_is_padded_with_blanks() -> None:
    with XptWriter(sv_layout()) as writer:
        row_bytes = writer.layout.row_bytes
        assert row_bytes == 2 + 2 + 12 + 8 + 40 + 8 + 9 + 10 + 10 + 8 + 8 + 200
        assert writer.end(0) == b""
        assert writer.end(row_bytes) == b" " * (-row_bytes % RECORD)
        assert writer.end(80 * row_bytes) == b""
        assert len(writer.header()) % RECORD == 0


def test_a_value_longer_than_its_column_is_refused_not_cut() -> None:
    row = list(SV_ROWS[0])
    row[2] = "ST-01-0007-LONG"  # 15 bytes in a column of 12
    with XptWriter(sv_layout()) as writer, pytest.raises(LayoutError, match="USUBJID"):
        writer.records([row])
    row[2] = "ST-01-é7"  # 9 characters, 10 bytes: fits
    with XptWriter(sv_layout()) as writer:
        assert len(writer.records([row])) == writer.layout.row_bytes


def test_a_layout_outside_xport_v5_is_refused() -> None:
    with pytest.raises(LayoutError, match="SVUPDES: width 201"):
        dataset("SV", "Subject Visits", SV_COLUMNS, SV_WIDTHS | {"SVUPDES": 201})
    with pytest.raises(LayoutError, match="VISIT: width 0"):
        dataset("SV", "Subject Visits", SV_COLUMNS, SV_WIDTHS | {"VISIT": 0})


def test_an_empty_domain_is_a_valid_file(tmp_path: Path) -> None:
    layout = dataset("TV", "Trial Visits", TV_COLUMNS, {c.name: 1 for c in TV_COLUMNS})
    write_in_chunks(layout, [], 3, tmp_path / "tv.xpt")
    frame, meta = pyreadstat.read_xport(str(tmp_path / "tv.xpt"))
    assert meta.table_name == "TV" and len(frame) == 0
    assert list(frame.columns) == [c.name for c in TV_COLUMNS]


def test_the_writers_file_is_removed(tmp_path: Path) -> None:
    writer = XptWriter(sv_layout())
    path = Path(writer._path)
    assert path.exists()
    writer.records(SV_ROWS)
    writer.close()
    assert not path.exists()


def test_long_text_is_cut_at_200_bytes_never_inside_a_character() -> None:
    assert clip("a" * 250) == "a" * 200
    assert clip("é" * 150) == "é" * 100  # 2 bytes each
    assert clip("a" + "随" * 70) == "a" + "随" * 66  # 3 bytes each: 199 bytes
    assert width_of() == 1 and width_of("", "abc", "é" * 150) == 200
    assert width_of("随访") == 6


def test_the_server_loads_pandas_only_when_an_xpt_file_is_written() -> None:
    # pandas and pyreadstat cost every server process about 60 MB; only the SDTM export
    # needs them. A fresh interpreter shows what importing the application loads.
    program = ("import sys, app.main, app.services.exports.sdtm_xpt as x\n"
               "print('pandas' in sys.modules, 'pyreadstat' in sys.modules)\n"
               "sv = x.dataset('SV', 'Visits', [x.Column('USUBJID', 'Id')], {'USUBJID': 20})\n"
               "w = x.XptWriter(sv)\n"
               "w.close()\n"
               "print('pandas' in sys.modules, 'pyreadstat' in sys.modules)\n")
    shown = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    assert shown[:2] == ["False False", "True True"]
