"""Single sign-on through a real OpenID Connect provider served over HTTP (tests/helpers_oidc):
the browser goes to the provider and back, the ID token is checked, and the person signs
in as the matching local account, or is refused with nothing created."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.models import AuditRecord, User, WebSessionRow
from app.services.accounts.users import create_user, disable_user
from app.settings import OidcMatch, OidcSettings, Settings
from app.web.auth import provider_sign_out
from tests.helpers_net import free_port
from tests.helpers_oidc import CLIENT_ID, CLIENT_SECRET, LocalProvider, running_provider
from tests.helpers_subjects import NOW
from tests.helpers_web import OWN_SITE, Seeded, seed, stand_at
from tests.web.helpers import csrf_of, other_client, sign_in

APP = "http://testserver"


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    with running_provider() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_provider(provider: LocalProvider) -> None:
    provider.faults.clear()
    provider.logout = True
    provider.logouts.clear()
    provider.person = {"preferred_username": "li.wei", "email": "Li.Wei@Hospital.example",
                       "email_verified": True, "name": "Li Wei"}


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    return seed(session)


def sso_settings(settings: Settings, provider: LocalProvider,
                 match: OidcMatch = OidcMatch.USERNAME) -> Settings:
    oidc = OidcSettings(issuer=provider.issuer, client_id=CLIENT_ID,
                        client_secret=SecretStr(CLIENT_SECRET), redirect_base_url=APP,
                        match=match, provider_name="Hospital ID", timeout_seconds=10)
    return settings.model_copy(update={"oidc": oidc})


@pytest.fixture
def browser(settings: Settings, session: Session, provider: LocalProvider,
            seeded: Seeded) -> Iterator[TestClient]:
    with other_client(sso_settings(settings, provider), session) as web:
        stand_at(web)
        yield web


def new_user(session: Session, username: str = "li.wei", email: str | None = None) -> None:
    create_user(session, actor=SYSTEM, username=username, display_name="Dr Li Wei",
                role="coordinator", sites=[OWN_SITE], now=NOW, email=email)


def go_round(web: TestClient, next_page: str = "/worklist") -> httpx.Response:
    """From the sign-in page's button to the provider and back; the callback's answer."""
    page = web.get("/signin")
    assert page.status_code == 200 and 'id="sso-signin"' in page.text
    assert "Sign in with Hospital ID</a>" in page.text
    leave = web.get(f"/signin/sso?next={next_page}", follow_redirects=False)
    assert leave.status_code == 303, leave.text
    at_provider = httpx.get(leave.headers["location"], follow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = at_provider.headers["location"]
    assert back.startswith(f"{APP}/signin/sso/callback?")
    return web.get(back, follow_redirects=False)


def signed_in_as(web: TestClient) -> str | None:
    page = web.get("/worklist", follow_redirects=False)
    if page.status_code != 200:
        return None
    return "li.wei" if "Dr Li Wei" in page.text else page.text


def sessions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(WebSessionRow)) or 0


def refusals(session: Session) -> list[AuditRecord]:
    return list(session.scalars(select(AuditRecord)
                                .where(AuditRecord.action == "web_session.refused")))


def test_a_person_signs_in_by_username_with_the_same_session_as_a_password(
    browser: TestClient, session: Session, provider: LocalProvider
) -> None:
    new_user(session)  # a one-time password, never changed: SSO does not need it
    back = go_round(browser, "/studies")
    assert back.status_code == 303 and back.headers["location"] == "/studies"
    assert signed_in_as(browser) == "li.wei"
    row = session.scalars(select(WebSessionRow)).one()
    assert row.single_sign_on and row.user_id is not None and row.token_id is None
    started = session.scalars(select(AuditRecord)
                              .where(AuditRecord.action == "web_session.started")).one()
    assert started.after is not None and started.after["with"] == "sso"
    assert started.user_name == "li.wei" and started.user_display_name == "Dr Li Wei"
    # Signing out ends it like any session.
    page = browser.get("/worklist")
    assert page.status_code == 200
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    browser.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert signed_in_as(browser) is None


def test_a_person_signs_in_by_e_mail_address(
    settings: Settings, session: Session, provider: LocalProvider, seeded: Seeded
) -> None:
    new_user(session, username="lw01", email="li.wei@hospital.example")
    provider.person["preferred_username"] = "somebody-else"
    with other_client(sso_settings(settings, provider, OidcMatch.EMAIL), session) as web:
        stand_at(web)
        back = go_round(web)
        assert back.status_code == 303 and back.headers["location"] == "/worklist"
        assert signed_in_as(web) == "li.wei"
        provider.person["email_verified"] = False  # an unverified address matches nothing
        refused = go_round(web)
        assert refused.status_code == 403


def test_an_unknown_person_is_refused_and_nothing_is_created(
    browser: TestClient, session: Session, provider: LocalProvider
) -> None:
    provider.person["preferred_username"] = "nobody.here"
    users_before = session.scalar(select(func.count()).select_from(User))
    refused = go_round(browser)
    assert refused.status_code == 403
    assert "There is no account here with the username nobody.here" in refused.text
    assert session.scalar(select(func.count()).select_from(User)) == users_before
    assert sessions(session) == 0 and signed_in_as(browser) is None
    [record] = refusals(session)
    assert record.after is not None
    assert record.after["reason"] == "no account" and record.after["with"] == "sso"
    assert record.key == "nobody.here"


def test_a_disabled_account_is_refused(
    browser: TestClient, session: Session, provider: LocalProvider
) -> None:
    new_user(session)
    disable_user(session, actor=SYSTEM, username="li.wei", now=NOW)
    refused = go_round(browser)
    assert refused.status_code == 403 and "This account is disabled" in refused.text
    assert sessions(session) == 0 and signed_in_as(browser) is None
    [record] = refusals(session)
    assert record.after is not None and record.after["reason"] == "account disabled"


def test_a_callback_whose_state_does_not_match_is_refused(
    browser: TestClient, session: Session, provider: LocalProvider
) -> None:
    new_user(session)
    leave = browser.get("/signin/sso", follow_redirects=False)
    at_provider = httpx.get(leave.headers["location"], follow_redirects=False, timeout=10)
    back = urlsplit(at_provider.headers["location"])
    code = parse_qs(back.query)["code"][0]
    forged = browser.get(f"/signin/sso/callback?code={code}&state=forged",
                         follow_redirects=False)
    assert forged.status_code == 400 and "Sign-in not completed" in forged.text
    assert provider.token_requests == 0 or code in provider.grants  # the code was not used
    # Another browser (without this one's cookie) cannot finish it either.
    with TestClient(browser.app, raise_server_exceptions=False) as stranger:
        stolen = stranger.get(f"{APP}{back.path}?{back.query}", follow_redirects=False)
        assert stolen.status_code == 400
    assert sessions(session) == 0 and signed_in_as(browser) is None


@pytest.mark.parametrize("fault", ["nonce", "aud", "key"])
def test_an_id_token_that_fails_a_check_is_refused(
    browser: TestClient, session: Session, provider: LocalProvider, fault: str
) -> None:
    new_user(session)
    provider.faults.add(fault)
    refused = go_round(browser)
    assert refused.status_code == 401 and "could not be trusted" in refused.text
    assert sessions(session) == 0 and signed_in_as(browser) is None


def test_without_settings_there_is_no_button_and_no_route(
    client: TestClient, seeded: Seeded
) -> None:
    page = client.get("/signin")
    assert page.status_code == 200 and "sso-signin" not in page.text
    for url in ("/signin/sso", "/signin/sso/callback?code=x&state=y"):
        assert client.get(url, follow_redirects=False).status_code == 404


def test_a_provider_that_cannot_be_reached_gets_a_page_that_suggests_the_password(
    settings: Settings, session: Session, seeded: Seeded
) -> None:
    nowhere = LocalProvider(issuer=f"http://127.0.0.1:{free_port()}")  # nothing listens
    with other_client(sso_settings(settings, nowhere), session) as web:
        page = web.get("/signin/sso", follow_redirects=False)
    assert page.status_code == 502 and "could not be reached" in page.text
    # No sign-in is kept in progress: the flow cookie is only ever cleared here.
    assert re.search(r'followup_sso=[^";]', page.headers.get("set-cookie", "")) is None


def sign_out(web: TestClient) -> httpx.Response:
    return web.post("/signout", data={"csrf_token": csrf_of(web.get("/worklist").text)},
                    follow_redirects=False)


def test_signing_out_of_a_single_sign_on_signs_out_at_the_provider_too(
    browser: TestClient, session: Session, provider: LocalProvider
) -> None:
    new_user(session)
    assert go_round(browser).status_code == 303
    id_token = provider.issued[-1]
    row = session.scalars(select(WebSessionRow)).one()
    assert row.id_token == id_token  # kept with the session, for the sign-out
    out = sign_out(browser)
    assert out.status_code == 200 and "Signed out here" in out.text
    link = re.search(r'<a href="([^"]+)" id="provider-signout">', out.text)
    assert link is not None
    url = html.unescape(link.group(1))
    assert f'<meta http-equiv="refresh" content="0; url={link.group(1)}">' in out.text
    assert url.startswith(f"{provider.issuer}/logout?")
    assert parse_qs(urlsplit(url).query) == {
        "id_token_hint": [id_token], "client_id": [CLIENT_ID],
        "post_logout_redirect_uri": [f"{APP}/signin"]}
    # The session here ended at once, before the browser reaches the provider.
    assert signed_in_as(browser) is None
    session.expire_all()
    assert session.scalars(select(WebSessionRow.id_token)).all() in ([None], [])
    at_provider = httpx.get(url, follow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    assert at_provider.headers["location"] == f"{APP}/signin"
    assert [q["id_token_hint"] for q in provider.logouts] == [id_token]


def test_without_an_end_session_endpoint_signing_out_is_local_only(
    browser: TestClient, session: Session, provider: LocalProvider
) -> None:
    provider.logout = False
    new_user(session)
    assert go_round(browser).status_code == 303
    out = sign_out(browser)
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert signed_in_as(browser) is None and provider.logouts == []


def test_a_session_signed_in_with_a_token_signs_out_here_only(
    browser: TestClient, seeded: Seeded, provider: LocalProvider
) -> None:
    sign_in(browser, seeded.admin)
    out = sign_out(browser)
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert signed_in_as(browser) is None and provider.logouts == []


def test_a_provider_that_cannot_be_reached_at_sign_out_leaves_the_local_sign_out(
    settings: Settings, provider: LocalProvider
) -> None:
    assert provider_sign_out(sso_settings(settings, provider), "an.id.token") is not None
    nowhere = LocalProvider(issuer=f"http://127.0.0.1:{free_port()}")  # nothing listens
    assert provider_sign_out(sso_settings(settings, nowhere), "an.id.token") is None
    assert provider_sign_out(settings, "an.id.token") is None  # no single sign-on here
