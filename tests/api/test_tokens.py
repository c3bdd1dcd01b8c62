"""Tokens over the API: admin only, shown once, validated, revocable, audited, never leaked."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM, Role
from app.models import ApiToken, AuditRecord
from app.services import tokens as tokens_service
from app.services.tokens import actor_of, create_token, hash_token
from tests.helpers_access import (
    MM,
    SLE,
    SLE_SITE,
    expire,
    new_token,
    revoke,
    text_of_every_row,
)
from tests.helpers_subjects import bearer, load_seed_studies


@pytest.fixture
def admin(session: Session) -> str:
    load_seed_studies(session)
    raw = new_token(session, "admin", name="root")
    # Commit (a savepoint of the test's transaction): a failed request rolls back to here.
    session.commit()
    return raw


def create(client: TestClient, admin: str, **body: object) -> dict[str, object]:
    response = client.post("/api/v1/tokens", json=body, headers=bearer(admin))
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


def test_created_token_works_once_shown_and_is_stored_only_as_hash(
    client: TestClient, session: Session, admin: str
) -> None:
    data = create(client, admin, role="coordinator", sites=[SLE_SITE], name="yc3h-nurse")
    secret = data["secret"]
    assert isinstance(secret, str) and secret.startswith("fu_") and len(secret) >= 46
    assert data["token"] == {
        "name": "yc3h-nurse", "role": "coordinator", "sites": [SLE_SITE], "studies": [],
        "created_at": data["token"]["created_at"],  # type: ignore[index]
        "expires_at": None, "revoked_at": None, "active": True,
    }
    stored_hash = session.scalars(
        select(ApiToken.token_hash).where(ApiToken.name == "yc3h-nurse")
    ).one()
    assert stored_hash == hash_token(secret)

    # The new token authenticates, and as a coordinator it may not manage tokens.
    assert client.get("/api/v1/tokens", headers=bearer(secret)).status_code == 403
    listed = client.get("/api/v1/tokens", headers=bearer(admin))
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["root", "yc3h-nurse"]
    assert secret not in listed.text and stored_hash not in listed.text
    one = client.get("/api/v1/tokens/yc3h-nurse", headers=bearer(admin))
    assert one.status_code == 200 and secret not in one.text and "hash" not in one.text


def test_default_name_is_role_and_random(client: TestClient, admin: str) -> None:
    data = create(client, admin, role="edc", studies=[SLE])
    name = data["token"]["name"]  # type: ignore[index]
    assert isinstance(name, str) and name.startswith("edc-") and len(name) == len("edc-") + 8


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"role": "coordinator"}, 422, "at least one site"),
        ({"role": "coordinator", "studies": [SLE]}, 422, "at least one site"),
        ({"role": "edc"}, 422, "at least one study"),
        ({"role": "monitor", "sites": [SLE_SITE]}, 422, "at least one study"),
        ({"role": "edc", "studies": [SLE], "sites": [SLE_SITE]}, 422, "give no sites"),
        ({"role": "admin", "studies": [SLE]}, 422, "no sites or studies"),
        ({"role": "coordinator", "sites": ["NOPE"]}, 422, "unknown site(s): NOPE"),
        ({"role": "edc", "studies": [SLE, "NOPE-2"]}, 422, "unknown study(ies): NOPE-2"),
        ({"role": "superuser"}, 422, "role"),
        ({"role": "edc", "studies": ["bad code!"]}, 422, "studies"),
        ({"role": "admin", "name": "has space"}, 422, "name"),
        ({"role": "admin", "name": "x" * 101}, 422, "name"),
        ({"role": "admin", "expires_at": "2030-01-01T00:00:00"}, 422, "expires_at"),
        ({"role": "admin", "expires_at": "2001-01-01T00:00:00Z"}, 422, "in the past"),
        ({"role": "admin", "name": "root"}, 409, "already exists"),
        ({"role": "admin", "extra": 1}, 422, "extra"),
    ],
)
def test_invalid_token_requests_are_refused_with_a_problem(
    client: TestClient, admin: str, body: dict[str, object], status: int, words: str
) -> None:
    response = client.post("/api/v1/tokens", json=body, headers=bearer(admin))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert words in response.text


def test_monitor_may_be_narrowed_to_sites_and_coordinator_to_studies(
    client: TestClient, admin: str
) -> None:
    monitor = create(client, admin, role="monitor", studies=[SLE], sites=[SLE_SITE])
    assert monitor["token"]["sites"] == [SLE_SITE]  # type: ignore[index]
    nurse = create(client, admin, role="coordinator", sites=[SLE_SITE], studies=[SLE])
    assert nurse["token"]["studies"] == [SLE]  # type: ignore[index]


@pytest.mark.parametrize("role", ["edc", "coordinator", "monitor"])
def test_only_admins_manage_tokens(
    client: TestClient, session: Session, admin: str, role: str
) -> None:
    scope = {"sites": (SLE_SITE,)} if role == "coordinator" else {"studies": (SLE,)}
    raw = new_token(session, role, name=f"the-{role}", **scope)  # type: ignore[arg-type]
    session.commit()
    headers = bearer(raw)
    assert client.get("/api/v1/tokens", headers=headers).status_code == 403
    assert client.get("/api/v1/tokens/root", headers=headers).status_code == 403
    assert client.post("/api/v1/tokens", json={"role": "admin"},
                       headers=headers).status_code == 403
    assert client.delete("/api/v1/tokens/root", headers=headers).status_code == 403
    assert client.get("/api/v1/tokens", headers=bearer(admin)).status_code == 200


def test_revoked_token_stops_working_and_revocation_is_audited(
    client: TestClient, session: Session, admin: str
) -> None:
    secret = create(client, admin, role="edc", studies=[MM], name="rave")["secret"]
    assert isinstance(secret, str)
    # Authenticated (403: an edc token may not list tokens), then no longer (401).
    assert client.get("/api/v1/tokens", headers=bearer(secret)).status_code == 403
    revoked = client.delete("/api/v1/tokens/rave", headers=bearer(admin))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None and revoked.json()["active"] is False
    refused = client.get("/api/v1/tokens", headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["detail"] == "invalid or expired token"
    again = client.delete("/api/v1/tokens/rave", headers=bearer(admin))
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert client.delete("/api/v1/tokens/nobody", headers=bearer(admin)).status_code == 404

    trail = session.scalars(
        select(AuditRecord).where(AuditRecord.entity == "token", AuditRecord.key == "rave")
        .order_by(AuditRecord.id)
    ).all()
    assert [(r.action, r.actor, r.role) for r in trail] == [
        ("token.created", "root", "admin"), ("token.revoked", "root", "admin"),
    ]
    assert trail[0].after == {"role": "edc", "sites": [], "studies": [MM], "expires_at": None}
    assert trail[1].before == {"revoked_at": None}


def test_expired_and_unknown_tokens_get_401(
    client: TestClient, session: Session, admin: str
) -> None:
    raw = new_token(session, "admin", name="short-lived")
    assert client.get("/api/v1/tokens", headers=bearer(raw)).status_code == 200
    expire(session, "short-lived")
    session.commit()
    for headers in (bearer(raw), bearer("fu_not-a-token"), {"Authorization": "Basic eDp5"}, {}):
        response = client.get("/api/v1/tokens", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


def test_an_expiry_in_the_future_is_kept(client: TestClient, admin: str) -> None:
    when = datetime.now(UTC) + timedelta(days=30)
    data = create(client, admin, role="admin", name="temp", expires_at=when.isoformat())
    stored = datetime.fromisoformat(data["token"]["expires_at"])  # type: ignore[index]
    assert abs(stored - when) < timedelta(seconds=1)


def test_token_creation_refuses_an_idempotency_key(client: TestClient, admin: str) -> None:
    # Replaying would mean keeping the secret in the database.
    response = client.post("/api/v1/tokens", json={"role": "admin"},
                           headers={**bearer(admin), "Idempotency-Key": "k1"})
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/idempotency-key-invalid"


@pytest.mark.parametrize("authorization", [None, "Bearer fu_not-a-token", "Basic eDp5"])
def test_without_a_valid_token_the_key_is_not_judged_first(
    client: TestClient, admin: str, authorization: str | None
) -> None:
    # Authentication answers first: 401, whatever the Idempotency-Key says.
    headers = {"Idempotency-Key": "k1"} | (
        {"Authorization": authorization} if authorization else {})
    for url, body in (("/api/v1/tokens", {"role": "admin"}),
                      ("/api/v1/sites/YC3H/feed-tokens", {})):
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["type"] == "/problems/not-authenticated"


def test_actor_of_fails_closed_when_a_row_lacks_its_scope(session: Session) -> None:
    for role, sites, studies in (
        ("coordinator", [], []), ("edc", [], []), ("monitor", [], []),
    ):
        actor = actor_of(ApiToken(name="x", role=role, token_hash="0", sites=sites,
                                  studies=studies))
        assert not actor.sees(study=SLE, site=SLE_SITE)
    admin = actor_of(ApiToken(name="x", role="admin", token_hash="0", sites=[], studies=[]))
    assert admin.role is Role.ADMIN and admin.sees(study=SLE, site=SLE_SITE)
    edc = actor_of(ApiToken(name="x", role="edc", token_hash="0", sites=[], studies=[SLE]))
    assert edc.sees(study=SLE, site="ANY") and not edc.sees(study=MM, site="ANY")
    nurse = actor_of(ApiToken(name="x", role="coordinator", token_hash="0",
                              sites=[SLE_SITE], studies=[]))
    assert nurse.sees(study=MM, site=SLE_SITE) and not nurse.sees(study=SLE, site="WTCH")


def test_secrets_never_reach_logs_errors_or_the_database(
    client: TestClient, session: Session, admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = create(client, admin, role="monitor", studies=[SLE], name="cra")
    secret = created["secret"]
    assert isinstance(secret, str)
    cli_made = create_token(session, actor=SYSTEM, role="edc", studies=[SLE], name="castor",
                            now=datetime.now(UTC))
    revoked_raw = new_token(session, "admin", name="old")
    revoke(session, "old")
    expired_raw = new_token(session, "admin", name="gone")
    expire(session, "gone")
    session.commit()
    secrets = [admin, secret, cli_made.secret, revoked_raw, expired_raw]

    bodies: list[str] = []
    for raw in secrets:
        for method, url, body in (
            ("GET", "/api/v1/tokens", None),
            ("GET", "/api/v1/audit", None),
            ("POST", "/api/v1/tokens", {"role": "coordinator"}),
            ("POST", "/api/v1/tokens", {"role": "edc", "studies": ["x"], "junk": raw}),
            ("GET", "/api/v1/no-such-route", None),
            ("DELETE", "/api/v1/tokens/cra", None),
        ):
            response = client.request(method, url, json=body, headers=bearer(raw))
            assert response.status_code < 500
            if response.status_code >= 400:
                bodies.append(response.text)
        # A malformed header carrying the secret is refused without echoing it.
        refused = client.get("/api/v1/tokens", headers={"Authorization": f"Token {raw}"})
        bodies.append(refused.text)

    # Calendar-feed tokens are secrets too: their creation never stores a replay.
    keyed_feed = client.post(f"/api/v1/sites/{SLE_SITE}/feed-tokens",
                             headers={**bearer(admin), "Idempotency-Key": "feed-1"})
    assert keyed_feed.status_code == 422
    feed = client.post(f"/api/v1/sites/{SLE_SITE}/feed-tokens", headers=bearer(admin))
    assert feed.status_code == 201
    feed_secret = feed.json()["url"].rsplit("=", 1)[-1].rsplit("/", 1)[-1]
    assert len(feed_secret) > 30
    secrets.append(feed_secret)

    logged = "\n".join(
        [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    )
    stored = text_of_every_row(session)
    for raw in secrets:
        assert raw not in logged
        assert all(raw not in b for b in bodies)
        assert raw not in stored
        assert raw[3:] not in stored  # not even without the prefix


def test_a_found_token_reads_the_columns_in_the_order_they_are_selected() -> None:
    # authenticate_digest reads the row by position into _FoundToken: a column added to
    # the statement (GRANT_COLUMNS) must be added to the tuple in the same place.
    selected = [c.name for c in tokens_service._TOKEN_BY_HASH.statement.selected_columns]
    assert selected == list(tokens_service._FoundToken._fields)
