"""The example protocols of schedules/examples/ through the command line: they validate,
preview, and stay out of what `followup schedule load schedules/` (make run) loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from app.cli import cli
from app.cli.schedule import schedule_files

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "schedules"
EXAMPLES = SCHEDULES / "examples"
KARMMA = str(EXAMPLES / "karmma-ide-cel.yaml")
LZZT = str(EXAMPLES / "lzzt-xanomeline.yaml")
ZUMA1 = str(EXAMPLES / "zuma1-axi-cel.yaml")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def preview(*args: str) -> dict[str, dict[str, Any]]:
    result = run("schedule", "preview", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return {row["code"]: row for row in json.loads(result.stdout)}


def test_every_example_validates() -> None:
    # As the README says it: followup schedule validate schedules/examples/*.yaml
    files = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    assert KARMMA in files and LZZT in files and ZUMA1 in files
    result = run("schedule", "validate", *files)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == len(files) and all(": ok (" in line for line in lines)
    assert f"{KARMMA}: ok (KARMMA 1.0: 68 visits, 1 conditional phase, " \
        "24 endpoint time points)" in lines
    assert f"{LZZT}: ok (LZZT 1.0: 18 visits, 1 conditional phase, " \
        "6 endpoint time points)" in lines
    assert f"{ZUMA1}: ok (ZUMA1 1.0: 50 visits, 2 conditional phases, " \
        "13 endpoint time points)" in lines


def test_the_examples_directory_validates_in_a_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "schedule", "validate", str(EXAMPLES)],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": ok (") == len(list(EXAMPLES.glob("*.yaml")))


def test_loading_schedules_leaves_the_examples_out() -> None:
    # make run loads schedules/: its files only, never the folders below it.
    loaded = schedule_files([SCHEDULES])
    assert [p.name for p in loaded] == ["cart-allo-hsct-rrmm.yaml", "ucart-sle.yaml"]
    assert not any(EXAMPLES in p.parents for p in loaded)


def test_karmma_preview_after_progression() -> None:
    rows = preview(KARMMA, "--anchor", "consent=2023-12-04", "--anchor",
                   "leukapheresis=2023-12-18", "--anchor", "infusion=2024-01-31",
                   "--event", "progression=2024-09-10", "--as-of", "2024-09-20")
    assert rows["D1"]["status"] == "completed"  # the infusion's actual date is its entry
    assert rows["LEUK"]["status"] == "completed"
    assert (rows["D-5"]["target_date"], rows["D-5"]["study_day"]) == ("2024-01-26", -5)
    assert (rows["M1"]["target_date"], rows["M1"]["window_end"]) == ("2024-02-29", "2024-03-07")
    assert rows["M9"]["status"] == "cancelled"
    assert rows["M9"]["reason"] == "progression on 2024-09-10"
    assert rows["LTFU-Y1"]["status"] == "scheduled"  # M12 no longer covers it
    assert rows["LTFU-Y6"]["status"] == "scheduled"
    assert (rows["SURV3"]["target_date"], rows["SURV3"]["kind"], rows["SURV3"]["phase"]) == (
        "2024-12-10", "phone", "SURV")


def test_karmma_preview_table_shows_the_phase_and_two_anchor_period() -> None:
    result = run("schedule", "preview", KARMMA, "--anchor", "leukapheresis=2023-12-18",
                 "--planned-anchor", "infusion=2024-01-31", "--as-of", "2023-12-20")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "SURV: pending (waiting for progression)" in out
    assert ("BRIDGING         Tue 2023-12-19 .. Thu 2024-01-25 (provisional)  "
            "Bridging therapy allowed") in out
    assert "LTFU-Y1 " in out and "[covered by visit M12 (2025-01-31)]" in out


def test_lzzt_preview_telephone_contact_after_a_late_visit() -> None:
    before = preview(LZZT, "--anchor", "first_dose=2024-03-01", "--as-of", "2024-02-20")
    assert before["SCR1"]["status"] == "due"
    assert (before["SCR1"]["window_start"], before["SCR1"]["window_end"]) == (
        "2024-02-16", "2024-02-27")
    assert (before["TEL10"]["target_date"], before["TEL10"]["provisional"]) == (
        "2024-05-10", True)
    assert before["TEL10"]["kind"] == "phone"
    # Week 8 overdue on 2024-05-05: the telephone contact still counts from its target.
    late = preview(LZZT, "--anchor", "first_dose=2024-03-01", "--as-of", "2024-05-05")
    assert late["WK8"]["status"] == "overdue" and late["WK8"]["days_overdue"] == 6


def test_lzzt_preview_early_termination_after_a_withdrawal() -> None:
    visits = preview(LZZT, "--anchor", "first_dose=2024-03-01", "--event",
                     "withdrawal=2024-05-31", "--as-of", "2024-06-05")
    assert (visits["ET"]["target_date"], visits["ET"]["window_end"], visits["ET"]["status"]) \
        == ("2024-05-31", "2024-06-14", "due")
    assert (visits["TEL14"]["status"], visits["WK12"]["status"]) == (
        "cancelled", "missed_undocumented")


def test_zuma1_preview_early_termination_after_a_withdrawal() -> None:
    visits = preview(ZUMA1, "--anchor", "consent=2023-07-24", "--anchor",
                     "leukapheresis=2023-08-07", "--anchor", "infusion=2023-08-31",
                     "--event", "withdrawal=2024-01-31", "--as-of", "2024-02-05")
    assert visits["D0"]["status"] == "completed"  # the infusion's actual date is its entry
    assert (visits["D0"]["study_day"], visits["D-5"]["study_day"]) == (0, -5)
    assert (visits["ET"]["target_date"], visits["ET"]["window_end"], visits["ET"]["status"],
            visits["ET"]["study_day"], visits["ET"]["phase"]) == (
        "2024-01-31", "2024-02-14", "due", 153, "ET")
    assert (visits["M3"]["status"], visits["M3"]["missed_from"]) == (
        "missed_undocumented", "2024-01-31")
    assert (visits["M6"]["status"], visits["M6"]["reason"]) == (
        "cancelled", "withdrawal on 2024-01-31")
    assert visits["SURV3"]["status"] == "not_applicable"


def test_zuma1_preview_table_shows_both_event_opened_phases_waiting() -> None:
    result = run("schedule", "preview", ZUMA1, "--anchor", "consent=2023-07-24",
                 "--planned-anchor", "infusion=2023-08-31", "--as-of", "2023-08-01")
    assert result.exit_code == 0, result.stderr
    assert "SURV: pending (waiting for progression)" in result.stdout
    assert "ET: pending (waiting for withdrawal)" in result.stdout
