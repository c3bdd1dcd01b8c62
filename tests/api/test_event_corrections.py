"""Over HTTP: a transfer, correcting and removing an event, re-consent, and the lifecycle
filters of the worklist and the subjects list."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers_subjects import (
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


@pytest.fixture
def edc(client: TestClient, session: Session) -> dict[str, str]:
    load_seed_studies(session)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[SLE]))
    session.commit()
    for subject_id in ("S-001", "S-002"):
        response = client.post(SUBJECTS, json=enrolment_body(subject_id), headers=token)
        assert response.status_code == 201, response.text
    return token


def _event(client: TestClient, token: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(f"{SUBJECT}/events", json=body, headers=token)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_transfer_over_http(client: TestClient, session: Session, edc: dict[str, str]) -> None:
    wrong = client.post(f"{SUBJECT}/events",
                        json={"type": "transfer", "date": "2026-02-20", "value": "MM01"},
                        headers=edc)
    assert "does not take part" in assert_problem(wrong, 422, "invalid-request")["detail"]
    body = _event(client, edc, type="transfer", date="2026-02-20", value="WTCH")
    assert body["site"] == "WTCH"
    sites = {v["code"]: v["site"] for v in body["visits"]}
    assert sites["D14"] == "YC3H" and sites["D28"] == "WTCH"
    assert body["events"][0]["type"] == "transfer" and body["events"][0]["id"] > 0
    # The old site's coordinator reads the subject, and may not change it.
    old = bearer(make_token(session, "coordinator", ["YC3H"]))
    session.commit()
    assert client.get(SUBJECT, headers=old).status_code == 200
    refused = client.post(f"{SUBJECT}/events", json={"type": "progression", "date": "2026-02-25"},
                          headers=old)
    assert "transferred to site WTCH" in assert_problem(refused, 403, "forbidden")["detail"]


def test_correct_and_remove_an_event(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    body = _event(client, edc, type="withdrawal", date="2026-02-20", note="by phone")
    event_id = body["events"][0]["id"]
    assert body["lifecycle"] == "withdrawn"
    url = f"{SUBJECT}/events/{event_id}"
    no_reason = client.patch(url, json={"date": "2026-02-21"}, headers=edc)
    assert_problem(no_reason, 422, "validation-error")
    assert_problem(client.patch(f"{SUBJECT}/events/999999", json={"date": "2026-02-21",
                                "reason": "typo"}, headers=edc), 404, "not-found")
    future = client.patch(url, json={"date": "2026-03-02", "reason": "typo"}, headers=edc)
    assert_problem(future, 422, "invalid-date")
    corrected = client.patch(url, json={"date": "2026-02-21", "reason": "typo"}, headers=edc)
    assert corrected.status_code == 200, corrected.text
    event = corrected.json()["events"][0]
    assert (event["id"], event["date"], event["note"]) == (event_id, "2026-02-21", "by phone")
    assert_problem(client.delete(url, headers=edc), 422, "validation-error")  # no reason
    removed = client.delete(url, params={"reason": "wrong subject"}, headers=edc)
    assert removed.status_code == 200, removed.text
    assert removed.json()["lifecycle"] == "active" and removed.json()["events"] == []
    assert_problem(client.delete(url, params={"reason": "again"}, headers=edc), 404, "not-found")
    admin = bearer(make_token(session, "admin"))
    session.commit()
    trail = client.get("/api/v1/audit", params={"subject_id": "S-001", "study": SLE},
                       headers=admin)
    actions = [r["action"] for r in trail.json()["items"]]
    assert actions[-2:] == ["event.corrected", "event.removed"]


def test_lifecycle_filters_and_consent_version(client: TestClient, edc: dict[str, str]) -> None:
    _event(client, edc, type="reconsent", date="2026-02-10", value="2.1")
    _event(client, edc, type="withdrawal", date="2026-02-20")
    default = client.get("/api/v1/visits", headers=edc).json()["items"]
    assert {r["subject_id"] for r in default} == {"S-002"}
    ended = client.get("/api/v1/visits", params={"lifecycle": "ended"}, headers=edc)
    assert {r["subject_id"] for r in ended.json()["items"]} == {"S-001"}
    both = client.get("/api/v1/visits",
                      params=[("lifecycle", "active"), ("lifecycle", "withdrawn")], headers=edc)
    assert {r["subject_id"] for r in both.json()["items"]} == {"S-001", "S-002"}
    assert_problem(client.get("/api/v1/visits", params={"lifecycle": "gone"}, headers=edc),
                   422, "validation-error")
    summary = client.get("/api/v1/visits/summary", params={"lifecycle": "all"}, headers=edc)
    assert summary.status_code == 200, summary.text
    subjects = client.get(SUBJECTS, params={"lifecycle": "ended"}, headers=edc).json()["items"]
    assert [(s["subject_id"], s["consent_version"]) for s in subjects] == [("S-001", "2.1")]
    every = client.get(SUBJECTS, headers=edc).json()["items"]
    assert [s["subject_id"] for s in every] == ["S-001", "S-002"]  # the list's default: all
    assert client.get(SUBJECT, headers=edc).json()["consent_version"] == "2.1"
