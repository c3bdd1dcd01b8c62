"""Users on the pages, for an admin: created with the one-time password shown once,
disabled (their sessions end), enabled, reset, their role and sites changed (counting
from their next page); not allowed to anyone else; CSRF-checked."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import AuditRecord, User
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import change_password, create_user
from app.settings import Settings
from tests.helpers_subjects import NOW, SLE
from tests.helpers_web import Seeded, seed, stand_at
from tests.web.helpers import csrf_of, other_client, post_form, sign_in

ONE_TIME = re.compile(r'id="one-time-password" value="([^"]+)"')
USERS = "/admin/users"
PASSWORD = "seven purple tigers dance"
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


def test_an_admin_changes_a_users_sites_which_count_from_their_next_page(
    client: TestClient, session: Session, settings: Settings, seeded: Seeded
) -> None:
    one_time = create_user(session, actor=SYSTEM, username="li.wei",
                           display_name="Dr Li Wei", role="coordinator", sites=["YC3H"],
                           now=NOW).password
    person = check_password_sign_in(session, username="li.wei", password=one_time,
                                    address=None, now=NOW).actor
    change_password(session, actor=person, current=one_time, new=PASSWORD, now=NOW)
    other = f"/studies/{SLE}/subjects/{seeded.other_subject}"
    sign_in(client, seeded.admin)
    assert 'href="/admin/users/li.wei"' in client.get(USERS).text
    edit = USERS + "/li.wei"
    page = client.get(edit)
    assert page.status_code == 200 and 'value="YC3H"' in page.text
    with other_client(settings, session) as browser:
        stand_at(browser)
        assert password_sign_in(browser, PASSWORD) == "/worklist"
        assert browser.get(other).status_code == 404
        fields = {"display_name": "Dr Li Wei", "role": "coordinator", "studies": ""}
        refused = post_form(client, edit, edit, fields | {"sites": ""})
        assert refused.status_code == 422
        assert "A coordinator user needs at least one site" in refused.text
        saved = post_form(client, edit, edit, fields | {"sites": "YC3H, wtch"})
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == USERS + "?notice=user-updated"
        assert "it counts from their next page" in client.get(saved.headers["location"]).text
        assert browser.get(other).status_code == 200  # the same session, its next page
    session.expire_all()
    [record] = session.scalars(select(AuditRecord).where(
        AuditRecord.action == "user.updated")).all()
    assert (record.actor, record.before) == ("web-admin", {"sites": ["YC3H"]})
    assert record.after is not None and record.after["sites"] == ["WTCH", "YC3H"]


def test_the_last_enabled_admin_keeps_the_role_on_the_page(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    create_user(session, actor=SYSTEM, username="ana", display_name="Ana", role="admin",
                now=NOW)
    sign_in(client, seeded.admin)
    edit = USERS + "/ana"
    refused = post_form(client, edit, edit, {"display_name": "Ana", "role": "monitor",
                                             "sites": "", "studies": SLE})
    assert refused.status_code == 409
    assert "Ana is the last enabled admin: make another user an admin first" in refused.text
    session.expire_all()
    assert session.scalars(select(User.role).where(User.username == "ana")).one() == "admin"


def test_coordinators_may_not_edit_users(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    create_user(session, actor=SYSTEM, username="li.wei", display_name="Dr Li Wei",
                role="coordinator", sites=["YC3H"], now=NOW)
    sign_in(client, seeded.coordinator)
    assert client.get(USERS + "/li.wei").status_code == 403
    token = csrf_of(client.get("/worklist").text)
    response = client.post(USERS + "/li.wei", data={
        "csrf_token": token, "display_name": "X", "role": "admin", "sites": "",
        "studies": ""})
    assert response.status_code == 403
    sign_in(client, seeded.admin)
    expired = client.post(USERS + "/li.wei", data={"display_name": "X", "role": "admin"})
    assert expired.status_code == 403 and "Form expired" in expired.text
    session.expire_all()
    assert session.scalars(select(User.role).where(User.username == "li.wei")).one() == (
        "coordinator")


def test_an_admin_sets_changes_and_removes_a_users_e_mail_address(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    create_user(session, actor=SYSTEM, username="ana", display_name="Ana", role="admin",
                email="ana@h.example", now=NOW)
    sign_in(client, seeded.admin)
    made = post_form(client, USERS, USERS, PERSON | {"email": "Li.Wei@Hospital.Example"})
    assert made.status_code == 201, made.text
    assert "<td>li.wei@hospital.example</td>" in client.get(USERS).text
    edit = USERS + "/li.wei"
    assert 'value="li.wei@hospital.example"' in client.get(edit).text
    fields = {"display_name": "Dr Li Wei", "role": "coordinator", "sites": "YC3H",
              "studies": ""}
    taken = post_form(client, edit, edit, fields | {"display_name": "Prof Li Wei",
                                                    "email": "ANA@h.example"})
    assert taken.status_code == 409
    assert taken.text.count('role="alert"') == 1
    assert "Another user has the e-mail address ana@h.example" in taken.text
    invalid = post_form(client, edit, edit, fields | {"email": "li.wei at hospital"})
    assert invalid.status_code == 422 and "Invalid e-mail address" in invalid.text
    session.expire_all()
    li = session.scalars(select(User).where(User.username == "li.wei")).one()
    assert (li.display_name, li.email) == ("Dr Li Wei", "li.wei@hospital.example")
    changed = post_form(client, edit, edit, fields | {"email": "Wei.Li@Hospital.Example"})
    assert changed.headers["location"] == USERS + "?notice=user-updated"
    assert "<td>wei.li@hospital.example</td>" in client.get(USERS).text
    removed = post_form(client, edit, edit, fields | {"email": ""})
    assert removed.status_code == 303
    session.expire_all()
    assert session.scalars(select(User.email).where(User.username == "li.wei")).one() is None
    records = session.scalars(select(AuditRecord).where(
        AuditRecord.action == "user.email_changed").order_by(AuditRecord.id)).all()
    assert [(r.actor, r.before, (r.after or {}).get("email")) for r in records] == [
        ("web-admin", {"email": "li.wei@hospital.example"}, "wei.li@hospital.example"),
        ("web-admin", {"email": "wei.li@hospital.example"}, None)]
    assert session.scalars(select(AuditRecord).where(
        AuditRecord.action == "user.updated")).first() is None  # the refused name change


def test_a_new_users_e_mail_address_is_checked_on_the_page(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    refused = post_form(client, USERS, USERS, PERSON | {"email": "not an address"})
    assert refused.status_code == 422 and "invalid e-mail address" in refused.text
    assert refused.text.count('role="alert"') == 1
    assert session.scalars(select(User)).first() is None
