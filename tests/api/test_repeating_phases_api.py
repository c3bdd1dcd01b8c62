"""A repeating phase over HTTP: two progressions open two numbered occurrences of the
retreatment, each dated from its own progression, the second cancelling what the first
had still open; a visit of the second is completed like any visit."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.services.studies import load_schedule
from tests.helpers_subjects import NOW, bearer, enrolment_body, make_token, stand_at

PROTOCOL = """\
study:
  code: RT-T
  title: Retreatment at progression
  version: "1"
  target_enrolment: 10
  time_zone: Asia/Shanghai
  anchor_day: 0
sites:
  - {code: S1, name: Site one}
anchors:
  - {name: infusion, label: Infusion, recorded: later}
visits:
  - {code: M1, name: Month 1, at: 1 month, window: 7 days}
phases:
  - code: RT
    name: Retreatment
    condition: {event: progression}
    closes_on: [death]
    repeats: {max: 2}
    visits:
      - {code: D1, name: Retreatment infusion, at: 14 days, window: 3 days}
      - code: RT{occurrence}-M1
        name: Retreatment {occurrence}, month 1
        at: 1 month
        window: 7 days
"""
SUBJECT = "/api/v1/studies/RT-T/subjects/P-1"


def test_two_progressions_two_occurrences_and_a_visit_of_the_second(
    client: TestClient, session: Session
) -> None:
    load_schedule(session, text=PROTOCOL, source="rt.yaml", actor=SYSTEM)
    token = bearer(make_token(session, "edc", studies=["RT-T"]))
    session.commit()
    stand_at(client, NOW)  # 1 March 2026
    body = enrolment_body("P-1", site="S1", consent_date="2025-06-02",
                          anchors=[{"name": "infusion", "date": "2025-06-16", "actual": True}])
    created = client.post("/api/v1/studies/RT-T/subjects", json=body, headers=token)
    assert created.status_code == 201, created.text
    assert {v["code"]: v["status"] for v in created.json()["visits"]} == {
        "M1": "overdue", "RT1-D1": "pending",
        "RT1-M1": "pending", "RT2-D1": "pending", "RT2-M1": "pending"}
    # Entered in the reverse order of their dates: the occurrences follow the dates.
    for day in ("2025-12-01", "2025-10-31"):
        recorded = client.post(f"{SUBJECT}/events", json={"type": "progression", "date": day},
                               headers=token)
        assert recorded.status_code == 201, recorded.text
    subject = client.get(SUBJECT, headers=token).json()
    visits = {v["code"]: v for v in subject["visits"]}
    got = {c: (v["phase"], v["target_date"], v["window_start"], v["window_end"], v["status"])
           for c, v in visits.items() if c != "M1"}
    assert got == {
        # From 31 October 2025: day 14 on 14 November, month 1 on 30 November (clamped).
        # D1's window had closed before the second progression: missed from it; M1's was
        # still open on 1 December: the second occurrence cancels it.
        "RT1-D1": ("RT1", "2025-11-14", "2025-11-11", "2025-11-17", "missed_undocumented"),
        "RT1-M1": ("RT1", "2025-11-30", "2025-11-23", "2025-12-07", "cancelled"),
        # From 1 December 2025: 15 December, and 1 January 2026.
        "RT2-D1": ("RT2", "2025-12-15", "2025-12-12", "2025-12-18", "overdue"),
        "RT2-M1": ("RT2", "2026-01-01", "2025-12-25", "2026-01-08", "overdue"),
    }
    assert visits["RT1-D1"]["missed_from"] == "2025-12-01"
    assert visits["RT1-M1"]["reason"] == "progression on 2025-12-01 opens occurrence 2"
    assert visits["RT2-M1"]["name"] == "Retreatment 2, month 1"
    assert visits["RT2-D1"]["name"] == "Retreatment infusion (occurrence 2)"
    phases = {p["code"]: (p["state"], p.get("opened_on")) for p in subject["phases"]}
    assert phases == {"RT1": ("active", "2025-10-31"), "RT2": ("active", "2025-12-01")}

    done = client.post(f"{SUBJECT}/visits/RT2-D1/completion",
                       json={"actual_date": "2025-12-16"}, headers=token)
    assert done.status_code == 201, done.text
    assert (done.json()["status"], done.json()["actual_date"]) == ("completed", "2025-12-16")
    after = {v["code"]: v for v in client.get(SUBJECT, headers=token).json()["visits"]}
    assert after["RT2-D1"]["status"] == "completed"
    assert after["RT2-M1"]["status"] == "overdue"  # a later visit, still to do
    # A visit the next occurrence cancelled may still be recorded up to that day.
    late = client.post(f"{SUBJECT}/visits/RT1-M1/completion",
                       json={"actual_date": "2025-12-02"}, headers=token)
    assert late.status_code == 409, late.text
    assert late.json()["detail"] == (
        "visit RT1-M1 cannot be completed on 2025-12-02: it was cancelled (progression on "
        "2025-12-01 opens occurrence 2)")
    on_time = client.post(f"{SUBJECT}/visits/RT1-M1/completion",
                          json={"actual_date": "2025-11-30"}, headers=token)
    assert on_time.status_code == 201, on_time.text
    assert on_time.json()["status"] == "completed"
