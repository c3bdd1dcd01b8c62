"""The example protocols of schedules/examples/ loaded into a database, a subject
enrolled in each over HTTP, and the facts that move their calendars recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.services.studies import load_schedule
from tests.helpers_subjects import bearer, enrolment_body, make_token, stand_at

EXAMPLES = Path(__file__).resolve().parents[2] / "schedules" / "examples"


def load_example(session: Session, name: str, study: str) -> dict[str, str]:
    """Load one example file as `followup schedule load` does; an EDC token for it."""
    path = EXAMPLES / name
    result = load_schedule(session, text=path.read_text(encoding="utf-8"), source=str(path),
                           actor=SYSTEM)
    assert (result.study, result.version, result.created) == (study, "1.0", True)
    token = bearer(make_token(session, "edc", studies=[study]))
    session.commit()
    return token


def by_code(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["code"]: v for v in body["visits"]}


def test_karmma_enrols_and_progression_opens_survival_calls(
    client: TestClient, session: Session
) -> None:
    token = load_example(session, "karmma-ide-cel.yaml", "KARMMA")
    # 10 January 2024 at the site (New York): leukapheresis done, infusion planned.
    stand_at(client, datetime(2024, 1, 10, 17, 0, tzinfo=UTC))
    body = enrolment_body(
        "KM-001", site="KM01", consent_date="2023-12-04", date_of_birth="1961-04-12",
        anchors=[{"name": "leukapheresis", "date": "2023-12-18", "actual": True},
                 {"name": "infusion", "date": "2024-01-31", "actual": False}],
    )
    created = client.post("/api/v1/studies/KARMMA/subjects", json=body, headers=token)
    assert created.status_code == 201, created.text
    visits = by_code(created.json())
    assert len(visits) == 68
    assert visits["LEUK"]["status"] == "completed"  # the leukapheresis date is its entry
    assert (visits["SCR"]["window_end"], visits["SCR"]["graded"]) == ("2023-12-31", False)
    assert (visits["D-5"]["target_date"], visits["D-5"]["study_day"]) == ("2024-01-26", -5)
    assert visits["M1"]["target_date"] == "2024-02-29" and visits["M1"]["provisional"] is True
    assert visits["LTFU-Y1"]["status"] == "not_applicable"
    assert visits["SURV3"]["status"] == "pending"

    subject = "/api/v1/studies/KARMMA/subjects/KM-001"
    stand_at(client, datetime(2024, 9, 20, 16, 0, tzinfo=UTC))
    infused = client.post(f"{subject}/visits/D1/completion", json={"actual_date": "2024-01-31"},
                          headers=token)
    assert infused.status_code == 201, infused.text
    progressed = client.post(f"{subject}/events",
                             json={"type": "progression", "date": "2024-09-10"}, headers=token)
    assert progressed.status_code == 201, progressed.text
    after = by_code(progressed.json())
    assert after["M9"]["status"] == "cancelled"
    assert after["LTFU-Y1"]["status"] == "scheduled"
    assert (after["SURV3"]["target_date"], after["SURV3"]["window_start"],
            after["SURV3"]["window_end"], after["SURV3"]["study_day"]) == (
        "2024-12-10", "2024-11-26", "2024-12-24", 315)
    assert after["SURV60"]["target_date"] == "2029-09-10"


def test_lzzt_enrols_and_a_telephone_contact_follows_the_late_visit(
    client: TestClient, session: Session
) -> None:
    token = load_example(session, "lzzt-xanomeline.yaml", "LZZT")
    stand_at(client, datetime(2024, 5, 10, 16, 0, tzinfo=UTC))
    body = enrolment_body(
        "LZ-001", site="LZ01", consent_date="2024-02-12", date_of_birth="1946-07-03",
        anchors=[{"name": "first_dose", "date": "2024-03-01", "actual": True}],
    )
    created = client.post("/api/v1/studies/LZZT/subjects", json=body, headers=token)
    assert created.status_code == 201, created.text
    visits = by_code(created.json())
    assert len(visits) == 18  # with the early-termination phase, waiting for a withdrawal
    assert (visits["ET"]["status"], visits["RET"]["status"]) == ("pending", "pending")
    assert visits["BL"]["status"] == "completed"
    assert (visits["TEL10"]["target_date"], visits["TEL10"]["provisional"]) == (
        "2024-05-10", True)

    subject = "/api/v1/studies/LZZT/subjects/LZ-001"
    late = client.post(f"{subject}/visits/WK8/completion", json={"actual_date": "2024-05-02"},
                       headers=token)
    assert late.status_code == 201, late.text
    assert (late.json()["status"], late.json()["days_late"]) == ("completed_out_of_window", 3)
    tel = next(v for v in by_code(client.get(subject, headers=token).json()).values()
               if v["code"] == "TEL10")
    assert (tel["target_date"], tel["window_start"], tel["window_end"], tel["provisional"],
            tel["graded"], tel["kind"]) == (
        "2024-05-16", "2024-05-16", "2024-05-23", False, False, "phone")


def test_zuma1_enrols_and_a_withdrawal_opens_the_early_termination_visit(
    client: TestClient, session: Session
) -> None:
    token = load_example(session, "zuma1-axi-cel.yaml", "ZUMA1")
    # 20 August 2023 at the site (Los Angeles): leukapheresis done, infusion planned.
    stand_at(client, datetime(2023, 8, 20, 19, 0, tzinfo=UTC))
    body = enrolment_body(
        "ZU-001", site="ZU01", consent_date="2023-07-24", date_of_birth="1958-09-30",
        anchors=[{"name": "leukapheresis", "date": "2023-08-07", "actual": True},
                 {"name": "infusion", "date": "2023-08-31", "actual": False}],
    )
    created = client.post("/api/v1/studies/ZUMA1/subjects", json=body, headers=token)
    assert created.status_code == 201, created.text
    visits = by_code(created.json())
    assert len(visits) == 50
    assert visits["LEUK"]["status"] == "completed"
    assert (visits["D-5"]["target_date"], visits["D-5"]["study_day"]) == ("2023-08-26", -5)
    assert (visits["M6"]["target_date"], visits["M6"]["provisional"]) == ("2024-02-29", True)
    assert (visits["ET"]["status"], visits["SURV3"]["status"]) == ("pending", "pending")

    subject = "/api/v1/studies/ZUMA1/subjects/ZU-001"
    stand_at(client, datetime(2024, 2, 5, 18, 0, tzinfo=UTC))
    infused = client.post(f"{subject}/visits/D0/completion", json={"actual_date": "2023-08-31"},
                          headers=token)
    assert infused.status_code == 201, infused.text
    withdrawn = client.post(f"{subject}/events",
                            json={"type": "withdrawal", "date": "2024-01-31"}, headers=token)
    assert withdrawn.status_code == 201, withdrawn.text
    after = by_code(withdrawn.json())
    assert (after["ET"]["target_date"], after["ET"]["window_start"], after["ET"]["window_end"],
            after["ET"]["study_day"], after["ET"]["status"]) == (
        "2024-01-31", "2024-01-31", "2024-02-14", 153, "due")
    assert after["M6"]["status"] == "cancelled"
    assert after["SURV3"]["status"] == "not_applicable"
    done = client.post(f"{subject}/visits/ET/completion", json={"actual_date": "2024-02-05"},
                       headers=token)
    assert done.status_code == 201, done.text
    assert done.json()["status"] == "completed"
