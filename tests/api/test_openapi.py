"""The OpenAPI document describes every operation, its success and its problems.

Generic over ``app.openapi()``: every route anyone adds is held to the same bar.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.main import create_app
from app.problems import PROBLEM_JSON
from app.settings import Settings
from tests.helpers_worklist import bearer, make_token

DOCUMENT = create_app(
    Settings(database_url="sqlite://", secret_key="test-secret")  # type: ignore[arg-type]
).openapi()
METHODS = {"get", "post", "put", "patch", "delete"}
OPERATIONS = [
    pytest.param(path, method, operation, id=f"{method.upper()} {path}")
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]


def problem_documented(operation: dict[str, Any], status: int) -> bool:
    response = operation["responses"].get(str(status))
    if response is None:
        return False
    content = response.get("content", {}).get(PROBLEM_JSON)
    return content is not None and "schema" in content


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_operation_is_documented(path: str, method: str, operation: dict[str, Any]) -> None:
    missing: list[str] = []
    if not operation.get("summary"):
        missing.append("a summary")
    responses = operation["responses"]
    successes = [code for code in responses if code.startswith("2")]
    if not successes:
        missing.append("a 2xx response")
    for code in successes:
        content = responses[code].get("content")
        if code != "204" and not any("schema" in media for media in (content or {}).values()):
            missing.append(f"a {code} response model")
    if operation.get("security"):
        if not problem_documented(operation, 401):
            missing.append("401 problem")
    has_path_params = any(p["in"] == "path" for p in operation.get("parameters", []))
    if has_path_params and not problem_documented(operation, 404):
        missing.append("404 problem")
    takes_input = bool(operation.get("parameters")) or "requestBody" in operation
    if takes_input and not problem_documented(operation, 422):
        missing.append("422 problem")
    for code, response in responses.items():
        if code[0] in "45":
            media = response.get("content", {})
            if PROBLEM_JSON not in media:
                missing.append(f"{code} as {PROBLEM_JSON}")
            elif not ({"example", "examples"} & set(media[PROBLEM_JSON])):
                missing.append(f"an example of the {code} problem")
    assert not missing, f"{method.upper()} {path} lacks: {', '.join(missing)}"


def test_no_route_documents_fastapis_own_validation_error() -> None:
    """422 responses are problem documents, never FastAPI's HTTPValidationError."""
    assert "HTTPValidationError" not in DOCUMENT["components"]["schemas"]


def test_problem_schema() -> None:
    problem = DOCUMENT["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail"}


def test_every_parameter_is_constrained() -> None:
    """Path parameters and free-text query parameters have a pattern or bounds, so ids
    such as " 8" or of 5,000 characters are refused before any query runs."""
    loose = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] not in ("path", "query"):
                    continue
                schema = parameter["schema"]
                variants = [resolve(v) for v in schema.get("anyOf", [schema])]
                for variant in variants:
                    if variant.get("type") == "array":
                        variant = resolve(variant["items"])
                    if variant.get("type") == "string" and not (
                        {"pattern", "maxLength", "enum", "format"} & set(variant)
                    ):
                        loose.append(f"{method.upper()} {path} {parameter['name']}")
    assert not loose


def test_document_is_public(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["paths"].keys() == DOCUMENT["paths"].keys()


@pytest.mark.parametrize(
    ("method", "url", "status", "kind"),
    [
        ("GET", "/api/v1/nothing-here", 404, "not-found"),
        ("GET", "/no/such/page.json", 404, "not-found"),
        ("DELETE", "/api/v1/studies", 405, "method-not-allowed"),
        ("POST", "/api/v1/visits", 405, "method-not-allowed"),
        ("PUT", "/healthz", 405, "method-not-allowed"),
    ],
)
def test_unknown_routes_and_wrong_methods_are_problems(
    client: TestClient, method: str, url: str, status: int, kind: str
) -> None:
    response = client.request(method, url, headers={"Accept": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert (body["type"], body["status"]) == (f"/problems/{kind}", status)
    assert body["title"] and body["detail"]
    if status == 405:
        assert response.headers["allow"]


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.mark.parametrize("path", sorted(DOCUMENT["paths"]))
def test_a_405_lists_every_method_the_path_takes(client: TestClient, path: str) -> None:
    expected = {m.upper() for m in DOCUMENT["paths"][path]}
    url = path.replace("{", "X").replace("}", "")  # any value matches a path parameter
    for method in (m for m in METHODS if m not in expected):
        response = client.request(method, url)
        assert response.status_code == 405, (method, url, response.text)
        assert set(response.headers["allow"].split(", ")) == expected, (method, url)


def test_validation_errors_are_problems_naming_the_fields(
    client: TestClient, session: Session
) -> None:
    body = {"code": "", "time_zone": 7}
    stranger = client.post("/api/v1/sites", json=body, headers=bearer("fu_whatever"))
    # Authentication comes first: nothing about the request is checked for a stranger.
    assert stranger.status_code == 401
    assert stranger.headers["content-type"] == PROBLEM_JSON
    admin = bearer(make_token(session, "admin"))
    response = client.post("/api/v1/sites", json=body, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["type"] == "/problems/validation-error"
    locations = {e["location"] for e in problem["errors"]}
    assert {"body.code", "body.name", "body.time_zone"} <= locations
    assert all(e["message"] and e["type"] for e in problem["errors"])
    assert "body.code" in problem["detail"]
