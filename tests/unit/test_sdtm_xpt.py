"""The SAS transport (XPT v5) files of the SDTM export, read back with pyreadstat."""

from __future__ import annotations

import math
from pathlib import Path

import pyreadstat

from app.services.exports.sdtm_xpt import SV_COLUMNS, TV_COLUMNS, Table, clip, xpt_pieces


def test_a_table_reads_back_with_its_names_labels_numbers_and_missing_values(
    tmp_path: Path
) -> None:
    table = Table("SV", "Subject Visits", SV_COLUMNS)
    table.extend([
        ["ST", "SV", "ST-01-007", 4.01, "UNSCHEDULED UNS-1", None, "FOLLOW-UP", "2026-02-25",
         "2026-02-25", 25, 25, "Rash check"],
        ["ST", "SV", "ST-01-008", 1, "Screening", -14, "SCREENING", "2026-01-01",
         "2026-01-01", -14, -14, None],
    ])
    frame, meta = pyreadstat.read_xport(str(_write(table, tmp_path / "sv.xpt")))
    assert meta.table_name == "SV"
    assert meta.column_names == [c.name for c in SV_COLUMNS]
    assert meta.column_labels == [c.label for c in SV_COLUMNS]
    assert list(frame["VISITNUM"]) == [4.01, 1.0]
    assert math.isnan(frame["VISITDY"][0]) and frame["VISITDY"][1] == -14
    assert list(frame["SVSTDY"]) == [25.0, -14.0]
    assert list(frame["SVUPDES"]) == ["Rash check", ""]
    assert table.values == [[] for _ in SV_COLUMNS]  # written: the values are let go


def test_an_empty_domain_is_a_valid_file(tmp_path: Path) -> None:
    frame, meta = pyreadstat.read_xport(
        str(_write(Table("TV", "Trial Visits", TV_COLUMNS), tmp_path / "tv.xpt")))
    assert meta.table_name == "TV" and len(frame) == 0
    assert list(frame.columns) == [c.name for c in TV_COLUMNS]


def test_long_text_is_cut_at_200_bytes_never_inside_a_character(tmp_path: Path) -> None:
    assert clip("a" * 250) == "a" * 200
    assert clip("é" * 150) == "é" * 100  # 2 bytes each
    assert clip("a" + "随" * 70) == "a" + "随" * 66  # 3 bytes each: 199 bytes
    table = Table("TV", "Trial Visits", TV_COLUMNS)
    table.extend([["ST", "TV", 1, "随访" * 50, 1, "", "", "x" * 300, ""]])
    frame, _ = pyreadstat.read_xport(str(_write(table, tmp_path / "tv.xpt")))
    assert frame["VISIT"][0] == "随访" * 33 and frame["TVSTRL"][0] == "x" * 200


def _write(table: Table, path: Path) -> Path:
    path.write_bytes(b"".join(xpt_pieces(table)))
    return path
