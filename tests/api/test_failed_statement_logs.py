"""A failed SQL statement is logged by its shape, never with the values it carried.

Parameters may be personal data. They used to be printed with every failed statement
(in the exception's message, so in each log of it), and PostgreSQL repeats the values
of the failing row in its error detail ("Key (code)=(...) already exists").
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.deps import SessionDep
from app.models import Site
from tests.helpers_subjects import assert_problem

CODE = "PII-7Q3Z"  # recognisable values, to look for in the logs
NAME = "Jane Recognisable-Doe"


def _duplicate(session: Session) -> None:
    session.add(Site(code=CODE, name="first", time_zone="Asia/Shanghai"))
    session.flush()
    session.add(Site(code=CODE, name=NAME, time_zone="Asia/Shanghai"))
    session.flush()


def _no_time_zone(session: Session) -> None:
    session.add(Site(code=CODE, name=NAME, time_zone=None))
    session.flush()


def _too_long(session: Session) -> None:
    session.add(Site(code=CODE * 6, name=NAME, time_zone="Asia/Shanghai"))
    session.flush()


def _not_a_date(session: Session) -> None:
    # PostgreSQL quotes the input it cannot read: 'invalid input syntax for type date'.
    session.execute(text("SELECT CAST(:value AS DATE)"), {"value": CODE})


FAILURES: dict[str, Callable[[Session], None]] = {
    "unique violation": _duplicate,
    "not-null violation": _no_time_zone,
    "value too long": _too_long,
    "invalid input": _not_a_date,
}
SQLITE_ACCEPTS = {"value too long", "invalid input"}  # it bounds no length, casts anything


@pytest.fixture(params=FAILURES)
def kind(request: pytest.FixtureRequest, database_url: str) -> str:
    if request.param in SQLITE_ACCEPTS and database_url.startswith("sqlite"):
        pytest.skip(f"no {request.param} on SQLite")
    return str(request.param)


@pytest.fixture
def failing(client: TestClient) -> TestClient:
    """A route of the app whose statement fails as ``?kind=`` says."""

    def fail(request: Request, session: SessionDep, kind: str) -> None:
        FAILURES[kind](session)

    client.app.add_api_route("/test-failing-statement", fail)  # type: ignore[attr-defined]
    return client


def test_a_failed_statement_is_logged_without_its_values(
    failing: TestClient, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.DEBUG)
    response = failing.get("/test-failing-statement", params={"kind": kind})
    assert_problem(response, 500, "internal-error")
    logged = caplog.text
    # The error is logged, with its exception: the statement, not the values.
    assert "unhandled error on GET /test-failing-statement" in logged
    assert "[SQL: " in logged and "[SQL parameters hidden" in logged
    assert CODE not in logged and NAME not in logged


def test_the_exception_a_server_logs_holds_no_values(failing: TestClient, kind: str) -> None:
    # The server logs the exception once more (Starlette re-raises it after the 500).
    raising = TestClient(failing.app, raise_server_exceptions=True)
    with pytest.raises(DBAPIError) as caught:
        raising.get("/test-failing-statement", params={"kind": kind})
    printed = "".join(traceback.format_exception(caught.value))
    assert "[SQL: " in printed
    assert CODE not in printed and NAME not in printed
