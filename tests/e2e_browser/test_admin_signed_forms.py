"""Two admin forms in a real headless Chromium, by an admin signed in with a password:
applying an amendment from a version's page, signed "approved by" (a wrong password
moves nobody and keeps the reason), and changing a coordinator's sites and e-mail
address on their user page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.models import AuditRecord, User
from app.schedule.lifecycle import EventType
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import change_password, create_user
from app.services.studies import load_schedule
from app.services.subjects.events import record_event
from tests.e2e_browser.conftest import MISSING
from tests.e2e_browser.harness import LAPTOP, running_server, seeded_database
from tests.helpers_amendments import V2
from tests.helpers_web import OWN_SITE, SLE, site_today

if TYPE_CHECKING or MISSING is None:
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

PASSWORD = "seven purple tigers dance"
REASON = "Amendment 1, approved by the ethics committee"


@dataclass(frozen=True, slots=True)
class AdminServer:
    base: str
    url: str  # the database's


def records(url: str, action: str) -> list[AuditRecord]:
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            found = list(session.scalars(select(AuditRecord).where(
                AuditRecord.action == action).order_by(AuditRecord.id)))
            session.expunge_all()
            return found
    finally:
        engine.dispose()


def sites_of(url: str, username: str) -> list[str]:
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return list(session.scalars(select(User.sites).where(
                User.username == username)).one())
    finally:
        engine.dispose()


def person(session: Session, username: str, role: str, sites: list[str]) -> None:
    now = utcnow()
    one_time = create_user(session, actor=SYSTEM, username=username,
                           display_name=f"Dr {username.title()}", role=role, sites=sites,
                           now=now).password
    signed_in = check_password_sign_in(session, username=username, password=one_time,
                                       address=None, now=now).actor
    change_password(session, actor=signed_in, current=one_time, new=PASSWORD, now=now)


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminServer]:
    """The seeded server with amendment 1 loaded, YC-001 re-consented to it, an admin and
    a coordinator who have chosen their passwords."""
    if MISSING:
        pytest.skip(MISSING)
    directory = tmp_path_factory.mktemp("e2e-admin-forms")
    url, _ = seeded_database(directory)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            now = utcnow()
            load_schedule(session, text=V2, source="ucart-sle-2.0.yaml", actor=SYSTEM)
            record_event(session, study=SLE, subject_id="YC-001", type=EventType.RECONSENT,
                         day=site_today(now), value="2.0", actor=SYSTEM, now=now)
            person(session, "ana", "admin", [])
            person(session, "li.wei", "coordinator", [OWN_SITE])
    finally:
        engine.dispose()
    with running_server(url, directory / "server.log") as base:
        yield AdminServer(base, url)


@pytest.fixture
def page(browser: Browser, admin_server: AdminServer) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    base = admin_server.base
    page.goto(f"{base}/signin")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{base}/worklist")
    yield page
    context.close()


def test_an_admin_applies_an_amendment_signed(page: Page, admin_server: AdminServer) -> None:
    base = admin_server.base
    page.goto(f"{base}/studies/{SLE}/versions")
    page.get_by_role("link", name="2.0", exact=True).first.click()
    page.wait_for_url(f"{base}/studies/{SLE}/versions/2.0")
    signature = page.get_by_role("group", name="Electronic signature")
    expect(signature).to_contain_text("Dr Ana")
    expect(signature).to_contain_text("approved by")
    page.get_by_label("Reason").fill(REASON)
    page.get_by_label("Your password, to sign").fill("not my password at all")
    # One site only: the subjects at the other one stay on 1.1.
    page.get_by_role("radio", name="one site").check()
    page.locator("#site").select_option(OWN_SITE)
    apply = page.get_by_role("button", name="Apply version 2.0", exact=True)
    apply.click()
    expect(page.get_by_role("alert")).to_have_text(
        "That password is not right: nothing was signed or saved")
    expect(page.get_by_label("Reason")).to_have_value(REASON)
    expect(page.get_by_role("radio", name="one site")).to_be_checked()
    expect(page.locator("#site")).to_have_value(OWN_SITE)
    assert records(admin_server.url, "subject.amended") == []

    page.get_by_label("Your password, to sign").fill(PASSWORD)
    apply.click()
    expect(page.get_by_role("heading", name=f"{SLE} version 2.0 applied")).to_be_visible()
    expect(page.locator("#apply-summary")).to_contain_text(f"{SLE} 2.0: ")
    expect(page.locator("#apply-scope")).to_have_text(f"Subjects: those at site {OWN_SITE}.")
    expect(page.locator("#moved-YC-001")).to_be_visible()
    expect(page.locator("#apply-signature")).to_contain_text("approved by")
    moved = {r.subject_id: r for r in records(admin_server.url, "subject.amended")}
    assert "YC-001" in moved and not any(s.startswith("WT-") for s in moved)
    record = moved["YC-001"]
    assert record.after is not None and record.reason == REASON
    signed = record.after["signature"]
    assert (signed["meaning"], signed["printed_name"], signed["user"]) == (
        "approved by", "Dr Ana", "ana")


def test_an_admin_changes_a_coordinators_sites(page: Page, admin_server: AdminServer) -> None:
    base = admin_server.base
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    page.wait_for_url(f"{base}/admin/users")
    page.get_by_role("link", name="Edit li.wei").click()
    page.wait_for_url(f"{base}/admin/users/li.wei")
    expect(page.get_by_label("Sites (codes")).to_have_value(OWN_SITE)
    page.get_by_label("Sites (codes").fill("")
    page.get_by_role("button", name="Save the changes").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "A coordinator user needs at least one site")
    page.get_by_label("Sites (codes").fill(f"{OWN_SITE}, wtch")
    page.get_by_label("E-mail address").fill("Li.Wei@Hospital.Example")
    page.get_by_role("button", name="Save the changes").click()
    page.wait_for_url(f"{base}/admin/users?notice=user-updated")
    expect(page.get_by_role("status")).to_contain_text("it counts from their next page")
    expect(page.get_by_role("cell", name="li.wei@hospital.example", exact=True)).to_be_visible()
    [changed] = records(admin_server.url, "user.email_changed")
    assert changed.after is not None and changed.after["email"] == "li.wei@hospital.example"
    assert sites_of(admin_server.url, "li.wei") == sorted([OWN_SITE, "WTCH"])
    [record] = records(admin_server.url, "user.updated")
    assert (record.actor, record.before) == ("ana", {"sites": [OWN_SITE]})
