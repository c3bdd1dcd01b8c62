"""Idempotency-Key and input limits against a real server process (uvicorn, own database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import IdempotencyKey, Subject
from tests.e2e.conftest import SLE, SLE_SITE, Server, site_today
from tests.helpers_access import text_of_every_row

pytestmark = pytest.mark.slow


SUBJECTS = f"/api/v1/studies/{SLE}/subjects"


def enrolment(subject_id: str) -> dict[str, object]:
    today = site_today()
    return {
        "subject_id": subject_id, "site": SLE_SITE,
        "consent_date": (today - timedelta(days=50)).isoformat(), "date_of_birth": "1990-02-02",
        "anchors": [{"name": "infusion", "date": (today - timedelta(days=30)).isoformat(),
                     "actual": True}],
    }


def subjects_named(server: Server, subject_id: str) -> int:
    with server.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Subject)
                           .where(Subject.subject_id == subject_id)) or 0


def test_a_retried_enrolment_is_answered_from_the_store(server: Server) -> None:
    with server.client() as client:
        headers = {"Idempotency-Key": "castor-enrol-IDEM-001"}
        first = client.post(SUBJECTS, json=enrolment("IDEM-001"), headers=headers)
        assert first.status_code == 201, first.text
        retry = client.post(SUBJECTS, json=enrolment("IDEM-001"), headers=headers)
        assert retry.status_code == 201
        assert retry.content == first.content
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.headers["content-type"] == "application/json"
        # Without the key the natural rule answers: the subject exists already.
        plain = client.post(SUBJECTS, json=enrolment("IDEM-001"))
        assert plain.status_code == 409
        # The same key for another body is a client bug, said clearly.
        other = client.post(SUBJECTS, json=enrolment("IDEM-002"), headers=headers)
        assert other.status_code == 422
        assert other.headers["content-type"] == "application/problem+json"
        assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert subjects_named(server, "IDEM-001") == 1
    assert subjects_named(server, "IDEM-002") == 0


def test_a_replay_is_the_first_answer_even_after_later_changes(server: Server) -> None:
    with server.client() as client:
        assert client.post(SUBJECTS, json=enrolment("IDEM-003")).status_code == 201
        url = f"{SUBJECTS}/IDEM-003/visits/D14/completion"
        day = (site_today() - timedelta(days=16)).isoformat()
        first = client.post(url, json={"actual_date": day}, headers={"Idempotency-Key": "c-1"})
        assert first.status_code == 201
        corrected_day = (site_today() - timedelta(days=15)).isoformat()
        corrected = client.post(url, json={"actual_date": corrected_day, "correction": True,
                                           "reason": "typo in the EDC"})
        assert corrected.status_code == 200 and corrected.json()["actual_date"] == corrected_day
        # A late retry of the first request does not undo the correction: it gets the
        # answer the first request got, and nothing is done.
        late = client.post(url, json={"actual_date": day}, headers={"Idempotency-Key": "c-1"})
        assert (late.status_code, late.content) == (201, first.content)
        now = client.get(f"{SUBJECTS}/IDEM-003").json()
        d14 = next(v for v in now["visits"] if v["code"] == "D14")
        assert d14["actual_date"] == corrected_day


def test_keys_are_per_token(server: Server) -> None:
    with server.client() as admin:
        made = admin.post("/api/v1/tokens", json={"role": "edc", "studies": [SLE],
                                                  "name": "e2e-edc"})
        assert made.status_code == 201
        secret = made.json()["secret"]
        key = {"Idempotency-Key": "batch-2026-03-01"}
        one = admin.post(SUBJECTS, json=enrolment("IDEM-004"), headers=key)
    with server.client(secret) as edc:
        two = edc.post(SUBJECTS, json=enrolment("IDEM-005"), headers=key)
        again = edc.post(SUBJECTS, json=enrolment("IDEM-005"), headers=key)
    assert (one.status_code, two.status_code, again.status_code) == (201, 201, 201)
    assert "idempotent-replayed" not in two.headers
    assert again.headers["idempotent-replayed"] == "true"
    with server.engine.connect() as conn:
        owners = conn.execute(
            select(IdempotencyKey.token_name).where(IdempotencyKey.key == key["Idempotency-Key"])
            .order_by(IdempotencyKey.token_name)
        ).scalars().all()
    assert owners == ["e2e-admin", "e2e-edc"]


def test_put_anchor_with_a_key(server: Server) -> None:
    with server.client() as client:
        assert client.post(SUBJECTS, json=enrolment("IDEM-006")).status_code == 201
        url = f"{SUBJECTS}/IDEM-006/anchors/infusion"
        body = {"date": (site_today() - timedelta(days=31)).isoformat(), "actual": True,
                "reason": "infusion date corrected from the pharmacy log"}
        headers = {"Idempotency-Key": "anchor-fix-1"}
        first = client.put(url, json=body, headers=headers)
        second = client.put(url, json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert (second.status_code, second.content) == (200, first.content)
    assert second.headers["idempotent-replayed"] == "true"


def test_oversized_and_non_json_bodies_are_refused_by_the_server(server: Server) -> None:
    with server.client() as client:
        huge = b'{"subject_id": "' + b"x" * 1_100_000 + b'"}'
        announced = client.post(SUBJECTS, content=huge,
                                headers={"Content-Type": "application/json"})
        assert announced.status_code == 413
        assert announced.headers["content-type"] == "application/problem+json"

        def chunks() -> Iterator[bytes]:
            for _ in range(20):
                yield b" " * 60_000

        streamed = client.post(SUBJECTS, content=chunks(),
                               headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        form = client.post(SUBJECTS, content=b"subject_id=x",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415
        assert form.json()["type"] == "/problems/unsupported-media-type"


def test_no_secret_is_stored_or_logged(server: Server) -> None:
    with server.client() as client:
        made = client.post("/api/v1/tokens", json={"role": "admin", "name": "e2e-second"})
        assert made.status_code == 201
        secret = made.json()["secret"]
        keyed = client.post("/api/v1/tokens", json={"role": "admin", "name": "e2e-third"},
                            headers={"Idempotency-Key": "token-1"})
        assert keyed.status_code == 422
        with httpx.Client(base_url=server.base_url) as anonymous:
            for header in (f"Bearer {secret}x", f"Basic {secret}", secret):
                refused = anonymous.get("/api/v1/tokens", headers={"Authorization": header})
                assert refused.status_code == 401 and secret not in refused.text
    with Session(server.engine) as session:
        stored = text_of_every_row(session)
    log = server.log()
    for raw in (secret, server.admin):
        assert raw not in stored and raw[3:] not in stored
        assert raw not in log
