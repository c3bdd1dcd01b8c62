"""GET /metrics: requests by route template and status, worklist rows, bulk imports, pool.

In-process, each app counts alone (its own registry); the several-workers case, where
the counts of every worker are added up, is tests/e2e/test_metrics_server.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.orm import Session

from app.main import create_app
from app.metrics import DURATION_BUCKETS
from app.settings import Settings
from tests.conftest import share_session
from tests.helpers_subjects import (
    NOW,
    SLE,
    bearer,
    enrolment_body,
    load_seed_studies,
    make_token,
    stand_at,
)
from tests.helpers_web import OWN_SITE, Seeded, seed_rich
from tests.web.helpers import sign_in

METRICS_TOKEN = "scrape-secret-0123456789"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}
SUBJECT_ROUTE = "/api/v1/studies/{study}/subjects/{subject_id}"
Labels = dict[str, str]


@pytest.fixture
def metrics_settings(settings: Settings) -> Settings:
    return Settings(**{**settings.model_dump(), "metrics_enabled": True,
                       "metrics_token": SecretStr(METRICS_TOKEN)})


@pytest.fixture
def metrics_client(metrics_settings: Settings, session: Session) -> Iterator[TestClient]:
    app = share_session(create_app(metrics_settings), session)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def scrape(client: TestClient) -> str:
    response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return response.text


def samples(text: str, name: str) -> list[tuple[Labels, float]]:
    return [(dict(s.labels), s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]


def value(text: str, name: str, **labels: str) -> float:
    """The sample of ``name`` whose labels include ``labels`` (0 when there is none)."""
    found = [v for have, v in samples(text, name) if labels.items() <= have.items()]
    assert len(found) <= 1, found
    return found[0] if found else 0.0


def test_requests_are_counted_by_route_template_and_status(
    metrics_client: TestClient, session: Session
) -> None:
    load_seed_studies(session)
    token = make_token(session, "admin")
    stand_at(metrics_client, NOW)
    url = f"/api/v1/studies/{SLE}/subjects"
    assert metrics_client.post(url, json=enrolment_body("S-METRIC-1"),
                               headers=bearer(token)).status_code == 201
    for _ in range(2):
        assert metrics_client.get(f"{url}/S-METRIC-1", headers=bearer(token)).status_code == 200
    assert metrics_client.get(f"{url}/S-NOBODY-9", headers=bearer(token)).status_code == 404
    assert metrics_client.get("/no/such/page").status_code == 404

    text = scrape(metrics_client)
    requests = "followup_http_requests_total"
    assert value(text, requests, method="GET", route=SUBJECT_ROUTE, status="200") == 2
    assert value(text, requests, method="GET", route=SUBJECT_ROUTE, status="404") == 1
    assert value(text, requests, method="POST", route="/api/v1/studies/{study}/subjects",
                 status="201") == 1
    assert value(text, requests, method="GET", route="(no route)", status="404") == 1
    # Labels are templates: no subject id, study code or unknown path ever appears.
    for raw in ("S-METRIC-1", "S-NOBODY-9", SLE, "/no/such/page"):
        assert raw not in text

    # The histogram: one bucket per bound from 1 ms to 10 s, then +Inf, cumulative.
    buckets = {labels["le"]: v for labels, v in
               samples(text, "followup_http_request_duration_seconds_bucket")
               if labels["route"] == SUBJECT_ROUTE and labels["method"] == "GET"}
    assert list(buckets) == [*(str(float(b)) for b in DURATION_BUCKETS), "+Inf"]
    assert list(buckets.values()) == sorted(buckets.values()) and buckets["+Inf"] == 3
    assert value(text, "followup_http_request_duration_seconds_count",
                 route=SUBJECT_ROUTE) == 3
    assert 0 < value(text, "followup_http_request_duration_seconds_sum", route=SUBJECT_ROUTE)


def test_methods_no_route_takes_share_one_label(metrics_client: TestClient) -> None:
    metrics_client.request("BREW", "/api/v1/studies")
    text = scrape(metrics_client)
    assert "BREW" not in text
    assert value(text, "followup_http_requests_total", method="other",
                 route="/api/v1/studies") == 1


def test_worklist_rows_served_by_the_api_and_the_pages(
    metrics_client: TestClient, session: Session
) -> None:
    seeded: Seeded = seed_rich(session)
    stand_at(metrics_client, NOW)
    before = scrape(metrics_client)
    assert value(before, "followup_worklist_rows_total", edge="api") == 0  # there from the start
    assert value(before, "followup_worklist_rows_total", edge="web") == 0

    api = metrics_client.get("/api/v1/visits", params={"site": OWN_SITE, "limit": 3},
                             headers=bearer(seeded.admin))
    assert api.status_code == 200 and len(api.json()["items"]) == 3
    sign_in(metrics_client, seeded.coordinator)
    page = metrics_client.get("/worklist")
    assert page.status_code == 200
    shown = len(re.findall(r'data-subject="[^"]+" data-visit="[^"]+"', page.text))
    assert shown > 0

    text = scrape(metrics_client)
    assert value(text, "followup_worklist_rows_total", edge="api") == 3
    assert value(text, "followup_worklist_rows_total", edge="web") == shown
    assert value(text, "followup_http_requests_total", route="/api/v1/visits",
                 status="200") == 1


def test_batch_imports_count_subjects_imported_and_rows_refused(
    metrics_client: TestClient, session: Session
) -> None:
    load_seed_studies(session)
    edc = make_token(session, "edc", studies=[SLE])
    stand_at(metrics_client, NOW)
    url = f"/api/v1/studies/{SLE}/subjects:batch"
    good = [enrolment_body(f"B-{i}") for i in range(3)]
    assert metrics_client.post(url, json=good, headers=bearer(edc)).status_code == 201
    bad = [enrolment_body("C-1"), enrolment_body("C-2", date_of_birth="2015-01-01"),
           enrolment_body("C-3"), enrolment_body("C-4")]
    assert metrics_client.post(url, json=bad, headers=bearer(edc)).status_code == 422

    text = scrape(metrics_client)
    assert value(text, "followup_import_subjects_total", source="api_batch") == 3
    # All or nothing: the refused batch's four rows, the valid ones included.
    assert value(text, "followup_import_rows_refused_total", source="api_batch") == 4
    assert value(text, "followup_http_requests_total",
                 route="/api/v1/studies/{study}/subjects:batch", status="422") == 1


def test_the_pool_gauges_follow_connections_in_use(
    metrics_client: TestClient, metrics_settings: Settings
) -> None:
    engine = metrics_client.app.state.engine  # type: ignore[attr-defined]
    text = scrape(metrics_client)
    assert value(text, "followup_db_pool_size") == metrics_settings.db_pool_size
    assert value(text, "followup_db_pool_max_overflow") == metrics_settings.db_max_overflow
    assert value(text, "followup_db_pool_connections_in_use") == 0
    with engine.connect(), engine.connect():
        assert value(scrape(metrics_client), "followup_db_pool_connections_in_use") == 2
    # /readyz asks the database through the pool, and gives its connection back.
    assert metrics_client.get("/readyz").status_code == 200
    assert value(scrape(metrics_client), "followup_db_pool_connections_in_use") == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "not-bearer", "longer", "empty"],
)
def test_metrics_want_the_metrics_token(
    metrics_client: TestClient, headers: dict[str, str]
) -> None:
    response = metrics_client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "followup_" not in response.text


def test_an_api_token_does_not_open_the_metrics(
    metrics_client: TestClient, session: Session
) -> None:
    admin = make_token(session, "admin")
    assert metrics_client.get("/metrics", headers=bearer(admin)).status_code == 401


def test_metrics_are_not_in_the_openapi_document(metrics_client: TestClient) -> None:
    assert "/metrics" not in metrics_client.get("/openapi.json").json()["paths"]


def test_metrics_are_off_by_default(client: TestClient, settings: Settings) -> None:
    assert settings.metrics_enabled is False
    assert client.get("/metrics", headers=SCRAPE).status_code == 404
    assert client.app.state.metrics is None  # type: ignore[attr-defined]
