"""A request that may write begins its SQLite transaction as a writer (BEGIN IMMEDIATE)
at its first statement; a read begins a plain one. Without a statement of its own: the
session's engine carries the option."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from app import migrate
from app.db import make_engine, make_sessionmaker, transaction, writing
from app.main import create_app
from app.settings import Settings
from tests.conftest import fresh_database_url
from tests.helpers_subjects import SLE, bearer, enrolment_body, load_seed_studies, make_token


@pytest.fixture
def app_and_token(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    url = fresh_database_url("sqlite", tmp_path)
    migrate.upgrade(url=url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        load_seed_studies(session)
        admin = make_token(session, "admin")
    engine.dispose()
    app = create_app(Settings(database_url=url, secret_key="test-secret",
                              base_url="http://testserver"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, admin


def _statements(client: TestClient) -> list[str]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(client.app.state.engine, "before_cursor_execute", record)  # type: ignore[attr-defined]
    return seen


def test_a_write_begins_immediate_and_a_read_does_not(
    app_and_token: tuple[TestClient, str],
) -> None:
    client, admin = app_and_token
    seen = _statements(client)
    enrolled = client.post(f"/api/v1/studies/{SLE}/subjects", json=enrolment_body(),
                           headers=bearer(admin))
    assert enrolled.status_code == 201, enrolled.text
    assert seen[0] == "BEGIN IMMEDIATE"
    assert "BEGIN IMMEDIATE" not in seen[1:]  # one transaction
    seen.clear()
    read = client.get(f"/api/v1/studies/{SLE}/subjects/S-001", headers=bearer(admin))
    assert read.status_code == 200, read.text
    assert seen[0] == "BEGIN"


def test_writing_sessions_share_the_pool_and_take_the_write_lock(tmp_path: Path) -> None:
    engine = make_engine(fresh_database_url("sqlite", tmp_path))
    factory = make_sessionmaker(engine)
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: seen.append(statement))
    with writing(factory)() as session:
        session.execute(text("SELECT 1"))
        assert session.get_bind().pool is engine.pool
    with factory() as session:
        session.execute(text("SELECT 1"))
    assert seen == ["BEGIN IMMEDIATE", "SELECT 1", "BEGIN", "SELECT 1"]
    engine.dispose()
