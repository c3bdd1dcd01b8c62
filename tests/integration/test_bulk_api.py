"""POST /studies/{study}/subjects:batch: all or nothing, every bad item with its index."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditRecord, Subject
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

URL = f"/api/v1/studies/{SLE}/subjects:batch"


def subjects(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Subject)) or 0


def test_batch_enrols_all_items(client: TestClient, session: Session) -> None:
    load_seed_studies(session)
    token = make_token(session, "edc", studies=[SLE])
    stand_at(client, NOW)
    body = [enrolment_body(f"B-{i}") for i in range(3)]
    response = client.post(URL, json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    assert response.json()["imported"] == 3 and response.json()["visits"] > 0
    assert subjects(session) == 3
    assert session.scalar(select(func.count()).select_from(AuditRecord)
                          .where(AuditRecord.action == "subject.enrolled")) == 3
    # The same ids again are all duplicates: nothing changes.
    again = client.post(URL, json=body[:1], headers=bearer(token))
    problem = assert_problem(again, 422, "invalid-rows")
    assert problem["errors"][0]["message"] == f"B-0 is already enrolled in {SLE}"


def test_one_bad_item_rejects_the_batch(client: TestClient, session: Session) -> None:
    load_seed_studies(session)
    token = make_token(session, "edc", studies=[SLE])
    stand_at(client, NOW)
    body = [enrolment_body("OK"), enrolment_body("OLD", date_of_birth="2015-01-01"),
            enrolment_body("OK"), enrolment_body("X", site="MM01")]
    response = client.post(URL, json=body, headers=bearer(token))
    problem = assert_problem(response, 422, "invalid-rows")
    assert [(e["index"], e["location"]) for e in problem["errors"]] == [
        (1, "body.1.date_of_birth"), (2, "body.2.subject_id"), (3, "body.3.site")]
    assert subjects(session) == 0


def test_a_monitor_may_not_enrol(client: TestClient, session: Session) -> None:
    load_seed_studies(session)
    monitor = make_token(session, "monitor", studies=[SLE])
    assert_problem(client.post(URL, json=[enrolment_body()], headers=bearer(monitor)), 403,
                   "forbidden")


def test_an_empty_batch_is_refused(client: TestClient, session: Session) -> None:
    load_seed_studies(session)
    edc = make_token(session, "edc", studies=[SLE])
    assert_problem(client.post(URL, json=[], headers=bearer(edc)), 422, "validation-error")


def test_an_unknown_study_is_not_found(client: TestClient, session: Session) -> None:
    load_seed_studies(session)
    edc = make_token(session, "edc", studies=[SLE])
    assert_problem(client.post("/api/v1/studies/NOPE/subjects:batch", json=[enrolment_body()],
                               headers=bearer(edc)), 404, "not-found")


def test_an_actual_anchor_of_a_phase_not_open_is_refused_by_item(
    client: TestClient, session: Session
) -> None:
    load_seed_studies(session)
    token = make_token(session, "edc", studies=[MM])
    session.commit()  # kept when a refused request rolls back
    stand_at(client, NOW)
    planned = enrolment_body("MM-0", site="MM01", anchors=[
        {"name": "transplant", "date": "2026-02-20", "actual": False}])
    actual = enrolment_body("MM-1", site="MM01", anchors=[
        {"name": "infusion", "date": "2026-01-30", "actual": True},
        {"name": "transplant", "date": "2026-02-20", "actual": True}])
    url = f"/api/v1/studies/{MM}/subjects:batch"
    problem = assert_problem(client.post(url, json=[planned, actual], headers=bearer(token)),
                             422, "invalid-rows")
    single = assert_problem(client.post(f"/api/v1/studies/{MM}/subjects", json=actual,
                                        headers=bearer(token)), 409, "conflict")
    assert [(e["location"], e["message"]) for e in problem["errors"]] == [
        ("body.1.transplant", single["detail"])]
    assert "phase HSCT, which has not opened (waiting for response CR/sCR)" in single["detail"]
    assert subjects(session) == 0
    assert client.post(url, json=[planned], headers=bearer(token)).status_code == 201
