"""Idempotency-Key: replay, mismatch, per-token scope, rollback, retention, in-progress.

The mechanism is tested on a small route mounted for the test (it writes one audit
row per call, so "done twice" is countable), the same way the real routes get it: a
router included under /api/v1 with the guard. Real completions are in tests/e2e.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.api.deps import ActorDep
from app.api.idempotency import IdempotencyGuard
from app.db import utcnow
from app.deps import SessionDep
from app.errors import Conflict
from app.main import API_PREFIX, create_app
from app.models import AuditRecord, IdempotencyKey
from app.services.audit import record_audit
from app.services.idempotency import purge_keys
from app.settings import Settings
from tests.conftest import share_session
from tests.helpers_access import new_token
from tests.helpers_subjects import bearer

notes = APIRouter()


class NoteIn(BaseModel):
    text: str


class NoteOut(BaseModel):
    id: int
    text: str
    by: str


@notes.post("/test-notes", status_code=201, response_model=NoteOut)
def add_note(body: NoteIn, session: SessionDep, actor: ActorDep, response: Response) -> NoteOut:
    if body.text == "fail":
        raise Conflict("refused on purpose")
    row = record_audit(session, actor=actor, action="note.added", entity="note", key=body.text)
    session.flush()
    response.headers["Location"] = f"/api/v1/test-notes/{row.id}"
    return NoteOut(id=row.id, text=body.text, by=actor.name)


@notes.put("/test-notes/{name}", response_model=NoteOut)
def put_note(name: str, session: SessionDep, actor: ActorDep) -> NoteOut:
    row = record_audit(session, actor=actor, action="note.put", entity="note", key=name)
    session.flush()
    return NoteOut(id=row.id, text=name, by=actor.name)


def build_app(settings: Settings, session: Session) -> FastAPI:
    app = create_app(settings)
    app.include_router(notes, prefix=API_PREFIX, dependencies=[IdempotencyGuard])
    app.state.idempotency_wait_seconds = 0.5
    share_session(app, session)
    return app


@pytest.fixture
def api(settings: Settings, session: Session) -> Iterator[TestClient]:
    with TestClient(build_app(settings, session), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def token(session: Session) -> str:
    raw = new_token(session, "admin", name="edc-bridge")
    session.commit()
    return raw


def notes_done(session: Session, action: str = "note.added") -> int:
    return session.scalar(
        select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action)
    ) or 0


def post(api: TestClient, token: str, text_: str, key: str | None) -> httpx.Response:
    headers = bearer(token) | ({"Idempotency-Key": key} if key is not None else {})
    return api.post("/api/v1/test-notes", json={"text": text_}, headers=headers)


def test_same_key_same_body_replays_the_stored_response(
    api: TestClient, session: Session, token: str
) -> None:
    headers = bearer(token) | {"Idempotency-Key": "enrol-42"}
    first = api.post("/api/v1/test-notes", json={"text": "a"}, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    for _ in range(3):
        again = api.post("/api/v1/test-notes", json={"text": "a"}, headers=headers)
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["content-type"] == first.headers["content-type"]
        assert again.headers["location"] == first.headers["location"]
    assert first.headers["location"].startswith("/api/v1/test-notes/")
    assert notes_done(session) == 1
    row = session.scalars(select(IdempotencyKey)).one()
    assert (row.token_name, row.key, row.method, row.path, row.status_code) == (
        "edc-bridge", "enrol-42", "POST", "/api/v1/test-notes", 201,
    )


def test_put_is_keyed_too(api: TestClient, session: Session, token: str) -> None:
    headers = bearer(token) | {"Idempotency-Key": "put-1"}
    first = api.put("/api/v1/test-notes/x", headers=headers)
    second = api.put("/api/v1/test-notes/x", headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() and second.headers["idempotent-replayed"] == "true"
    assert notes_done(session, "note.put") == 1


def test_same_key_with_another_body_or_path_is_422(
    api: TestClient, session: Session, token: str
) -> None:
    assert post(api, token, "a", "k").status_code == 201
    other = post(api, token, "b", "k")
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    elsewhere = api.put("/api/v1/test-notes/a", headers=bearer(token) | {"Idempotency-Key": "k"})
    assert elsewhere.status_code == 422
    assert notes_done(session) == 1 and notes_done(session, "note.put") == 0


def test_keys_belong_to_their_token(api: TestClient, session: Session, token: str) -> None:
    other = new_token(session, "admin", name="other-bridge")
    session.commit()
    one = post(api, token, "a", "shared")
    two = post(api, other, "a", "shared")
    assert one.status_code == two.status_code == 201
    assert one.json()["by"] == "edc-bridge" and two.json()["by"] == "other-bridge"
    assert "idempotent-replayed" not in two.headers
    assert notes_done(session) == 2


def test_without_a_key_every_request_does_the_work(
    api: TestClient, session: Session, token: str
) -> None:
    post(api, token, "a", None)
    post(api, token, "a", None)
    assert notes_done(session) == 2
    assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


def test_a_failed_request_keeps_no_key_so_its_retry_runs_again(
    api: TestClient, session: Session, token: str
) -> None:
    failed = post(api, token, "fail", "retry-me")
    assert failed.status_code == 409
    assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    again = post(api, token, "fail", "retry-me")
    assert again.status_code == 409 and "idempotent-replayed" not in again.headers


def test_invalid_body_keeps_no_key(api: TestClient, session: Session, token: str) -> None:
    response = api.post("/api/v1/test-notes", json={"txt": 1},
                        headers=bearer(token) | {"Idempotency-Key": "v"})
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"
    assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


@pytest.mark.parametrize("key", ["x" * 201, "tab\there", ""])
def test_malformed_keys_are_refused(api: TestClient, session: Session, token: str,
                                    key: str) -> None:
    response = post(api, token, "a", key)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/idempotency-key-invalid"
    assert notes_done(session) == 0


def test_longest_printable_key_is_accepted(api: TestClient, token: str) -> None:
    key = "".join(chr(c) for c in range(0x21, 0x7F))[:200].ljust(200, "~")
    assert post(api, token, "a", key).status_code == 201
    assert post(api, token, "a", key).headers["idempotent-replayed"] == "true"


def test_no_token_means_401_and_nothing_claimed(api: TestClient, session: Session) -> None:
    response = api.post("/api/v1/test-notes", json={"text": "a"},
                        headers={"Idempotency-Key": "k", "Authorization": "Bearer fu_nope"})
    assert response.status_code == 401
    assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


def test_a_key_past_retention_is_free_again_and_purged(
    api: TestClient, session: Session, token: str
) -> None:
    assert post(api, token, "a", "old").status_code == 201
    assert post(api, token, "a", "recent").status_code == 201
    session.execute(
        update(IdempotencyKey).where(IdempotencyKey.key == "old")
        .values(created_at=utcnow() - timedelta(hours=25))
    )
    session.commit()
    # Past 24 h the key may come back with another body and does the work again.
    assert post(api, token, "b", "old").status_code == 201
    assert notes_done(session) == 3

    now = utcnow()
    session.execute(update(IdempotencyKey).values(created_at=now - timedelta(hours=30)))
    session.execute(update(IdempotencyKey).where(IdempotencyKey.key == "recent")
                    .values(created_at=now - timedelta(hours=23)))
    assert purge_keys(session, actor=SYSTEM, now=now) == 1
    assert session.scalars(select(IdempotencyKey.key)).all() == ["recent"]
    with pytest.raises(Exception, match="at least"):
        purge_keys(session, actor=SYSTEM, older_than=timedelta(hours=1), now=now)


def test_get_ignores_the_key(api: TestClient, token: str, session: Session) -> None:
    response = api.get("/api/v1/tokens", headers=bearer(token) | {"Idempotency-Key": "g"})
    assert response.status_code == 200
    assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


@pytest.fixture
def other_connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        yield conn


def test_a_duplicate_of_a_running_request_gets_409_in_progress_on_postgresql(
    api: TestClient, session: Session, token: str, database_url: str,
    other_connection: Connection,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers before the key is read; no duplicate can run")
    # Another transaction holds the key and has not finished (a first request still
    # running): the duplicate waits, then gives up with 409 instead of doing the work.
    other_connection.execute(
        text(
            "INSERT INTO idempotency_keys (token_name, key, method, path, request_hash, created_at)"
            " VALUES ('edc-bridge', 'busy', 'POST', '/api/v1/test-notes', 'x', now())"
        )
    )
    response = post(api, token, "a", "busy")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/request-in-progress"
    assert notes_done(session) == 0
    other_connection.rollback()
    # Once the first one is gone, the retry runs.
    assert post(api, token, "a", "busy").status_code == 201
