"""Import jobs: a subject CSV import started on the pages and run in the background.

The import itself is :func:`app.services.bulk.csv_import.import_csv`, unchanged: one
transaction, all or nothing (or the good rows only). Around it a job row
(:class:`~app.models.ImportJob`) says how far it got, so that a page can show it while
it runs: the job is made (``running``) by the request that uploads the file, its
progress is recorded in short transactions of its own while the import's transaction
runs, and its outcome is recorded when it ends: ``done`` (in the import's own
transaction, so that a job says done exactly when its subjects are there), ``refused``
(bad rows, nothing imported) or ``failed`` (an unexpected error, nothing imported).

A job is run by a thread of one server process, named by ``runner``. Nothing brings a
job back when that process stops: its transaction is rolled back by the database and
its row stays ``running``. Such a job is shown as **interrupted**: by the process that
ran it as soon as it no longer runs it, by any other process once its heartbeat (its
latest progress) is older than :data:`STALE_AFTER`.

A job belongs to whoever started it: only that actor sees it (and only while they are
an admin, as the import page says).
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import NotFound
from app.models import ImportJob
from app.services.bulk.rows import ImportResult, RowProblem
from app.services.studies import get_study

# A job still "running" whose progress has not moved for this long, in another server
# process, is taken for interrupted (a job writes its progress every 1,000 rows).
STALE_AFTER = timedelta(minutes=2)
RECENT_JOBS = 10


class JobState(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    REFUSED = "refused"  # bad rows (or an unreadable file): nothing was imported
    FAILED = "failed"  # an unexpected error: nothing was imported
    INTERRUPTED = "interrupted"  # the server process stopped while it ran (shown only)


@dataclass(frozen=True, slots=True)
class JobView:
    id: int
    study: str
    file_name: str
    skip_invalid: bool
    state: JobState
    total_rows: int | None
    rows_checked: int
    rows_written: int
    imported: int | None
    visits: int | None
    skipped: int | None
    message: str | None
    problems: tuple[RowProblem, ...]
    started_at: datetime
    finished_at: datetime | None

    @property
    def percent(self) -> int | None:
        """How much of the file has been checked, when its size is known."""
        if not self.total_rows:
            return None
        return min(100, self.rows_checked * 100 // self.total_rows)


def count_rows(lines: Iterable[str]) -> int | None:
    """The rows of a CSV file below its header (blank lines are not rows), or None when
    the file cannot be read to its end (the import reports why)."""
    try:
        rows = sum(1 for cells in csv.reader(lines) if any(c.strip() for c in cells))
    except (csv.Error, UnicodeDecodeError):
        return None
    return max(rows - 1, 0)


def start_job(
    session: Session, *, actor: Actor, study_code: str, file_name: str, skip_invalid: bool,
    total_rows: int | None, runner: str, now: datetime,
) -> int:
    """A new running job of ``actor``'s (an admin's) for a study they see; its id."""
    actor.require_admin()
    study = get_study(session, study_code, actor)
    job = ImportJob(
        study_code=study.code, actor=actor.name, file_name=file_name[:255] or "file",
        skip_invalid=skip_invalid, state=JobState.RUNNING.value, total_rows=total_rows,
        rows_checked=0, rows_written=0, problems=[], runner=runner, started_at=now,
        heartbeat_at=now,
    )
    session.add(job)
    session.flush()
    return job.id


def record_progress(session: Session, *, job_id: int, checked: int, written: int,
                    now: datetime) -> None:
    session.execute(
        update(ImportJob).where(ImportJob.id == job_id,
                                ImportJob.state == JobState.RUNNING.value)
        .values(rows_checked=checked, rows_written=written, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )


def _finish(session: Session, job_id: int, state: JobState, now: datetime,
            **values: Any) -> None:
    session.execute(
        update(ImportJob).where(ImportJob.id == job_id)
        .values(state=state.value, finished_at=now, heartbeat_at=now, **values)
        .execution_options(synchronize_session=False)
    )


def record_result(session: Session, *, job_id: int, result: ImportResult,
                  now: datetime) -> None:
    """The job is done; called in the import's own transaction."""
    _finish(session, job_id, JobState.DONE, now, imported=result.imported,
            visits=result.visits, skipped=result.skipped,
            rows_checked=result.imported + result.skipped, rows_written=result.imported,
            problems=[p.as_dict() for p in result.problems])


def record_refusal(session: Session, *, job_id: int, detail: str,
                   problems: Sequence[dict[str, Any]], now: datetime) -> None:
    """Nothing was imported, for the reasons given (every bad row)."""
    _finish(session, job_id, JobState.REFUSED, now, message=detail[:500],
            rows_written=0, problems=list(problems))


def record_failure(session: Session, *, job_id: int, message: str, now: datetime) -> None:
    _finish(session, job_id, JobState.FAILED, now, message=message[:500], rows_written=0)


def state_of(job: ImportJob, *, runner: str, live: Collection[int], now: datetime) -> JobState:
    """The job's state as shown: a running job nobody runs any longer is interrupted."""
    state = JobState(job.state)
    if state is not JobState.RUNNING:
        return state
    if job.runner == runner:
        return state if job.id in live else JobState.INTERRUPTED
    return JobState.INTERRUPTED if now - job.heartbeat_at > STALE_AFTER else state


def _problem(item: dict[str, Any]) -> RowProblem:
    return RowProblem(int(item.get("index", 0)), str(item.get("field", "")),
                      str(item.get("message", "")))


def view_of(job: ImportJob, state: JobState) -> JobView:
    return JobView(
        id=job.id, study=job.study_code, file_name=job.file_name,
        skip_invalid=job.skip_invalid, state=state, total_rows=job.total_rows,
        rows_checked=job.rows_checked, rows_written=job.rows_written,
        imported=job.imported, visits=job.visits, skipped=job.skipped, message=job.message,
        problems=tuple(_problem(p) for p in job.problems or ()), started_at=job.started_at,
        finished_at=job.finished_at,
    )


def get_job(
    session: Session, *, actor: Actor, study_code: str, job_id: int, runner: str,
    live: Collection[int], now: datetime,
) -> JobView:
    """One of ``actor``'s jobs; another's, or none, is not found (nor revealed)."""
    actor.require_admin()
    job = session.scalars(select(ImportJob).where(
        ImportJob.id == job_id, ImportJob.study_code == study_code,
        ImportJob.actor == actor.name)).first()
    if job is None:
        raise NotFound(f"no import {job_id} of yours in study {study_code}")
    return view_of(job, state_of(job, runner=runner, live=live, now=now))


def recent_jobs(
    session: Session, *, actor: Actor, study_code: str, runner: str, live: Collection[int],
    now: datetime, limit: int = RECENT_JOBS,
) -> list[JobView]:
    """``actor``'s latest jobs in the study, newest first."""
    actor.require_admin()
    jobs = session.scalars(
        select(ImportJob).where(ImportJob.study_code == study_code,
                                ImportJob.actor == actor.name)
        .order_by(ImportJob.id.desc()).limit(limit))
    return [view_of(j, state_of(j, runner=runner, live=live, now=now)) for j in jobs]
