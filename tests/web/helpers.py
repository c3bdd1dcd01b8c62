"""Signing in through the real form, and reading forms back, for the page tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.deps import commit_request, get_session
from app.main import create_app
from app.services.accounts.signin import check_password_sign_in
from app.services.accounts.users import change_password, create_user
from app.settings import Settings
from tests.helpers_subjects import NOW

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The page's CSRF token; every form on the page must carry the same, non-empty one."""
    tokens = set(CSRF.findall(html))
    assert tokens, "the page has a form with a CSRF token"
    assert len(tokens) == 1 and "" not in tokens, f"forms disagree on the token: {tokens}"
    return tokens.pop()


def sign_in(client: TestClient, token: str) -> None:
    page = client.get("/signin")
    response = client.post("/signin", data={"csrf_token": csrf_of(page.text), "token": token},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/worklist"


def sign_in_as_person(client: TestClient, session: Session, password: str) -> None:
    """Sign in as the admin Dr Ana Admin (ana.admin), who signs with ``password``."""
    one_time = create_user(session, actor=SYSTEM, username="ana.admin",
                           display_name="Dr Ana Admin", role="admin", now=NOW).password
    person = check_password_sign_in(session, username="ana.admin", password=one_time,
                                    address=None, now=NOW).actor
    change_password(session, actor=person, current=one_time, new=password, now=NOW)
    page = client.get("/signin")
    done = client.post("/signin", data={"csrf_token": csrf_of(page.text),
                                        "username": "ana.admin", "password": password},
                       follow_redirects=False)
    assert done.status_code == 303, done.text


def post_form(client: TestClient, page_url: str, action: str, data: dict[str, str]) -> Response:
    """GET a page, then POST ``data`` with that page's CSRF token (no redirects followed)."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf_token": csrf_of(page.text), **data},
                       follow_redirects=False)


@contextmanager
def other_client(settings: Settings, session: Session) -> Iterator[TestClient]:
    """A second browser on the same test transaction, with its own settings."""
    app = create_app(settings)

    def shared() -> Iterator[Session]:
        yield session
        commit_request(session)

    app.dependency_overrides[get_session] = shared
    with TestClient(app, raise_server_exceptions=False) as browser:
        yield browser
