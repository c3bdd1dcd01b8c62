"""The admin pages in a real Chromium against a real server: an admin makes a service
token from the navigation (its secret shown once works on the API), revokes it (the API
refuses it from then on), and loads a broken protocol version, whose problems are shown
by line and column with nothing loaded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from app.db import make_engine, utcnow
from app.models import ImportJob
from tests.e2e_browser.conftest import MISSING, Server
from tests.e2e_browser.harness import LAPTOP
from tests.helpers_amendments import V2
from tests.helpers_subjects import SLE

if TYPE_CHECKING or MISSING is None:
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

BROKEN = V2.replace("at: day 84", "at: 84 dayz")


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server.base}/signin")
    page.get_by_label("API token").fill(server.seeded.admin)
    page.get_by_role("button", name="Sign in with the token").click()
    page.wait_for_url(f"{server.base}/worklist")
    yield page
    context.close()


def studies_with(page: Page, base: str, secret: str) -> int:
    response = page.request.get(f"{base}/api/v1/studies",
                                headers={"Authorization": f"Bearer {secret}"})
    return response.status


def test_an_admin_makes_and_revokes_a_token(page: Page, server: Server) -> None:
    base = server.base
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tokens").click()
    page.wait_for_url(f"{base}/admin/tokens")
    page.get_by_label("Name (optional").fill("edc-browser")
    page.get_by_label("Role", exact=True).select_option("edc")
    page.get_by_label("Studies (codes").fill(SLE)
    page.get_by_role("button", name="Create the token").click()
    expect(page.get_by_role("status")).to_contain_text("it is shown only once")
    secret = page.get_by_label("Token", exact=True).input_value()
    assert secret.startswith("fu_")
    assert studies_with(page, base, secret) == 200

    page.get_by_role("button", name="Revoke token edc-browser").click()
    page.wait_for_url(f"{base}/admin/tokens?notice=token-revoked")
    expect(page.get_by_role("status")).to_contain_text("refused from now on")
    expect(page.locator("#state-edc-browser")).to_contain_text("revoked")
    expect(page.get_by_role("button", name="Revoke token edc-browser")).to_have_count(0)
    assert studies_with(page, base, secret) == 401


def test_a_broken_version_shows_its_problems_by_line(page: Page, server: Server) -> None:
    base = server.base
    page.goto(f"{base}/studies/{SLE}")
    page.get_by_role("link", name="Protocol versions").click()
    page.wait_for_url(f"{base}/studies/{SLE}/versions")
    page.get_by_label("YAML text").fill(BROKEN)
    page.get_by_role("button", name="Load the version").click()
    expect(page.get_by_role("alert")).to_have_text("The file has problems: nothing was loaded.")
    line = next(n for n, text in enumerate(BROKEN.splitlines(), 1)
                if text.strip() == "at: 84 dayz")
    problem = page.get_by_role("list", name="Problems of the file").get_by_role("listitem")
    expect(problem.filter(has_text=f"Line {line}, column 9")).to_contain_text(
        "is not a duration")
    # The text comes back to be corrected; no version 2.0 was loaded.
    assert "at: 84 dayz" in page.get_by_label("YAML text").input_value()
    expect(page.locator("#state-1\\.1")).to_have_text("active")
    expect(page.locator("#state-2\\.0")).to_have_count(0)
    assert re.search(r"/versions$", page.url)


def set_job(server: Server, job_id: int, **values: object) -> None:
    """Change the server's job row from outside (as another server process would)."""
    engine = make_engine(server.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))
    finally:
        engine.dispose()


def test_an_admin_imports_subjects_and_the_page_follows_the_job(
    page: Page, server: Server, tmp_path: Path
) -> None:
    base = server.base
    page.goto(f"{base}/studies/{SLE}")
    page.get_by_role("link", name="Import subjects").click()
    page.wait_for_url(f"{base}/studies/{SLE}/import")
    csv = tmp_path / "subjects.csv"
    csv.write_text("subject_id,site,consent_date,date_of_birth,infusion\n"
                   "BR-001,YC3H,2026-02-01,1980-05-04,2026-02-10\n"
                   "BR-002,WTCH,2026-02-02,1981-01-01,\n", encoding="utf-8")
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url(re.compile(rf"/studies/{SLE}/import/\d+$"))
    expect(page.locator("#import-result")).to_contain_text("2 subjects enrolled with")
    job_id = int(page.url.rsplit("/", 1)[1])

    # A job running in another server process: its page follows it by itself.
    set_job(server, job_id, state="running", runner="another-process", rows_checked=1,
            rows_written=1, heartbeat_at=utcnow())
    page.reload()
    expect(page.locator("#import-counts")).to_have_text(
        "1 of 2 rows checked, 1 written so far.")
    set_job(server, job_id, state="done")
    expect(page.locator("#import-result")).to_contain_text("2 subjects enrolled with",
                                                           timeout=10_000)
    page.get_by_role("link", name="Import another file").click()
    expect(page.locator(f"#job-state-{job_id}")).to_have_text("done")
