"""A query parameter a route does not take is refused (422), never silently ignored.

One dependency (app.deps.known_query) serves every route; these tests hold every
operation of the OpenAPI document to it, and the list routes on both databases.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.main import create_app
from app.problems import PROBLEM_JSON
from app.settings import Settings
from tests.helpers_worklist import SLE, add_subject, bearer, load_seeds, make_token

APP = create_app(Settings(database_url="sqlite://", secret_key="test-secret"))  # type: ignore[arg-type]
DOCUMENT = APP.openapi()
METHODS = {"get", "post", "put", "patch", "delete"}


def documented_query(operation: dict[str, Any]) -> list[str]:
    return sorted(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")


OPERATIONS = [
    pytest.param(path, method, operation, id=f"{method.upper()} {path}")
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in METHODS and path.startswith("/api/v1/")
]


def assert_unknown(response: Any, unknown: list[str], accepted: list[str]) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["type"] == "/problems/unknown-query-parameter"
    assert (body["unknown"], body["accepted"]) == (unknown, accepted)
    assert f"unknown query parameter(s): {', '.join(unknown)}" in body["detail"]
    if accepted:
        assert f"accepted: {', '.join(accepted)}" in body["detail"]
    assert [e["location"] for e in body["errors"]] == [f"query.{name}" for name in unknown]
    return body


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_every_operation_refuses_a_query_parameter_it_does_not_take(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    """Whatever route is added later is held to the same rule, and what the refusal lists
    as accepted is exactly what the document says the operation takes."""
    url = re.sub(r"\{[^}]+\}", "X1", path)
    accepted = documented_query(operation)
    with TestClient(APP, raise_server_exceptions=False) as client:
        response = client.request(method.upper(), url, params={"zz_unknown": "1"})
    assert_unknown(response, ["zz_unknown"], accepted)


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_every_operation_documents_the_refusal(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    examples = operation["responses"]["422"]["content"][PROBLEM_JSON]["examples"]
    assert "unknown-query-parameter" in examples


LIST_ROUTES = [
    ("/api/v1/visits", {"stauts": "overdue"}),
    ("/api/v1/visits/summary", {"sites": "YC3H"}),
    (f"/api/v1/studies/{SLE}/subjects", {"lifecyle": "active"}),
    ("/api/v1/audit", {"subject": "YC3H-001"}),
    (f"/api/v1/studies/{SLE}/subjects/S-1/history", {"order": "desc"}),
    ("/api/v1/studies", {"site": "YC3H"}),
    ("/api/v1/sites", {"study": SLE}),
    ("/api/v1/tokens", {"role": "admin"}),
    ("/api/v1/sites/YC3H/feed-tokens", {"revoked": "false"}),
    ("/api/v1/sites/YC3H/recipients", {"limit": "5"}),
]


def operation_of(url: str) -> dict[str, Any]:
    for path, item in DOCUMENT["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", path), url):
            return item["get"]  # type: ignore[no-any-return]
    raise AssertionError(f"{url} is not in the document")


@pytest.mark.parametrize(("url", "misspelt"), LIST_ROUTES, ids=[u for u, _ in LIST_ROUTES])
def test_list_routes_refuse_what_they_would_have_ignored(
    client: TestClient, session: Session, url: str, misspelt: dict[str, str]
) -> None:
    load_seeds(session)
    add_subject(session, SLE, "YC3H", "S-1")
    admin = bearer(make_token(session, "admin"))
    assert client.get(url, headers=admin).status_code == 200
    refused = client.get(url, params=misspelt, headers=admin)
    assert_unknown(refused, sorted(misspelt), documented_query(operation_of(url)))


def test_several_unknown_parameters_are_all_named(client: TestClient, session: Session) -> None:
    load_seeds(session)
    admin = bearer(make_token(session, "admin"))
    response = client.get("/api/v1/visits?status=due&stauts=overdue&sitee=YC3H&limit=5",
                          headers=admin)
    body = assert_unknown(response, ["sitee", "stauts"],
                          documented_query(operation_of("/api/v1/visits")))
    assert "status" in body["accepted"]


def test_the_site_feed_refuses_an_unknown_parameter_before_reading_its_token(
    client: TestClient, session: Session
) -> None:
    load_seeds(session)
    response = client.get("/api/v1/sites/YC3H/calendar.ics",
                          params={"token": "fd_" + "x" * 30, "tz": "UTC"})
    assert_unknown(response, ["tz"], ["token"])
