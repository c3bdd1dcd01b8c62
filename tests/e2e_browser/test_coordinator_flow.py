"""A coordinator's morning, in a real headless Chromium against a real server process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.e2e_browser.conftest import MISSING, Server
from tests.helpers_web import OTHER_SITE, OWN_SITE

if TYPE_CHECKING or MISSING is None:
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page: Page, server: Server, token: str) -> None:
    page.goto(f"{server.base}/worklist")
    page.wait_for_url(re.compile(r"/signin\?next="))  # not signed in: sent to sign in first
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in with the token").click()
    page.wait_for_url(f"{server.base}/worklist")


def test_coordinator_records_an_overdue_visit(page: Page, server: Server) -> None:
    seeded = server.seeded
    sign_in(page, server, seeded.coordinator)

    # The worklist: only the own site's overdue visits, most overdue first.
    overdue = page.locator("#section-overdue tbody tr")
    expect(overdue.first).to_be_visible()
    subjects = overdue.evaluate_all("rows => rows.map(r => r.dataset.subject)")
    assert subjects and all(s.startswith("YC-") for s in subjects)
    assert page.locator(f"text={OTHER_SITE}").count() == 0
    assert page.get_by_text("WT-00").count() == 0
    expect(page.locator("#count-overdue")).to_have_text(str(len(subjects)))
    visits = overdue.evaluate_all("rows => rows.map(r => r.dataset.visit)")
    assert (seeded.own_subject, "D28") in set(zip(subjects, visits, strict=True))

    # Open the subject: D28 is overdue on its timeline.
    page.locator(f'#section-overdue tr[data-visit="D28"] >> text={seeded.own_subject}').click()
    page.wait_for_url(f"**/subjects/{seeded.own_subject}")
    expect(page.get_by_role("heading", name=f"Subject {seeded.own_subject}")).to_be_visible()
    d28 = page.locator("#visit-D28")
    expect(d28).to_have_attribute("data-status", "overdue")

    # Record it inside its window: the page says so before saving.
    d28.get_by_role("link", name="Record visit D28").click()
    form = page.locator("#record-form")
    window_end = form.get_attribute("data-window-end")
    assert window_end
    date_input = page.get_by_label("Date of the visit")
    expect(date_input).to_have_value(date_input.get_attribute("max") or "")  # site's today
    expect(page.locator("#deviation")).to_contain_text("late")  # today is past the window
    date_input.fill(window_end)
    expect(page.locator("#deviation")).to_have_text("Inside the window.")
    page.get_by_role("button", name="Save").click()

    page.wait_for_url(re.compile(rf"/subjects/{seeded.own_subject}\?notice=recorded&visit=D28$"))
    expect(page.get_by_role("status").first).to_contain_text("Visit D28 recorded")
    expect(page.locator("#visit-D28")).to_have_attribute("data-status", "completed")
    expect(page.locator("#visit-D28 .visit-status")).to_contain_text("completed")
    # The audit trail on the page names the change and who made it.
    expect(page.locator("details.history")).to_contain_text("visit completed")
    expect(page.locator("details.history")).to_contain_text("coord-yc3h")


def test_out_of_window_date_is_shown_and_recorded_as_a_deviation(
    page: Page, server: Server
) -> None:
    seeded = server.seeded
    sign_in(page, server, seeded.coordinator)
    page.goto(f"{server.base}/studies/UCART-SLE/subjects/{seeded.own_subject}/visits/D14/record")
    # The default date (the site's today) is after the window: the warning is on screen.
    expect(page.locator("#deviation")).to_contain_text("Out of window")
    expect(page.get_by_role("button", name="Save with this deviation")).to_be_visible()
    page.get_by_role("button", name="Save with this deviation").click()
    page.wait_for_url(re.compile(rf"/subjects/{seeded.own_subject}\?notice=recorded&visit=D14$"))
    d14 = page.locator("#visit-D14")
    expect(d14).to_have_attribute("data-status", "completed_out_of_window")
    expect(d14).to_contain_text("days late")


def test_another_sites_subject_is_not_found(page: Page, server: Server) -> None:
    sign_in(page, server, server.seeded.coordinator)
    response = page.goto(
        f"{server.base}/studies/UCART-SLE/subjects/{server.seeded.other_subject}"
    )
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert page.locator(".timeline").count() == 0  # nothing of its calendar is shown


def test_sign_out_ends_the_session(page: Page, server: Server) -> None:
    sign_in(page, server, server.seeded.coordinator)
    expect(page.get_by_text(OWN_SITE).first).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    page.goto(f"{server.base}/worklist")
    page.wait_for_url(re.compile(r"/signin\?next="))


def test_keyboard_only_sign_in(page: Page, server: Server) -> None:
    page.goto(f"{server.base}/signin")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_label("API token").focus()
    page.keyboard.type(server.seeded.coordinator)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.base}/worklist")
