"""A phase opened by progression, over HTTP: loaded, enrolled, opened by the event,
dated from it, shown in the protocol's description."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.services.studies import load_schedule
from tests.helpers_subjects import NOW, bearer, enrolment_body, make_token, stand_at

PROTOCOL = """\
study:
  code: SURV-T
  title: Follow-up after progression
  version: "1"
  target_enrolment: 10
  time_zone: Asia/Shanghai
  anchor_day: 0
sites:
  - {code: S1, name: Site one}
anchors:
  - {name: infusion, label: Infusion, recorded: later}
visits:
  - {code: M3, name: Month 3, at: 3 months, window: 7 days, stops_at_progression: true}
phases:
  - code: SURV
    name: Survival follow-up
    condition: {event: progression}
    visits:
      - code: SURV{n}
        name: Survival call, month {n}
        series: {every: 3 months, from: 3 months, to: 6 months}
        window: 14 days
        kind: phone
"""
SUBJECT = "/api/v1/studies/SURV-T/subjects/P-1"


def test_progression_opens_the_phase_dated_from_the_event(
    client: TestClient, session: Session
) -> None:
    load_schedule(session, text=PROTOCOL, source="surv.yaml", actor=SYSTEM)
    token = bearer(make_token(session, "edc", studies=["SURV-T"]))
    session.commit()
    stand_at(client, NOW)
    body = enrolment_body("P-1", site="S1", consent_date="2025-06-02",
                          anchors=[{"name": "infusion", "date": "2025-06-16", "actual": True}])
    created = client.post("/api/v1/studies/SURV-T/subjects", json=body, headers=token)
    assert created.status_code == 201, created.text
    before = {v["code"]: v for v in created.json()["visits"]}
    assert before["SURV3"]["status"] == "pending" and before["SURV3"]["target_date"] is None
    after = client.post(f"{SUBJECT}/events", json={"type": "progression", "date": "2025-08-01"},
                        headers=token)
    assert after.status_code == 201, after.text
    visits = {v["code"]: v for v in after.json()["visits"]}
    assert visits["M3"]["status"] == "cancelled"
    assert (visits["SURV3"]["target_date"], visits["SURV6"]["target_date"]) == (
        "2025-11-01", "2026-02-01")
    assert visits["SURV3"]["study_day"] == 92  # counted from the progression
    described = client.get("/api/v1/studies/SURV-T", headers=token).json()
    (phase,) = described["phases"]
    assert phase["anchor"] == "progression" and phase["anchored_on_event"] is True
    assert phase["condition"] == {"event": "progression", "values": []}
