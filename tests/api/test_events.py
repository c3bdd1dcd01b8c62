"""Lifecycle events over HTTP: death ends the follow-up, CR opens the transplant phase."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.services.studies import activate_version, load_schedule
from tests.helpers_subjects import (
    MM,
    NOW,
    SLE,
    assert_problem,
    bearer,
    enrolment_body,
    load_seed_studies,
    make_token,
    seed_text,
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
                                 "state": "pending", "opened_by": None, "opened_on": None}]
    assert _visits(before)["HSCT-D14"]["status"] == "pending"
    cr = client.post(f"{MM_SUBJECT}/events",
                     json={"type": "response", "date": "2025-04-03", "value": "CR"}, headers=edc)
    assert cr.status_code == 201, cr.text
    assert cr.json()["phases"][0] == {
        "code": "HSCT", "name": "Allogeneic HSCT after complete remission", "state": "active",
        "opened_by": "response", "opened_on": "2025-04-03"}
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
    ({"type": "response", "date": "2026-02-20", "value": "CR"}, 422, "unknown-value"),
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


IMWG = ["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD"]


@pytest.mark.parametrize(("value", "hint"), [
    ("cr", " (did you mean CR?)"), ("SCR", " (did you mean sCR?)"), ("VGPR-typo", ""),
])
def test_a_response_outside_the_declared_values_is_refused_naming_them(
    client: TestClient, edc: dict[str, str], value: str, hint: str
) -> None:
    response = client.post(f"{MM_SUBJECT}/events", headers=edc,
                           json={"type": "response", "date": "2025-04-03", "value": value})
    body = assert_problem(response, 422, "unknown-value")
    assert body["detail"] == (f'"{value}" is not a declared response value{hint}; allowed: '
                              + ", ".join(IMWG))
    assert (body["field"], body["allowed"]) == ("value", IMWG)
    after = client.get(MM_SUBJECT, headers=edc).json()
    assert after["events"] == [] and after["phases"][0]["state"] == "pending"


def test_each_study_declares_its_own_values(client: TestClient, edc: dict[str, str]) -> None:
    refused = client.post(f"{SLE_SUBJECT}/events", headers=edc,
                          json={"type": "response", "date": "2026-02-20", "value": "CR"})
    assert assert_problem(refused, 422, "unknown-value")["allowed"] == [
        "DORIS", "LLDAS", "ACTIVE"]
    missing = client.post(f"{SLE_SUBJECT}/events", headers=edc,
                          json={"type": "response", "date": "2026-02-20"})
    assert assert_problem(missing, 422, "invalid-request")["detail"] == (
        "a response event needs a value: one of DORIS, LLDAS, ACTIVE")
    accepted = client.post(f"{SLE_SUBJECT}/events", headers=edc,
                           json={"type": "response", "date": "2026-02-20", "value": "LLDAS"})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["events"][0]["value"] == "LLDAS"


def test_a_subject_on_a_version_without_declared_values_keeps_free_values(
    client: TestClient, session: Session
) -> None:
    """Version 1.0 declared no values: its subject may still record any code (and "cr"
    opens no phase, as before); a subject enrolled on the current version may not."""
    text = seed_text("cart-allo-hsct-rrmm.yaml")
    start, end = text.index("# Response assessments use"), text.index("visits:")
    old = (text[:start] + text[end:]).replace('version: "1.1"', 'version: "1.0"')
    load_schedule(session, text=old, source="mm-1.0.yaml", actor=SYSTEM)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[MM]))
    session.commit()
    body = enrolment_body("MM-OLD", site="MM01", consent_date="2025-01-06",
                          date_of_birth="1970-03-03",
                          anchors=[{"name": "infusion", "date": "2025-02-03", "actual": True}])
    enrolled = client.post(f"/api/v1/studies/{MM}/subjects", json=body, headers=token)
    assert enrolled.status_code == 201, enrolled.text
    load_seed_studies(session)  # version 1.1, with the IMWG values, made the active one
    activate_version(session, study=MM, version="1.1", actor=SYSTEM)
    session.commit()
    new = client.post(f"/api/v1/studies/{MM}/subjects", headers=token,
                      json=body | {"subject_id": "MM-NEW"})
    assert new.json()["protocol_version"] == "1.1"
    cr = {"type": "response", "date": "2025-04-03", "value": "cr"}
    old_subject = client.post(f"/api/v1/studies/{MM}/subjects/MM-OLD/events", json=cr,
                              headers=token)
    assert old_subject.status_code == 201, old_subject.text
    assert old_subject.json()["protocol_version"] == "1.0"
    assert old_subject.json()["phases"][0]["state"] == "pending"
    assert_problem(client.post(f"/api/v1/studies/{MM}/subjects/MM-NEW/events", json=cr,
                               headers=token), 422, "unknown-value")
