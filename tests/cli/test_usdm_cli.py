"""followup schedule import-usdm: USDM in, a schedule that validates, loads and enrols."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from app import migrate
from app.access import SYSTEM
from app.cli import cli
from app.db import make_engine, make_sessionmaker, transaction
from app.models import Visit
from app.schedule.expand import AnchorDate
from app.services.sites import create_site, link_site
from app.services.subjects.enrolment import enrol
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_subjects import NOW

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "standards" / "usdm-4"
PILOT = DATA / "CDISC_Pilot_Study.json"
OBSERVATIONAL = DATA / "observational.json"
GOLDEN = ROOT / "tests" / "golden"
TIMELINE = "$.study.versions[0].studyDesigns[0].scheduleTimelines[0]"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_import_to_stdout_with_warnings_on_stderr() -> None:
    result = run("schedule", "import-usdm", str(OBSERVATIONAL))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (GOLDEN / "usdm-observational.yaml").read_text(encoding="utf-8")
    assert result.stderr.splitlines() == [
        f"warning: {TIMELINE}.instances[4].conditionAssignments[0].condition: decision "
        'ScheduledDecisionInstance_1 "PROG": the free-text condition "if opted out" (go to '
        'ScheduledActivityInstance_6 "FU") is not translated; the visits it skips are made '
        "optional",
        f"warning: {TIMELINE}.timings[1].value: PT15M is shorter than a day or not whole days: "
        "counted as 0 day(s), the hours and minutes are dropped",
        f"warning: {TIMELINE}.timings[1].windowLower: PT4H is shorter than a day or not whole "
        "days: 0 day(s) on that side",
    ]


def test_a_file_that_is_not_usdm_exits_1_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"study": [1,\n')
    result = run("schedule", "import-usdm", str(bad))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [f"{bad}:2:1: not JSON: Expecting value"]

    bad.write_text('{"clinicalStudy": {}}')
    result = run("schedule", "import-usdm", str(bad), "--out", str(tmp_path / "x.yaml"))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f'{bad}: $: not a USDM document: the root must be an object with "study" and '
        '"usdmVersion" (USDM Wrapper)']
    assert not (tmp_path / "x.yaml").exists()

    result = run("schedule", "import-usdm", str(PILOT), "--timeline", "Week 2")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f'{PILOT}: no timeline "Week 2"; the file has "Main Timeline" (main), "Adverse Event '
        'Timeline", "Early Termination Timeline", "Vital Sign Blood Pressure Timeline"']


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    # The commands commit through their own engine: a database of its own.
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    yield url
    drop_database(url)


def test_pilot_imports_validates_loads_and_enrols(fresh_url: str, tmp_path: Path) -> None:
    out = tmp_path / "lzzt.yaml"
    result = run("schedule", "import-usdm", str(PILOT), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        'imported timeline "Main Timeline", and "Early Termination Timeline" as a phase opened'
        ' by withdrawal; not imported: "Adverse Event Timeline", "Vital Sign Blood Pressure'
        ' Timeline"')
    assert out.read_text(encoding="utf-8") == (GOLDEN / "usdm-CDISC_Pilot_Study.yaml").read_text(
        encoding="utf-8")

    result = run("schedule", "validate", str(out))
    assert result.stdout == (f"{out}: ok (H2Q-MC-LZZT 2: 17 visits, 1 conditional phase, "
                             "0 endpoint time points)\n")
    result = run("schedule", "load", str(out), env={"DATABASE_URL": fresh_url})
    assert (result.exit_code, result.stdout) == (0, "loaded H2Q-MC-LZZT 2\n"), result.stderr

    day1 = date(2026, 1, 5)
    engine = make_engine(fresh_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            create_site(session, actor=SYSTEM, code="LZ01", name="Pilot site",
                        time_zone="America/Indiana/Indianapolis")
            link_site(session, actor=SYSTEM, study="H2Q-MC-LZZT", site="LZ01")
            loaded = enrol(session, study="H2Q-MC-LZZT", subject_id="01-701-1015", site="LZ01",
                           consent_date=date(2025, 12, 15), date_of_birth=date(1950, 3, 2),
                           anchors={"dose": AnchorDate(day1)}, actor=SYSTEM, now=NOW)
            rows = session.scalars(select(Visit).where(Visit.subject_pk == loaded.subject.id))
            got = {v.code: (v.target_date, v.window_start, v.window_end, v.state)
                   for v in rows}
    finally:
        engine.dispose()
    assert len(got) == 17
    # The early-termination visit waits for a withdrawal.
    assert got["ET"] == (None, None, None, "pending")
    # Week 2: Day 1 + 14 days, 3 days either side; Week 12: 4 days either side.
    assert got["E4"][:3] == (date(2026, 1, 19), date(2026, 1, 16), date(2026, 1, 22))
    assert got["E9"][:3] == (date(2026, 3, 30), date(2026, 3, 26), date(2026, 4, 3))
    assert got["E1"][0] == day1 - timedelta(weeks=2)
    assert got["E13"][0] == day1 + timedelta(weeks=26)
    # The dose visit records the anchor: its actual date completed it.
    assert (got["E3"][0], got["E3"][3]) == (day1, "completed")
