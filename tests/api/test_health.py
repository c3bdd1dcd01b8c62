"""Liveness and readiness probes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


def test_healthz_and_readyz_on_a_migrated_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ok"}


def test_readyz_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    body = ready.json()
    assert body["type"] == "/problems/not-ready"
    assert "code expects" in body["detail"]


def test_every_body_route_documents_unparsable_and_oversized_bodies(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    with_body = [
        (path, method, op)
        for path, item in paths.items()
        for method, op in item.items()
        if "requestBody" in op
    ]
    assert with_body
    for path, method, op in with_body:
        assert {"400", "413"} <= set(op["responses"]), f"{method.upper()} {path}"
