"""make bench at a tiny size, so the benchmark code keeps working (no timing asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.inprocess import main as inprocess_main
from bench.run import main


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    backends = "sqlite,postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
    results = main(["--subjects", "120", "--sites", "3", "--seconds", "0.3", "--rounds", "2",
                    "--requests", "5", "--small", "0", "--workers", "1", "--backends", backends,
                    "--export-subjects", "30", "--export-small", "0",
                    "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "latest.json").read_text())
    assert saved["subjects"] == 120 and saved["expansion"]["visits"] > 0
    for name in backends.split(","):
        run = results[name]
        assert run["import"]["import"]["subjects"] == 120
        assert run["import"]["raw"]["rows"] > run["import"]["import"]["visits"]
        assert run["demo"]["subjects"] == 180  # 1.5 x --subjects by default
        assert run["http"]["followup_1"]["errors"] == 0 and run["http"]["minimal_1"]["errors"] == 0
        assert len(run["http"]["followup_1"]["rps_16_rounds"]) == 2
        # The derived misses are measured too, against their raw-SQL twin.
        assert run["http"]["followup-missed_1"]["errors"] == 0
        assert run["http"]["minimal-missed_1"]["errors"] == 0
        assert run["http"]["ratio-missed_1"] > 0
        assert run["http"]["calendar"]["errors"] == 0
        assert run["digest"]["sites"] >= 3
        assert run["export"]["big"]["subjects"] == 30 and "small" not in run["export"]
        # The compliance report agrees with its raw-SQL twin over the demo data.
        assert run["reports"]["agree"] is True and run["reports"]["subjects"] == 180
        # Completions: the same visits through both servers, every one answered 201.
        done = run["completion"]
        assert done["followup"]["completions"] == done["minimal"]["completions"] == 10
        assert done["followup"]["errors"] == 0 and done["minimal"]["errors"] == 0
        assert len(done["followup"]["per_s_rounds"]) == 2 and done["ratio"] > 0
        # Each server's own CPU time per completion is measured (in clock ticks of 10 ms:
        # the baseline's few completions may fit in less than one).
        assert done["followup"]["cpu_ms"] > 0 and done["minimal"]["cpu_ms"] >= 0
        # The amendment moved every subject the same run imported for it.
        assert run["amendment"]["apply"]["moved"] == run["amendment"]["import"]["subjects"] == 120
    table = (tmp_path / "latest.md").read_text()
    assert "| 3. worklist overdue, 1 worker(s): req/s, 16 clients (median of rounds) |" in table
    assert ("| 3. worklist missed, not documented, 1 worker(s): req/s, 16 clients (median of"
            " rounds) |") in table
    assert "| 7. export CSV, 30 subjects (" in table
    assert "| 7. export HL7 FHIR R4, 30 subjects (" in table
    assert "| 7. export SDTM SV and TV (ZIP of CSV and XPT v5), 30 subjects (" in table
    assert "| 8. compliance report, every study (" in table and "(counts agree)" in table
    assert "| 9. visit completion, 1 client: completions/s" in table
    assert "| 10. amendment applied to 120 subjects (`protocol apply --all`)" in table


@pytest.mark.slow
def test_one_step_runs_on_its_own(tmp_path: Path) -> None:
    results = main(["--steps", "completion", "--demo-subjects", "60", "--sites", "2",
                    "--requests", "3", "--rounds", "1", "--backends", "sqlite",
                    "--out", str(tmp_path)])
    assert "expansion" not in results
    run = results["sqlite"]
    assert set(run) == {"demo", "completion"}
    assert run["completion"]["followup"]["completions"] == 3
    assert run["completion"]["minimal"]["errors"] == 0
    assert "| 9. visit completion" in (tmp_path / "latest.md").read_text()


@pytest.mark.slow
def test_the_amendment_step_reports_apply_beside_import(tmp_path: Path) -> None:
    backends = "sqlite,postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
    results = main(["--steps", "amendment", "--subjects", "40", "--sites", "3",
                    "--backends", backends, "--out", str(tmp_path)])
    for name in backends.split(","):
        run = results[name]
        assert set(run) == {"amendment"}
        step = run["amendment"]
        assert step["subjects"] == step["import"]["subjects"] == 40
        assert (step["apply"]["moved"], step["apply"]["already"], step["apply"]["blocked"]) == (
            40, 0, 0)
        imported, applied = step["import"], step["apply"]
        assert imported["subjects_per_s"] == pytest.approx(40 / imported["seconds"])
        assert applied["subjects_per_s"] == pytest.approx(40 / applied["seconds"])
        assert step["ratio"] == pytest.approx(
            applied["subjects_per_s"] / imported["subjects_per_s"])
    table = (tmp_path / "latest.md").read_text()
    line = next(row for row in table.splitlines() if row.startswith("| 10. amendment"))
    assert line.startswith("| 10. amendment applied to 40 subjects (`protocol apply --all`):"
                           " subjects/s, s | ")
    assert "import of the same subjects" in line
    assert line.endswith(f" {results['sqlite']['amendment']['ratio']:.3f} |")


@pytest.mark.slow
def test_completions_in_process_are_counted_and_profiled() -> None:
    """bench.inprocess completes visits through the application without a server; every
    completion must answer 201 (it raises otherwise), and the profile counts the calls."""
    args = ["--subjects", "60", "--completions", "5", "--profile"]
    threaded, inline = inprocess_main(args), inprocess_main([*args, "--inline"])
    assert threaded["completions"] == inline["completions"] == 5
    assert threaded["cpu_ms"] > 0 and inline["cpu_ms"] > 0
    # The route's work (loading, the rules, the writes) is seen by the profile only when
    # it runs in the profiled thread.
    assert inline["calls"] > threaded["calls"] + 500
