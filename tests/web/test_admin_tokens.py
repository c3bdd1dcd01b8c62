"""API tokens on the pages, for an admin: created with the secret shown once (and then
usable on the API), refused with the service's message, revoked (the API refuses it from
then on); not allowed to anyone else; CSRF-checked."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken, AuditRecord
from tests.helpers_subjects import bearer
from tests.helpers_web import Seeded, seed, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in

SECRET = re.compile(r'id="token-secret" value="([^"]+)"')
TOKENS = "/admin/tokens"
EDC_TOKEN = {"name": "redcap", "role": "edc", "sites": "", "studies": "ucart-sle"}


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    return seed(session)


def secret_of(html: str) -> str:
    found = SECRET.search(html)
    assert found is not None, "the page shows the new token's secret"
    return found.group(1)


def test_an_admin_creates_a_token_whose_secret_is_shown_once_and_works(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    assert 'href="/admin/tokens"' in client.get("/worklist").text
    made = post_form(client, TOKENS, TOKENS, EDC_TOKEN)
    assert made.status_code == 201, made.text
    assert "it is shown only once" in made.text
    secret = secret_of(made.text)
    assert secret.startswith("fu_")
    listed = client.get(TOKENS)
    assert "redcap" in listed.text and "UCART-SLE" in listed.text
    assert secret not in listed.text
    studies = client.get("/api/v1/studies", headers=bearer(secret))
    assert studies.status_code == 200
    assert [s["code"] for s in studies.json()["items"]] == ["UCART-SLE"]
    row = session.scalars(select(ApiToken).where(ApiToken.name == "redcap")).one()
    assert (row.role, row.studies, row.sites) == ("edc", ["UCART-SLE"], [])


def test_a_refused_token_shows_the_services_message_and_keeps_the_values(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    refused = post_form(client, TOKENS, TOKENS, EDC_TOKEN | {"studies": ""})
    assert refused.status_code == 422
    assert "an edc token needs at least one study" in refused.text
    assert 'value="redcap"' in refused.text and 'aria-invalid="true"' in refused.text
    unknown = post_form(client, TOKENS, TOKENS, EDC_TOKEN | {"studies": "NOPE"})
    assert unknown.status_code == 422 and "unknown study(ies): NOPE" in unknown.text
    post_form(client, TOKENS, TOKENS, EDC_TOKEN)
    again = post_form(client, TOKENS, TOKENS, EDC_TOKEN)
    assert again.status_code == 409 and "a token named redcap already exists" in again.text
    assert session.scalars(select(ApiToken.name).where(
        ApiToken.name.like("redcap%"))).all() == ["redcap"]


def test_a_revoked_token_is_refused_and_listed_as_revoked(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    secret = secret_of(post_form(client, TOKENS, TOKENS, EDC_TOKEN).text)
    revoked = post_form(client, TOKENS, TOKENS + "/redcap/revoke", {})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == TOKENS + "?notice=token-revoked"
    page = client.get(revoked.headers["location"])
    assert "requests with it are refused from now on" in page.text
    assert re.search(r'id="state-redcap">revoked ', page.text)
    assert 'aria-label="Revoke token redcap"' not in page.text
    assert client.get("/api/v1/studies", headers=bearer(secret)).status_code == 401
    missing = post_form(client, TOKENS, TOKENS + "/nope/revoke", {})
    assert missing.status_code == 404
    session.flush()
    actions = list(session.scalars(select(AuditRecord.action).where(
        AuditRecord.entity == "token", AuditRecord.key == "redcap").order_by(AuditRecord.id)))
    assert actions == ["token.created", "token.revoked"]


def test_only_an_admin_sees_or_changes_tokens(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    assert 'href="/admin/tokens"' not in client.get("/worklist").text
    assert client.get(TOKENS).status_code == 403
    token = csrf_of(client.get("/worklist").text)
    assert client.post(TOKENS, data={"csrf_token": token, **EDC_TOKEN}).status_code == 403
    revoke = client.post(TOKENS + "/web-admin/revoke", data={"csrf_token": token})
    assert revoke.status_code == 403
    assert session.scalars(select(ApiToken.revoked_at).where(
        ApiToken.name == "web-admin")).one() is None
    assert session.scalars(select(ApiToken).where(ApiToken.name == "redcap")).first() is None


def test_the_forms_need_the_sessions_csrf_token(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    response = client.post(TOKENS, data=EDC_TOKEN)
    assert response.status_code == 403 and "Form expired" in response.text
    revoke = client.post(TOKENS + "/coord-yc3h/revoke", data={})
    assert revoke.status_code == 403 and "Form expired" in revoke.text
