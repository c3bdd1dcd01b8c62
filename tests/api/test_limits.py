"""Limits on input: oversized bodies (announced or streamed) get 413, non-JSON bodies 415."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import ApiToken
from app.settings import Settings
from tests.conftest import share_session
from tests.helpers_access import new_token
from tests.helpers_subjects import bearer, load_seed_studies

LIMIT = 2048


@pytest.fixture
def small(settings: Settings, session: Session) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"max_body_bytes": LIMIT}))
    share_session(app, session)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    load_seed_studies(session)
    raw = new_token(session, "admin", name="root")
    session.commit()
    return bearer(raw)


def token_body(padding: int) -> bytes:
    return json.dumps({"role": "admin", "name": "padded", "pad": "x" * padding}).encode()


def tokens(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ApiToken)) or 0


def assert_problem(response: object, status: int, slug: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"] == f"/problems/{slug}" and body["status"] == status


def test_a_body_over_the_limit_is_413_before_any_work(
    small: TestClient, session: Session, admin: dict[str, str]
) -> None:
    before = tokens(session)
    response = small.post("/api/v1/tokens", content=token_body(LIMIT),
                          headers=admin | {"Content-Type": "application/json"})
    assert_problem(response, 413, "too-large")
    assert str(LIMIT) in response.json()["detail"]
    assert tokens(session) == before


def test_a_streamed_body_without_length_is_counted(
    small: TestClient, session: Session, admin: dict[str, str]
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 512  # JSON allows leading whitespace: only the size is wrong

    response = small.post("/api/v1/tokens", content=chunks(),
                          headers=admin | {"Content-Type": "application/json"})
    assert_problem(response, 413, "too-large")


def test_a_streamed_body_under_the_limit_goes_through(
    small: TestClient, admin: dict[str, str]
) -> None:
    body = json.dumps({"role": "admin", "name": "streamed"}).encode()
    response = small.post("/api/v1/tokens", content=iter([body[:10], body[10:]]),
                          headers=admin | {"Content-Type": "application/json"})
    assert response.status_code == 201, response.text


def test_a_body_just_under_the_limit_is_accepted(
    small: TestClient, admin: dict[str, str]
) -> None:
    body = token_body(0)
    body = body[:-1] + b" " * (LIMIT - len(body)) + b"}"
    assert len(body) == LIMIT
    response = small.post("/api/v1/tokens", content=body,
                          headers=admin | {"Content-Type": "application/json"})
    # Within the limit: the route itself answers (the extra field is refused there).
    assert response.status_code == 422 and "pad" in response.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/xml", ""])
def test_api_bodies_must_be_json(
    small: TestClient, session: Session, admin: dict[str, str], content_type: str
) -> None:
    before = tokens(session)
    response = small.post("/api/v1/tokens", content=b'{"role": "admin"}',
                          headers=admin | {"Content-Type": content_type})
    assert_problem(response, 415, "unsupported-media-type")
    assert tokens(session) == before


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/merge-patch+json"])
def test_json_media_types_are_accepted(
    small: TestClient, admin: dict[str, str], content_type: str
) -> None:
    response = small.post("/api/v1/tokens", content=b'{"role": "admin"}',
                          headers=admin | {"Content-Type": content_type})
    assert response.status_code == 201, response.text


def test_malformed_json_is_a_problem(small: TestClient, admin: dict[str, str]) -> None:
    response = small.post("/api/v1/tokens", content=b'{"role": ',
                          headers=admin | {"Content-Type": "application/json"})
    assert_problem(response, 422, "validation-error")


def test_unknown_routes_and_methods_are_problems(small: TestClient,
                                                 admin: dict[str, str]) -> None:
    assert_problem(small.get("/api/v1/nowhere", headers=admin), 404, "not-found")
    assert_problem(small.patch("/api/v1/tokens", headers=admin), 405, "method-not-allowed")


def test_the_limit_applies_to_every_path(small: TestClient) -> None:
    # Even before authentication: nobody gets to make the server read a huge body.
    response = small.post("/api/v1/tokens", content=b"x" * (LIMIT + 1))
    assert_problem(response, 413, "too-large")
    response = small.put("/anything", content=b"x" * (LIMIT + 1))
    assert_problem(response, 413, "too-large")


def test_string_lengths_and_code_patterns_are_bounded(
    small: TestClient, admin: dict[str, str]
) -> None:
    for body in (
        {"role": "coordinator", "sites": ["Y" * 41]},
        {"role": "coordinator", "sites": ["../etc"]},
        {"role": "coordinator", "sites": [" YC3H"]},
        {"role": "edc", "studies": ["S"] * 201},
    ):
        response = small.post("/api/v1/tokens", json=body, headers=admin)
        assert_problem(response, 422, "validation-error")
    long_query = small.get("/api/v1/audit?actor=" + "a" * 101, headers=admin)
    assert_problem(long_query, 422, "validation-error")
    for query in ("from=2026-01-01T00:00:00", "to=0.5", "from=0001-01-01T00:00:00Z",
                  "to=9999-12-31T00:00:00Z", "from=2026-02-30T00:00:00Z"):
        refused = small.get(f"/api/v1/audit?{query}", headers=admin)
        assert_problem(refused, 422, "validation-error")
    ok = small.get("/api/v1/audit", params={"from": "2026-01-01T08:00:00+08:00"}, headers=admin)
    assert ok.status_code == 200
    far = small.post("/api/v1/tokens", headers=admin,
                     json={"role": "admin", "expires_at": "9999-01-01T00:00:00Z"})
    assert_problem(far, 422, "validation-error")
