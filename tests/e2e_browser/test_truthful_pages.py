"""Pages that tell the truth, in a real Chromium against a real server: the event preview,
the worklist's second page, the record form before the window opens, and several rows
marked missed at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.web.worklist import PAGE_SIZE
from tests.e2e_browser.conftest import MISSING, Server
from tests.e2e_browser.harness import running_server, seeded_database
from tests.helpers_web import site_today
from tests.helpers_worklist import SLE, add_subject, add_visit

if TYPE_CHECKING or MISSING is None:
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

EXTRA_OVERDUE = PAGE_SIZE + 5  # the worklist has a second page


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The seeded server, with enough overdue visits at the own site for two pages."""
    directory = tmp_path_factory.mktemp("e2e-truth")
    url, seeded = seeded_database(directory)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            today = site_today(utcnow())
            subject = add_subject(session, SLE, "YC3H", "YC-MANY",
                                  consent=today - timedelta(days=400))
            for i in range(EXTRA_OVERDUE):
                add_visit(session, subject, f"OD{i}", target=today - timedelta(days=10 + i),
                          flush=False)
            add_visit(session, subject, "DUE1", target=today, before=2, after=2)
    finally:
        engine.dispose()
    with running_server(url, directory / "server.log") as base:
        yield Server(base, seeded, url)


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.base}/signin")
    page.get_by_label("API token").fill(server.seeded.coordinator)
    page.get_by_role("button", name="Sign in with the token").click()
    page.wait_for_url(f"{server.base}/worklist")
    yield page
    context.close()


def count(page: Page, element_id: str) -> int:
    text = page.locator(f"#{element_id}").inner_text()
    found = re.search(r"\d+", text)
    assert found, text
    return int(found.group(0))


def test_the_second_worklist_page_agrees_with_the_counts(page: Page) -> None:
    due = count(page, "count-due")
    overdue = count(page, "count-overdue")
    assert due >= 1 and overdue > PAGE_SIZE
    expect(page.locator("#section-overdue tbody tr")).to_have_count(PAGE_SIZE)
    expect(page.locator("#note-due")).to_have_text(
        f"All {due} due visit{'s are' if due != 1 else ' is'} on the next pages."
        if due != 1 else "The due visit is on the next pages.")
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url(re.compile(r"cursor="))
    # The same counts, and the sections say where their rows are: never "Due (0+)".
    assert (count(page, "count-due"), count(page, "count-overdue")) == (due, overdue)
    assert (count(page, "total-due"), count(page, "total-overdue")) == (due, overdue)
    expect(page.locator("#section-overdue tbody tr")).to_have_count(overdue - PAGE_SIZE)
    expect(page.locator("#note-overdue")).to_have_text(
        f"{overdue - PAGE_SIZE} of {overdue} on this page; the others are on the earlier pages.")
    expect(page.locator("#section-due tbody tr")).to_have_count(due)
    expect(page.locator("main")).not_to_contain_text("Nothing due")


def test_the_record_form_starts_empty_before_the_window_opens(
    page: Page, server: Server
) -> None:
    subject = f"{server.base}/studies/{SLE}/subjects/{server.seeded.own_subject}"
    page.goto(f"{subject}/visits/M3/record")
    date_input = page.get_by_label("Date of the visit")
    expect(date_input).to_have_value("")
    expect(page.locator("#actual_date-hint")).to_contain_text("The window opens on")
    page.goto(f"{subject}/visits/D28/record")  # overdue: today is offered
    expect(page.get_by_label("Date of the visit")).to_have_value(
        page.get_by_label("Date of the visit").get_attribute("max") or "")


def test_the_event_form_previews_what_a_death_cancels(page: Page, server: Server) -> None:
    subject = f"{server.base}/studies/{SLE}/subjects/YC-003"
    page.goto(f"{subject}/events/new")
    expect(page.locator("main")).not_to_contain_text("every visit not done is cancelled")
    expect(page.get_by_role("button", name=re.compile("^Record"))).to_have_count(0)
    page.get_by_label("Event", exact=True).select_option("death")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url(re.compile(r"/events/new\?type=death&date="))
    cancelled = page.locator("#preview-cancelled tbody tr")
    codes = cancelled.evaluate_all("rows => rows.map(r => r.dataset.visit)")
    assert "M3" in codes and "D0" not in codes  # D0 is done: not cancelled
    expect(page.locator("#cancelled-heading")).to_have_text(
        f"{len(codes)} visits will be cancelled")
    page.get_by_role("button", name=re.compile(rf"^Record death on .* and cancel {len(codes)}")
                     ).click()
    page.wait_for_url(re.compile(r"/subjects/YC-003\?notice=event$"))
    expect(page.get_by_role("status").first).to_contain_text("Event recorded.")
    for code in codes:
        expect(page.locator(f"#visit-{code}")).to_have_attribute("data-status", "cancelled")


def test_several_overdue_rows_marked_missed_with_one_reason(
    page: Page, server: Server
) -> None:
    page.goto(f"{server.base}/worklist?tab=overdue")
    before = count(page, "count-overdue")
    rows = page.locator("#section-overdue tbody tr")
    chosen = rows.evaluate_all(
        "rows => rows.slice(0, 2).map(r => [r.dataset.subject, r.dataset.visit])")
    for subject, code in chosen:
        page.get_by_label(f"Choose visit {code} of {subject}").check()
    page.get_by_label("Why will these visits not take place?").fill("clinic closed by a flood")
    page.get_by_role("button", name="Mark chosen visits missed").click()
    page.wait_for_url(re.compile(r"notice=missed-many"))
    expect(page.get_by_role("status").first).to_have_text("2 visits marked as missed.")
    assert count(page, "count-overdue") == before - 2
    for subject, code in chosen:
        expect(page.locator(f'#section-overdue tr[data-subject="{subject}"][data-visit="{code}"]')
               ).to_have_count(0)
    subject, code = chosen[0]
    page.goto(f"{server.base}/studies/{SLE}/subjects/{subject}")
    expect(page.locator(f"#visit-{code}")).to_have_attribute("data-status", "missed")
    expect(page.locator("details.history")).to_contain_text("clinic closed by a flood")
