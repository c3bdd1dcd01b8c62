"""The database unavailable or busy: 503 with Retry-After, never a 500 or a long wait.

Real parts only: an SQLite file whose write lock another connection really holds
(``BEGIN IMMEDIATE``, as a long import does), a PostgreSQL URL nothing listens on, and
(with TEST_DATABASE_URL) a PostgreSQL backend really terminated under a request.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, text
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.exc import OperationalError as DBOperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app import migrate
from app.db import Outage, make_engine, make_sessionmaker, outage_of, transaction
from app.main import create_app
from app.settings import Settings
from tests.conftest import PG_URL, drop_database, fresh_database_url
from tests.helpers_subjects import bearer, enrolment_body, load_seed_studies, make_token
from tests.web.helpers import csrf_of, sign_in

LOCK_TIMEOUT = 1.0
# The wait is bounded by the lock timeout; the rest is the request itself.
MARGIN = 3.0
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/test"
SUBJECTS = "/api/v1/studies/UCART-SLE/subjects"


def assert_problem(response: Response, slug: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == 503
    assert "[SQL" not in body["detail"] and "select" not in body["detail"].lower()


def assert_page(response: Response, *words: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert int(response.headers["retry-after"]) > 0
    for word in words:
        assert word in response.text
    assert "Traceback" not in response.text


# --- SQLite: another connection holds the write lock -------------------------------------


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A migrated, seeded SQLite file: (url, admin token, coordinator token)."""
    url = fresh_database_url("sqlite", tmp_path_factory.mktemp("locked"))
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_seed_studies(session)
        admin = make_token(session, "admin")
        coordinator = make_token(session, "coordinator", sites=["YC3H"])
    engine.dispose()
    yield url, admin, coordinator
    drop_database(url)


@contextmanager
def write_lock(url: str) -> Iterator[None]:
    """Hold the database's write lock, as an import's transaction does, until the end."""
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


@pytest.fixture
def locked_app(sqlite_file: tuple[str, str, str]) -> Iterator[TestClient]:
    url = sqlite_file[0]
    app = create_app(Settings(database_url=url, secret_key="test-secret",
                              base_url="http://testserver", db_lock_timeout_seconds=LOCK_TIMEOUT))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_write_while_the_sqlite_write_lock_is_held_is_503_busy_within_the_bound(
    locked_app: TestClient, sqlite_file: tuple[str, str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, admin, _ = sqlite_file
    body = enrolment_body(f"LOCK-{uuid.uuid4().hex[:6]}")
    with write_lock(url), caplog.at_level(logging.WARNING, logger="app"):
        began = time.monotonic()
        refused = locked_app.post(SUBJECTS, json=body, headers=bearer(admin))
        waited = time.monotonic() - began
        # Reads go on during the write (WAL): the worklist still answers.
        read = locked_app.get("/api/v1/studies", headers=bearer(admin))
        ready = locked_app.get("/readyz")
    assert_problem(refused, "database-busy")
    assert "busy" in refused.json()["detail"]
    assert LOCK_TIMEOUT * 0.9 <= waited < LOCK_TIMEOUT + MARGIN, waited
    assert read.status_code == 200, read.text
    assert ready.status_code == 200, ready.text  # busy, not down: keep sending traffic
    warnings = [r for r in caplog.records if r.name.startswith("app.") and r.levelno >= 30]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "database" in warnings[0].getMessage()
    assert body["subject_id"] not in warnings[0].getMessage()  # no SQL, no parameters
    # Once the lock is released the same request goes through.
    done = locked_app.post(SUBJECTS, json=body, headers=bearer(admin))
    assert done.status_code == 201, done.text


def test_a_form_while_the_sqlite_write_lock_is_held_is_a_503_try_again_page(
    locked_app: TestClient, sqlite_file: tuple[str, str, str],
) -> None:
    url, _, coordinator = sqlite_file
    sign_in(locked_app, coordinator)
    form = locked_app.get("/studies/UCART-SLE/enrol")
    assert form.status_code == 200, form.text
    with write_lock(url):
        began = time.monotonic()
        page = locked_app.post("/studies/UCART-SLE/enrol", follow_redirects=False, data={
            "csrf_token": csrf_of(form.text), "subject_id": f"PG-{uuid.uuid4().hex[:6]}",
            "site": "YC3H", "consent_date": "2026-01-05", "date_of_birth": "1980-05-01"})
        waited = time.monotonic() - began
        read = locked_app.get("/worklist")
    assert_page(page, "busy", "try again")
    assert waited < LOCK_TIMEOUT + MARGIN, waited
    assert read.status_code == 200, read.text


def test_the_lock_timeout_is_the_sqlite_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", lock_timeout=2.5)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
    engine.dispose()


def test_the_lock_timeout_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().db_lock_timeout_seconds == 5.0
    monkeypatch.setenv("DB_LOCK_TIMEOUT_SECONDS", "0.5")
    assert Settings().db_lock_timeout_seconds == 0.5
    monkeypatch.setenv("DB_LOCK_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValueError, match="db_lock_timeout_seconds"):
        Settings()


# --- PostgreSQL: nothing answers, the connection is lost, no connection comes free -------


@pytest.fixture
def unreachable() -> Iterator[TestClient]:
    app = create_app(Settings(database_url=UNREACHABLE, secret_key="test-secret",
                              base_url="http://testserver"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_an_unreachable_database_server_is_503_for_the_api(
    unreachable: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app"):
        read = unreachable.get(SUBJECTS, headers=bearer("fu_anything"))
        write = unreachable.post(SUBJECTS, json=enrolment_body(), headers=bearer("fu_anything"))
    for response in (read, write):
        assert_problem(response, "database-unavailable")
    warnings = [r for r in caplog.records if r.name.startswith("app.") and r.levelno >= 30]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    assert all(r.exc_info is None for r in warnings)  # one line each, no traceback


def test_an_unreachable_database_server_is_a_503_try_again_page(unreachable: TestClient) -> None:
    form = unreachable.get("/signin")
    assert form.status_code == 200
    page = unreachable.post("/signin", data={"csrf_token": csrf_of(form.text),
                                             "token": "fu_anything"})
    assert_page(page, "not available", "try again")


def test_liveness_holds_and_readiness_fails_while_the_database_is_unreachable(
    unreachable: TestClient,
) -> None:
    assert unreachable.get("/healthz").status_code == 200
    ready = unreachable.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["type"] == "/problems/not-ready"


def test_no_free_pooled_connection_is_503(sqlite_file: tuple[str, str, str]) -> None:
    url, admin, _ = sqlite_file
    app = create_app(Settings(database_url=url, secret_key="test-secret"))
    # A pool of one connection, held here, that gives up waiting after 0.2 s.
    small = make_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    app.state.engine, app.state.sessionmaker = small, make_sessionmaker(small)
    try:
        with TestClient(app, raise_server_exceptions=False) as client, small.connect():
            response = client.get("/api/v1/studies", headers=bearer(admin))
    finally:
        small.dispose()
    assert_problem(response, "database-unavailable")


def test_other_database_errors_stay_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An unmigrated database has no tables: a bug of the deployment, not an outage.
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    with TestClient(app, raise_server_exceptions=False) as client, \
            caplog.at_level(logging.WARNING, logger="app"):
        response = client.get("/api/v1/studies", headers=bearer("fu_anything"))
    assert response.status_code == 500, response.text
    assert response.json()["type"] == "/problems/internal-error"
    assert "retry-after" not in response.headers
    logged = [r for r in caplog.records if r.name.startswith("app.") and r.levelno >= 30]
    assert [(r.levelno, r.exc_info is not None) for r in logged] == [(logging.ERROR, True)]


@pytest.mark.parametrize(("error", "outage"), [
    (DisconnectionError("connection dropped"), Outage.UNAVAILABLE),
    (PoolTimeout("QueuePool limit reached"), Outage.UNAVAILABLE),
    (DBOperationalError("BEGIN", None, sqlite3.OperationalError("database is locked")),
     Outage.BUSY),
    (DBOperationalError("SELECT 1", None, sqlite3.OperationalError("no such table: x")), None),
    (IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE constraint failed")), None),
    (ValueError("not a database error"), None),
])
def test_which_errors_are_outages(error: Exception, outage: Outage | None) -> None:
    assert outage_of(error) is outage


requires_postgres = pytest.mark.skipif(
    not PG_URL, reason="PostgreSQL tests skipped: TEST_DATABASE_URL is not set")


@pytest.fixture(scope="module")
def pg_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A migrated, seeded PostgreSQL schema of its own: (url, admin token)."""
    url = fresh_database_url("postgresql", tmp_path_factory.mktemp("pg"))
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_seed_studies(session)
        admin = make_token(session, "admin")
    engine.dispose()
    yield url, admin
    drop_database(url)


@contextmanager
def studies_locked(url: str) -> Iterator[Engine]:
    """Hold an exclusive lock on the studies table (every study read waits for it)."""
    engine = make_engine(url)
    schema = url.rsplit("%3D", 1)[1]
    try:
        with engine.connect() as holder:
            holder.execute(text(f"LOCK TABLE {schema}.studies IN ACCESS EXCLUSIVE MODE"))
            yield engine
            holder.rollback()
    finally:
        engine.dispose()


@pytest.mark.postgres
@requires_postgres
def test_a_connection_lost_during_a_request_is_503(pg_database: tuple[str, str]) -> None:
    url, admin = pg_database
    name = f"outage-{uuid.uuid4().hex[:8]}"
    app = create_app(Settings(database_url=f"{url}&application_name={name}",
                              secret_key="test-secret"))
    with TestClient(app, raise_server_exceptions=False) as client, \
            ThreadPoolExecutor(1) as pool:
        # The request waits on the lock held here; its backend is then terminated.
        with studies_locked(url) as engine:
            pending = pool.submit(client.get, "/api/v1/studies", headers=bearer(admin))
            terminated = terminate_waiting(engine, name)
        response = pending.result(timeout=30)
    assert terminated, "the request never waited on the lock"
    assert_problem(response, "database-unavailable")


@pytest.mark.postgres
@requires_postgres
def test_a_lock_wait_cut_short_by_postgresql_lock_timeout_is_503_busy(
    pg_database: tuple[str, str],
) -> None:
    url, admin = pg_database
    # The server's own bound on lock waits, as an operator may set it for the role.
    app = create_app(Settings(database_url=f"{url}%20-clock_timeout%3D500",
                              secret_key="test-secret"))
    with TestClient(app, raise_server_exceptions=False) as client, studies_locked(url):
        began = time.monotonic()
        response = client.get("/api/v1/studies", headers=bearer(admin))
        waited = time.monotonic() - began
    assert_problem(response, "database-busy")
    assert waited < 0.5 + MARGIN, waited


def terminate_waiting(engine: Engine, application_name: str) -> bool:
    """Terminate the backend of ``application_name`` once it waits on a lock."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # A new transaction each time: pg_stat_activity is a snapshot per transaction.
        with engine.connect() as conn:
            if conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :name AND wait_event_type = 'Lock'"
            ), {"name": application_name}).scalar():
                return True
        time.sleep(0.05)
    return False


def test_every_api_operation_documents_the_database_503s() -> None:
    document = create_app(Settings(database_url="sqlite://", secret_key="test-secret")).openapi()
    operations = [(path, method, op) for path, item in document["paths"].items()
                  if path.startswith("/api/") for method, op in item.items()]
    assert operations
    for path, method, op in operations:
        documented = op["responses"].get("503")
        assert documented is not None, f"{method.upper()} {path}"
        assert "Retry-After" in documented["headers"]
        examples = documented["content"]["application/problem+json"]["examples"]
        assert set(examples) == {"database-busy", "database-unavailable"}
