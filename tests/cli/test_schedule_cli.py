"""followup schedule validate|preview|load|schema, through click and a real process."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from app import migrate
from app.cli import cli
from app.cli.schedule import COLUMNS
from app.db import make_engine
from app.models import AuditRecord, ProtocolVersion, Site, Study
from tests.conftest import BACKENDS, drop_database, fresh_database_url

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "schedules"
SLE = str(SCHEDULES / "ucart-sle.yaml")
MM = str(SCHEDULES / "cart-allo-hsct-rrmm.yaml")


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def preview(*args: str) -> list[dict[str, Any]]:
    result = run("schedule", "preview", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["code"]: row for row in rows}


# -- validate ----------------------------------------------------------------------


def test_validate_the_seed_schedules() -> None:
    result = run("schedule", "validate", SLE, MM)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{SLE}: ok (UCART-SLE 1.1: 11 visits, 0 conditional phases, 3 endpoint time points)",
        f"{MM}: ok (CART-HSCT-MM 1.1: 17 visits, 1 conditional phase, 12 endpoint time points)",
    ]
    assert result.stderr == ""
    # A directory means its .yaml files.
    assert run("schedule", "validate", str(SCHEDULES)).stdout.count(": ok (") == 2


BROKEN_TYPES = """\
study:
  code: X
  title: Broken types
  version: 2.0
  target_enrolment: 10
  time_zone: Europe/Paris
  anchor_day: 0
anchors:
  - {name: infusion, label: Infusion, recorded: later}
visits:
  - code: D14
    name: Day 14
    anchor: infuson
    at: day 14
    window: {before: 2 days, after: -2 days}
"""

BROKEN_REFERENCES = """\
study: {code: Y, title: Broken refs, version: "1", target_enrolment: 5,
        time_zone: Asia/Shanghai, anchor_day: 0}
anchors:
  - {name: infusion, label: Infusion, recorded: later}
visits:
  - {code: A, name: A, after_visit: B, at: 7 days}
  - {code: B, name: B, after_visit: A, at: 7 days}
  - {code: "M{n}", name: "Month {n}", series: {every: 3 months, from: 3 months, to: 6 months}}
  - {code: M6, name: again, at: 6 months}
endpoints:
  - {code: OS, name: OS, anchor: infusion, at: [6 months], satisfied_by: [M9]}
"""


def test_validate_lists_every_mistake_of_every_file(tmp_path: Path) -> None:
    types, refs, syntax = tmp_path / "types.yaml", tmp_path / "refs.yaml", tmp_path / "syn.yaml"
    types.write_text(BROKEN_TYPES)
    refs.write_text(BROKEN_REFERENCES)
    syntax.write_text("study:\n  code: [X\n")
    result = run("schedule", "validate", SLE, str(types), str(refs), str(syntax))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{SLE}: ok")
    assert result.stderr.splitlines() == [
        f'{types}:4:12: study.version: must be text, not 2.0 (put it in quotes: "2.0")',
        f'{types}:13:13: visits[0].anchor: unknown anchor "infuson" (did you mean "infusion"?);'
        " declared anchors: infusion",
        f"{types}:15:37: visits[0].window.after: must be >= 0 days",
        f"{refs}:6:37: visits[0].after_visit: timing cycle: A -> B -> A",
        f'{refs}:9:12: visits[3].code: duplicate visit code "M6": visits[2] (line 8) already'
        ' makes it from "M{n}"',
        f'{refs}:11:75: endpoints[0].satisfied_by[0]: unknown visit "M9"',
        f"{syntax}:2:9: (yaml): the [ opened here is not closed with ] (or a comma is missing"
        " between its items)",
    ]


def test_validate_refuses_hostile_yaml_in_one_line_each(tmp_path: Path) -> None:
    bomb, deep = tmp_path / "bomb.yaml", tmp_path / "deep.yaml"
    lines = ["a0: &a0 {x0: 1, y0: 2}"]
    lines += [f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * 10) + f"], k{i}: 1}}"
              for i in range(1, 9)]
    bomb.write_text("\n".join(lines) + "\n")  # about 600 bytes, 10**8 merged pairs
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    result = run("schedule", "validate", str(bomb), str(deep))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{bomb}:1:1: (document): the document is too large or too deeply nested"
        " (check its aliases)",
        f"{deep}:1:1: (yaml): the document is too deeply nested for a schedule",
    ]


def test_validate_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run("schedule", "validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# -- preview -----------------------------------------------------------------------


def test_preview_sle_acceptance_dates() -> None:
    rows = preview(SLE, "--anchor", "infusion=2025-03-26", "--as-of", "2025-04-09")
    visits = by_code(rows)
    assert [r["code"] for r in rows] == [
        "D-2", "D-1", "D0", "D14", "D28", "M3", "M6", "M9", "M12", "M18", "M24"
    ]
    assert visits["D-2"]["target_date"] == "2025-03-24"
    assert visits["D-2"]["study_day"] == -2
    assert visits["D14"] == {
        "code": "D14", "name": "Day 14 clinic visit", "phase": "main", "kind": "clinic",
        "optional": False, "anchor": "infusion", "target_date": "2025-04-09",
        "window_start": "2025-04-07", "window_end": "2025-04-11", "study_day": 14,
        "status": "due", "days_early": None, "days_late": None, "days_from_target": None,
        "days_overdue": None, "missed_from": None, "provisional": False, "reason": None,
    }
    assert visits["M3"]["target_date"] == "2025-06-26"
    assert visits["M24"]["target_date"] == "2027-03-26"
    # The actual infusion completes D0, which records it (as at enrolment).
    assert visits["D0"]["status"] == "completed" and visits["D0"]["days_overdue"] is None
    assert visits["D-2"]["status"] == "not_applicable"  # optional, window closed


def test_preview_shows_a_visit_missed_since_the_subject_left() -> None:
    # D0's window closed on 2025-03-26; the subject withdrew on 2025-04-05: from then on
    # D0 counts as missed (derived), while D14, whose window was still open, is cancelled.
    # (A planned infusion: an actual one would complete D0, the visit that records it.)
    rows = preview(SLE, "--planned-anchor", "infusion=2025-03-26", "--event",
                   "withdrawal=2025-04-05", "--as-of", "2025-04-09")
    visits = by_code(rows)
    assert visits["D0"]["status"] == "missed_undocumented"
    assert visits["D0"]["missed_from"] == "2025-04-05"
    assert visits["D0"]["days_overdue"] == 14
    assert visits["D14"]["status"] == "cancelled" and visits["D14"]["missed_from"] is None
    table = run("schedule", "preview", SLE, "--planned-anchor", "infusion=2025-03-26",
                "--event", "withdrawal=2025-04-05", "--as-of", "2025-04-09")
    d0 = next(line for line in table.stdout.splitlines() if line.startswith("D0 "))
    assert "missed undocumented (14 d) (since 2025-04-05)" in d0


def test_preview_month_end_clamping_in_a_leap_year() -> None:
    visits = by_code(preview(SLE, "--anchor", "infusion=2023-11-30", "--as-of", "2023-11-01"))
    assert visits["M3"]["target_date"] == "2024-02-29"
    assert visits["M3"]["window_start"] == "2024-02-22"
    assert visits["M6"]["target_date"] == "2024-05-30"
    # An infusion after --as-of has not happened yet: D0 is not completed by it.
    assert visits["D0"]["status"] == "scheduled"


def test_preview_myeloma_without_transplant_shows_the_phase_pending() -> None:
    rows = preview(MM, "--anchor", "infusion=2025-03-26", "--as-of", "2025-04-01")
    hsct = [r for r in rows if r["phase"] == "HSCT"]
    assert [r["code"] for r in hsct] == [
        "HSCT-D0", "HSCT-D14", "HSCT-D28", "HSCT-D100", "HSCT-M6", "HSCT-M12"
    ]
    assert all(r["status"] == "pending" and r["target_date"] is None for r in hsct)
    assert rows[-len(hsct):] == hsct  # undated visits come last
    assert hsct[0]["reason"] == "phase HSCT waiting for response CR/sCR"


def test_preview_myeloma_after_complete_remission_and_transplant() -> None:
    rows = preview(MM, "--anchor", "infusion=2025-03-26", "--event", "response=CR@2025-05-20",
                   "--anchor", "transplant=2025-07-01", "--as-of", "2025-07-10")
    visits = by_code(rows)
    assert visits["HSCT-D0"]["target_date"] == "2025-07-01"
    assert visits["HSCT-D14"]["target_date"] == "2025-07-15"
    assert visits["HSCT-D14"]["window_start"] == "2025-07-12"
    assert visits["HSCT-D14"]["status"] == "upcoming"
    assert visits["HSCT-M6"]["target_date"] == "2026-01-01"
    dated = [r["target_date"] for r in rows]
    assert dated == sorted(dated)


def test_preview_progression_cancels_what_stops_at_it() -> None:
    visits = by_code(preview(MM, "--anchor", "infusion=2025-03-26", "--as-of", "2025-06-01",
                             "--event", "progression=2025-05-20"))
    assert visits["M2"]["status"] == "cancelled"
    assert visits["M2"]["reason"] == "progression on 2025-05-20"
    assert visits["M6"]["status"] == "scheduled"
    assert visits["HSCT-D0"]["status"] == "not_applicable"


def test_preview_planned_anchor_gives_provisional_dates() -> None:
    visits = by_code(preview(SLE, "--planned-anchor", "infusion=2025-03-26",
                             "--as-of", "2025-03-01"))
    assert visits["D14"]["provisional"] is True
    assert visits["D14"]["target_date"] == "2025-04-09"


def test_preview_without_anchor_dates_is_all_pending() -> None:
    rows = preview(SLE, "--as-of", "2025-03-01")
    assert {r["status"] for r in rows} == {"pending"}


def test_preview_table() -> None:
    result = run("schedule", "preview", MM, "--planned-anchor", "infusion=2025-03-26",
                 "--as-of", "2025-04-09")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("CART-HSCT-MM 1.1, as of Wed 2025-04-09; anchors: infusion 2025-03-26"
                          " (planned)\n")
    lines = out.splitlines()
    d14 = next(line for line in lines if line.startswith("D14 "))
    assert d14.split() == ["D14", "Wed", "2025-04-09*", "14", "2025-04-07", "..", "2025-04-11",
                           "due", "main", "Day", "14", "clinic", "visit"]
    d7 = next(line for line in lines if line.startswith("D7 "))
    assert "overdue (6 d)" in d7
    assert lines.index("Phases") < lines.index("Periods") < lines.index("Endpoint windows")
    assert "  HSCT: pending (waiting for response CR/sCR)" in lines
    assert any(line.split()[:2] == ["HSCT-INPATIENT", "waiting"] for line in lines)
    assert any(line.split()[:3] == ["ORR@6", "months", "Fri"] for line in lines)


def test_preview_csv_has_the_json_columns() -> None:
    result = run("schedule", "preview", SLE, "--anchor", "infusion=2025-03-26",
                 "--as-of", "2025-04-09", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == COLUMNS
    d14 = next(r for r in rows if r["code"] == "D14")
    assert (d14["target_date"], d14["study_day"], d14["status"], d14["optional"],
            d14["reason"]) == ("2025-04-09", "14", "due", "false", "")


def test_preview_as_of_defaults_to_today() -> None:
    rows = preview(SLE, "--anchor", "infusion=2020-01-01")
    assert by_code(rows)["M24"]["status"] == "overdue"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--anchor", "infusio=2025-03-26"],
         'error: Invalid value for --anchor: "infusio=2025-03-26": unknown anchor "infusio";'
         " this protocol's anchors are infusion, consent"),
        (["--anchor", "infusion=2025-02-30"],
         "error: Invalid value for --anchor: \"infusion=2025-02-30\": '2025-02-30' is not a date"
         " (YYYY-MM-DD)"),
        (["--anchor", "infusion"],
         'error: Invalid value for --anchor: "infusion": write NAME=YYYY-MM-DD'),
        (["--anchor", "infusion=2025-03-26", "--planned-anchor", "infusion=2025-03-27"],
         'error: Invalid value for --planned-anchor: "infusion=2025-03-27": anchor infusion is'
         " given twice"),
        (["--event", "response=2025-05-20"],
         'error: Invalid value for --event: "response=2025-05-20": a response needs its value,'
         " e.g. response=CR@2025-05-20"),
        (["--event", "response=lldas@2025-05-20"],
         'error: Invalid value for --event: "response=lldas@2025-05-20": "lldas" is not a'
         " declared response value (did you mean LLDAS?); allowed: DORIS, LLDAS, ACTIVE"),
        (["--event", "death=X@2025-05-20"],
         'error: Invalid value for --event: "death=X@2025-05-20": only a response has a value'),
        (["--event", "relapse=2025-05-20"],
         'error: Invalid value for --event: "relapse=2025-05-20": write TYPE=YYYY-MM-DD with TYPE'
         " one of response, progression, death, withdrawal, lost_to_follow_up, screen_failure,"
         " study_completed, transfer, reconsent, or"
         " response=VALUE@YYYY-MM-DD"),
        (["--as-of", "09/04/2025"],
         "error: Invalid value for --as-of: \"09/04/2025\": '09/04/2025' is not a date"
         " (YYYY-MM-DD)"),
    ],
)
def test_preview_bad_arguments_are_one_line(args: list[str], message: str) -> None:
    result = run("schedule", "preview", SLE, *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [message]
    assert result.stdout == ""


def test_preview_of_an_invalid_file_lists_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN_TYPES)
    result = run("schedule", "preview", str(bad), "--anchor", "infusion=2025-03-26")
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 3


def test_preview_unknown_format_is_a_usage_error() -> None:
    result = run("schedule", "preview", SLE, "--format", "xml")
    assert result.exit_code == 2
    assert "'xml' is not one of 'table', 'json', 'csv'" in result.stderr


# -- schema ------------------------------------------------------------------------


def test_schema_command_prints_the_committed_schema() -> None:
    result = run("schedule", "schema")
    assert result.exit_code == 0
    assert result.stdout == (SCHEDULES / "schedule.schema.json").read_text(encoding="utf-8")


# -- load --------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    # The command commits through its own engine: it gets a database of its own.
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    yield url
    drop_database(url)


def _counts(url: str) -> tuple[int, int, int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return (
                conn.scalar(select(func.count()).select_from(Study)) or 0,
                conn.scalar(select(func.count()).select_from(ProtocolVersion)) or 0,
                conn.scalar(select(func.count()).select_from(Site)) or 0,
                conn.scalar(select(func.count()).select_from(AuditRecord)
                            .where(AuditRecord.action == "protocol.loaded")) or 0,
            )
    finally:
        engine.dispose()


def test_load_is_all_or_nothing(fresh_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": fresh_url}
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN_REFERENCES)
    result = run("schedule", "load", str(SCHEDULES), str(broken), env=env)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 3
    assert _counts(fresh_url) == (0, 0, 0, 0)

    result = run("schedule", "load", str(SCHEDULES), env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["loaded CART-HSCT-MM 1.1", "loaded UCART-SLE 1.1"]
    assert _counts(fresh_url) == (2, 2, 3, 2)

    result = run("schedule", "load", SLE, MM, env=env)
    assert result.stdout.splitlines() == ["unchanged UCART-SLE 1.1", "unchanged CART-HSCT-MM 1.1"]

    # Same version, other text: nothing of the run is kept, not even a new study.
    changed = tmp_path / "sle-changed.yaml"
    changed.write_text(Path(SLE).read_text().replace("window: 2 days", "window: 3 days"))
    other = tmp_path / "other.yaml"
    other.write_text(Path(SLE).read_text().replace("code: UCART-SLE", "code: OTHER-SLE"))
    result = run("schedule", "load", str(other), str(changed), env=env)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: UCART-SLE version 1.1 is already loaded with other content; give the changed"
        " protocol a new version"
    ]
    assert result.stdout == ""
    assert _counts(fresh_url) == (2, 2, 3, 2)


# -- a real process ------------------------------------------------------------------


def test_real_process_preview(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "followup"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app"]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    done = subprocess.run(
        [*command, "schedule", "preview", "schedules/ucart-sle.yaml",
         "--anchor", "infusion=2025-03-26", "--format", "json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    visits = by_code(json.loads(done.stdout))
    assert [visits[c]["target_date"] for c in ("D-2", "D14", "M3", "M24")] == [
        "2025-03-24", "2025-04-09", "2025-06-26", "2027-03-26"
    ]

