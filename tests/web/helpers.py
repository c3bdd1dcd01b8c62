"""Signing in through the real form, and reading forms back, for the page tests."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response

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


def post_form(client: TestClient, page_url: str, action: str, data: dict[str, str]) -> Response:
    """GET a page, then POST ``data`` with that page's CSRF token (no redirects followed)."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf_token": csrf_of(page.text), **data},
                       follow_redirects=False)
