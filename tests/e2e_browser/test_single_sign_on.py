"""A person signs in through the hospital's OpenID Connect provider in a real headless
Chromium: the app served by uvicorn, the provider (tests/helpers_oidc) on its own port,
the browser going to the provider and back, and to the provider again to sign out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.services.accounts.users import create_user
from tests.e2e_browser.conftest import MISSING
from tests.e2e_browser.harness import running_server, seeded_database
from tests.helpers_oidc import CLIENT_ID, CLIENT_SECRET, running_provider
from tests.helpers_web import OWN_SITE

if TYPE_CHECKING or MISSING is None:
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_a_person_signs_in_with_the_hospital_account(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("e2e-sso")
    url, _ = seeded_database(directory)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            # A one-time password never changed: single sign-on does not use it.
            create_user(session, actor=SYSTEM, username="li.wei", display_name="Dr Li Wei",
                        role="coordinator", sites=[OWN_SITE], now=utcnow(),
                        email="li.wei@hospital.example")
    finally:
        engine.dispose()
    with running_provider() as provider:
        provider.person = {"email": "Li.Wei@hospital.example", "email_verified": True}
        settings = {"OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": CLIENT_ID,
                    "OIDC_CLIENT_SECRET": CLIENT_SECRET, "OIDC_MATCH": "email",
                    "OIDC_PROVIDER_NAME": "Hospital ID"}
        with running_server(url, directory / "server.log", settings) as base:
            page.goto(f"{base}/worklist")
            page.get_by_role("link", name="Sign in with Hospital ID").click()
            page.wait_for_url(f"{base}/worklist")
            expect(page.locator(".who-name")).to_contain_text("Dr Li Wei")

            # Signing out goes on to the provider's end-session endpoint, which sends the
            # browser back to the sign-in page.
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{base}/signin")
            assert [q["post_logout_redirect_uri"] for q in provider.logouts] == [
                f"{base}/signin"]
            provider.person = {"email": "someone@hospital.example"}
            page.get_by_role("link", name="Sign in with Hospital ID").click()
            expect(page.get_by_role("alert")).to_contain_text(
                "There is no account here with the e-mail address someone@hospital.example")
            page.goto(f"{base}/worklist")
            page.wait_for_url(f"{base}/signin?next=%2Fworklist")
