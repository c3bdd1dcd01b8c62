"""A person signs in with a username and a one-time password, in a real headless Chromium,
and must choose their own password before any other page opens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from app.access import SYSTEM
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.services.accounts.users import create_user
from tests.e2e_browser.conftest import MISSING
from tests.e2e_browser.harness import running_server, seeded_database
from tests.helpers_web import OWN_SITE, SLE

if TYPE_CHECKING or MISSING is None:
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

NEW_PASSWORD = "seven purple tigers dance"


@dataclass(frozen=True, slots=True)
class PersonServer:
    base: str
    one_time_password: str
    admin_token: str


@pytest.fixture(scope="module")
def person_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PersonServer]:
    """The seeded server, with a coordinator account that still has its one-time password."""
    if MISSING:
        pytest.skip(MISSING)
    directory = tmp_path_factory.mktemp("e2e-accounts")
    url, seeded = seeded_database(directory)
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            created = create_user(session, actor=SYSTEM, username="li.wei",
                                  display_name="Dr Li Wei", role="coordinator",
                                  sites=[OWN_SITE], now=utcnow())
    finally:
        engine.dispose()
    with running_server(url, directory / "server.log") as base:
        yield PersonServer(base, created.password, seeded.admin)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/worklist")
    page.wait_for_url(re.compile(r"/signin\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_a_one_time_password_is_changed_at_the_first_sign_in(
    page: Page, person_server: PersonServer
) -> None:
    base = person_server.base
    # A wrong password first: the same words as for any unknown name.
    sign_in(page, base, "li.wei", "not the password at all")
    expect(page.get_by_role("alert")).to_have_text("That username or password is not valid.")

    sign_in(page, base, "li.wei", person_server.one_time_password)
    page.wait_for_url(f"{base}/password")
    expect(page.get_by_text("choose your own before you go on")).to_be_visible()
    # Nothing else opens until the password is changed.
    page.goto(f"{base}/worklist")
    page.wait_for_url(f"{base}/password")

    page.get_by_label("Current password").fill(person_server.one_time_password)
    # Too short: the browser itself holds the form back (minlength), the server refuses
    # a password with the username in it.
    page.get_by_label("New password", exact=True).fill("too short")
    page.get_by_label("New password again").fill("too short")
    page.get_by_role("button", name="Change password").click()
    assert page.get_by_label("New password", exact=True).evaluate(
        "field => field.validity.tooShort") is True
    assert page.url == f"{base}/password"
    page.get_by_label("New password", exact=True).fill("hello li.wei my friend")
    page.get_by_label("New password again").fill("hello li.wei my friend")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("may not contain the username")

    page.get_by_label("Current password").fill(person_server.one_time_password)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(f"{base}/worklist")
    expect(page.locator(".who-name")).to_contain_text("Dr Li Wei")

    # Signed out and in again with the new password: straight to the worklist.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/signin")
    sign_in(page, base, "li.wei", NEW_PASSWORD)
    page.wait_for_url(f"{base}/worklist")
    expect(page.locator(".who-name")).to_contain_text("Dr Li Wei")


def test_an_admin_makes_a_user_who_makes_a_personal_token(
    page: Page, person_server: PersonServer
) -> None:
    base = person_server.base
    page.goto(f"{base}/signin")
    page.get_by_label("API token").fill(person_server.admin_token)
    page.get_by_role("button", name="Sign in with the token").click()
    page.wait_for_url(f"{base}/worklist")
    page.get_by_role("link", name="Users").click()
    page.wait_for_url(f"{base}/admin/users")
    page.get_by_label("Username").fill("ana.m")
    page.get_by_label("Printed name").fill("Ana Monitor")
    page.get_by_label("Role").select_option("monitor")
    page.get_by_label("Studies (codes, separated by commas)").fill(SLE)
    page.get_by_role("button", name="Create the user").click()
    expect(page.get_by_text("it is shown only once")).to_be_visible()
    one_time = page.get_by_role("textbox", name="One-time password").input_value()
    assert len(one_time) == 20
    expect(page.get_by_role("cell", name="Ana Monitor", exact=True)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/signin")

    sign_in(page, base, "ana.m", one_time)
    page.wait_for_url(f"{base}/password")
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(f"{base}/worklist")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)  # not an admin

    page.get_by_role("link", name="API tokens").click()
    page.wait_for_url(f"{base}/account/tokens")
    page.get_by_label("Label (where it will be used, e.g. laptop)").fill("laptop")
    page.get_by_role("button", name="Make the token").click()
    secret = page.get_by_label("Token", exact=True).input_value()
    assert secret.startswith("fu_")
    expect(page.get_by_role("cell", name="ana.m.laptop", exact=True)).to_be_visible()
    page.get_by_role("button", name="Revoke token ana.m.laptop").click()
    page.wait_for_url(f"{base}/account/tokens?notice=token-revoked")
    expect(page.get_by_role("cell", name=re.compile(r"^revoked "))).to_be_visible()
    expect(page.get_by_role("button", name="Revoke token ana.m.laptop")).to_have_count(0)
