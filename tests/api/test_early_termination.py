"""The example protocol with an early-termination phase (schedules/examples/
lzzt-xanomeline.yaml) over HTTP: loaded into the database, a subject enrolled, the
withdrawal opens the phase, the early-termination visit shows on the worklist and in the
digest though the subject left, and it may be recorded after the withdrawal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.schedule.lifecycle import EventType
from app.schedule.status import State
from app.services.studies import load_schedule
from app.services.subjects.preview import preview_event
from tests.helpers_subjects import bearer, make_token, stand_at
from tests.web.helpers import sign_in

EXAMPLE = Path(__file__).resolve().parents[2] / "schedules" / "examples" / "lzzt-xanomeline.yaml"
SUBJECTS = "/api/v1/studies/LZZT/subjects"
SUBJECT = f"{SUBJECTS}/P-1"
# Noon in Indianapolis on 5 June 2024 (UTC-4, daylight saving time).
NOW = datetime(2024, 6, 5, 16, 0, tzinfo=UTC)


def _visits(client: TestClient, token: dict[str, str], **params: Any) -> list[tuple[str, str, str]]:
    response = client.get("/api/v1/visits", params=params, headers=token)
    assert response.status_code == 200, response.text
    return [(v["subject_id"], v["visit"], v["status"]) for v in response.json()["items"]]


def test_enrol_withdraw_and_record_the_early_termination_visit(
    client: TestClient, session: Session
) -> None:
    load_schedule(session, text=EXAMPLE.read_text(encoding="utf-8"), source=EXAMPLE.name,
                  actor=SYSTEM)
    edc = bearer(make_token(session, "edc", studies=["LZZT"]))
    nurse_token = make_token(session, "coordinator", sites=["LZ01"])
    nurse = bearer(nurse_token)
    session.commit()
    stand_at(client, NOW)
    body = {"subject_id": "P-1", "site": "LZ01", "consent_date": "2024-02-12",
            "date_of_birth": "1946-07-03",
            "anchors": [{"name": "first_dose", "date": "2024-03-01", "actual": True}]}
    created = client.post(SUBJECTS, json=body, headers=edc)
    assert created.status_code == 201, created.text
    before = {v["code"]: v for v in created.json()["visits"]}
    assert (before["ET"]["status"], before["ET"]["target_date"]) == ("pending", None)
    assert before["WK12"]["status"] == "overdue"  # window 20-28 May, not done
    for code, day in (("WK2", "2024-03-15"), ("WK4", "2024-03-29")):
        done = client.post(f"{SUBJECT}/visits/{code}/completion", json={"actual_date": day},
                           headers=edc)
        assert done.status_code == 201, done.text

    # The event's preview says the truth: the main visits still open are cancelled, the
    # phase's visits come into being.
    preview = preview_event(session, study="LZZT", subject_id="P-1", type=EventType.WITHDRAWAL,
                            day=date(2024, 5, 31), actor=SYSTEM, now=NOW)
    assert [v.code for v in preview.cancelled] == [
        "TEL14", "WK16", "TEL18", "WK20", "TEL22", "WK24", "WK26"]
    assert [(v.code, v.before, v.after) for v in preview.changed] == [
        ("ET", State.PENDING, State.PLANNED), ("RET", State.PENDING, State.PLANNED)]

    withdrawn = client.post(f"{SUBJECT}/events", json={"type": "withdrawal",
                                                       "date": "2024-05-31"}, headers=edc)
    assert withdrawn.status_code == 201, withdrawn.text
    subject = withdrawn.json()
    assert subject["lifecycle"] == "withdrawn"
    visits = {v["code"]: v for v in subject["visits"]}
    assert (visits["ET"]["status"], visits["ET"]["target_date"], visits["ET"]["window_end"]) == (
        "due", "2024-05-31", "2024-06-14")
    assert (visits["WK12"]["status"], visits["TEL14"]["status"]) == ("missed_undocumented",
                                                                     "cancelled")
    assert subject["phases"] == [{"code": "ET", "name": "Early termination", "state": "active",
                                  "opened_by": "withdrawal", "opened_on": "2024-05-31"}]

    # The default worklist (subjects still on study) shows the early-termination visit of
    # the withdrawn subject (and the retrieval visit to come), and nothing else of theirs;
    # every subject shows the rest.
    assert _visits(client, nurse) == [("P-1", "ET", "due"), ("P-1", "RET", "scheduled")]
    assert ("P-1", "WK12", "missed_undocumented") in _visits(client, nurse, lifecycle="all")
    summary = client.get("/api/v1/visits/summary", headers=nurse).json()
    assert [(c["study"], c["due"]) for c in summary["items"]] == [("LZZT", 1)]
    digest = client.get("/api/v1/sites/LZ01/digest", headers=nurse).json()
    assert [(r["subject_id"], r["visit_code"]) for r in digest["due"]] == [("P-1", "ET")]

    # Done after the withdrawal: accepted for the visit it opened, refused for the others.
    refused = client.post(f"{SUBJECT}/visits/WK12/completion",
                          json={"actual_date": "2024-06-03"}, headers=edc)
    assert refused.status_code == 422, refused.text
    assert "after the withdrawal (2024-05-31)" in refused.json()["detail"]
    recorded = client.post(f"{SUBJECT}/visits/ET/completion",
                           json={"actual_date": "2024-06-04"}, headers=edc)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["status"] == "completed"
    assert _visits(client, nurse) == [("P-1", "RET", "scheduled")]

    # The pages say which event opened the phase, and what closes it.
    sign_in(client, nurse_token)
    page = client.get("/studies/LZZT/subjects/P-1")
    assert page.status_code == 200
    assert "<strong>ET</strong>: active, opened by withdrawal on Fri 2024-05-31</li>" in page.text
    study = client.get("/studies/LZZT")
    assert ("opens on withdrawal, timed from the withdrawal date; only a death closes it."
            in study.text)
