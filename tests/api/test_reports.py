"""GET /api/v1/studies/{study}/reports/compliance|endpoints over HTTP: the hand-counted
study of tests/helpers_reports.py, scoping, parameters and problems."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.problems import PROBLEM_JSON
from tests.helpers_reports import REPORT_NOW, seed_report_study
from tests.helpers_worklist import MM, SLE, bearer, make_token, stand_at

COMPLIANCE = f"/api/v1/studies/{SLE}/reports/compliance"
ENDPOINTS = f"/api/v1/studies/{SLE}/reports/endpoints"


@pytest.fixture
def tokens(session: Session, client: TestClient) -> dict[str, str]:
    seed_report_study(session)
    stand_at(client, REPORT_NOW)
    return {
        "admin": make_token(session, "admin"),
        "nurse": make_token(session, "coordinator", sites=["YC3H"]),
        "monitor": make_token(session, "monitor", studies=[SLE]),
        "mm-monitor": make_token(session, "monitor", studies=[MM]),
        "edc": make_token(session, "edc", studies=[SLE]),
        "mm-edc": make_token(session, "edc", studies=[MM]),
    }


def get(client: TestClient, token: str, url: str, **params: Any) -> Any:
    response = client.get(url, params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def cell(body: dict[str, Any], site: str, key: str, value: str) -> dict[str, Any]:
    found = [r for r in body["rows"] if r["site"] == site and r[key] == value]
    assert len(found) == 1
    return found[0]


def test_compliance_report(client: TestClient, tokens: dict[str, str]) -> None:
    body = get(client, tokens["monitor"], COMPLIANCE)
    assert body["study"] == SLE and body["as_of"] == {"WTCH": "2026-09-01",
                                                       "YC3H": "2026-09-01"}
    d14 = cell(body, "YC3H", "visit", "D14")
    assert d14 == {
        "site": "YC3H", "visit": "D14", "name": "Day 14 clinic visit", "expected": 3,
        "in_window": 1, "early": 1, "late": 0, "missed_documented": 1,
        "missed_undocumented": 0, "overdue": 0,
        "rates": {"in_window": 0.3333, "early": 0.3333, "late": 0.0,
                  "missed_documented": 0.3333, "missed_undocumented": 0.0, "overdue": 0.0},
    }
    assert cell(body, "WTCH", "visit", "D14")["missed_undocumented"] == 2
    assert [s["site"] for s in body["by_site"]] == ["WTCH", "YC3H"]
    assert body["total"]["expected"] == 24 and body["total"]["overdue"] == 3
    earlier = get(client, tokens["monitor"], COMPLIANCE, as_of="2026-05-10")
    assert earlier["as_of"] == {"WTCH": "2026-05-10", "YC3H": "2026-05-10"}
    assert cell(earlier, "YC3H", "visit", "M6")["expected"] == 2


def test_endpoint_report(client: TestClient, tokens: dict[str, str]) -> None:
    body = get(client, tokens["admin"], ENDPOINTS)
    assert body["subjects"] == 7
    six = cell(body, "YC3H", "code", "DORIS@6 months")
    assert six == {
        "site": "YC3H", "endpoint": "DORIS", "time_point": "6 months",
        "code": "DORIS@6 months", "name": "DORIS remission (drug-free maintenance)",
        "met": 1, "open": 0, "scheduled": 0, "missed": 2, "pending": 1, "cancelled": 0,
        "total": 4, "decided": 3, "met_rate": 0.3333,
    }
    assert [t["code"] for t in body["by_time_point"]] == [
        "DORIS@6 months", "DORIS@12 months", "DORIS@24 months"]


def test_a_coordinators_report_has_only_its_sites(
    client: TestClient, tokens: dict[str, str]
) -> None:
    for url in (COMPLIANCE, ENDPOINTS):
        body = get(client, tokens["nurse"], url)
        assert {r["site"] for r in body["rows"]} == {"YC3H"}
        assert list(body["as_of"]) == ["YC3H"]
        assert "WTCH" not in str(body)
    assert get(client, tokens["nurse"], COMPLIANCE)["total"]["expected"] == 15


@pytest.mark.parametrize("role", ["monitor", "edc"])
def test_study_tokens_see_their_studies_only(
    client: TestClient, tokens: dict[str, str], role: str
) -> None:
    assert get(client, tokens[role], COMPLIANCE)["total"]["expected"] == 24
    for url in (COMPLIANCE, ENDPOINTS):
        response = client.get(url, headers=bearer(tokens[f"mm-{role}"]))
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON
    # Exactly like a study that does not exist.
    missing = client.get("/api/v1/studies/NO-SUCH/reports/compliance",
                         headers=bearer(tokens["admin"]))
    assert missing.status_code == 404 and missing.json()["type"].endswith("/not-found")


def test_parameters_are_checked(client: TestClient, tokens: dict[str, str]) -> None:
    unknown = client.get(COMPLIANCE, params={"format": "csv"}, headers=bearer(tokens["admin"]))
    assert unknown.status_code == 422
    assert unknown.json()["type"].endswith("/unknown-query-parameter")
    bad = client.get(ENDPOINTS, params={"as_of": "2026-13-01"}, headers=bearer(tokens["admin"]))
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM_JSON
    assert client.get(COMPLIANCE).status_code == 401
