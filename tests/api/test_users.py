"""Users over the API: admin only, the one-time password shown once and never again,
validated, disabled and enabled, reset, audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotAuthenticated
from app.models import AuditRecord
from app.services.accounts.signin import check_password_sign_in
from tests.helpers_access import new_token, text_of_every_row
from tests.helpers_subjects import NOW, SLE, bearer, load_seed_studies

PERSON = {"username": "li.wei", "display_name": "Dr Li Wei", "role": "coordinator",
          "sites": ["YC3H"]}


@pytest.fixture
def admin(session: Session) -> str:
    load_seed_studies(session)
    raw = new_token(session, "admin", name="root")
    session.commit()  # a savepoint: a failed request rolls back to here
    return raw


def signs_in(session: Session, password: str) -> bool:
    try:
        check_password_sign_in(session, username="li.wei", password=password, address=None,
                               now=NOW)
    except NotAuthenticated:
        return False
    return True


def test_create_shows_the_one_time_password_once(
    client: TestClient, session: Session, admin: str
) -> None:
    response = client.post("/api/v1/users", json=PERSON, headers=bearer(admin))
    assert response.status_code == 201, response.text
    body = response.json()
    password = body["password"]
    assert body["user"] | {"created_at": None, "password_changed_at": None} == {
        "username": "li.wei", "display_name": "Dr Li Wei", "email": None,
        "role": "coordinator", "sites": ["YC3H"], "studies": [], "must_change_password": True,
        "created_at": None, "password_changed_at": None, "disabled_at": None}
    listed = client.get("/api/v1/users", headers=bearer(admin))
    one = client.get("/api/v1/users/li.wei", headers=bearer(admin))
    assert password not in listed.text + one.text
    assert "password_hash" not in listed.text
    assert password not in text_of_every_row(session)
    assert signs_in(session, password)
    again = client.post("/api/v1/users", json=PERSON, headers=bearer(admin))
    assert again.status_code == 409
    replayed = client.post("/api/v1/users", json=PERSON | {"username": "ana.m"},
                           headers=bearer(admin) | {"Idempotency-Key": "k-1"})
    assert replayed.status_code == 422  # a password is never stored to be replayed


@pytest.mark.parametrize(("body", "words"), [
    (PERSON | {"role": "edc", "sites": [], "studies": [SLE]}, '"edc" is for tokens'),
    (PERSON | {"sites": []}, "a coordinator user needs at least one site"),
    (PERSON | {"sites": ["NOSITE"]}, "unknown site(s): NOSITE"),
    (PERSON | {"display_name": "two\nlines"}, "display_name: contains a control character"),
])
def test_what_a_user_may_be_is_checked(
    client: TestClient, admin: str, body: dict[str, object], words: str
) -> None:
    response = client.post("/api/v1/users", json=body, headers=bearer(admin))
    assert response.status_code == 422 and words in response.json()["detail"]


def test_only_an_admin_manages_users(client: TestClient, session: Session, admin: str) -> None:
    coordinator = new_token(session, "coordinator", sites=("YC3H",), name="nurse")
    session.commit()
    for method, path in (("GET", "/api/v1/users"), ("POST", "/api/v1/users/li.wei/disable"),
                         ("POST", "/api/v1/users/li.wei/password-reset")):
        assert client.request(method, path, headers=bearer(coordinator)).status_code == 403
    assert client.post("/api/v1/users", json=PERSON,
                       headers=bearer(coordinator)).status_code == 403


def test_disable_enable_and_reset(client: TestClient, session: Session, admin: str) -> None:
    first = client.post("/api/v1/users", json=PERSON, headers=bearer(admin)).json()["password"]
    disabled = client.post("/api/v1/users/li.wei/disable", headers=bearer(admin))
    assert disabled.status_code == 200 and disabled.json()["disabled_at"] is not None
    assert not signs_in(session, first)
    enabled = client.post("/api/v1/users/li.wei/enable", headers=bearer(admin))
    assert enabled.json()["disabled_at"] is None and signs_in(session, first)
    reset = client.post("/api/v1/users/li.wei/password-reset", headers=bearer(admin))
    second = reset.json()["password"]
    assert reset.status_code == 200 and second != first
    assert signs_in(session, second) and not signs_in(session, first)
    assert client.post("/api/v1/users/nobody/disable", headers=bearer(admin)).status_code == 404
    session.flush()
    actions = list(session.scalars(select(AuditRecord.action).where(
        AuditRecord.entity == "user").order_by(AuditRecord.id)))
    assert actions == ["user.created", "user.disabled", "user.enabled", "user.password_reset"]
    assert first not in text_of_every_row(session) and second not in text_of_every_row(session)


def test_patch_changes_the_role_and_scope_and_refuses_as_problems(
    client: TestClient, session: Session, admin: str
) -> None:
    assert client.post("/api/v1/users", json=PERSON, headers=bearer(admin)).status_code == 201
    url = "/api/v1/users/li.wei"
    changed = client.patch(url, json={"sites": ["YC3H", "WTCH"]}, headers=bearer(admin))
    assert changed.status_code == 200, changed.text
    assert (changed.json()["role"], changed.json()["sites"]) == ("coordinator",
                                                                 ["WTCH", "YC3H"])
    monitor = client.patch(url, json={"role": "monitor", "sites": [], "studies": [SLE]},
                           headers=bearer(admin))
    assert monitor.status_code == 200, monitor.text
    assert client.get(url, headers=bearer(admin)).json() | {
        "created_at": None, "password_changed_at": None} == {
        "username": "li.wei", "display_name": "Dr Li Wei", "email": None, "role": "monitor",
        "sites": [], "studies": [SLE], "must_change_password": True, "created_at": None,
        "password_changed_at": None, "disabled_at": None}
    session.expire_all()
    records = list(session.scalars(select(AuditRecord).where(
        AuditRecord.action == "user.updated").order_by(AuditRecord.id)))
    assert [(r.before, r.actor) for r in records] == [
        ({"sites": ["YC3H"]}, "root"),
        ({"role": "coordinator", "sites": ["WTCH", "YC3H"], "studies": []}, "root")]

    for body, status, words in [
        ({"role": "edc", "studies": [SLE]}, 422, "is for tokens"),
        ({"studies": []}, 422, "a monitor user needs at least one study"),
        ({"sites": ["NOPE"]}, 422, "unknown site(s): NOPE"),
        ({"password": "x"}, 422, ""),
    ]:
        refused = client.patch(url, json=body, headers=bearer(admin))
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert words in refused.json()["detail"] or words in refused.text
    missing = client.patch("/api/v1/users/nobody", json={"sites": ["YC3H"]},
                           headers=bearer(admin))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    coordinator = new_token(session, "coordinator", sites=("YC3H",), name="coord")
    session.commit()
    forbidden = client.patch(url, json={"role": "admin", "studies": []},
                             headers=bearer(coordinator))
    assert forbidden.status_code == 403
    assert client.get(url, headers=bearer(admin)).json()["role"] == "monitor"


def test_patch_keeps_the_last_enabled_admin(
    client: TestClient, session: Session, admin: str
) -> None:
    made = client.post("/api/v1/users", json={"username": "ana", "display_name": "Ana",
                                              "role": "admin"}, headers=bearer(admin))
    assert made.status_code == 201
    refused = client.patch("/api/v1/users/ana", json={"role": "coordinator",
                                                      "sites": ["YC3H"]},
                           headers=bearer(admin))
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert refused.headers["content-type"] == "application/problem+json"
    assert problem["detail"] == "ana is the last enabled admin: make another user an admin first"
    assert client.get("/api/v1/users/ana", headers=bearer(admin)).json()["role"] == "admin"


def test_create_takes_an_optional_e_mail_address(
    client: TestClient, session: Session, admin: str
) -> None:
    made = client.post("/api/v1/users", json={**PERSON, "email": "Li.Wei@Hospital.example"},
                       headers=bearer(admin))
    assert made.status_code == 201 and made.json()["user"]["email"] == "li.wei@hospital.example"
    bad = client.post("/api/v1/users", json={**PERSON, "username": "bo", "email": "nope"},
                      headers=bearer(admin))
    assert bad.status_code == 422 and "invalid e-mail address" in bad.text


def test_patch_sets_changes_and_removes_the_e_mail_address(
    client: TestClient, session: Session, admin: str
) -> None:
    for body in (PERSON, {**PERSON, "username": "bo", "email": "bo@hospital.example"}):
        assert client.post("/api/v1/users", json=body, headers=bearer(admin)).status_code == 201
    url = "/api/v1/users/li.wei"
    made = client.patch(url, json={"email": "Li.Wei@Hospital.example"}, headers=bearer(admin))
    assert made.status_code == 200, made.text
    assert made.json()["email"] == "li.wei@hospital.example"
    changed = client.patch(url, json={"email": "wei.li@hospital.example",
                                      "display_name": "Prof Li Wei"}, headers=bearer(admin))
    assert (changed.json()["email"], changed.json()["display_name"]) == (
        "wei.li@hospital.example", "Prof Li Wei")
    kept = client.patch(url, json={"sites": ["WTCH"]}, headers=bearer(admin))
    assert kept.json()["email"] == "wei.li@hospital.example"  # not given: it stays

    for body, status, words in [
        ({"email": "nope"}, 422, "invalid e-mail address"),
        ({"email": "BO@hospital.example", "sites": ["YC3H"]}, 409,
         "another user has the e-mail address bo@hospital.example"),
    ]:
        refused = client.patch(url, json=body, headers=bearer(admin))
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert words in refused.json()["detail"]
    # A refused request changes nothing, not even the fields it gave that were valid.
    unchanged = client.get(url, headers=bearer(admin)).json()
    assert (unchanged["email"], unchanged["sites"]) == ("wei.li@hospital.example", ["WTCH"])

    removed = client.patch(url, json={"email": None}, headers=bearer(admin))
    assert removed.status_code == 200 and removed.json()["email"] is None
    coordinator = new_token(session, "coordinator", sites=("YC3H",), name="coord")
    session.commit()
    forbidden = client.patch(url, json={"email": "x@hospital.example"},
                             headers=bearer(coordinator))
    assert forbidden.status_code == 403
    session.expire_all()
    records = list(session.scalars(select(AuditRecord).where(
        AuditRecord.action == "user.email_changed").order_by(AuditRecord.id)))
    assert [(r.key, r.actor, r.before, (r.after or {})["email"]) for r in records] == [
        ("li.wei", "root", {"email": None}, "li.wei@hospital.example"),
        ("li.wei", "root", {"email": "li.wei@hospital.example"}, "wei.li@hospital.example"),
        ("li.wei", "root", {"email": "wei.li@hospital.example"}, None),
    ]
