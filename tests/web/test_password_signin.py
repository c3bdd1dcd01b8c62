"""Signing in to the pages with a username and password: the forced change of a one-time
password, no telling an unknown user from a wrong password, the slowdown after failures,
disabling, and the audit trail naming the person."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import AuditRecord, Visit
from app.services.accounts.personal_tokens import create_personal_token
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import change_password, create_user, disable_user
from app.web.session import COOKIE_NAME
from tests.helpers_subjects import NOW, SLE, bearer
from tests.helpers_web import OWN_SITE, Seeded, seed, stand_at
from tests.web.helpers import CSRF, csrf_of

NEW_PASSWORD = "seven purple tigers dance"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    return seed(session)


def new_user(session: Session, username: str = "li.wei") -> str:
    """A coordinator at the own site; returns the one-time password."""
    return create_user(session, actor=SYSTEM, username=username, display_name="Dr Li Wei",
                       role="coordinator", sites=[OWN_SITE], now=NOW).password


def settled_user(session: Session, username: str = "li.wei") -> None:
    """A user who already changed the one-time password to NEW_PASSWORD."""
    one_time = new_user(session, username)
    actor = check_password_sign_in(session, username=username, password=one_time,
                                   address=None, now=NOW).actor
    change_password(session, actor=actor, current=one_time, new=NEW_PASSWORD, now=NOW)


def post_sign_in(client: TestClient, username: str, password: str) -> Response:
    page = client.get("/signin")
    return client.post("/signin", data={"csrf_token": csrf_of(page.text), "username": username,
                                        "password": password}, follow_redirects=False)


def test_a_one_time_password_must_be_changed_before_anything_else(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    one_time = new_user(session)
    signed_in = post_sign_in(client, "Li.Wei", one_time)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/password"
    # Every other page sends the person back to the change.
    for page in ("/worklist", "/studies", f"/studies/{SLE}/subjects/YC-001"):
        response = client.get(page, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/password")
    form = client.get("/password")
    assert form.status_code == 200 and "choose your own before you go on" in form.text
    token = csrf_of(form.text)

    def change(current: str, new: str, again: str | None = None) -> Response:
        return client.post("/password", data={
            "csrf_token": token, "current_password": current, "password": new,
            "password_again": new if again is None else again}, follow_redirects=False)

    too_short = change(one_time, "short pass")
    assert too_short.status_code == 422 and "at least 12 characters" in too_short.text
    with_name = change(one_time, "hello li.wei how are you")
    assert with_name.status_code == 422 and "may not contain the username" in with_name.text
    differ = change(one_time, NEW_PASSWORD, "something else entirely")
    assert differ.status_code == 422 and "the two new passwords differ" in differ.text
    wrong = change("not the one-time password", NEW_PASSWORD)
    assert wrong.status_code == 422 and "current password is not right" in wrong.text
    assert client.get("/worklist", follow_redirects=False).headers["location"] == "/password"

    done = change(one_time, NEW_PASSWORD)
    assert (done.status_code, done.headers["location"]) == (303, "/worklist")
    worklist = client.get("/worklist")
    assert worklist.status_code == 200 and "Dr Li Wei" in worklist.text
    session.flush()
    changed = session.scalars(select(AuditRecord).where(
        AuditRecord.action == "user.password_changed")).one()
    assert (changed.actor, changed.user_name, changed.user_display_name, changed.token_name) == (
        "li.wei", "li.wei", "Dr Li Wei", None)


def without_csrf(html: str) -> str:
    return CSRF.sub('name="csrf_token" value=""', html)


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    settled_user(session)
    wrong = post_sign_in(client, "li.wei", "not my password at all")
    unknown = post_sign_in(client, "nobody.here", "not my password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert "That username or password is not valid." in wrong.text
    assert without_csrf(wrong.text) == without_csrf(unknown.text)
    assert re.search("li.wei|nobody", wrong.text + unknown.text) is None
    assert wrong.headers.get("retry-after") is None


def test_repeated_failures_make_the_next_attempt_wait(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    settled_user(session)
    for _ in range(4):
        assert post_sign_in(client, "li.wei", "guessing again").status_code == 401
    # Even the right password waits now, with the same answer as for any other name.
    waiting = post_sign_in(client, "li.wei", NEW_PASSWORD)
    assert waiting.status_code == 429 and waiting.headers["retry-after"] == "1"
    assert "too many failed sign-ins: try again in 1 seconds" in waiting.text
    stand_at(client, NOW + timedelta(seconds=1))
    assert post_sign_in(client, "li.wei", NEW_PASSWORD).headers["location"] == "/worklist"


def test_disabling_the_user_ends_the_browser_session(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    settled_user(session)
    assert post_sign_in(client, "li.wei", NEW_PASSWORD).headers["location"] == "/worklist"
    assert client.get("/worklist").status_code == 200
    disable_user(session, actor=SYSTEM, username="li.wei", now=NOW)
    session.commit()  # as the command's own transaction would (the next page rolls back)
    response = client.get("/worklist", follow_redirects=False)
    assert response.headers["location"] == "/signin?ended=1"
    assert post_sign_in(client, "li.wei", NEW_PASSWORD).status_code == 401


def test_a_change_through_a_personal_token_names_the_person_and_the_token(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    settled_user(session)
    person = check_password_sign_in(session, username="li.wei", password=NEW_PASSWORD,
                                    address=None, now=NOW).actor
    token = create_personal_token(session, actor=person, label="laptop", now=NOW)
    target = session.scalars(select(Visit.target_date).where(Visit.code == "D14")).first()
    assert target is not None
    response = client.post(
        f"/api/v1/studies/{SLE}/subjects/YC-001/visits/D14/completion",
        json={"actual_date": target.isoformat()}, headers=bearer(token.secret))
    assert response.status_code == 201, response.text
    session.flush()
    record = session.scalars(select(AuditRecord).where(
        AuditRecord.action == "visit.completed", AuditRecord.subject_id == "YC-001")).one()
    assert (record.actor, record.role, record.user_name, record.user_display_name,
            record.token_name) == ("li.wei.laptop", "coordinator", "li.wei", "Dr Li Wei",
                                   "li.wei.laptop")
    trail = client.get(f"/api/v1/audit?subject_id=YC-001&study={SLE}",
                       headers=bearer(seeded.admin))
    entry = next(e for e in trail.json()["items"] if e["action"] == "visit.completed")
    assert (entry["user"], entry["user_display_name"], entry["token"]) == (
        "li.wei", "Dr Li Wei", "li.wei.laptop")
    # The person's changes, whichever session or token they came through.
    theirs = client.get("/api/v1/audit?user=li.wei", headers=bearer(seeded.admin)).json()
    assert {e["action"] for e in theirs["items"]} == {
        "user.password_changed", "token.created", "visit.completed"}
    assert {e["user"] for e in theirs["items"]} == {"li.wei"}
    nobody = client.get("/api/v1/audit?user=nobody", headers=bearer(seeded.admin)).json()
    assert nobody["items"] == []


def test_signing_out_ends_every_copy_of_a_password_session(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    settled_user(session)
    assert post_sign_in(client, "li.wei", NEW_PASSWORD).headers["location"] == "/worklist"
    copy = client.cookies[COOKIE_NAME]
    signed_out = client.post("/signout", data={"csrf_token": csrf_of(
        client.get("/worklist").text)}, follow_redirects=False)
    assert signed_out.headers["location"] == "/signin"
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, copy)
    response = client.get("/worklist", follow_redirects=False)
    assert response.headers["location"] == "/signin?ended=1"
