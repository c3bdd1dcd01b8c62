"""The record form offers today as the visit date only once the visit's window is open."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Subject, Visit
from tests.helpers_subjects import NOW
from tests.helpers_web import Seeded, seed, site_today, stand_at
from tests.web.helpers import sign_in

SUBJECT = "/studies/UCART-SLE/subjects/YC-001"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)
    sign_in(client, seeded.coordinator)
    return seeded


def window_of(session: Session, code: str) -> tuple[date, date]:
    row = session.execute(
        select(Visit.window_start, Visit.window_end).join(Subject, Subject.id == Visit.subject_pk)
        .where(Subject.subject_id == "YC-001", Visit.code == code)
    ).one()
    return row[0], row[1]


def date_field(client: TestClient, code: str) -> tuple[str, str]:
    page = client.get(f"{SUBJECT}/visits/{code}/record", follow_redirects=False)
    assert page.status_code == 200
    field = re.search(r'<input type="date" id="actual_date"[^>]*>', page.text)
    assert field is not None
    value = re.search(r'value="([^"]*)"', field.group(0))
    maximum = re.search(r'max="([^"]*)"', field.group(0))
    assert value is not None and maximum is not None
    return value.group(1), maximum.group(1)


def stand_on(client: TestClient, seeded: Seeded, day: date) -> None:
    """The app's clock on ``day`` at the site (NOW is noon there), signed in again (the
    session of the day before has timed out)."""
    stand_at(client, NOW + (day - site_today()))
    sign_in(client, seeded.coordinator)


def test_before_the_window_opens_the_date_starts_empty(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    opens, _ = window_of(session, "M3")
    assert site_today() < opens
    value, maximum = date_field(client, "M3")
    assert (value, maximum) == ("", site_today().isoformat())
    page = client.get(f"{SUBJECT}/visits/M3/record").text
    assert f"The window opens on {opens:%a} {opens.isoformat()}" in page
    stand_on(client, seeded, opens - timedelta(days=1))  # the last day before it opens
    assert date_field(client, "M3")[0] == ""


@pytest.mark.parametrize("when", ["opens", "closes", "after"])
def test_from_the_day_the_window_opens_the_date_is_today(
    client: TestClient, session: Session, seeded: Seeded, when: str
) -> None:
    opens, closes = window_of(session, "M3")
    day = {"opens": opens, "closes": closes, "after": closes + timedelta(days=20)}[when]
    stand_on(client, seeded, day)
    assert date_field(client, "M3") == (day.isoformat(), day.isoformat())


def test_an_overdue_visit_still_defaults_to_today(client: TestClient, seeded: Seeded) -> None:
    assert date_field(client, "D28")[0] == site_today().isoformat()
