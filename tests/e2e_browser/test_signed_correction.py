"""A person corrects a recorded visit in a real headless Chromium and signs the
correction with their password: a wrong password keeps what was typed and writes
nothing; the right one saves it, and the audit record holds the signature."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.models import AuditRecord, Subject, Visit
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import change_password, create_user
from tests.e2e_browser.conftest import MISSING
from tests.e2e_browser.harness import running_server, seeded_database
from tests.helpers_web import OWN_SITE, SLE

if TYPE_CHECKING or MISSING is None:
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

PASSWORD = "seven purple tigers dance"


@dataclass(frozen=True, slots=True)
class SigningServer:
    base: str
    url: str  # the database's
    window_start: date  # of YC-002's Day 28, recorded on its target date by the seed


def d28(session_url: str) -> tuple[Visit, list[AuditRecord]]:
    engine = make_engine(session_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            row = session.scalars(select(Visit).join(Subject, Subject.id == Visit.subject_pk)
                                  .where(Subject.subject_id == "YC-002",
                                         Visit.code == "D28")).one()
            corrections = list(session.scalars(select(AuditRecord).where(
                AuditRecord.action == "visit.corrected", AuditRecord.subject_id == "YC-002")))
            session.expunge_all()
            return row, corrections
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def signing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningServer]:
    """The seeded server, with a coordinator who has chosen their password."""
    if MISSING:
        pytest.skip(MISSING)
    directory = tmp_path_factory.mktemp("e2e-signatures")
    url, _ = seeded_database(directory)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            now = utcnow()
            one_time = create_user(session, actor=SYSTEM, username="li.wei",
                                   display_name="Dr Li Wei", role="coordinator",
                                   sites=[OWN_SITE], now=now).password
            person = check_password_sign_in(session, username="li.wei", password=one_time,
                                            address=None, now=now).actor
            change_password(session, actor=person, current=one_time, new=PASSWORD, now=now)
    finally:
        engine.dispose()
    row, _ = d28(url)
    assert row.state == "completed" and row.window_start is not None
    with running_server(url, directory / "server.log") as base:
        yield SigningServer(base, url, row.window_start)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_a_correction_is_signed_with_the_password(
    page: Page, signing_server: SigningServer
) -> None:
    base = signing_server.base
    page.goto(f"{base}/worklist")
    page.wait_for_url(re.compile(r"/signin\?next="))
    page.get_by_label("Username").fill("li.wei")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{base}/worklist")

    url = f"{base}/studies/{SLE}/subjects/YC-002/visits/D28/record"
    page.goto(url)
    expect(page.get_by_role("heading", name="Correct visit D28 of YC-002")).to_be_visible()
    signature = page.get_by_role("group", name="Electronic signature")
    expect(signature).to_contain_text("Dr Li Wei")
    expect(signature).to_contain_text("corrected by")
    new_date = signing_server.window_start.isoformat()
    page.get_by_label("Date of the visit").fill(new_date)
    page.get_by_label("Reason for the correction").fill("date mistyped in the EDC")

    page.get_by_label("Your password, to sign").fill("not my password at all")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_have_text(
        "That password is not right: nothing was signed or saved")
    expect(page.get_by_label("Reason for the correction")).to_have_value(
        "date mistyped in the EDC")
    expect(page.get_by_label("Date of the visit")).to_have_value(new_date)
    expect(page.get_by_label("Your password, to sign")).to_have_value("")
    row, corrections = d28(signing_server.url)
    assert row.actual_date != signing_server.window_start and corrections == []

    page.get_by_label("Your password, to sign").fill(PASSWORD)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/subjects/YC-002\?notice=recorded"))
    row, corrections = d28(signing_server.url)
    assert row.actual_date == signing_server.window_start
    [record] = corrections
    assert record.after is not None and record.reason == "date mistyped in the EDC"
    signed = record.after["signature"]
    assert (signed["meaning"], signed["printed_name"], signed["user"]) == (
        "corrected by", "Dr Li Wei", "li.wei")
    assert abs(datetime.fromisoformat(signed["signed_at"]) - utcnow()) < timedelta(minutes=5)
