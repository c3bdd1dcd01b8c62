"""A protocol with a visit it gives no window (``window: none``) over HTTP: the visit is
due from its target until the day before the next visit, then overdue, and recorded late
it is completed, without a deviation, in the calendar, the worklist and the report."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import AuditRecord
from app.schedule.status import Status
from app.services.exports.rows import export_scope, subject_chunks
from app.services.studies import load_schedule
from tests.helpers_subjects import NOW, bearer, enrolment_body, make_token, seed_text, stand_at

STUDY = "ECG-SLE"
SUBJECT = f"/api/v1/studies/{STUDY}/subjects/S-001"
ECG = """\
  - code: ECG
    name: Removal of the ECG monitor
    at: day 3
    window: none
"""


@pytest.fixture
def edc(client: TestClient, session: Session) -> dict[str, str]:
    """The SLE protocol under another code with an ECG removal on Day 3 without a window;
    S-001 infused 1 Feb 2026 (ECG due 4..14 Feb, D14 on 15 Feb), today 1 March."""
    text = seed_text("ucart-sle.yaml").replace("code: UCART-SLE", f"code: {STUDY}")
    with_ecg = text.replace("  - code: D14\n", ECG + "  - code: D14\n", 1)
    assert with_ecg != text
    load_schedule(session, text=with_ecg, source="ecg-sle.yaml", actor=SYSTEM)
    stand_at(client, NOW)
    token = bearer(make_token(session, "edc", studies=[STUDY]))
    session.commit()
    enrolled = client.post(f"/api/v1/studies/{STUDY}/subjects", json=enrolment_body(),
                           headers=token)
    assert enrolled.status_code == 201, enrolled.text
    return token


def _visit(client: TestClient, token: dict[str, str], code: str) -> dict[str, Any]:
    calendar = client.get(SUBJECT, headers=token)
    assert calendar.status_code == 200, calendar.text
    visit: dict[str, Any] = next(v for v in calendar.json()["visits"] if v["code"] == code)
    return visit


def _worklist(client: TestClient, token: dict[str, str], **params: str) -> list[Any]:
    response = client.get("/api/v1/visits", params={"study": STUDY, **params}, headers=token)
    assert response.status_code == 200, response.text
    return [(r["visit"], r["status"], r["days_late"], r["days_overdue"])
            for r in response.json()["items"]]


FIELDS = ("status", "target_date", "window_start", "window_end", "graded", "days_early",
          "days_late", "days_from_target", "days_overdue")


def test_recorded_late_it_is_completed_without_a_deviation(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    before = _visit(client, edc, "ECG")
    assert {k: before[k] for k in FIELDS} == {
        "status": "overdue", "target_date": "2026-02-04", "window_start": "2026-02-04",
        "window_end": "2026-02-14", "graded": False, "days_early": None, "days_late": None,
        "days_from_target": None, "days_overdue": 15,
    }
    assert _visit(client, edc, "D14")["graded"] is True
    assert ("ECG", "overdue", None, 15) in _worklist(client, edc, status="overdue")

    done = client.post(f"{SUBJECT}/visits/ECG/completion", json={"actual_date": "2026-02-25"},
                       headers=edc)
    assert done.status_code == 201, done.text
    assert {k: done.json()[k] for k in FIELDS} == {
        "status": "completed", "target_date": "2026-02-04", "window_start": "2026-02-04",
        "window_end": "2026-02-14", "graded": False, "days_early": None, "days_late": None,
        "days_from_target": 21, "days_overdue": None,
    }
    assert {k: _visit(client, edc, "ECG")[k] for k in FIELDS} == {
        k: done.json()[k] for k in FIELDS}
    # The SQL twin (the worklist) agrees; a graded visit done late is still a deviation.
    late = client.post(f"{SUBJECT}/visits/D14/completion", json={"actual_date": "2026-02-25"},
                       headers=edc)
    assert late.json()["status"] == "completed_out_of_window"
    done_rows = _worklist(client, edc, status="completed")
    assert ("ECG", "completed", None, None) in done_rows
    assert ("D14", "completed_out_of_window", 8, None) in _worklist(
        client, edc, status="completed_out_of_window")
    record = session.scalars(select(AuditRecord).where(
        AuditRecord.action == "visit.completed", AuditRecord.key == "ECG")).one()
    assert record.after is not None
    assert "days_late" not in record.after and record.after["actual_date"] == "2026-02-25"


def test_the_compliance_report_counts_it_in_window(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    monitor = bearer(make_token(session, "monitor", studies=[STUDY]))
    session.commit()
    for code in ("ECG", "D14"):
        done = client.post(f"{SUBJECT}/visits/{code}/completion",
                           json={"actual_date": "2026-02-25"}, headers=edc)
        assert done.status_code == 201, done.text
    body = client.get(f"/api/v1/studies/{STUDY}/reports/compliance", headers=monitor).json()
    rows = {r["visit"]: (r["in_window"], r["early"], r["late"]) for r in body["rows"]}
    assert rows["ECG"] == (1, 0, 0) and rows["D14"] == (0, 0, 1)


def test_the_protocol_says_which_visit_has_no_window(
    client: TestClient, edc: dict[str, str]
) -> None:
    body = client.get(f"/api/v1/studies/{STUDY}", headers=edc).json()
    visits = {v["code"]: (v["window_before_days"], v["window_after_days"], v["graded"],
                          v["due_until_next"]) for v in body["visits"]}
    assert visits["ECG"] == (0, 0, False, True) and visits["D14"] == (2, 2, True, False)


def test_the_export_gives_it_no_deviation(
    client: TestClient, session: Session, edc: dict[str, str]
) -> None:
    for code in ("ECG", "D14"):
        done = client.post(f"{SUBJECT}/visits/{code}/completion",
                           json={"actual_date": "2026-02-25"}, headers=edc)
        assert done.status_code == 201, done.text
    scope = export_scope(session, study=STUDY, site=None, actor=SYSTEM, now=NOW)
    (subject,) = [s for chunk in subject_chunks(session, scope) for s in chunk]
    exported = {v.code: (v.status, v.days_early, v.days_late, v.days_from_target)
                for v in subject.visits}
    assert exported["ECG"] == (Status.COMPLETED, None, None, 21)
    assert exported["D14"] == (Status.COMPLETED_OUT_OF_WINDOW, None, 8, 10)
