"""Subjects imported from a CSV file on the pages, for an admin: all or nothing with every
bad row listed by line and column, or the good rows only with the bad ones listed; not
allowed to anyone else; CSRF-checked."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Subject
from tests.helpers_subjects import SLE
from tests.helpers_web import Seeded, seed, stand_at
from tests.web.helpers import csrf_of, sign_in

IMPORT = f"/studies/{SLE}/import"
HEADER = "subject_id,site,consent_date,date_of_birth,infusion\n"
GOOD = ("IMP-001,YC3H,2026-02-01,1980-05-04,2026-02-10\n"
        "IMP-002,WTCH,2026-02-02,1981-01-01,\n")
BAD = ("IMP-003,NOPE,2026-02-03,1982-01-01,\n"
       "IMP-004,YC3H,2026-02-30,1983-01-01,\n")


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    stand_at(client)
    return seed(session)


def upload(client: TestClient, text: str, *, skip_invalid: bool = False) -> Response:
    token = csrf_of(client.get(IMPORT).text)
    data = {"csrf_token": token} | ({"skip_invalid": "yes"} if skip_invalid else {})
    return client.post(IMPORT, data=data, files={"file": ("subjects.csv", text.encode(),
                                                          "text/csv")})


def imported(session: Session) -> list[str]:
    session.flush()
    return list(session.scalars(select(Subject.subject_id).where(
        Subject.subject_id.like("IMP-%")).order_by(Subject.subject_id)))


def test_an_admin_imports_a_file(client: TestClient, session: Session, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    assert f'href="{IMPORT}"' in client.get(f"/studies/{SLE}").text
    response = upload(client, HEADER + GOOD)
    assert response.status_code == 201, response.text
    assert re.search(r'id="import-result">2 subjects enrolled with \d+ visits\.', response.text)
    assert imported(session) == ["IMP-001", "IMP-002"]


def test_one_bad_row_imports_nothing_and_every_bad_row_is_listed(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    sign_in(client, seeded.admin)
    response = upload(client, HEADER + GOOD + BAD)
    assert response.status_code == 422
    assert "Nothing was imported" in response.text
    rows = re.findall(r"<li><strong>Line (\d+)</strong> · <code>([^<]*)</code>: ", response.text)
    assert ("4", "site") in rows and ("5", "consent_date") in rows
    assert imported(session) == []
    header = upload(client, "subject_id,site\n")
    assert header.status_code == 422 and "required column is missing" in header.text


def test_the_good_rows_only(client: TestClient, session: Session, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    response = upload(client, HEADER + GOOD + BAD, skip_invalid=True)
    assert response.status_code == 201, response.text
    assert "2 invalid rows skipped" in response.text
    skipped = re.findall(r"<li><strong>Line (\d+)</strong>", response.text.split(
        'aria-label="Rows skipped"')[1])
    assert skipped == ["4", "5"]
    assert imported(session) == ["IMP-001", "IMP-002"]


def test_only_an_admin_imports(client: TestClient, session: Session, seeded: Seeded) -> None:
    sign_in(client, seeded.coordinator)
    assert client.get(IMPORT).status_code == 403
    token = csrf_of(client.get("/worklist").text)
    response = client.post(IMPORT, data={"csrf_token": token},
                           files={"file": ("s.csv", (HEADER + GOOD).encode(), "text/csv")})
    assert response.status_code == 403
    assert imported(session) == []


def test_the_form_needs_the_sessions_csrf_token(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.admin)
    response = client.post(IMPORT, files={"file": ("s.csv", (HEADER + GOOD).encode(),
                                                    "text/csv")})
    assert response.status_code == 403 and "Form expired" in response.text
