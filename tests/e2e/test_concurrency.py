"""Requests racing on one visit, fired from threads at a real `followup serve --workers 2`.

An EDC retry may arrive while the first request is still running. Whatever the order,
the visit is completed once and audited once, and every caller gets the same answer.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.access import SYSTEM
from app.db import make_sessionmaker, transaction
from app.models import AuditRecord, Study, Subject, Visit
from app.services.studies import load_schedule
from tests.e2e.conftest import SCHEDULES, SLE, WORKERS, Server, enrol, site_today

pytestmark = pytest.mark.slow


RACERS = 8
COMPLETION = "/api/v1/studies/{study}/subjects/{subject}/visits/{visit}/completion"


def race(server: Server, url: str, bodies: list[dict[str, Any]],
         headers: list[dict[str, str]]) -> list[httpx.Response]:
    """Send every request at the same instant, one thread (and connection) each."""
    start = threading.Barrier(len(bodies))

    def send(index: int) -> httpx.Response:
        with server.client() as client:
            start.wait()
            return client.post(url, json=bodies[index], headers=headers[index])

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, range(len(bodies))))


def recorded(server: Server, subject_id: str, visit: str) -> tuple[int, int, str | None]:
    """(completion audit records, completed visit rows, actual date) of one visit."""
    with server.engine.connect() as conn:
        audits = conn.scalar(
            select(func.count()).select_from(AuditRecord).where(
                AuditRecord.study_code == SLE, AuditRecord.subject_id == subject_id,
                AuditRecord.key == visit, AuditRecord.action.like("visit.%"),
            )
        )
        rows = conn.execute(
            select(Visit.state, Visit.actual_date)
            .join(Subject, Subject.id == Visit.subject_pk)
            .join(Study, Study.id == Subject.study_id)
            .where(Study.code == SLE, Subject.subject_id == subject_id, Visit.code == visit)
        ).all()
    completed = [r for r in rows if r.state == "completed"]
    actual = completed[0].actual_date.isoformat() if completed else None
    return audits or 0, len(completed), actual


def d14_date(days_ago: int = 40) -> str:
    return (site_today() - timedelta(days=days_ago - 14)).isoformat()


def assert_one_answer(responses: list[httpx.Response]) -> None:
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 201}, [r.text for r in responses]
    bodies = {r.content for r in responses}
    assert len(bodies) == 1, bodies


def test_racing_identical_completions_without_a_key(server: Server) -> None:
    with server.client() as client:
        enrol(client, "RACE-001")
    url = COMPLETION.format(study=SLE, subject="RACE-001", visit="D14")
    body = {"actual_date": d14_date()}
    responses = race(server, url, [body] * RACERS, [{}] * RACERS)
    assert_one_answer(responses)
    # The natural rule: the first one creates (201), the others read it back (200).
    assert sorted(r.status_code for r in responses) == [200] * (RACERS - 1) + [201]
    assert recorded(server, "RACE-001", "D14") == (1, 1, body["actual_date"])


def test_racing_identical_completions_with_one_key(server: Server) -> None:
    with server.client() as client:
        enrol(client, "RACE-002")
    url = COMPLETION.format(study=SLE, subject="RACE-002", visit="D14")
    body = {"actual_date": d14_date()}
    responses = race(server, url, [body] * RACERS, [{"Idempotency-Key": "rave-7781"}] * RACERS)
    assert_one_answer(responses)
    # One did the work; every other one got its stored answer, status included.
    assert [r.status_code for r in responses] == [201] * RACERS
    replayed = [r.headers.get("idempotent-replayed") for r in responses]
    assert sorted(replayed, key=str) == [None] + ["true"] * (RACERS - 1)
    assert recorded(server, "RACE-002", "D14") == (1, 1, body["actual_date"])


def test_racing_completions_with_different_dates(server: Server) -> None:
    with server.client() as client:
        enrol(client, "RACE-003")
    url = COMPLETION.format(study=SLE, subject="RACE-003", visit="D14")
    dates = [d14_date(40 + i % 2) for i in range(RACERS)]
    responses = race(server, url, [{"actual_date": d} for d in dates], [{}] * RACERS)
    created = [r for r in responses if r.status_code == 201]
    assert len(created) == 1
    winner = created[0].json()
    for response in responses:
        assert response.status_code in (200, 201, 409), response.text
        if response.status_code == 409:
            assert response.json()["type"] == "/problems/already-recorded"
        else:
            assert response.content == created[0].content
    assert recorded(server, "RACE-003", "D14") == (1, 1, winner["actual_date"])


def test_racing_one_key_with_two_bodies(server: Server) -> None:
    """Same key, different bodies at once: one is done, its twins replay, the rest 422."""
    with server.client() as client:
        enrol(client, "RACE-004")
    url = COMPLETION.format(study=SLE, subject="RACE-004", visit="D14")
    dates = [d14_date(40 + i % 2) for i in range(RACERS)]
    responses = race(server, url, [{"actual_date": d} for d in dates],
                     [{"Idempotency-Key": "mixed"}] * RACERS)
    done = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 422]
    assert len(done) + len(refused) == RACERS
    assert len(done) == RACERS // 2 and len({r.content for r in done}) == 1
    assert all(r.json()["type"] == "/problems/idempotency-key-reused" for r in refused)
    actual = done[0].json()["actual_date"]
    assert recorded(server, "RACE-004", "D14") == (1, 1, actual)


def test_racing_enrolments_of_one_subject(server: Server) -> None:
    today = site_today()
    body = {
        "subject_id": "RACE-005", "site": "YC3H",
        "consent_date": (today - timedelta(days=30)).isoformat(), "date_of_birth": "1975-01-01",
        "anchors": [{"name": "infusion", "date": (today - timedelta(days=10)).isoformat(),
                     "actual": True}],
    }
    url = f"/api/v1/studies/{SLE}/subjects"
    with_key = race(server, url, [body] * RACERS, [{"Idempotency-Key": "enrol-5"}] * RACERS)
    assert [r.status_code for r in with_key] == [201] * RACERS
    assert len({r.content for r in with_key}) == 1
    with server.engine.connect() as conn:
        subjects = conn.scalar(select(func.count()).select_from(Subject)
                               .where(Subject.subject_id == "RACE-005"))
        enrolled = conn.scalar(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.subject_id == "RACE-005", AuditRecord.action == "subject.enrolled"))
    assert (subjects, enrolled) == (1, 1)


def _small_study(server: Server, code: str, target: int) -> None:
    text = (SCHEDULES / "ucart-sle.yaml").read_text(encoding="utf-8")
    text = text.replace("code: UCART-SLE", f"code: {code}")
    text = text.replace("target_enrolment: 48", f"target_enrolment: {target}")
    with transaction(make_sessionmaker(server.engine)) as session:
        load_schedule(session, text=text, source=f"{code}.yaml", actor=SYSTEM)


def _batch(prefix: str, count: int) -> list[dict[str, Any]]:
    today = site_today()
    return [
        {"subject_id": f"{prefix}-{i}", "site": "YC3H",
         "consent_date": (today - timedelta(days=30)).isoformat(),
         "date_of_birth": "1975-01-01",
         "anchors": [{"name": "infusion", "date": (today - timedelta(days=10)).isoformat(),
                      "actual": True}]}
        for i in range(count)
    ]


def _enrolled(server: Server, code: str) -> int:
    with server.engine.connect() as conn:
        return conn.scalar(
            select(func.count()).select_from(Subject).join(Study, Study.id == Subject.study_id)
            .where(Study.code == code)
        ) or 0


def test_racing_batches_never_pass_the_enrolment_target(server: Server) -> None:
    """Six batches of three race for eight places: the target holds, nothing is a 500."""
    code = "RACE-CAP"
    _small_study(server, code, target=8)
    url = f"/api/v1/studies/{code}/subjects:batch"
    bodies: list[Any] = [_batch(f"CAP{n}", 3) for n in range(6)]
    responses = race(server, url, bodies, [{}] * len(bodies))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 422}, [r.text for r in responses]
    imported = sum(r.json()["imported"] for r in responses if r.status_code == 201)
    for refused in (r for r in responses if r.status_code == 422):
        problem = refused.json()
        assert problem["type"] == "/problems/invalid-rows"
        assert any("is full" in e["message"] for e in problem["errors"]), problem
    assert imported == _enrolled(server, code) <= 8
    assert statuses.count(201) == 2  # 3 + 3 fit, a third batch would make 9


def test_racing_identical_batches_enrol_once_and_report_rows(server: Server) -> None:
    code = "RACE-DUP"
    _small_study(server, code, target=48)
    url = f"/api/v1/studies/{code}/subjects:batch"
    body = _batch("DUP", 3)
    responses = race(server, url, [body] * 6, [{}] * 6)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 5, [r.text for r in responses]
    for refused in (r for r in responses if r.status_code == 422):
        errors = refused.json()["errors"]
        assert [(e["index"], e["field"]) for e in errors] == [(0, "subject_id"), (1, "subject_id"),
                                                              (2, "subject_id")]
        assert all(f"is already enrolled in {code}" in e["message"] for e in errors)
    assert _enrolled(server, code) == 3


def test_the_server_logged_no_secret(server: Server) -> None:
    assert server.admin not in server.log()


def test_the_races_run_on_two_worker_processes(server: Server) -> None:
    """The races above ran against `followup serve --workers 2`: two worker processes."""
    started = set(re.findall(r"Started server process \[(\d+)\]", server.log()))
    assert len(started) == WORKERS, server.log()
