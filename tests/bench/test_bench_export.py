"""Step 7 of make bench at a tiny size: both exports and the raw dump of the same study, at
two sizes, each measured in its own process (no timing asserted)."""

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
        for key in ("csv", "odm", "raw"):
            assert run[key]["bytes"] > 0 and run[key]["peak_rss_mb"] > 0
        assert run["odm"]["bytes"] > run["csv"]["bytes"]
    lines = _export_lines(result)
    assert lines[0].startswith(f"| 7. export CSV, 40 subjects ({result['big']['visits']:,} visit")
    assert lines[-1].startswith("| 7. export peak RSS CSV / ODM / raw: 8 vs 40 subjects |")
    assert list(tmp_path.glob("export_*")) == []  # the files are removed
