"""/docs and /redoc render in Chromium when no other host can be reached (a hospital
network without internet access): everything they need comes from the service.

/docs also renders under a same-origin Content-Security-Policy (``default-src 'self'``;
images may be ``data:`` URLs, which Swagger UI's stylesheet uses for its icons).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.e2e_browser.conftest import MISSING, Server

if TYPE_CHECKING or MISSING is None:
    from playwright.sync_api import Browser, Page, Route

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

SAME_ORIGIN_CSP = "default-src 'self'; img-src 'self' data:"


class Offline:
    """A page whose requests to any other host fail, as on an isolated network."""

    def __init__(self, page: Page, base: str, csp: str | None = None) -> None:
        self.page, self.base, self.csp = page, base, csp
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        url = route.request.url
        if not url.startswith(f"{self.base}/"):
            self.elsewhere.append(url)
            route.abort("internetdisconnected")
        elif self.csp and route.request.resource_type == "document":
            response = route.fetch()
            headers = response.headers | {"content-security-policy": self.csp}
            route.fulfill(response=response, headers=headers)
        else:
            route.continue_()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_swagger_ui_renders_offline_under_a_same_origin_csp(page: Page, server: Server) -> None:
    offline = Offline(page, server.base, csp=SAME_ORIGIN_CSP)
    page.goto(f"{server.base}/docs")
    page.locator(".swagger-ui .info .title").get_by_text("followup").wait_for()
    summaries = page.locator(".opblock-summary")
    summaries.first.wait_for()
    assert summaries.count() > 20  # every operation is listed
    page.locator(".opblock-summary", has_text="/api/v1/studies/{study}").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text("Available authorizations").wait_for()
    assert offline.elsewhere == []
    assert offline.errors == []


def test_redoc_renders_offline(page: Page, server: Server) -> None:
    offline = Offline(page, server.base)
    page.goto(f"{server.base}/redoc")
    page.get_by_role("heading", name=re.compile(r"^followup \(")).wait_for()
    page.get_by_role("menuitem", name="studies").first.wait_for()
    # ReDoc's own footer links its maker's logo from its CDN: the one request that leaves
    # the service, and nothing on the page depends on it.
    assert [url for url in offline.elsewhere if "redoc.ly" not in url] == []
