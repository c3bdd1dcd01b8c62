"""A page refuses a query parameter it does not take, with a 422 page naming it, as the
API does, rather than showing an unfiltered list as if the filter had applied."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers_web import Seeded, seed, stand_at
from tests.web.helpers import sign_in


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)
    sign_in(client, seeded.coordinator)
    return seeded


@pytest.mark.parametrize(("url", "misspelt", "accepted"), [
    ("/worklist", {"stauts": "overdue"}, "cursor, lifecycle, notice, site, study, tab, visit"),
    ("/studies", {"study": "UCART-SLE"}, None),
    ("/studies/UCART-SLE", {"page": "2"}, "cursor"),
    ("/studies/UCART-SLE/subjects/YC-001", {"as_of": "2026-01-01"}, "notice, visit"),
    ("/feeds", {"site": "YC3H"}, "notice"),
])
def test_a_list_page_refuses_an_unknown_parameter(
    client: TestClient, seeded: Seeded, url: str, misspelt: dict[str, str],
    accepted: str | None,
) -> None:
    assert client.get(url).status_code == 200
    page = client.get(url, params=misspelt)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Unknown query parameter</h1>" in page.text
    assert f"Unknown query parameter(s): {', '.join(misspelt)}" in page.text
    if accepted is None:
        assert "this address takes no query parameters" in page.text
    else:
        assert f"accepted: {accepted}" in page.text


def test_the_worklist_takes_its_own_parameters(client: TestClient, seeded: Seeded) -> None:
    page = client.get("/worklist", params={"tab": "overdue", "study": "UCART-SLE",
                                           "site": "YC3H", "notice": "missed", "visit": "D14"})
    assert page.status_code == 200 and "Visit D14 marked as missed." in page.text


@pytest.mark.parametrize(("name", "value"), [("tab", "overdeu"), ("lifecycle", "withdrawn")])
def test_the_worklist_refuses_an_unknown_tab_or_lifecycle(
    client: TestClient, seeded: Seeded, name: str, value: str,
) -> None:
    page = client.get("/worklist", params={name: value})
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    shown = page.text.replace("&#39;", "'")
    assert f"{name.capitalize()} must be one of" in shown and f"got {value!r}" in shown
