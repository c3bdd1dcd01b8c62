"""Security headers on every kind of response the server gives.

The API, its problem documents (a 500 too), the pages and their redirects, static
files, 404s and 405s, the documentation and /healthz: none may be framed, sniffed
or loaded with scripts from elsewhere, and no URL leaves as a Referer.
"""

from __future__ import annotations

import pytest
from fastapi import Response
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers_subjects import bearer, make_token

FEED = "/api/v1/sites/YC3H/calendar.ics?token=fd_" + "x" * 30

# (what kind of response, method, path, status)
RESPONSES = [
    ("health", "GET", "/healthz", 200),
    ("document", "GET", "/openapi.json", 200),
    ("api", "GET", "/api/v1/sites", 200),
    ("problem 401", "GET", "/api/v1/studies", 401),
    ("problem 422", "POST", "/api/v1/sites", 422),
    ("problem 404", "GET", "/api/v1/nothing-here", 404),
    ("problem 405", "DELETE", "/healthz", 405),
    ("problem 413", "POST", "/api/v1/sites?big", 413),
    ("problem 500", "GET", "/test-fails", 500),
    ("feed", "GET", FEED, 401),
    ("redirect", "GET", "/", 303),
    ("redirect to sign in", "GET", "/worklist", 303),
    ("page", "GET", "/signin", 200),
    ("static file", "GET", "/static/followup.css", 200),
    ("static script", "GET", "/static/record.js", 200),
    ("static head", "HEAD", "/static/followup.css", 200),
    ("static 404", "GET", "/static/nothing.css", 404),
    ("docs", "GET", "/docs", 200),
    ("redoc", "GET", "/redoc", 200),
]


def _fails() -> None:
    raise RuntimeError("an unexpected failure")


def _own_policy() -> Response:
    return Response("own", headers={"Content-Security-Policy": "default-src 'none'"})


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    client.app.add_api_route("/test-fails", _fails)  # type: ignore[attr-defined]
    client.app.add_api_route("/test-own-policy", _own_policy)  # type: ignore[attr-defined]
    token = bearer(make_token(session, "admin"))
    session.commit()
    return token


@pytest.mark.parametrize(("kind", "method", "path", "status"), RESPONSES,
                         ids=[r[0] for r in RESPONSES])
def test_every_kind_of_response_carries_the_security_headers(
    client: TestClient, admin: dict[str, str], kind: str, method: str, path: str, status: int
) -> None:
    body = b"{" + b" " * 2_000_000 + b"}" if path.endswith("?big") else b"{}"
    token = {} if status == 401 else admin
    response = client.request(method, path, headers={**token, "Content-Type": "application/json"},
                              content=body if method == "POST" else None,
                              follow_redirects=False)
    assert response.status_code == status, response.text
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert "'unsafe-inline'" not in _directive(policy, "script-src")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def _directive(policy: str, name: str) -> list[str]:
    for directive in policy.split(";"):
        parts = directive.split()
        if parts and parts[0] == name:
            return parts[1:]
    raise AssertionError(f"no {name} in {policy}")


def test_scripts_and_styles_come_only_from_this_server(
    client: TestClient, admin: dict[str, str]
) -> None:
    policy = client.get("/api/v1/sites", headers=admin).headers["Content-Security-Policy"]
    assert _directive(policy, "script-src") == ["'self'"]
    assert _directive(policy, "style-src") == ["'self'"]
    # The bars of the study and subject pages set their width in a style attribute.
    assert _directive(policy, "style-src-attr") == ["'unsafe-inline'"]
    assert _directive(policy, "img-src") == ["'self'"]
    assert _directive(policy, "object-src") == ["'none'"]


def test_the_documentation_pages_get_only_what_they_need(client: TestClient) -> None:
    docs = client.get("/docs").headers["Content-Security-Policy"]
    assert _directive(docs, "script-src") == ["'self'"]
    # Swagger UI's stylesheet draws its icons as data: images.
    assert _directive(docs, "img-src") == ["'self'", "data:"]
    assert _directive(docs, "style-src") == ["'self'"]
    redoc = client.get("/redoc").headers["Content-Security-Policy"]
    assert _directive(redoc, "script-src") == ["'self'"]
    # ReDoc adds style elements and starts its search worker from a blob at run time.
    assert _directive(redoc, "style-src") == ["'self'", "'unsafe-inline'"]
    assert _directive(redoc, "worker-src") == ["blob:"]
    for policy in (docs, redoc):
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


def test_a_policy_a_response_sets_itself_is_kept(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.get("/test-own-policy")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
