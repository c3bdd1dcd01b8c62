"""One structured log line per request, the request id, and errors logged with their cause."""

from __future__ import annotations

import json
import logging
import logging.config
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.cli.serve import log_config
from app.main import create_app
from app.settings import Settings
from tests.conftest import share_session
from tests.helpers_access import SLE, new_token
from tests.helpers_subjects import bearer, enrol_sle, load_seed_studies


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.requests"]


@pytest.fixture
def token(session: Session) -> str:
    load_seed_studies(session)
    enrol_sle(session, "S-SECRET-7")
    raw = new_token(session, "admin", name="edc-bridge")
    session.commit()
    return raw


def test_one_line_per_request_with_the_route_template_and_no_secrets(
    client: TestClient, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app")
    response = client.get(f"/api/v1/studies/{SLE}/subjects/S-SECRET-7",
                          params={"as_of": "2026-03-01"}, headers=bearer(token))
    assert response.status_code == 200
    (line,) = request_lines(caplog)
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/studies/{study}/subjects/{subject_id}"
    assert line["status"] == 200 and line["actor"] == "edc-bridge"
    assert line["request_id"] == response.headers["x-request-id"]
    assert isinstance(line["duration_ms"], float) and line["time"].endswith("+00:00")
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (token, "S-SECRET-7", "2026-03-01"):
        assert secret not in everything


def test_refusals_and_unknown_paths_are_logged_too(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app")
    client.get("/api/v1/studies")  # no token
    client.get("/no/such/page")
    client.delete("/api/v1/studies")
    assert [(x["route"], x["status"], x["actor"]) for x in request_lines(caplog)] == [
        ("/api/v1/studies", 401, None), ("(no route)", 404, None), ("/api/v1/studies", 405, None),
    ]


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [("edc-4711.retry:2", True), ("has spaces", False), ("x" * 65, False), ("", False)],
)
def test_a_plain_request_id_is_echoed_anything_else_replaced(
    client: TestClient, sent: str, echoed: bool
) -> None:
    got = client.get("/healthz", headers={"X-Request-ID": sent}).headers["x-request-id"]
    if echoed:
        assert got == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", got)


def test_an_unhandled_error_is_logged_with_its_traceback_and_answered_with_the_id(
    settings: Settings, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    app = share_session(create_app(settings), session)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the cause of it all")

    caplog.set_level(logging.INFO, logger="app")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "req-1"})
    assert response.status_code == 500
    assert response.json()["type"] == "/problems/internal-error"
    assert response.headers["x-request-id"] == "req-1"
    (error,) = [r for r in caplog.records if r.name == "app.problems"]
    assert error.exc_info is not None and error.exc_info[0] is RuntimeError
    assert "req-1" in error.getMessage()
    assert "the cause of it all" in caplog.text and "NoneType: None" not in caplog.text
    assert [(x["route"], x["status"]) for x in request_lines(caplog)] == [("/boom", 500)]


def test_the_servers_logging_sends_the_application_lines_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.config.dictConfig(log_config("info"))
    try:
        logging.getLogger("app.requests").info('{"route":"/x"}')
        logging.getLogger("app.requests").debug("not at info")
        assert capsys.readouterr().err.endswith('INFO app.requests {"route":"/x"}\n')
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,
                                   "loggers": {"app": {"handlers": [], "propagate": True,
                                                       "level": "NOTSET"}}})
