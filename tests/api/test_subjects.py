"""The subject routes over HTTP: enrolment, listing, reading, anchors, problem documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers_subjects import (
    MM,
    NOW,
    SLE,
    assert_problem,
    bearer,
    enrolment_body,
    load_seed_studies,
    load_small_study,
    make_token,
    stand_at,
)

BASE = f"/api/v1/studies/{SLE}/subjects"


@pytest.fixture
def edc(client: TestClient, session: Session) -> dict[str, str]:
    load_seed_studies(session)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[SLE, MM]))
    session.commit()  # a request that fails rolls back to here, not further
    return token


def _enrol(client: TestClient, headers: dict[str, str], subject_id: str = "S-001",
           **overrides: object) -> dict[str, Any]:
    response = client.post(BASE, json=enrolment_body(subject_id, **overrides), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _visit(subject: dict[str, Any], code: str) -> dict[str, Any]:
    return next(v for v in subject["visits"] if v["code"] == code)


def test_enrol_returns_the_whole_calendar(client: TestClient, edc: dict[str, str]) -> None:
    response = client.post(BASE, json=enrolment_body(), headers=edc)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{BASE}/S-001"
    body = response.json()
    assert "date_of_birth" not in response.text and "1980-05-01" not in response.text
    assert {k: body[k] for k in ("study", "subject_id", "site", "consent_date", "lifecycle",
                                 "protocol_version", "as_of")} == {
        "study": SLE, "subject_id": "S-001", "site": "YC3H", "consent_date": "2026-01-05",
        "lifecycle": "active", "protocol_version": "1.1", "as_of": "2026-03-01"}
    assert body["anchors"] == [  # in the protocol's order
        {"name": "infusion", "date": "2026-02-01", "actual": True},
        {"name": "consent", "date": "2026-01-05", "actual": True},
    ]
    d14 = _visit(body, "D14")
    assert d14 == {
        "code": "D14", "name": "Day 14 clinic visit", "phase": "main", "kind": "clinic",
        "optional": False, "unscheduled": False, "status": "overdue",
        "target_date": "2026-02-15", "window_start": "2026-02-13", "window_end": "2026-02-17",
        "graded": True, "study_day": 14, "provisional": False, "actual_date": None,
        "days_early": None, "days_late": None, "days_from_target": None, "days_overdue": 12,
        "missed_from": None,
        "assessments": ["AE"], "note": None, "reason": None, "site": "YC3H",
    }
    assert _visit(body, "D28")["status"] == "due"
    assert _visit(body, "M3")["status"] == "scheduled"
    assert [v["code"] for v in body["visits"]][:3] == ["D-2", "D-1", "D0"]
    assert {p["code"] for p in body["periods"]} == {"INPATIENT", "NEAR-SITE", "AE-WINDOW"}
    assert [e["code"] for e in body["endpoint_windows"]] == [
        "DORIS@6 months", "DORIS@12 months", "DORIS@24 months"]
    assert body["phases"] == [] and body["events"] == []


def test_enrolment_errors_are_problem_documents(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    _enrol(client, edc)
    assert_problem(client.post(BASE, json=enrolment_body(), headers=edc), 409, "already-exists")
    young = assert_problem(
        client.post(BASE, json=enrolment_body("S-2", date_of_birth="2010-01-01"), headers=edc),
        422, "ineligible-age")
    assert young["age"] == 16 and young["min_age"] == 18
    assert_problem(client.post(BASE, json=enrolment_body("S-3", consent_date="2026-03-02"),
                               headers=edc), 422, "invalid-date")
    assert_problem(client.post(BASE, json=enrolment_body("S-4", site="MM01"), headers=edc),
                   422, "invalid-request")
    unknown = enrolment_body("S-5", anchors=[{"name": "transplant", "date": "2026-02-01",
                                              "actual": False}])
    assert_problem(client.post(BASE, json=unknown, headers=edc), 422, "invalid-request")
    assert_problem(client.post(BASE, json=enrolment_body(), headers={}), 401, "not-authenticated")


@pytest.mark.parametrize("change", [
    {"subject_id": " 8"},
    {"subject_id": "x" * 41},
    {"consent_date": "1899-12-31"},
    {"consent_date": "2026-02-30"},
    {"date_of_birth": "9999-01-01"},
    {"site": ""},
    {"colour": "blue"},
    {"consent_date": 0},  # not a Unix time
    {"consent_date": "20260105"},
    {"anchors": [{"name": "infusion", "date": "2026-02-01", "actual": 1}]},
    {"anchors": [{"name": "infusion", "date": "2026-02-01", "actual": True}] * 2},
    {"anchors": [{"name": "Infusion!", "date": "2026-02-01", "actual": True}]},
])
def test_malformed_enrolments_name_the_failing_field(
    client: TestClient, edc: dict[str, str], change: dict[str, object]
) -> None:
    body = assert_problem(client.post(BASE, json=enrolment_body(**change), headers=edc),  # type: ignore[arg-type]
                          422, "validation-error")
    assert body["errors"] and all(e["location"].startswith("body") for e in body["errors"])


def test_a_full_study_answers_409(client: TestClient, session: Session) -> None:
    load_seed_studies(session)
    code = load_small_study(session, target=1)
    admin = bearer(make_token(session, "admin"))
    session.commit()
    stand_at(client, NOW)
    url = f"/api/v1/studies/{code}/subjects"
    assert client.post(url, json=enrolment_body("T-1"), headers=admin).status_code == 201
    body = assert_problem(client.post(url, json=enrolment_body("T-2"), headers=admin),
                          409, "study-full")
    assert "target of 1" in body["detail"]


def test_who_may_enrol(client: TestClient, session: Session, edc: dict[str, str]) -> None:
    monitor = bearer(make_token(session, "monitor", studies=[SLE]))
    coordinator = bearer(make_token(session, "coordinator", sites=["WTCH"]))
    other_edc = bearer(make_token(session, "edc", studies=[MM]))
    session.commit()
    assert_problem(client.post(BASE, json=enrolment_body(), headers=monitor), 403, "forbidden")
    assert_problem(client.post(BASE, json=enrolment_body(), headers=coordinator),
                   403, "forbidden")
    assert_problem(client.post(BASE, json=enrolment_body(), headers=other_edc), 404, "not-found")
    ok = client.post(BASE, json=enrolment_body(site="WTCH"), headers=coordinator)
    assert ok.status_code == 201


def test_list_pages_filters_and_hides_other_sites(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    for n in range(3):
        _enrol(client, edc, f"S-{n}", site="YC3H" if n != 1 else "WTCH")
    page = client.get(BASE, params={"limit": 2}, headers=edc).json()
    assert [s["subject_id"] for s in page["items"]] == ["S-0", "S-1"]
    assert set(page["items"][0]) == {"study", "subject_id", "site", "consent_date", "lifecycle",
                                     "protocol_version", "enrolled_at", "consent_version"}
    rest = client.get(BASE, params={"limit": 2, "cursor": page["next_cursor"]}, headers=edc)
    assert [s["subject_id"] for s in rest.json()["items"]] == ["S-2"]
    assert rest.json()["next_cursor"] is None
    only = client.get(BASE, params={"site": "WTCH"}, headers=edc).json()
    assert [s["subject_id"] for s in only["items"]] == ["S-1"]
    assert client.get(BASE, params={"lifecycle": "died"}, headers=edc).json()["items"] == []
    coordinator = bearer(make_token(session, "coordinator", sites=["WTCH"]))
    session.commit()
    seen = client.get(BASE, headers=coordinator).json()["items"]
    assert [s["subject_id"] for s in seen] == ["S-1"]
    assert_problem(client.get(BASE, params={"limit": 0}, headers=edc), 422, "validation-error")
    assert_problem(client.get(BASE, params={"lifecycle": "zombie"}, headers=edc),
                   422, "validation-error")
    assert_problem(client.get(BASE, params={"cursor": "bm9wZQ"}, headers=edc),
                   422, "invalid-cursor")
    assert_problem(client.get("/api/v1/studies/NOPE/subjects", headers=edc), 404, "not-found")


def test_read_one_subject_as_of_a_date(client: TestClient, edc: dict[str, str]) -> None:
    _enrol(client, edc)
    body = client.get(f"{BASE}/S-001", params={"as_of": "2026-02-14"}, headers=edc).json()
    assert body["as_of"] == "2026-02-14" and _visit(body, "D14")["status"] == "due"
    for bad in ("0001-01-01", "0", "2026-02-30"):
        assert_problem(client.get(f"{BASE}/S-001", params={"as_of": bad}, headers=edc),
                       422, "validation-error")
    assert_problem(client.get(f"{BASE}/S-404", headers=edc), 404, "not-found")
    assert_problem(client.get(f"{BASE}/%20S-001", headers=edc), 422, "validation-error")


def test_a_shanghai_visit_is_overdue_at_shanghai_midnight(
    client: TestClient, edc: dict[str, str]
) -> None:
    _enrol(client, edc)  # D14 window closes on 17 February 2026
    stand_at(client, datetime(2026, 2, 17, 15, 59, tzinfo=UTC))  # 23:59 in Shanghai
    before = client.get(f"{BASE}/S-001", headers=edc).json()
    assert before["as_of"] == "2026-02-17" and _visit(before, "D14")["status"] == "due"
    stand_at(client, datetime(2026, 2, 17, 16, 0, tzinfo=UTC))  # midnight in Shanghai
    after = client.get(f"{BASE}/S-001", headers=edc).json()
    assert after["as_of"] == "2026-02-18"
    assert _visit(after, "D14")["status"] == "overdue"
    assert _visit(after, "D14")["days_overdue"] == 1


def test_a_subject_of_another_site_is_not_found(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    _enrol(client, edc)
    wtch = bearer(make_token(session, "coordinator", sites=["WTCH"]))
    yc3h = bearer(make_token(session, "coordinator", sites=["YC3H"]))
    session.commit()
    assert client.get(f"{BASE}/S-001", headers=yc3h).status_code == 200
    assert_problem(client.get(f"{BASE}/S-001", headers=wtch), 404, "not-found")
    put = {"date": "2026-02-03", "actual": True, "reason": "moved"}
    assert_problem(client.put(f"{BASE}/S-001/anchors/infusion", json=put, headers=wtch),
                   404, "not-found")


def test_reanchoring_over_http(client: TestClient, session: Session, edc: dict[str, str]) -> None:
    _enrol(client, edc, anchors=[
        {"name": "infusion", "date": "2026-01-20", "actual": True}])
    done = client.post(f"{BASE}/S-001/visits/D14/completion",
                       json={"actual_date": "2026-02-03"}, headers=edc)
    assert done.status_code == 201
    url = f"{BASE}/S-001/anchors/infusion"
    assert_problem(client.put(url, json={"date": "2026-01-22", "actual": True}, headers=edc),
                   422, "reason-required")
    moved = client.put(url, json={"date": "2026-01-22", "actual": True,
                                  "reason": "infusion delayed"}, headers=edc)
    assert moved.status_code == 200, moved.text
    body = moved.json()
    # Completed: the actual date stays, the target follows the anchor (re-evaluated).
    assert _visit(body, "D14")["target_date"] == "2026-02-05"
    assert _visit(body, "D14")["actual_date"] == "2026-02-03"
    assert _visit(body, "D28")["target_date"] == "2026-02-19"  # moved by two days
    assert {"name": "infusion", "date": "2026-01-22", "actual": True} in body["anchors"]
    monitor = bearer(make_token(session, "monitor", studies=[SLE]))
    session.commit()
    assert_problem(client.put(url, json={"date": "2026-01-23", "actual": True, "reason": "x"},
                              headers=monitor), 403, "forbidden")
    assert_problem(client.put(f"{BASE}/S-001/anchors/transplant",
                              json={"date": "2026-02-01", "actual": False}, headers=edc),
                   404, "not-found")
    assert_problem(client.put(f"{BASE}/S-001/anchors/Not-A-Name",
                              json={"date": "2026-02-01", "actual": False}, headers=edc),
                   422, "validation-error")
    assert_problem(client.put(url, json={"date": "2026-03-09", "actual": True}, headers=edc),
                   422, "invalid-date")


def test_the_openapi_document_describes_each_problem(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    subject = "/api/v1/studies/{study}/subjects/{subject_id}"
    mine = ["/api/v1/studies/{study}/subjects", subject, subject + "/anchors/{anchor}",
            subject + "/events", subject + "/visits", subject + "/visits/{visit_code}/completion",
            subject + "/visits/{visit_code}/missed"]
    ours = {p: paths[p] for p in mine}
    for path, operations in ours.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"401", "422"} <= set(responses), (path, method)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    examples = response["content"]["application/problem+json"]["examples"]
                    assert all(e["value"]["status"] == int(status) for e in examples.values())
