"""Personal accounts on a real database: users, one-time passwords, the password policy,
sign-in throttling, disabling, personal tokens, and the audit trail naming the person."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM, Role
from app.errors import (
    AlreadyExists,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    TooManyAttempts,
)
from app.models import ApiToken, AuditRecord, User
from app.services.accounts.personal_tokens import create_personal_token
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import (
    change_password,
    create_user,
    disable_user,
    enable_user,
    list_users,
    reset_password,
    set_email,
)
from app.services.tokens import authenticate
from app.services.web_sessions import resume_session, start_password_session
from tests.helpers_access import text_of_every_row
from tests.helpers_subjects import NOW, load_seed_studies

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)
NEW_PASSWORD = "seven purple tigers dance"


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed_studies(session)
    return session


def make_person(session: Session, username: str = "li.wei", *, role: str = "coordinator",
                sites: tuple[str, ...] = ("YC3H",)) -> str:
    """A user who has changed their one-time password to NEW_PASSWORD."""
    created = create_user(session, actor=SYSTEM, username=username, display_name="Dr Li Wei",
                          role=role, sites=sites, now=NOW)
    signed = check_password_sign_in(session, username=username, password=created.password,
                                    address=None, now=NOW)
    change_password(session, actor=signed.actor, current=created.password, new=NEW_PASSWORD,
                    now=NOW)
    return username


def test_a_new_user_gets_a_one_time_password_that_must_be_changed(seeded: Session) -> None:
    created = create_user(seeded, actor=SYSTEM, username=" Li.Wei ", display_name="Dr Li Wei",
                          role="coordinator", sites=["YC3H"], now=NOW)
    assert created.user.username == "li.wei" and created.user.must_change_password
    stored = seeded.scalars(select(User)).one()
    assert stored.password_hash.startswith("$argon2id$")
    assert created.password not in text_of_every_row(seeded)  # only its hash is kept
    signed = check_password_sign_in(seeded, username="LI.WEI", password=created.password,
                                    address="10.0.0.1", now=NOW)
    assert signed.must_change_password
    assert (signed.actor.name, signed.actor.user, signed.actor.display_name) == (
        "li.wei", "li.wei", "Dr Li Wei")
    assert signed.actor.role is Role.COORDINATOR and signed.actor.sites == {"YC3H"}
    view = change_password(seeded, actor=signed.actor, current=created.password,
                           new=NEW_PASSWORD, now=NOW)
    assert not view.must_change_password
    again = check_password_sign_in(seeded, username="li.wei", password=NEW_PASSWORD,
                                   address=None, now=NOW)
    assert not again.must_change_password
    listed = list_users(seeded, actor=SYSTEM)
    assert [u.username for u in listed] == ["li.wei"] and not hasattr(listed[0], "password")


def test_the_new_password_has_a_minimum_length_and_no_username(seeded: Session) -> None:
    created = create_user(seeded, actor=SYSTEM, username="li.wei", display_name="Dr Li Wei",
                          role="coordinator", sites=["YC3H"], now=NOW)
    actor = check_password_sign_in(seeded, username="li.wei", password=created.password,
                                   address=None, now=NOW).actor
    for new, words in (("short one", "at least 12 characters"),
                       ("my name is LI.WEI ok", "may not contain the username"),
                       (created.password, "must differ")):
        with pytest.raises(InvalidRequest, match=words):
            change_password(seeded, actor=actor, current=created.password, new=new, now=NOW)
    with pytest.raises(InvalidRequest, match="current password is not right"):
        change_password(seeded, actor=actor, current="wrong", new=NEW_PASSWORD, now=NOW)
    assert seeded.scalars(select(User.must_change_password)).one() is True


def test_usernames_roles_and_scope_are_checked(seeded: Session) -> None:
    with pytest.raises(InvalidRequest, match="username"):
        create_user(seeded, actor=SYSTEM, username="x", display_name="X", role="admin", now=NOW)
    with pytest.raises(InvalidRequest, match='"edc" is for tokens'):
        create_user(seeded, actor=SYSTEM, username="edc1", display_name="E", role="edc",
                    studies=["UCART-SLE"], now=NOW)
    with pytest.raises(InvalidRequest, match="a coordinator user needs at least one site"):
        create_user(seeded, actor=SYSTEM, username="nosite", display_name="N",
                    role="coordinator", now=NOW)
    make_person(seeded)
    with pytest.raises(AlreadyExists):
        create_user(seeded, actor=SYSTEM, username="LI.WEI", display_name="Other",
                    role="admin", now=NOW)
    coordinator = check_password_sign_in(seeded, username="li.wei", password=NEW_PASSWORD,
                                         address=None, now=NOW).actor
    with pytest.raises(Forbidden):
        create_user(seeded, actor=coordinator, username="mallory", display_name="M",
                    role="admin", now=NOW)


def test_an_unknown_user_and_a_wrong_password_get_the_same_refusal(seeded: Session) -> None:
    make_person(seeded)
    refusals = []
    for username, password in (("li.wei", "not the password"), ("nobody", "not the password")):
        with pytest.raises(NotAuthenticated) as refused:
            check_password_sign_in(seeded, username=username, password=password,
                                   address=None, now=NOW)
        refusals.append((type(refused.value), refused.value.detail, refused.value.extra))
    assert refusals[0] == refusals[1]


@pytest.mark.parametrize("username", ["li.wei", "nobody"])
def test_failures_slow_down_then_lock_the_account(seeded: Session, username: str) -> None:
    make_person(seeded)
    at = NOW
    for _ in range(3):  # free
        with pytest.raises(NotAuthenticated):
            check_password_sign_in(seeded, username=username, password="x", address=None,
                                   now=at)
    with pytest.raises(NotAuthenticated):
        check_password_sign_in(seeded, username=username, password="x", address=None, now=at)
    # The fourth failure makes the next attempt wait a second, even with the password.
    with pytest.raises(TooManyAttempts) as waiting:
        check_password_sign_in(seeded, username=username, password=NEW_PASSWORD,
                               address=None, now=at)
    assert waiting.value.extra == {"retry_after": 1}
    for _ in range(6):  # failures 5..10, each after its wait
        at += timedelta(seconds=31)
        with pytest.raises(NotAuthenticated):
            check_password_sign_in(seeded, username=username, password="x", address=None,
                                   now=at)
    with pytest.raises(TooManyAttempts) as locked:
        check_password_sign_in(seeded, username=username, password=NEW_PASSWORD,
                               address=None, now=at + timedelta(minutes=14))
    assert locked.value.extra == {"retry_after": 60}
    after_lock = at + timedelta(minutes=15)
    if username == "li.wei":
        signed = check_password_sign_in(seeded, username=username, password=NEW_PASSWORD,
                                        address=None, now=after_lock)
        assert signed.actor.user == "li.wei"


def test_failures_from_one_address_are_counted_across_accounts(seeded: Session) -> None:
    make_person(seeded)
    for n in range(11):
        with pytest.raises(NotAuthenticated):
            check_password_sign_in(seeded, username=f"guess{n}", password="x",
                                   address="203.0.113.9", now=NOW)
    with pytest.raises(TooManyAttempts):
        check_password_sign_in(seeded, username="li.wei", password=NEW_PASSWORD,
                               address="203.0.113.9", now=NOW)
    # Another address is not slowed down by them.
    check_password_sign_in(seeded, username="li.wei", password=NEW_PASSWORD,
                           address="198.51.100.7", now=NOW)


def test_disabling_a_user_ends_their_sessions_and_tokens(seeded: Session) -> None:
    make_person(seeded)
    started = start_password_session(seeded, username="li.wei", password=NEW_PASSWORD,
                                     address=None, now=NOW, lifetime=LIFETIME, idle=IDLE)
    person = started.actor
    token = create_personal_token(seeded, actor=person, label="laptop", now=NOW)
    through_token = authenticate(seeded, token.secret, now=NOW)
    assert (through_token.name, through_token.user, through_token.token) == (
        "li.wei.laptop", "li.wei", "li.wei.laptop")
    assert through_token.sites == {"YC3H"}
    later = NOW + timedelta(minutes=1)
    disable_user(seeded, actor=SYSTEM, username="li.wei", now=later)
    with pytest.raises(NotAuthenticated):
        resume_session(seeded, session_id=started.session_id, now=later, idle=IDLE)
    with pytest.raises(NotAuthenticated):
        authenticate(seeded, token.secret, now=later)
    assert seeded.scalars(select(ApiToken.revoked_at).where(
        ApiToken.name == "li.wei.laptop")).one() == later
    with pytest.raises(NotAuthenticated):
        check_password_sign_in(seeded, username="li.wei", password=NEW_PASSWORD,
                               address=None, now=later)
    enable_user(seeded, actor=SYSTEM, username="li.wei", now=later)
    with pytest.raises(NotAuthenticated):  # enabling again does not bring tokens back
        authenticate(seeded, token.secret, now=later)


def test_a_reset_forces_a_new_change_and_ends_sessions(seeded: Session) -> None:
    make_person(seeded)
    started = start_password_session(seeded, username="li.wei", password=NEW_PASSWORD,
                                     address=None, now=NOW, lifetime=LIFETIME, idle=IDLE)
    reset = reset_password(seeded, actor=SYSTEM, username="li.wei", now=NOW)
    with pytest.raises(NotAuthenticated):
        resume_session(seeded, session_id=started.session_id, now=NOW, idle=IDLE)
    with pytest.raises(NotAuthenticated):
        check_password_sign_in(seeded, username="li.wei", password=NEW_PASSWORD,
                               address=None, now=NOW)
    signed = check_password_sign_in(seeded, username="li.wei", password=reset.password,
                                    address=None, now=NOW)
    assert signed.must_change_password


def test_the_audit_trail_names_the_person_and_the_token(seeded: Session) -> None:
    make_person(seeded)
    started = start_password_session(seeded, username="li.wei", password=NEW_PASSWORD,
                                     address=None, now=NOW, lifetime=LIFETIME, idle=IDLE)
    token = create_personal_token(seeded, actor=started.actor, label="laptop", now=NOW)
    through_token = authenticate(seeded, token.secret, now=NOW)
    assert through_token.display_name == "Dr Li Wei"
    seeded.flush()
    records = {r.action: r for r in seeded.scalars(select(AuditRecord))}
    created = records["user.created"]
    assert (created.actor, created.user_name, created.token_name) == ("system", None, None)
    signed_in = records["web_session.started"]
    assert (signed_in.actor, signed_in.user_name, signed_in.user_display_name,
            signed_in.token_name) == ("li.wei", "li.wei", "Dr Li Wei", None)
    made = records["token.created"]
    assert (made.user_name, made.key) == ("li.wei", "li.wei.laptop")


def test_an_e_mail_address_is_optional_unique_lowercase_and_audited(session: Session) -> None:
    load_seed_studies(session)
    made = create_user(session, actor=SYSTEM, username="li.wei", display_name="Dr Li Wei",
                       role="coordinator", sites=["YC3H"], now=NOW,
                       email=" Li.Wei@Hospital.example ")
    assert made.user.email == "li.wei@hospital.example"
    create_user(session, actor=SYSTEM, username="ana", display_name="Ana", role="coordinator",
                sites=["YC3H"], now=NOW)
    with pytest.raises(AlreadyExists, match="another user has the e-mail address"):
        set_email(session, actor=SYSTEM, username="ana", email="LI.WEI@hospital.example",
                  now=NOW)
    with pytest.raises(InvalidRequest, match="invalid e-mail address"):
        set_email(session, actor=SYSTEM, username="ana", email="not an address", now=NOW)
    assert set_email(session, actor=SYSTEM, username="ana", email="ana@hospital.example",
                     now=NOW).email == "ana@hospital.example"
    assert set_email(session, actor=SYSTEM, username="li.wei", email="", now=NOW).email is None
    changes = session.scalars(select(AuditRecord).where(
        AuditRecord.action == "user.email_changed").order_by(AuditRecord.id)).all()
    assert [(c.key, c.before, (c.after or {}).get("email")) for c in changes] == [
        ("ana", {"email": None}, "ana@hospital.example"),
        ("li.wei", {"email": "li.wei@hospital.example"}, None),
    ]
