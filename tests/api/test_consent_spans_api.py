"""Screening within 28 days of consent, over HTTP: enrolment and a corrected consent date
(SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.services.studies import load_schedule
from tests.helpers_subjects import (
    NOW,
    assert_problem,
    bearer,
    enrolment_body,
    make_token,
    seed_text,
    stand_at,
)

STUDY = "SCREENED-SLE"
BASE = f"/api/v1/studies/{STUDY}/subjects"
SCREENING = """\
  - name: consent
    label: Informed consent signed
    recorded: at_enrolment
  - name: screening
    label: Screening assessments
    recorded: at_enrolment
    after_consent: 28 days     # screening within 28 days of consent
"""


@pytest.fixture
def edc(client: TestClient, session: Session) -> dict[str, str]:
    text = seed_text("ucart-sle.yaml").replace("code: UCART-SLE", f"code: {STUDY}")
    screened = text.replace(
        "  - name: consent\n    label: Informed consent signed\n    recorded: at_enrolment\n",
        SCREENING)
    assert screened != text
    load_schedule(session, text=screened, source="screened.yaml", actor=SYSTEM)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[STUDY]))
    session.commit()
    return token


def body(screening: str) -> dict[str, object]:
    return enrolment_body(anchors=[
        {"name": "infusion", "date": "2026-02-01", "actual": True},
        {"name": "screening", "date": screening, "actual": True},
    ])


def test_enrolment_refuses_a_screening_date_more_than_28_days_after_consent(
    client: TestClient, edc: dict[str, str],
) -> None:
    late = client.post(BASE, json=body("2026-02-03"), headers=edc)  # consent 2026-01-05
    problem = assert_problem(late, 422, "invalid-date")
    assert problem["detail"] == ("anchor screening 2026-02-03 is more than 28 days after "
                                 "consent_date 2026-01-05 (at the latest 2026-02-02)")
    early = client.post(BASE, json=body("2026-01-04"), headers=edc)
    assert assert_problem(early, 422, "invalid-date")["detail"] == (
        "anchor screening 2026-01-04 is before consent_date 2026-01-05: it must be within "
        "28 days after consent")
    assert client.get(BASE, headers=edc).json()["items"] == []  # nothing half-written
    on_time = client.post(BASE, json=body("2026-02-02"), headers=edc)
    assert on_time.status_code == 201, on_time.text
    assert {"name": "screening", "date": "2026-02-02", "actual": True} in \
        on_time.json()["anchors"]


def test_a_corrected_consent_date_must_still_precede_screening(
    client: TestClient, edc: dict[str, str],
) -> None:
    assert client.post(BASE, json=body("2026-01-20"), headers=edc).status_code == 201
    url = f"{BASE}/S-001/anchors/consent"
    after = client.put(url, json={"date": "2026-01-21", "actual": True, "reason": "typo"},
                       headers=edc)
    assert assert_problem(after, 422, "invalid-date")["detail"] == (
        "anchor screening 2026-01-20 is before consent_date 2026-01-21: it must be within "
        "28 days after consent")
    fine = client.put(url, json={"date": "2026-01-02", "actual": True, "reason": "typo"},
                      headers=edc)
    assert fine.status_code == 200, fine.text
    screening = f"{BASE}/S-001/anchors/screening"
    too_late = client.put(screening, json={"date": "2026-02-01", "actual": True,
                                           "reason": "typo"}, headers=edc)
    assert assert_problem(too_late, 422, "invalid-date")["detail"] == (
        "anchor screening 2026-02-01 is more than 28 days after consent_date 2026-01-02 (at "
        "the latest 2026-01-30)")
