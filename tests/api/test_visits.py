"""The visit routes over HTTP: completion, retries, corrections, missed, unscheduled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditRecord
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

SUBJECT = f"/api/v1/studies/{SLE}/subjects/S-001"


@pytest.fixture
def edc(client: TestClient, session: Session) -> dict[str, str]:
    """An EDC token and S-001 at YC3H, infused 1 Feb 2026 (D14 window 13..17 Feb)."""
    load_seed_studies(session)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[SLE]))
    session.commit()
    enrolled = client.post(f"/api/v1/studies/{SLE}/subjects", json=enrolment_body(),
                           headers=token)
    assert enrolled.status_code == 201, enrolled.text
    return token


def _complete(client: TestClient, headers: dict[str, str], code: str, **body: Any) -> Any:
    return client.post(f"{SUBJECT}/visits/{code}/completion", json=body, headers=headers)


def _completions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditRecord).where(
        AuditRecord.action == "visit.completed", AuditRecord.subject_id == "S-001")) or 0


def test_a_completion_and_its_retry(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    first = _complete(client, edc, "D14", actual_date="2026-02-16", note="seen by Dr Li")
    assert first.status_code == 201, first.text
    body = first.json()
    assert {k: body[k] for k in ("study", "subject_id", "code", "status", "actual_date",
                                 "assessments", "days_early", "days_late", "note")} == {
        "study": SLE, "subject_id": "S-001", "code": "D14", "status": "completed",
        "actual_date": "2026-02-16", "assessments": ["AE"], "days_early": None,
        "days_late": None, "note": "seen by Dr Li"}
    assert body["recorded_at"].endswith(("Z", "+00:00"))
    retry = _complete(client, edc, "D14", actual_date="2026-02-16", note="seen by Dr Li")
    assert retry.status_code == 200 and retry.json() == body
    assert _completions(session) == 1


def test_late_and_early_visits_are_recorded_with_their_deviation(
    client: TestClient, edc: dict[str, str]
) -> None:
    late = _complete(client, edc, "D14", actual_date="2026-02-20", assessments=["AE", "LAB"])
    assert late.status_code == 201
    assert (late.json()["status"], late.json()["days_late"]) == ("completed_out_of_window", 3)
    assert late.json()["assessments"] == ["AE", "LAB"]
    early = _complete(client, edc, "D28", actual_date="2026-02-24").json()
    assert (early["status"], early["days_early"]) == ("completed_out_of_window", 2)
    calendar = client.get(SUBJECT, headers=edc).json()
    d14 = next(v for v in calendar["visits"] if v["code"] == "D14")
    assert d14["days_late"] == 3 and d14["actual_date"] == "2026-02-20"


def test_a_later_visit_done_turns_an_overdue_one_into_a_derived_miss(
    client: TestClient, edc: dict[str, str]
) -> None:
    """D14 (window 13..17 Feb) is overdue until D28 is done on 27 Feb: from then on it
    counts as missed, not documented, and may still be recorded late."""
    calendar = client.get(SUBJECT, headers=edc).json()
    d14 = next(v for v in calendar["visits"] if v["code"] == "D14")
    assert (d14["status"], d14["missed_from"]) == ("overdue", None)
    d28 = _complete(client, edc, "D28", actual_date="2026-02-27").json()
    assert (d28["status"], d28["days_early"], d28["days_from_target"]) == ("completed", None, -2)
    calendar = client.get(SUBJECT, headers=edc).json()
    d14 = next(v for v in calendar["visits"] if v["code"] == "D14")
    assert (d14["status"], d14["missed_from"], d14["days_overdue"]) == (
        "missed_undocumented", "2026-02-27", 12)
    late = _complete(client, edc, "D14", actual_date="2026-02-20").json()
    assert (late["status"], late["days_late"], late["days_from_target"], late["missed_from"]) == (
        "completed_out_of_window", 3, 5, None)


def test_another_date_needs_a_correction_with_a_reason(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    assert _complete(client, edc, "D14", actual_date="2026-02-15").status_code == 201
    conflict = assert_problem(_complete(client, edc, "D14", actual_date="2026-02-16"),
                              409, "already-recorded")
    assert "2026-02-15" in conflict["detail"] and conflict["state"] == "completed"
    assert_problem(_complete(client, edc, "D14", actual_date="2026-02-16", correction=True),
                   422, "reason-required")
    fixed = _complete(client, edc, "D14", actual_date="2026-02-16", correction=True,
                      reason="mistyped")
    assert fixed.status_code == 200 and fixed.json()["actual_date"] == "2026-02-16"
    history = client.get(f"{SUBJECT}/history", headers=edc)
    if history.status_code == 200:  # the audit routes may not be there yet
        assert "visit.corrected" in history.text
    corrected = session.scalar(select(AuditRecord).where(AuditRecord.action == "visit.corrected"))
    assert corrected is not None and corrected.reason == "mistyped"


@pytest.mark.parametrize(("day", "now", "status", "slug"), [
    ("2026-03-02", NOW, 422, "invalid-date"),  # tomorrow at the site
    ("2026-01-04", NOW, 422, "invalid-date"),  # before consent
    ("2201-01-01", NOW, 422, "validation-error"),
    ("2026-13-01", NOW, 422, "validation-error"),
    # 16:30 UTC on 1 March is 00:30 on 2 March in Shanghai: a date of today there.
    ("2026-03-02", datetime(2026, 3, 1, 16, 30, tzinfo=UTC), 201, None),
])
def test_completion_dates_follow_the_site_calendar(
    client: TestClient, edc: dict[str, str], day: str, now: datetime, status: int,
    slug: str | None,
) -> None:
    stand_at(client, now)
    response = _complete(client, edc, "D28", actual_date=day)
    if slug is None:
        assert response.status_code == status, response.text
    else:
        assert_problem(response, status, slug)


def test_visits_that_cannot_take_place(client: TestClient, edc: dict[str, str]) -> None:
    died = client.post(f"{SUBJECT}/events", json={"type": "death", "date": "2026-02-20"},
                       headers=edc)
    assert died.status_code == 201
    body = assert_problem(_complete(client, edc, "M3", actual_date="2026-02-25"),
                          409, "conflict")
    assert "cancelled" in body["detail"] and "death on 2026-02-20" in body["detail"]
    assert_problem(_complete(client, edc, "M99", actual_date="2026-02-19"), 404, "not-found")
    assert_problem(_complete(client, edc, "not a code", actual_date="2026-02-19"),
                   422, "validation-error")


def test_missed_visits(client: TestClient, edc: dict[str, str]) -> None:
    url = f"{SUBJECT}/visits/D14/missed"
    assert_problem(client.post(url, json={}, headers=edc), 422, "validation-error")
    assert_problem(client.post(url, json={"reason": "   "}, headers=edc), 422, "reason-required")
    missed = client.post(url, json={"reason": "in hospital elsewhere"}, headers=edc)
    assert missed.status_code == 201
    assert (missed.json()["status"], missed.json()["reason"]) == ("missed", "in hospital elsewhere")
    assert client.post(url, json={"reason": "again"}, headers=edc).status_code == 200
    assert _complete(client, edc, "D28", actual_date="2026-02-27").status_code == 201
    d28 = f"{SUBJECT}/visits/D28/missed"
    assert_problem(client.post(d28, json={"reason": "wrong"}, headers=edc),
                   409, "already-recorded")
    fixed = client.post(d28, json={"reason": "recorded on the wrong subject",
                                   "correction": True}, headers=edc)
    assert fixed.status_code == 200 and fixed.json()["status"] == "missed"


def test_unscheduled_visits(client: TestClient, edc: dict[str, str]) -> None:
    url = f"{SUBJECT}/visits"
    first = client.post(url, json={"date": "2026-02-05", "name": "Lupus flare",
                                   "assessments": ["AE"]}, headers=edc)
    assert first.status_code == 201, first.text
    assert first.headers["location"] == SUBJECT
    body = first.json()
    assert (body["code"], body["unscheduled"], body["status"], body["study_day"]) == (
        "UNS-1", True, "completed", 4)
    second = client.post(url, json={"date": "2026-02-06", "kind": "phone"}, headers=edc)
    assert second.json()["code"] == "UNS-2"
    assert_problem(client.post(url, json={"date": "2026-02-06", "kind": "teleport"},
                               headers=edc), 422, "validation-error")
    assert_problem(client.post(url, json={"date": "2026-03-06"}, headers=edc),
                   422, "invalid-date")
    calendar = client.get(SUBJECT, headers=edc).json()
    assert [v["code"] for v in calendar["visits"] if v["unscheduled"]] == ["UNS-1", "UNS-2"]


def test_who_may_record_visits(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    monitor = bearer(make_token(session, "monitor", studies=[SLE]))
    other_site = bearer(make_token(session, "coordinator", sites=["WTCH"]))
    own_site = bearer(make_token(session, "coordinator", sites=["YC3H"]))
    session.commit()
    for headers, status, slug in ((monitor, 403, "forbidden"), (other_site, 404, "not-found")):
        assert_problem(_complete(client, headers, "D14", actual_date="2026-02-15"), status, slug)
        assert_problem(client.post(f"{SUBJECT}/visits/D14/missed", json={"reason": "x"},
                                   headers=headers), status, slug)
        assert_problem(client.post(f"{SUBJECT}/visits", json={"date": "2026-02-05"},
                                   headers=headers), status, slug)
    assert _complete(client, own_site, "D14", actual_date="2026-02-15").status_code == 201
    assert_problem(_complete(client, {}, "D14", actual_date="2026-02-15"),
                   401, "not-authenticated")


def test_an_unknown_visit_or_subject_is_not_found_by_name(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    # The subject and its visit are read together; each missing piece still gets its
    # own answer, and a subject out of scope is not found whatever the visit.
    other_site = bearer(make_token(session, "coordinator", sites=["WTCH"]))
    session.commit()
    cases = [
        (edc, f"{SUBJECT}/visits/NOPE", "visit NOPE not found for subject S-001"),
        (edc, f"/api/v1/studies/{SLE}/subjects/S-404/visits/D14",
         f"subject S-404 not found in study {SLE}"),
        (other_site, f"{SUBJECT}/visits/NOPE", f"subject S-001 not found in study {SLE}"),
        (other_site, f"{SUBJECT}/visits/D14", f"subject S-001 not found in study {SLE}"),
    ]
    for headers, visit, detail in cases:
        for outcome, body in (("completion", {"actual_date": "2026-02-15"}),
                              ("missed", {"reason": "away"})):
            answer = client.post(f"{visit}/{outcome}", json=body, headers=headers)
            assert_problem(answer, 404, "not-found")
            assert answer.json()["detail"] == detail
