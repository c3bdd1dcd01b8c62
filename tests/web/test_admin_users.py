"""Users on the pages, for an admin: created with the one-time password shown once,
disabled (their sessions end), enabled, reset; not allowed to anyone else; CSRF-checked."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, User
from app.settings import Settings
from tests.helpers_web import Seeded, seed, stand_at
from tests.web.helpers import csrf_of, other_client, post_form, sign_in

ONE_TIME = re.compile(r'id="one-time-password" value="([^"]+)"')
USERS = "/admin/users"
PERSON = {"username": "Li.Wei", "display_name": "Dr Li Wei", "role": "coordinator",
          "sites": "YC3H", "studies": ""}


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    return seed(session)


def one_time_password(html: str) -> str:
    found = ONE_TIME.search(html)
    assert found is not None, "the page shows the one-time password"
    return found.group(1)


def password_sign_in(browser: TestClient, password: str) -> str:
    page = browser.get("/signin")
    response = browser.post("/signin", data={"csrf_token": csrf_of(page.text),
                                             "username": "li.wei", "password": password},
                            follow_redirects=False)
    return str(response.headers.get("location"))


def test_an_admin_creates_a_user_who_signs_in_with_the_password_shown_once(
    client: TestClient, session: Session, settings: Settings, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    assert 'href="/admin/users"' in client.get("/worklist").text
    refused = post_form(client, USERS, USERS, PERSON | {"sites": ""})
    assert refused.status_code == 422
    assert "a coordinator user needs at least one site" in refused.text
    made = post_form(client, USERS, USERS, PERSON)
    assert made.status_code == 201 and "it is shown only once" in made.text
    password = one_time_password(made.text)
    listed = client.get(USERS)
    assert "li.wei" in listed.text and "one-time password" in listed.text
    assert password not in listed.text
    with other_client(settings, session) as person:
        stand_at(person)
        assert password_sign_in(person, password) == "/password"


def test_disabling_ends_the_sessions_and_a_reset_gives_a_new_password(
    client: TestClient, session: Session, settings: Settings, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    first = one_time_password(post_form(client, USERS, USERS, PERSON).text)
    with other_client(settings, session) as person:
        stand_at(person)  # the same clock as the admin's browser
        assert password_sign_in(person, first) == "/password"
        disabled = post_form(client, USERS, USERS + "/li.wei/disable", {})
        assert disabled.headers["location"] == USERS + "?notice=user-disabled"
        assert person.get("/password", follow_redirects=False).headers["location"] == (
            "/signin?ended=1")
        assert password_sign_in(person, first) == "None"  # 401: no redirect
        post_form(client, USERS, USERS + "/li.wei/enable", {})
        reset = post_form(client, USERS, USERS + "/li.wei/password-reset", {})
        second = one_time_password(reset.text)
        assert second != first
        assert password_sign_in(person, second) == "/password"
    session.flush()
    actions = list(session.scalars(select(AuditRecord.action).where(
        AuditRecord.entity == "user").order_by(AuditRecord.id)))
    assert actions == ["user.created", "user.disabled", "user.enabled", "user.password_reset"]
    assert session.scalars(select(AuditRecord.actor).where(
        AuditRecord.action == "user.disabled")).one() == "web-admin"


def test_only_an_admin_sees_or_changes_users(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    assert 'href="/admin/users"' not in client.get("/worklist").text
    assert client.get(USERS).status_code == 403
    token = csrf_of(client.get("/worklist").text)
    response = client.post(USERS, data={"csrf_token": token, **PERSON})
    assert response.status_code == 403
    assert session.scalars(select(User)).first() is None


def test_the_forms_need_the_sessions_csrf_token(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    response = client.post(USERS, data=PERSON)
    assert response.status_code == 403 and "Form expired" in response.text
