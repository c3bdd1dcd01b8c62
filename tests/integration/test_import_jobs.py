"""The import jobs of the pages in a real server process: a worker thread imports in
one transaction while its progress is committed beside it (PostgreSQL), so that another
request reads it mid-import; nothing is visible before the end; SQLite, where one
transaction writes at a time, imports without live progress and never waits on itself."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from app import migrate
from app.db import make_engine, make_sessionmaker, transaction
from app.main import create_app
from app.models import Study, Subject
from app.settings import Settings
from tests.conftest import BACKENDS, drop_database, fresh_database_url
from tests.helpers_subjects import SLE, load_seed_studies, make_token
from tests.web.helpers import csrf_of, sign_in

ROWS = 2500  # three chunks of the import (1,000 rows each)
IMPORT = f"/studies/{SLE}/import"


def csv_text() -> str:
    lines = ["subject_id,site,consent_date,date_of_birth,infusion"]
    lines += [f"J-{i:05d},YC3H,2026-02-01,1980-05-04,2026-02-10" for i in range(ROWS)]
    return "\n".join(lines) + "\n"


@pytest.fixture(params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TestClient, str]]:
    url = fresh_database_url(request.param, tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_seed_studies(session)
        session.execute(update(Study).where(Study.code == SLE).values(target_enrolment=ROWS))
    engine.dispose()
    app = create_app(Settings(database_url=url, secret_key="test-secret",
                              base_url="http://testserver"))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, url
    finally:
        drop_database(url)


def subjects(client: TestClient) -> int:
    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return session.scalar(select(func.count()).select_from(Subject)
                              .where(Subject.subject_id.like("J-%"))) or 0


def wait_until_done(client: TestClient, url: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = client.get(url).text
        if "Importing…" not in page:
            return page
        time.sleep(0.2)
    raise AssertionError("the import did not end")


def test_a_worker_thread_imports_and_its_progress_is_read_mid_import(
    server: tuple[TestClient, str],
) -> None:
    client, url = server
    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        token = make_token(session, "admin", name="watcher")
        session.commit()
    sign_in(client, token)
    progress_committed, go_on = threading.Event(), threading.Event()

    def pause_after_progress(session: Session) -> None:
        # The import thread's first commit is that of its first progress on PostgreSQL
        # (on SQLite, that of the import: no progress is written beside it).
        if threading.current_thread().name == "followup-import" \
                and not progress_committed.is_set():
            progress_committed.set()
            go_on.wait(60)

    event.listen(Session, "after_commit", pause_after_progress)
    try:
        page = client.get(IMPORT)
        started = client.post(IMPORT, data={"csrf_token": csrf_of(page.text)},
                              files={"file": ("big.csv", csv_text().encode(), "text/csv")},
                              follow_redirects=False)
        assert started.status_code == 303, started.text
        job = started.headers["location"]
        if url.startswith("postgresql"):
            assert progress_committed.wait(60)
            running = client.get(job).text
            assert "Importing…" in running
            assert f"1000 of {ROWS} rows checked, 1000 written so far." in running
            assert subjects(client) == 0  # the import's transaction has not ended
        go_on.set()
        done = wait_until_done(client, job)
    finally:
        go_on.set()
        event.remove(Session, "after_commit", pause_after_progress)
    assert re.search(rf'id="import-result">{ROWS} subjects enrolled with \d+ visits\.', done)
    assert subjects(client) == ROWS


def test_the_failure_of_a_job_is_shown_and_nothing_is_imported(
    server: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _ = server
    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        token = make_token(session, "admin", name="watcher")
        session.commit()
    sign_in(client, token)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("app.web.import_runner.record_result", broken)
    page = client.get(IMPORT)
    started = client.post(IMPORT, data={"csrf_token": csrf_of(page.text)},
                          files={"file": ("big.csv", csv_text().encode(), "text/csv")},
                          follow_redirects=False)
    failed = wait_until_done(client, started.headers["location"])
    assert "The import failed: nothing was imported." in failed
    assert "the disk is full" not in failed
    assert subjects(client) == 0
