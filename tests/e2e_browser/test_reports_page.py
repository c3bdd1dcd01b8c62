"""The reports page in a real Chromium against a real server: a monitor finds it from the
navigation, picks a date, reads the hand-counted tables (tests/helpers_reports.py), sees
the chart drawn to scale, and downloads the CSV; no console error and no failed
request (the page's policy allows no inline script, and it needs none)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app import migrate
from app.db import make_engine, make_sessionmaker, transaction
from tests.e2e_browser.conftest import MISSING
from tests.e2e_browser.harness import LAPTOP, running_server
from tests.helpers_reports import seed_report_study
from tests.helpers_subjects import SLE, make_token

if TYPE_CHECKING or MISSING is None:
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The server's base URL and a monitor token of the study."""
    directory = tmp_path_factory.mktemp("e2e-reports")
    url = f"sqlite:///{directory / 'reports.db'}"
    migrate.upgrade(url=url)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            seed_report_study(session)
            monitor = make_token(session, "monitor", studies=[SLE], name="monitor-sle")
    finally:
        engine.dispose()
    with running_server(url, directory / "server.log") as base:
        yield base, monitor


@pytest.fixture
def page(browser: Browser, server: tuple[str, str]) -> Iterator[Page]:
    base, monitor = server
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    # Chromium asks every site for /favicon.ico, which the pages do not have: not an error
    # of this page.
    page.on("console", lambda m: errors.append(f"{m.text} {m.location.get('url')}")
            if m.type == "error" and not str(m.location.get("url")).endswith("/favicon.ico")
            else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
            else None)
    page.goto(f"{base}/signin")
    page.get_by_label("API token").fill(monitor)
    page.get_by_role("button", name="Sign in with the token").click()
    page.wait_for_url(f"{base}/worklist")
    yield page
    context.close()
    assert errors == []


def cells(page: Page, selector: str) -> list[str]:
    return [" ".join(t.split()) for t in page.locator(f"{selector} > th, {selector} > td")
            .all_inner_texts()]


def test_a_monitor_reads_the_reports(page: Page, server: tuple[str, str], tmp_path: Path) -> None:
    base, _ = server
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.get_by_role("link", name=SLE).click()
    page.wait_for_url(f"{base}/studies/{SLE}/reports")
    page.get_by_label("As of").fill("2026-09-01")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"{base}/studies/{SLE}/reports?as_of=2026-09-01")
    expect(page.get_by_role("heading", name="Visit compliance")).to_be_visible()
    assert cells(page, '#compliance-by-site tr[data-site="YC3H"]') == [
        "YC3H", "15", "8 (53.3%)", "1 (6.7%)", "2 (13.3%)", "1 (6.7%)", "1 (6.7%)",
        "2 (13.3%)"]
    assert cells(page, '#compliance-by-visit tr[data-visit="D14"]')[1:3] == ["5", "1 (20.0%)"]
    assert cells(page, '#endpoints-rows tr[data-site="YC3H"][data-code="DORIS@6 months"]') == [
        "YC3H", "DORIS at 6 months", "1", "0", "0", "2", "1", "0", "33.3%"]
    # The per-visit detail is folded away until asked for.
    detail = page.locator('#compliance-rows tr[data-site="WTCH"][data-visit="D14"]')
    expect(detail).to_be_hidden()
    page.get_by_text("By site and visit").click()
    expect(detail).to_be_visible()

    # The chart, as drawn: WTCH's bar is split 3 : 1 : 4 : 1 (of 9 expected visits).
    chart = page.locator("#compliance-chart")
    expect(chart).to_be_visible()
    bar = chart.locator('g[data-site="WTCH"] rect.seg')
    widths = [box["width"] for box in (bar.nth(i).bounding_box() for i in range(bar.count()))
              if box is not None]
    assert len(widths) == 4
    unit = sum(widths) / 9
    assert [round(w / unit, 2) for w in widths] == [3.0, 1.0, 4.0, 1.0]
    total = chart.locator('g[data-site="All sites"] rect.seg-none').bounding_box()
    assert total is not None and sum(widths) == pytest.approx(total["width"], rel=0.01)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").first.click()
    saved = tmp_path / "compliance.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"{SLE}-compliance.csv"
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("site,visit,expected,in_window,early,late")
    assert lines[-1].startswith("*,*,24,")
