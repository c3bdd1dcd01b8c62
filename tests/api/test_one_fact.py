"""One fact, one entry over HTTP: D0 and the infusion date are entered either way."""

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
    SLE,
    assert_problem,
    bearer,
    enrolment_body,
    load_seed_studies,
    make_token,
    stand_at,
)

SUBJECTS = f"/api/v1/studies/{SLE}/subjects"
SUBJECT = f"{SUBJECTS}/S-001"
PLANNED = [{"name": "infusion", "date": "2026-02-01", "actual": False}]


@pytest.fixture
def edc(client: TestClient, session: Session) -> dict[str, str]:
    load_seed_studies(session)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[SLE]))
    session.commit()
    return token


def _enrol(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    answer = client.post(SUBJECTS, json=enrolment_body(**body), headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _visit(document: dict[str, Any], code: str) -> dict[str, Any]:
    return next(v for v in document["visits"] if v["code"] == code)


def _infusion(document: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in document["anchors"] if a["name"] == "infusion")


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditRecord.action).where(
        AuditRecord.subject_id == "S-001").order_by(AuditRecord.id)))


def test_enrolling_with_an_actual_infusion_completes_d0(
    client: TestClient, edc: dict[str, str]
) -> None:
    document = _enrol(client, edc)
    d0 = _visit(document, "D0")
    assert (d0["status"], d0["actual_date"], d0["assessments"]) == (
        "completed", "2026-02-01", ["AE"])


def test_completing_d0_confirms_the_infusion(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    _enrol(client, edc, anchors=PLANNED)
    done = client.post(f"{SUBJECT}/visits/D0/completion", json={"actual_date": "2026-02-02"},
                       headers=edc)
    assert done.status_code == 201, done.text
    document = client.get(SUBJECT, headers=edc).json()
    assert _infusion(document) == {"name": "infusion", "date": "2026-02-02", "actual": True}
    assert _visit(document, "D14")["target_date"] == "2026-02-16"
    assert _actions(session)[1:] == ["visit.completed", "anchor.confirmed"]


def test_confirming_the_infusion_completes_d0(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    _enrol(client, edc, anchors=PLANNED)
    answer = client.put(f"{SUBJECT}/anchors/infusion",
                        json={"date": "2026-02-01", "actual": True}, headers=edc)
    assert answer.status_code == 200, answer.text
    d0 = _visit(answer.json(), "D0")
    assert (d0["status"], d0["actual_date"]) == ("completed", "2026-02-01")
    assert _actions(session)[1:] == ["anchor.confirmed", "visit.completed"]


def test_disagreements_are_409_naming_both_dates_and_corrections_need_a_reason(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    _enrol(client, edc)
    other = client.post(f"{SUBJECT}/visits/D0/completion", json={"actual_date": "2026-02-03"},
                        headers=edc)
    body = assert_problem(other, 409, "conflict")
    assert "2026-02-03" in body["detail"] and "2026-02-01" in body["detail"]
    no_reason = client.post(f"{SUBJECT}/visits/D0/completion",
                            json={"actual_date": "2026-02-03", "correction": True}, headers=edc)
    assert_problem(no_reason, 422, "reason-required")
    corrected = client.post(
        f"{SUBJECT}/visits/D0/completion",
        json={"actual_date": "2026-02-03", "correction": True, "reason": "typo"}, headers=edc)
    assert corrected.status_code == 200, corrected.text
    document = client.get(SUBJECT, headers=edc).json()
    assert _infusion(document)["date"] == "2026-02-03"
    missed = client.post(f"{SUBJECT}/visits/D0/missed", json={"reason": "never infused"},
                         headers=edc)
    assert_problem(missed, 409, "conflict")
    assert _actions(session)[1:] == ["visit.corrected", "anchor.corrected"]


def test_a_missed_d0_and_a_confirmed_infusion_disagree(
    client: TestClient, edc: dict[str, str]
) -> None:
    _enrol(client, edc, anchors=PLANNED)
    missed = client.post(f"{SUBJECT}/visits/D0/missed", json={"reason": "postponed"},
                         headers=edc)
    assert missed.status_code == 201, missed.text
    confirm = client.put(f"{SUBJECT}/anchors/infusion",
                         json={"date": "2026-02-01", "actual": True}, headers=edc)
    body = assert_problem(confirm, 409, "conflict")
    assert body["detail"].startswith("anchor infusion on 2026-02-01 disagrees with visit D0")
    fixed = client.put(f"{SUBJECT}/anchors/infusion",
                       json={"date": "2026-02-01", "actual": True, "reason": "infused"},
                       headers=edc)
    assert fixed.status_code == 200, fixed.text
    assert _visit(fixed.json(), "D0")["status"] == "completed"


MM_SUBJECTS = f"/api/v1/studies/{MM}/subjects"
MM_SUBJECT = f"{MM_SUBJECTS}/MM-001"
INFUSED = [{"name": "infusion", "date": "2025-02-03", "actual": True}]
TRANSPLANTED = {"date": "2025-05-05", "actual": True}
NOT_OPENED = (
    "anchor transplant cannot have an actual date: it is recorded by visit HSCT-D0 of phase"
    " HSCT, which has not opened (waiting for response CR/sCR): record the response that"
    " opens it first, or send a planned date (actual: false)")


def _mm_body(**overrides: Any) -> dict[str, Any]:
    return enrolment_body("MM-001", site="MM01", consent_date="2025-01-06",
                          date_of_birth="1970-03-03", **({"anchors": INFUSED} | overrides))


@pytest.fixture
def mm(client: TestClient, session: Session) -> dict[str, str]:
    load_seed_studies(session)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[MM]))
    session.commit()
    return token


def _mm_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditRecord.action).where(
        AuditRecord.subject_id == "MM-001").order_by(AuditRecord.id)))


def test_the_transplant_is_not_actual_while_its_phase_is_pending(
    client: TestClient, session: Session, mm: dict[str, str]
) -> None:
    assert client.post(MM_SUBJECTS, json=_mm_body(), headers=mm).status_code == 201
    refused = client.put(f"{MM_SUBJECT}/anchors/transplant", json=TRANSPLANTED, headers=mm)
    assert assert_problem(refused, 409, "conflict")["detail"] == NOT_OPENED
    # The same fact entered as the visit is refused the same way (the visit's own words).
    direct = client.post(f"{MM_SUBJECT}/visits/HSCT-D0/completion",
                         json={"actual_date": "2025-05-05"}, headers=mm)
    assert assert_problem(direct, 409, "conflict")["detail"] == (
        "visit HSCT-D0 cannot be completed on 2025-05-05: its phase HSCT has not opened"
        " (waiting for response CR/sCR): record the response that opens it first")
    document = client.get(MM_SUBJECT, headers=mm).json()
    assert "transplant" not in {a["name"] for a in document["anchors"]}
    assert _visit(document, "HSCT-D0")["status"] == "pending"
    assert _mm_actions(session) == ["subject.enrolled"]
    # A planned date is a plan, not the fact: accepted, the visit stays pending.
    planned = client.put(f"{MM_SUBJECT}/anchors/transplant",
                         json={"date": "2025-05-05", "actual": False}, headers=mm)
    assert planned.status_code == 200, planned.text
    assert _visit(planned.json(), "HSCT-D0")["status"] == "pending"
    # Once the response opens the phase, the actual date completes the visit.
    cr = client.post(f"{MM_SUBJECT}/events",
                     json={"type": "response", "date": "2025-04-03", "value": "CR"}, headers=mm)
    assert cr.status_code == 201, cr.text
    confirmed = client.put(f"{MM_SUBJECT}/anchors/transplant", json=TRANSPLANTED, headers=mm)
    assert confirmed.status_code == 200, confirmed.text
    d0 = _visit(confirmed.json(), "HSCT-D0")
    assert (d0["status"], d0["actual_date"]) == ("completed", "2025-05-05")
    assert _mm_actions(session)[-2:] == ["anchor.confirmed", "visit.completed"]


def test_the_transplant_is_not_actual_once_its_phase_cannot_open(
    client: TestClient, session: Session, mm: dict[str, str]
) -> None:
    assert client.post(MM_SUBJECTS, json=_mm_body(), headers=mm).status_code == 201
    progressed = client.post(f"{MM_SUBJECT}/events",
                             json={"type": "progression", "date": "2025-03-20"}, headers=mm)
    assert progressed.status_code == 201, progressed.text
    refused = client.put(f"{MM_SUBJECT}/anchors/transplant", json=TRANSPLANTED, headers=mm)
    assert assert_problem(refused, 409, "conflict")["detail"] == (
        "anchor transplant cannot have an actual date: it is recorded by visit HSCT-D0 of"
        " phase HSCT, which can no longer open (progression on 2025-03-20)")
    document = client.get(MM_SUBJECT, headers=mm).json()
    assert _visit(document, "HSCT-D0")["status"] == "not_applicable"
    assert _mm_actions(session) == ["subject.enrolled", "event.recorded"]


def test_enrolling_with_an_actual_transplant_is_refused(
    client: TestClient, session: Session, mm: dict[str, str]
) -> None:
    body = _mm_body(anchors=[*INFUSED, {"name": "transplant", **TRANSPLANTED}])
    refused = client.post(MM_SUBJECTS, json=body, headers=mm)
    assert assert_problem(refused, 409, "conflict")["detail"] == NOT_OPENED
    assert client.get(MM_SUBJECT, headers=mm).status_code == 404
    assert _mm_actions(session) == []
