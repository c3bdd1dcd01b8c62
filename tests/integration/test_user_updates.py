"""Changing a user's role, sites, studies and printed name: checked as at creation,
audited with the values before and after, counted from the user's next request (browser
session or personal token), and never taking the admin role from the last enabled admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM, Actor, Role
from app.errors import Conflict, Forbidden, InvalidRequest, NotFound
from app.models import AuditRecord
from app.services.accounts.personal_tokens import create_personal_token
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import (
    change_password,
    create_user,
    disable_user,
    get_user,
    update_user,
)
from app.services.tokens import authenticate
from app.services.web_sessions import resume_session, start_password_session
from tests.helpers_subjects import NOW, SLE, load_seed_studies

PASSWORD = "seven purple tigers dance"
HOUR = timedelta(hours=1)


@pytest.fixture
def people(session: Session) -> Session:
    load_seed_studies(session)
    create_user(session, actor=SYSTEM, username="li.wei", display_name="Dr Li Wei",
                role="coordinator", sites=["YC3H"], now=NOW)
    session.flush()
    return session


def updates(session: Session) -> list[AuditRecord]:
    return list(session.scalars(select(AuditRecord).where(
        AuditRecord.action == "user.updated").order_by(AuditRecord.id)))


def person(session: Session, username: str) -> Actor:
    one_time = create_user(session, actor=SYSTEM, username=username,
                           display_name=username.title(), role="admin", now=NOW).password
    checked = check_password_sign_in(session, username=username, password=one_time,
                                      address=None, now=NOW)
    change_password(session, actor=checked.actor, current=one_time, new=PASSWORD, now=NOW)
    return check_password_sign_in(session, username=username, password=PASSWORD,
                                  address=None, now=NOW).actor


def test_sites_and_role_change_and_only_what_changed_is_audited(people: Session) -> None:
    view = update_user(people, actor=SYSTEM, username="Li.Wei", sites=["WTCH", "YC3H"],
                       now=NOW)
    assert (view.role, view.sites, view.studies, view.display_name) == (
        "coordinator", ("WTCH", "YC3H"), (), "Dr Li Wei")
    [record] = updates(people)
    assert (record.key, record.before) == ("li.wei", {"sites": ["YC3H"]})
    assert record.after == {"sites": ["WTCH", "YC3H"], "updated_at": NOW.isoformat()}

    view = update_user(people, actor=SYSTEM, username="li.wei", role=Role.MONITOR,
                       sites=[], studies=[SLE], display_name="Prof Li Wei", now=NOW)
    assert (view.role, view.sites, view.studies, view.display_name) == (
        "monitor", (), (SLE,), "Prof Li Wei")
    record = updates(people)[-1]
    assert record.before == {"display_name": "Dr Li Wei", "role": "coordinator",
                             "sites": ["WTCH", "YC3H"], "studies": []}
    assert record.after is not None and record.after["role"] == "monitor"
    # The same values again change nothing and write nothing.
    update_user(people, actor=SYSTEM, username="li.wei", role="monitor", studies=[SLE],
                now=NOW)
    assert len(updates(people)) == 2
    # Made an admin, the user loses the sites and studies not given.
    view = update_user(people, actor=SYSTEM, username="li.wei", role="admin", now=NOW)
    assert (view.role, view.sites, view.studies) == ("admin", (), ())


def test_the_rules_of_creation_hold(people: Session) -> None:
    refusals = [
        ({"sites": []}, "a coordinator user needs at least one site"),
        ({"role": "edc", "studies": [SLE]}, "is for tokens"),
        ({"role": "monitor"}, "a monitor user needs at least one study"),
        ({"sites": ["NOPE"]}, "unknown site(s): NOPE"),
        ({"role": "admin", "sites": ["YC3H"]}, "an admin user reaches everything"),
        ({"display_name": " "}, "a display name is 1-200 characters"),
    ]
    for change, message in refusals:
        with pytest.raises(InvalidRequest, match=re.escape(message)):
            update_user(people, actor=SYSTEM, username="li.wei", now=NOW,
                        **change)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        update_user(people, actor=SYSTEM, username="nobody", sites=["YC3H"], now=NOW)
    coordinator = Actor(name="c", role=Role.COORDINATOR, sites=frozenset({"YC3H"}))
    with pytest.raises(Forbidden):
        update_user(people, actor=coordinator, username="li.wei", sites=["WTCH"], now=NOW)
    view = get_user(people, actor=SYSTEM, username="li.wei")
    assert (view.role, view.sites) == ("coordinator", ("YC3H",))
    assert updates(people) == []


def test_the_last_enabled_admin_keeps_the_role(people: Session) -> None:
    ana = person(people, "ana")
    with pytest.raises(Conflict, match="ana is the last enabled admin"):
        update_user(people, actor=ana, username="ana", role="coordinator", sites=["YC3H"],
                    now=NOW)
    person(people, "bo")
    disable_user(people, actor=ana, username="bo", now=NOW)
    with pytest.raises(Conflict, match="last enabled admin"):  # a disabled admin is no help
        update_user(people, actor=ana, username="ana", role="monitor", studies=[SLE],
                    now=NOW)
    assert get_user(people, actor=SYSTEM, username="ana").role == "admin"
    person(people, "cy")
    view = update_user(people, actor=ana, username="ana", role="coordinator",
                       sites=["YC3H"], now=NOW)
    assert view.role == "coordinator"
    [record] = updates(people)
    assert (record.actor, record.user_name, record.before) == (
        "ana", "ana", {"role": "admin", "sites": []})


def test_a_change_counts_from_the_next_request(people: Session) -> None:
    one_time = create_user(people, actor=SYSTEM, username="mo", display_name="Mo",
                           role="coordinator", sites=["YC3H"], now=NOW).password
    first = check_password_sign_in(people, username="mo", password=one_time, address=None,
                                   now=NOW).actor
    change_password(people, actor=first, current=one_time, new=PASSWORD, now=NOW)
    started = start_password_session(people, username="mo", password=PASSWORD, address=None,
                                     now=NOW, lifetime=HOUR, idle=HOUR)
    signed_in = started.actor
    token = create_personal_token(people, actor=signed_in, label="laptop", now=NOW).secret
    assert signed_in.sites == frozenset({"YC3H"})
    update_user(people, actor=SYSTEM, username="mo", sites=["WTCH"], now=NOW)
    later = NOW + timedelta(minutes=5)
    live = resume_session(people, session_id=started.session_id, now=later, idle=HOUR)
    assert (live.actor.role, live.actor.sites) == (Role.COORDINATOR, frozenset({"WTCH"}))
    assert authenticate(people, token, now=later).sites == frozenset({"WTCH"})
    update_user(people, actor=SYSTEM, username="mo", role="admin", sites=[], now=NOW)
    live = resume_session(people, session_id=started.session_id, now=later, idle=HOUR)
    assert (live.actor.role, live.actor.sites) == (Role.ADMIN, None)
