"""An event change that would leave recorded visits in a phase not open is refused (409
naming them), whether the response is removed, corrected, or a progression is dated
before it; nothing is dropped, and the visits can be taken back the way they came."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord
from tests.helpers_subjects import (
    MM,
    NOW,
    assert_problem,
    bearer,
    enrolment_body,
    load_seed_studies,
    make_token,
    stand_at,
)

SUBJECT = f"/api/v1/studies/{MM}/subjects/MM-001"
WITHOUT = ("subject MM-001: without this event, phase HSCT has not opened (waiting for"
           " response CR/sCR), yet visits of it are recorded ({}): a visit recorded in a phase"
           " needs the event that opens it")
BOTH = "HSCT-D0 completed on 2025-05-05, HSCT-D14 completed on 2025-05-20"


@pytest.fixture
def mm(client: TestClient, session: Session) -> dict[str, str]:
    load_seed_studies(session)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[MM]))
    session.commit()  # kept when a refused request rolls back
    return token


def _post(client: TestClient, url: str, body: dict[str, Any], headers: dict[str, str],
          status: int = 201) -> Any:
    answer = client.post(url, json=body, headers=headers)
    assert answer.status_code == status, answer.text
    return answer.json()


def _transplanted(client: TestClient, headers: dict[str, str], *, d14: bool = True) -> int:
    """MM-001 in CR on 3 April 2025, transplanted on 5 May (HSCT-D0), seen on Day +15;
    the id of the CR event."""
    _post(client, f"/api/v1/studies/{MM}/subjects", enrolment_body(
        "MM-001", site="MM01", consent_date="2025-01-06", date_of_birth="1970-03-03",
        anchors=[{"name": "infusion", "date": "2025-02-03", "actual": True}]), headers)
    document = _post(client, f"{SUBJECT}/events",
                     {"type": "response", "date": "2025-04-03", "value": "CR"}, headers)
    put = client.put(f"{SUBJECT}/anchors/transplant", json={"date": "2025-05-05",
                                                              "actual": True}, headers=headers)
    assert put.status_code == 200, put.text
    if d14:
        _post(client, f"{SUBJECT}/visits/HSCT-D14/completion", {"actual_date": "2025-05-20"},
              headers)
    return int(document["events"][0]["id"])


def _visits(client: TestClient, headers: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    document = client.get(SUBJECT, headers=headers).json()
    return {v["code"]: (v["status"], v["actual_date"]) for v in document["visits"]
            if v["phase"] == "HSCT" and v["actual_date"]}


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditRecord.action).where(
        AuditRecord.subject_id == "MM-001").order_by(AuditRecord.id)))


def test_removing_the_response_that_opened_the_phase_is_refused(
    client: TestClient, session: Session, mm: dict[str, str]
) -> None:
    cr = _transplanted(client, mm)
    before = _actions(session)
    removed = client.delete(f"{SUBJECT}/events/{cr}", params={"reason": "entered in error"},
                            headers=mm)
    problem = assert_problem(removed, 409, "conflict")
    assert problem["detail"] == WITHOUT.format(BOTH)
    assert problem["recorded_visits"] == ["HSCT-D0", "HSCT-D14"]
    # Nothing changed: the response, the visits and the trail are as they were.
    assert _visits(client, mm) == {"HSCT-D0": ("completed", "2025-05-05"),
                                   "HSCT-D14": ("completed", "2025-05-20")}
    assert len(client.get(SUBJECT, headers=mm).json()["events"]) == 1
    assert _actions(session) == before


def test_a_correction_that_keeps_the_phase_open_is_accepted_one_that_closes_it_is_not(
    client: TestClient, mm: dict[str, str]
) -> None:
    cr = _transplanted(client, mm)
    vgpr = client.patch(f"{SUBJECT}/events/{cr}", json={"value": "VGPR", "reason": "misread"},
                        headers=mm)
    assert assert_problem(vgpr, 409, "conflict")["detail"] == WITHOUT.format(BOTH).replace(
        "without this event", "with this event")
    # Dated later, the CR still opens the phase (no progression before it).
    late = client.patch(f"{SUBJECT}/events/{cr}", json={"date": "2025-06-10", "reason": "r"},
                        headers=mm)
    assert late.status_code == 200, late.text
    # A progression on 1 June would now come first: the phase could never have opened.
    progression = {"type": "progression", "date": "2025-06-01"}
    refused = client.post(f"{SUBJECT}/events", json=progression, headers=mm)
    assert assert_problem(refused, 409, "conflict")["detail"].startswith(
        "subject MM-001: with this event, phase HSCT can no longer open (progression on"
        " 2025-06-01), yet visits of it are recorded (HSCT-D0 completed on 2025-05-05,")
    scr = client.patch(f"{SUBJECT}/events/{cr}", json={"value": "sCR", "date": "2025-04-03",
                                                        "reason": "stringent"}, headers=mm)
    assert scr.status_code == 200, scr.text
    _post(client, f"{SUBJECT}/events", progression, mm)
    after = client.patch(f"{SUBJECT}/events/{cr}", json={"date": "2025-06-05", "reason": "r"},
                         headers=mm)
    assert assert_problem(after, 409, "conflict")["recorded_visits"] == ["HSCT-D0", "HSCT-D14"]
    assert _visits(client, mm) == {"HSCT-D0": ("completed", "2025-05-05"),
                                   "HSCT-D14": ("completed", "2025-05-20")}


def test_a_progression_dated_before_the_response_is_refused(
    client: TestClient, mm: dict[str, str]
) -> None:
    _transplanted(client, mm, d14=False)
    early = client.post(f"{SUBJECT}/events", json={"type": "progression",
                                                    "date": "2025-03-20"}, headers=mm)
    assert assert_problem(early, 409, "conflict")["detail"] == (
        "subject MM-001: with this event, phase HSCT can no longer open (progression on"
        " 2025-03-20), yet visits of it are recorded (HSCT-D0 completed on 2025-05-05): a"
        " visit recorded in a phase needs the event that opens it")
    # A progression after the response leaves the phase as it was.
    _post(client, f"{SUBJECT}/events", {"type": "progression", "date": "2025-06-01"}, mm)
    assert _visits(client, mm) == {"HSCT-D0": ("completed", "2025-05-05")}


def test_once_the_visits_are_taken_back_the_response_may_go(
    client: TestClient, session: Session, mm: dict[str, str]
) -> None:
    cr = _transplanted(client, mm, d14=False)
    # The transplant back to a planned date reopens HSCT-D0 (one fact, one entry).
    planned = client.put(f"{SUBJECT}/anchors/transplant",
                         json={"date": "2025-05-05", "actual": False, "reason": "not done"},
                         headers=mm)
    assert planned.status_code == 200, planned.text
    removed = client.delete(f"{SUBJECT}/events/{cr}", params={"reason": "entered in error"},
                            headers=mm)
    assert removed.status_code == 200, removed.text
    d0 = next(v for v in removed.json()["visits"] if v["code"] == "HSCT-D0")
    assert (d0["status"], d0["actual_date"]) == ("pending", None)
    assert _actions(session)[-1] == "event.removed"
