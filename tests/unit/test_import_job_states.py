"""The state an import job is shown in, and the rows a file is counted to hold, without a
database: a running job nobody runs any longer is interrupted, by either rule."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from app.models import ImportJob
from app.services.bulk.jobs import STALE_AFTER, JobState, count_rows, state_of

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def job(state: str = "running", *, runner: str = "this", beat: timedelta = timedelta(0)
        ) -> ImportJob:
    return ImportJob(id=7, state=state, runner=runner, heartbeat_at=NOW - beat)


@pytest.mark.parametrize(("row", "live", "shown"), [
    (job(), {7}, JobState.RUNNING),  # this process runs it
    (job(), set(), JobState.INTERRUPTED),  # this process ran it, and no longer does
    (job(runner="other", beat=STALE_AFTER), set(), JobState.RUNNING),  # another's, recent
    (job(runner="other", beat=STALE_AFTER + timedelta(seconds=1)), set(),
     JobState.INTERRUPTED),  # another's, whose progress stopped moving
    (job("done"), set(), JobState.DONE),
    (job("refused", runner="other", beat=timedelta(days=1)), set(), JobState.REFUSED),
])
def test_a_job_is_shown_running_only_while_someone_runs_it(
    row: ImportJob, live: set[int], shown: JobState
) -> None:
    assert state_of(row, runner="this", live=live, now=NOW) is shown


@pytest.mark.parametrize(("text", "rows"), [
    ("subject_id,site\nA,YC3H\nB,YC3H\n", 2),
    ("subject_id,site\n\nA,YC3H\n,\n\nB,YC3H", 2),  # blank lines are not rows
    ('subject_id,site\n"A\nB",YC3H\n', 1),  # a quoted line break is one row
    ("subject_id,site\n", 0),
    ("", 0),
])
def test_the_rows_of_a_file_are_counted_below_its_header(text: str, rows: int) -> None:
    assert count_rows(text.splitlines(keepends=True)) == rows


def test_a_file_that_is_not_utf_8_has_no_count() -> None:
    data = b"subject_id,site\nA,YC3H\nB,\xff\xfe\n"
    assert count_rows(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")) is None
