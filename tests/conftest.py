"""Shared fixtures: real SQLite and (when TEST_DATABASE_URL is set) real PostgreSQL.

Each backend's database is built once per run by the Alembic migrations. Every test runs
inside a transaction that is rolled back at the end; code under test may commit, which
only releases a SAVEPOINT (SQLAlchemy's "join an external transaction" recipe).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from app import migrate
from app.access import Actor, Role
from app.db import make_engine
from app.deps import commit_request, get_session
from app.main import create_app
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not PG_URL, reason="PostgreSQL tests skipped: TEST_DATABASE_URL is not set"
        ),
    ),
]


def pg_schema_url(base: str, schema: str) -> str:
    """A URL whose connections use their own schema, so runs never see each other."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


def fresh_database_url(backend: str, tmp_dir: Path) -> str:
    """A new, empty database of the backend (a file, or a new PostgreSQL schema)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / f'followup-{uuid.uuid4().hex[:8]}.db'}"
    assert PG_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return pg_schema_url(PG_URL, schema)


def drop_database(url: str) -> None:
    if url.startswith("postgresql") and PG_URL:
        schema = url.rsplit("%3D", 1)[1]
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("db"))
    migrate.upgrade(url=url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, secret_key="test-secret", base_url="http://testserver"
    )


def share_session(app: FastAPI, session: Session) -> FastAPI:
    """Make every request of ``app`` run in the test's session (commit = SAVEPOINT)."""

    def test_session() -> Iterator[Session]:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        else:
            commit_request(session)
        finally:
            # Nothing may rely on objects loaded by an earlier request.
            session.expunge_all()

    app.dependency_overrides[get_session] = test_session
    return app


@pytest.fixture
def client(settings: Settings, session: Session) -> Iterator[TestClient]:
    app = share_session(create_app(settings), session)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


ADMIN = Actor(name="test-admin", role=Role.ADMIN)


# Under pytest-xdist with --dist loadgroup (`make test`), the tests under each path below
# run on one worker, so their servers, and Chromium, start once rather than on every
# worker. Every other test is handed out on its own, in collection order, so a worker
# runs its SQLite tests before its PostgreSQL ones and builds each database once.
# (pytest 9.2 ignores the node-id suffix through which xdist 3.8 applies xdist_group
# marks, so the groups are given by path here, in the scheduler.)
ONE_WORKER = {
    "tests/api/test_fuzz.py": "fuzz",
    "tests/e2e/": "e2e",
    "tests/e2e_browser/": "browser",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

    class PathGroups(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            for path, group in ONE_WORKER.items():
                if nodeid.startswith(path):
                    return group
            return str(super()._split_scope(nodeid))

    return PathGroups(config, log)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per skip reason with its count, instead of one line per skipped test."""
    places: dict[str, list[str]] = {}
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple | list) and len(report.longrepr) == 3:
            path, line, reason = report.longrepr
            reason = str(reason).removeprefix("Skipped: ")
            where = os.path.relpath(path, terminalreporter.startpath)
            places.setdefault(reason, []).append(f"{where}:{line}")
    if not places:
        return
    terminalreporter.write_sep("=", "skipped tests, by reason", yellow=True)
    for reason, where in sorted(places.items(), key=lambda item: (-len(item[1]), item[0])):
        count = f"{len(where)} test" + ("s" if len(where) > 1 else "")
        if len(set(where)) == 1:
            count += f" ({where[0]})"
        terminalreporter.write_line(f"{count}: {reason}")
