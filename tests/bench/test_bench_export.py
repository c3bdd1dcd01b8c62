"""Step 7 of make bench at a tiny size: every export format and the raw dump of the same
study, at two sizes, each measured in its own process (no timing asserted)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bench.export import bench_export
from bench.report import _export_lines
from bench.steps import Backend
from tests.conftest import BACKENDS, PG_URL


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_the_export_step_runs_at_two_sizes(name: str, tmp_path: Path) -> None:
    backend = Backend(name, PG_URL if name == "postgresql" and PG_URL else str(tmp_path))
    result = bench_export(backend, tmp_path, 40, 8, 3, date(2026, 3, 1))
    for label, subjects in (("small", 8), ("big", 40)):
        run = result[label]
        assert run["subjects"] == subjects and run["visits"] > subjects
        # The raw dump has a row per visit, as the CSV export has (plus its header).
        assert run["raw"]["rows"] == run["visits"]
        for key in ("csv", "odm", "sdtm", "fhir", "raw"):
            assert run[key]["bytes"] > 0 and run[key]["peak_rss_mb"] > 0
        for key in ("csv", "odm", "sdtm", "fhir"):
            assert run[f"ratio_{key}"] == run["raw"]["seconds"] / run[key]["seconds"]
        assert run["odm"]["bytes"] > run["csv"]["bytes"]
    lines = _export_lines(result)
    visits = f"{result['big']['visits']:,} visit rows"
    assert [line.split(",")[0] for line in lines[:4]] == [
        "| 7. export CSV", "| 7. export ODM 1.3.2",
        "| 7. export SDTM SV and TV (ZIP of CSV and XPT v5)", "| 7. export HL7 FHIR R4"]
    assert all(f"40 subjects ({visits})" in line for line in lines[:4])
    assert lines[4].startswith(
        "| 7. export peak RSS CSV / ODM / SDTM / FHIR / raw: 8 vs 40 subjects |")
    assert len(lines) == 5
    assert list(tmp_path.glob("export_*")) == []  # the files are removed
