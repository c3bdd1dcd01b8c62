"""Lifecycle events over HTTP: death ends the follow-up, CR opens the transplant phase."""

from __future__ import annotations

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
    make_token,
    stand_at,
)

SLE_SUBJECT = f"/api/v1/studies/{SLE}/subjects/S-001"
MM_SUBJECT = f"/api/v1/studies/{MM}/subjects/MM-001"


@pytest.fixture
def edc(client: TestClient, session: Session) -> dict[str, str]:
    load_seed_studies(session)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[SLE, MM]))
    session.commit()
    for study, body in (
        (SLE, enrolment_body()),
        (MM, enrolment_body("MM-001", site="MM01", consent_date="2025-01-06",
                            date_of_birth="1970-03-03",
                            anchors=[{"name": "infusion", "date": "2025-02-03",
                                      "actual": True}])),
    ):
        response = client.post(f"/api/v1/studies/{study}/subjects", json=body, headers=token)
        assert response.status_code == 201, response.text
    return token


def _visits(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["code"]: v for v in body["visits"]}


def test_death_cancels_future_visits(client: TestClient, edc: dict[str, str]) -> None:
    done = client.post(f"{SLE_SUBJECT}/visits/D14/completion", json={"actual_date": "2026-02-15"},
                       headers=edc)
    assert done.status_code == 201
    response = client.post(f"{SLE_SUBJECT}/events",
                           json={"type": "death", "date": "2026-02-20", "note": "sepsis"},
                           headers=edc)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == SLE_SUBJECT
    body = response.json()
    assert body["lifecycle"] == "died"
    assert body["events"][0]["type"] == "death" and body["events"][0]["note"] == "sepsis"
    visits = _visits(body)
    assert visits["D14"]["status"] == "completed"
    for code in ("M3", "M6", "M12", "M24"):
        assert visits[code]["status"] == "cancelled"
        assert visits[code]["reason"] == "death on 2026-02-20"
    assert [e["status"] for e in body["endpoint_windows"]] == ["cancelled"] * 3
    again = client.post(f"{SLE_SUBJECT}/events", json={"type": "death", "date": "2026-02-21"},
                        headers=edc)
    assert_problem(again, 409, "already-recorded")
    later = client.post(f"{SLE_SUBJECT}/events",
                        json={"type": "progression", "date": "2026-02-21"}, headers=edc)
    assert_problem(later, 409, "subject-ended")
    listed = client.get(f"/api/v1/studies/{SLE}/subjects", params={"lifecycle": "died"},
                        headers=edc)
    assert [s["subject_id"] for s in listed.json()["items"]] == ["S-001"]


def test_complete_remission_opens_the_transplant_phase(
    client: TestClient, edc: dict[str, str]
) -> None:
    before = client.get(MM_SUBJECT, headers=edc).json()
    assert before["phases"] == [{"code": "HSCT", "name": "Allogeneic HSCT after complete remission",
                                 "state": "pending"}]
    assert _visits(before)["HSCT-D14"]["status"] == "pending"
    cr = client.post(f"{MM_SUBJECT}/events",
                     json={"type": "response", "date": "2025-04-03", "value": "CR"}, headers=edc)
    assert cr.status_code == 201, cr.text
    assert cr.json()["phases"][0]["state"] == "active"
    assert _visits(cr.json())["HSCT-D14"]["reason"] == "waiting for anchor transplant"
    planned = client.put(f"{MM_SUBJECT}/anchors/transplant",
                         json={"date": "2025-05-05", "actual": False}, headers=edc)
    assert planned.status_code == 200, planned.text
    hsct = _visits(planned.json())["HSCT-D14"]
    assert (hsct["target_date"], hsct["provisional"], hsct["status"]) == (
        "2025-05-19", True, "overdue")
    confirmed = client.put(f"{MM_SUBJECT}/anchors/transplant",
                           json={"date": "2025-05-05", "actual": True}, headers=edc)
    assert _visits(confirmed.json())["HSCT-D14"]["provisional"] is False
    period = next(p for p in confirmed.json()["periods"] if p["code"] == "HSCT-INPATIENT")
    assert (period["start"], period["end"]) == ("2025-05-05", "2025-06-04")


def test_progression_closes_the_phase_and_stops_response_visits(
    client: TestClient, edc: dict[str, str]
) -> None:
    body = client.post(f"{MM_SUBJECT}/events", json={"type": "progression",
                                                      "date": "2025-03-20"}, headers=edc).json()
    visits = _visits(body)
    assert visits["HSCT-D0"]["status"] == "not_applicable"
    assert visits["M3"]["status"] == "cancelled" and visits["M6"]["status"] != "cancelled"
    assert body["lifecycle"] == "active"


@pytest.mark.parametrize(("body", "status", "slug"), [
    ({"type": "response", "date": "2026-02-20"}, 422, "invalid-request"),
    ({"type": "withdrawal", "date": "2026-02-20", "value": "CR"}, 422, "invalid-request"),
    ({"type": "withdrawal", "date": "2026-03-02"}, 422, "invalid-date"),
    ({"type": "withdrawal", "date": "2025-12-31"}, 422, "invalid-date"),
    ({"type": "abduction", "date": "2026-02-20"}, 422, "validation-error"),
    ({"type": "death", "date": "2026-02-20", "note": "x" * 1001}, 422, "validation-error"),
    ({"type": "response", "date": "2026-02-20", "value": "C R"}, 422, "validation-error"),
])
def test_event_errors(
    client: TestClient, edc: dict[str, str], body: dict[str, Any], status: int, slug: str
) -> None:
    assert_problem(client.post(f"{SLE_SUBJECT}/events", json=body, headers=edc), status, slug)


def test_events_are_scoped_and_need_write_access(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    monitor = bearer(make_token(session, "monitor", studies=[SLE]))
    other = bearer(make_token(session, "coordinator", sites=["WTCH"]))
    session.commit()
    death = {"type": "death", "date": "2026-02-20"}
    assert_problem(client.post(f"{SLE_SUBJECT}/events", json=death, headers=monitor),
                   403, "forbidden")
    assert_problem(client.post(f"{SLE_SUBJECT}/events", json=death, headers=other),
                   404, "not-found")
    assert client.get(SLE_SUBJECT, headers=edc).json()["lifecycle"] == "active"
