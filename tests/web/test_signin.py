"""Sign-in, the session cookie and CSRF: what a browser session may and may not do."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import ApiToken
from app.settings import Settings
from app.web.session import COOKIE_NAME
from tests.helpers_web import Seeded, seed
from tests.web.helpers import csrf_of, other_client, sign_in


@pytest.fixture
def seeded(session: Session) -> Seeded:
    return seed(session)


def test_pages_send_a_signed_out_browser_to_sign_in(client: TestClient, seeded: Seeded) -> None:
    response = client.get("/worklist?tab=due", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fworklist%3Ftab%3Ddue"
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"


def test_sign_in_sets_a_hardened_cookie_without_the_token(
    client: TestClient, seeded: Seeded
) -> None:
    page = client.get("/signin")
    response = client.post("/signin", data={"csrf_token": csrf_of(page.text),
                                            "token": seeded.coordinator},
                           follow_redirects=False)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # cookie_secure is off in the test settings
    assert seeded.coordinator not in cookie
    assert seeded.coordinator.removeprefix("fu_") not in cookie
    worklist = client.get("/worklist")
    assert worklist.status_code == 200
    assert "coord-yc3h" in worklist.text
    assert worklist.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in worklist.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in worklist.headers["content-security-policy"]


def test_a_wrong_token_is_refused_on_the_form(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/signin", params={"next": "/studies"})
    response = client.post("/signin", data={"csrf_token": csrf_of(page.text), "next": "/studies",
                                            "token": "fu_not-a-real-token"})
    # The API's answer to a token it does not know, on the form again.
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert "That token is not valid" in response.text
    assert 'name="next" value="/studies"' in response.text
    assert client.get("/worklist", follow_redirects=False).status_code == 303


def test_sign_in_without_the_csrf_token_is_refused(client: TestClient, seeded: Seeded) -> None:
    client.get("/signin")
    response = client.post("/signin", data={"token": seeded.coordinator})
    assert response.status_code == 403
    assert "Form expired" in response.text
    forged = client.post("/signin", data={"token": seeded.coordinator, "csrf_token": "x.y.z"})
    assert forged.status_code == 403


def test_a_csrf_token_of_another_session_is_refused(
    client: TestClient, settings: Settings, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    stolen = csrf_of(client.get("/worklist").text)
    with other_client(settings, session) as attacker:
        sign_in(attacker, seeded.admin)
        response = attacker.post("/signout", data={"csrf_token": stolen})
        assert response.status_code == 403


def test_revoking_the_token_ends_the_browser_session(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    session.execute(update(ApiToken).where(ApiToken.name == "coord-yc3h")
                    .values(revoked_at=utcnow()))
    session.commit()
    response = client.get("/worklist", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?ended=1"
    assert "token expired or was revoked" in client.get("/signin?ended=1").text
    # The session forgot the token: even a valid token again would need a new sign-in.
    assert client.get("/worklist", follow_redirects=False).headers["location"].startswith(
        "/signin?next="
    )


def test_sign_out_clears_the_identity(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.coordinator)
    token = csrf_of(client.get("/worklist").text)
    response = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/worklist", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_sign_in_never_redirects_off_site(
    client: TestClient, seeded: Seeded, target: str
) -> None:
    page = client.get("/signin", params={"next": target})
    response = client.post("/signin", data={"csrf_token": csrf_of(page.text), "next": target,
                                            "token": seeded.coordinator},
                           follow_redirects=False)
    assert response.headers["location"] == "/worklist"


def test_sign_in_returns_to_the_page_asked_for(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/signin", params={"next": "/studies/UCART-SLE"})
    response = client.post("/signin", data={"csrf_token": csrf_of(page.text),
                                            "next": "/studies/UCART-SLE",
                                            "token": seeded.coordinator},
                           follow_redirects=False)
    assert response.headers["location"] == "/studies/UCART-SLE"


def test_secure_cookies_when_configured(settings: Settings, session: Session,
                                        seeded: Seeded) -> None:
    secure = settings.model_copy(update={"cookie_secure": True})
    with other_client(secure, session) as browser:
        response = browser.get("/signin")
        assert "Secure" in response.headers["set-cookie"]


def test_a_tampered_cookie_is_a_new_anonymous_session(
    client: TestClient, seeded: Seeded
) -> None:
    sign_in(client, seeded.coordinator)
    value = client.cookies[COOKIE_NAME]
    client.cookies.set(COOKIE_NAME, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/worklist", follow_redirects=False).status_code == 303
