"""A person's own API tokens on the pages: made with the secret shown once, acting as the
person through the API, revoked; a session signed in with a token has none to manage."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import ApiToken
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import change_password, create_user
from tests.helpers_subjects import NOW, bearer
from tests.helpers_web import OWN_SITE, Seeded, seed, stand_at
from tests.web.helpers import csrf_of, post_form, sign_in

PASSWORD = "seven purple tigers dance"
SECRET = re.compile(r'id="token-secret" value="(fu_[^"]+)"')


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    seeded = seed(session)
    one_time = create_user(session, actor=SYSTEM, username="li.wei", display_name="Dr Li Wei",
                           role="coordinator", sites=[OWN_SITE], now=NOW).password
    actor = check_password_sign_in(session, username="li.wei", password=one_time,
                                   address=None, now=NOW).actor
    change_password(session, actor=actor, current=one_time, new=PASSWORD, now=NOW)
    session.commit()
    return seeded


def password_sign_in(client: TestClient) -> None:
    page = client.get("/signin")
    response = client.post("/signin", data={"csrf_token": csrf_of(page.text),
                                            "username": "li.wei", "password": PASSWORD},
                           follow_redirects=False)
    assert response.headers["location"] == "/worklist"


def test_a_person_makes_uses_and_revokes_a_token(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    password_sign_in(client)
    empty = client.get("/account/tokens")
    assert empty.status_code == 200 and "You have no token." in empty.text
    bad = post_form(client, "/account/tokens", "/account/tokens", {"label": "My Laptop!"})
    assert bad.status_code == 422 and "a token label is" in bad.text
    made = post_form(client, "/account/tokens", "/account/tokens", {"label": "laptop"})
    assert made.status_code == 201 and "it is shown only once" in made.text
    secret = SECRET.search(made.text)
    assert secret is not None
    # The secret is not on the page again.
    assert secret.group(1) not in client.get("/account/tokens").text
    worklist = client.get("/api/v1/visits?site=YC3H", headers=bearer(secret.group(1)))
    assert worklist.status_code == 200
    other_site = client.get("/api/v1/visits?site=WTCH", headers=bearer(secret.group(1)))
    assert other_site.status_code in (403, 404)  # the person's scope, not more

    revoked = post_form(client, "/account/tokens", "/account/tokens/li.wei.laptop/revoke", {})
    assert revoked.headers["location"] == "/account/tokens?notice=token-revoked"
    assert client.get("/api/v1/visits?site=YC3H",
                      headers=bearer(secret.group(1))).status_code == 401
    session.flush()
    assert session.scalars(select(ApiToken.user_id).where(
        ApiToken.name == "li.wei.laptop")).one() is not None


def test_another_persons_token_cannot_be_revoked_here(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    password_sign_in(client)
    response = post_form(client, "/account/tokens", "/account/tokens/coord-yc3h/revoke", {})
    assert response.status_code == 404
    assert session.scalars(select(ApiToken.revoked_at).where(
        ApiToken.name == "coord-yc3h")).one() is None


def test_a_token_session_has_no_personal_tokens(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.coordinator)
    assert client.get("/account/tokens").status_code == 403
    assert "API tokens" not in client.get("/worklist").text.split("<main")[0]
