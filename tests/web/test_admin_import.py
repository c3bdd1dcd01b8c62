"""Subjects imported from a CSV file on the pages, for an admin: the upload starts an
import job whose page shows its progress, refreshing itself, then the result: all or
nothing with every bad row listed by line and column, or the good rows only with the bad
ones listed. A job is seen only by whoever started it; a job whose server stopped shows
as interrupted. Not allowed to anyone else; CSRF-checked."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ImportJob, Subject
from app.services.bulk.jobs import STALE_AFTER, JobState, record_progress, state_of
from app.web.import_runner import ImportRunner
from tests.helpers_subjects import SLE, make_token
from tests.helpers_web import NOW, Seeded, seed, stand_at
from tests.web.helpers import csrf_of, sign_in

IMPORT = f"/studies/{SLE}/import"
HEADER = "subject_id,site,consent_date,date_of_birth,infusion\n"
GOOD = ("IMP-001,YC3H,2026-02-01,1980-05-04,2026-02-10\n"
        "IMP-002,WTCH,2026-02-02,1981-01-01,\n")
BAD = ("IMP-003,NOPE,2026-02-03,1982-01-01,\n"
       "IMP-004,YC3H,2026-02-30,1983-01-01,\n")
REFRESH = '<meta http-equiv="refresh" content="2">'


class HeldJobs:
    """The jobs the pages started, held until the test runs them (in its transaction)."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], None]] = []

    def spawn(self, work: Callable[[], None]) -> None:
        self.waiting.append(work)

    def run(self) -> None:
        while self.waiting:
            self.waiting.pop(0)()


@contextmanager
def in_test_session(session: Session) -> Iterator[Session]:
    """A job's transaction, on the test's (commit = SAVEPOINT), as a request's is."""
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    else:
        session.commit()
    finally:
        session.expunge_all()


def held_runner(session: Session, held: HeldJobs) -> ImportRunner:
    return ImportRunner(units=partial(in_test_session, session), progress_units=None,
                        clock=lambda: NOW, spawn=held.spawn)


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    return seed(session)


@pytest.fixture
def jobs(client: TestClient, session: Session) -> HeldJobs:
    held = HeldJobs()
    client.app.state.import_runner = held_runner(session, held)  # type: ignore[attr-defined]
    return held


def upload(client: TestClient, text: str, *, skip_invalid: bool = False) -> Response:
    token = csrf_of(client.get(IMPORT).text)
    data = {"csrf_token": token} | ({"skip_invalid": "yes"} if skip_invalid else {})
    return client.post(IMPORT, data=data, files={"file": ("subjects.csv", text.encode(),
                                                          "text/csv")},
                       follow_redirects=False)


def job_url(response: Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(rf"{IMPORT}/\d+", location), location
    return location


def imported(session: Session) -> list[str]:
    session.flush()
    return list(session.scalars(select(Subject.subject_id).where(
        Subject.subject_id.like("IMP-%")).order_by(Subject.subject_id)))


def test_an_admin_imports_a_file_and_watches_it_run(
    client: TestClient, session: Session, seeded: Seeded, jobs: HeldJobs
) -> None:
    sign_in(client, seeded.admin)
    assert f'href="{IMPORT}"' in client.get(f"/studies/{SLE}").text
    url = job_url(upload(client, HEADER + GOOD))
    running = client.get(url)
    assert running.status_code == 200
    assert REFRESH in running.text and "Importing…" in running.text
    assert '<progress max="2" value="0"' in running.text
    assert "0 of 2 rows checked, 0 written so far." in running.text
    assert imported(session) == []  # nothing until the job has run
    listed = client.get(IMPORT).text
    assert f'href="{url}"' in listed and re.search(r'id="job-state-\d+">running<', listed)

    jobs.run()
    done = client.get(url)
    assert done.status_code == 200 and REFRESH not in done.text
    assert re.search(r'id="import-result">2 subjects enrolled with \d+ visits\.', done.text)
    assert imported(session) == ["IMP-001", "IMP-002"]
    assert re.search(r'id="job-state-\d+">done<', client.get(IMPORT).text)


def test_the_progress_of_a_running_job_is_shown(
    client: TestClient, session: Session, seeded: Seeded, jobs: HeldJobs
) -> None:
    sign_in(client, seeded.admin)
    url = job_url(upload(client, HEADER + GOOD * 2 + "\n\n"))  # blank lines are not rows
    job_id = int(url.rsplit("/", 1)[1])
    record_progress(session, job_id=job_id, checked=3, written=2, now=NOW)
    session.commit()
    page = client.get(url).text
    assert '<progress max="4" value="3"' in page and "75%" in page
    assert "3 of 4 rows checked, 2 written so far." in page and REFRESH in page


def test_one_bad_row_imports_nothing_and_every_bad_row_is_listed(
    client: TestClient, session: Session, seeded: Seeded, jobs: HeldJobs
) -> None:
    sign_in(client, seeded.admin)
    url = job_url(upload(client, HEADER + GOOD + BAD))
    jobs.run()
    response = client.get(url)
    assert response.status_code == 200 and REFRESH not in response.text
    assert "Nothing was imported: 2 invalid row(s); nothing was imported." in response.text
    rows = re.findall(r"<li><strong>Line (\d+)</strong> · <code>([^<]*)</code>: ", response.text)
    assert ("4", "site") in rows and ("5", "consent_date") in rows
    assert imported(session) == []
    header = job_url(upload(client, "subject_id,site\n"))
    jobs.run()
    refused = client.get(header).text
    assert "required column is missing" in refused and "Not imported" in refused


def test_the_good_rows_only(
    client: TestClient, session: Session, seeded: Seeded, jobs: HeldJobs
) -> None:
    sign_in(client, seeded.admin)
    url = job_url(upload(client, HEADER + GOOD + BAD, skip_invalid=True))
    jobs.run()
    response = client.get(url)
    assert "2 invalid rows skipped" in response.text
    skipped = re.findall(r"<li><strong>Line (\d+)</strong>", response.text.split(
        'aria-label="Rows skipped"')[1])
    assert skipped == ["4", "5"]
    assert imported(session) == ["IMP-001", "IMP-002"]


def test_another_admins_job_is_not_shown(
    client: TestClient, session: Session, seeded: Seeded, jobs: HeldJobs
) -> None:
    sign_in(client, seeded.admin)
    url = job_url(upload(client, HEADER + GOOD))
    other = make_token(session, "admin", name="other-admin")
    session.commit()
    client.cookies.clear()
    sign_in(client, other)
    assert client.get(url).status_code == 404
    assert url not in client.get(IMPORT).text
    jobs.run()
    assert client.get(url).status_code == 404


def test_a_job_whose_server_stopped_shows_as_interrupted(
    client: TestClient, session: Session, seeded: Seeded, jobs: HeldJobs
) -> None:
    sign_in(client, seeded.admin)
    url = job_url(upload(client, HEADER + GOOD))
    # The server restarts: the held job is lost with its process; a new runner serves.
    jobs.waiting.clear()
    client.app.state.import_runner = held_runner(session, HeldJobs())  # type: ignore[attr-defined]
    # Another process may still be running it, until its progress is stale.
    assert "Importing…" in client.get(url).text
    stand_at(client, NOW + STALE_AFTER + timedelta(seconds=1))
    page = client.get(url).text
    assert "Interrupted" in page and "nothing was imported" in page and REFRESH not in page
    assert re.search(r'id="job-state-\d+">interrupted<', client.get(IMPORT).text)
    session.expire_all()
    assert session.scalars(select(ImportJob.state)).all() == ["running"]  # shown, not stored
    assert imported(session) == []


def test_a_job_that_ended_here_is_not_taken_for_interrupted_by_an_older_snapshot(
    client: TestClient, session: Session, seeded: Seeded, jobs: HeldJobs
) -> None:
    # A page's transaction that began before the job's outcome was committed still reads
    # the job's row as running; once the job has left the runner, that read must not say
    # "interrupted" (the next look reads the outcome).
    sign_in(client, seeded.admin)
    url = job_url(upload(client, HEADER + GOOD))
    runner = client.app.state.import_runner  # type: ignore[attr-defined]
    job_id = int(url.rsplit("/", 1)[1])
    stale = ImportJob(id=job_id, state=JobState.RUNNING.value, runner=runner.runner_id,
                      heartbeat_at=NOW)
    assert state_of(stale, runner=runner.runner_id, live=runner.live, now=NOW) \
        is JobState.RUNNING
    jobs.run()  # the job ends and commits its outcome
    assert state_of(stale, runner=runner.runner_id, live=runner.live, now=NOW) \
        is JobState.RUNNING
    done = client.get(url).text  # the outcome, read in a new transaction
    assert re.search(r'id="import-result">2 subjects enrolled with \d+ visits\.', done)


def test_only_an_admin_imports(
    client: TestClient, session: Session, seeded: Seeded, jobs: HeldJobs
) -> None:
    sign_in(client, seeded.admin)
    url = job_url(upload(client, HEADER + GOOD))
    client.cookies.clear()
    sign_in(client, seeded.coordinator)
    assert client.get(IMPORT).status_code == 403
    assert client.get(url).status_code == 403
    token = csrf_of(client.get("/worklist").text)
    response = client.post(IMPORT, data={"csrf_token": token},
                           files={"file": ("s.csv", (HEADER + GOOD).encode(), "text/csv")})
    assert response.status_code == 403
    assert len(jobs.waiting) == 1  # the admin's only
    assert imported(session) == []


def test_the_form_needs_the_sessions_csrf_token(
    client: TestClient, seeded: Seeded, jobs: HeldJobs
) -> None:
    sign_in(client, seeded.admin)
    response = client.post(IMPORT, files={"file": ("s.csv", (HEADER + GOOD).encode(),
                                                    "text/csv")})
    assert response.status_code == 403 and "Form expired" in response.text
    assert jobs.waiting == []


def test_a_file_must_be_chosen(client: TestClient, seeded: Seeded, jobs: HeldJobs) -> None:
    sign_in(client, seeded.admin)
    token = csrf_of(client.get(IMPORT).text)
    response = client.post(IMPORT, data={"csrf_token": token},
                           files={"file": ("", b"", "text/csv")})
    assert response.status_code == 422 and "choose a CSV file" in response.text
    assert jobs.waiting == []
