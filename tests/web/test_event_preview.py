"""The event form says, before an event is recorded, exactly which visits it cancels and
which stay as they are, for the date chosen; and nothing is recorded unseen."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditRecord, Subject, SubjectEvent, Visit
from tests.helpers_web import Seeded, seed, site_today, stand_at
from tests.web.helpers import csrf_of, sign_in

SUBJECT = "/studies/UCART-SLE/subjects/YC-001"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)
    sign_in(client, seeded.coordinator)
    return seeded


def listed(html: str, table: str) -> list[str]:
    match = re.search(rf'<table id="{table}">(.*?)</table>', html, re.S)
    return re.findall(r'data-visit="([^"]+)"', match.group(1)) if match else []


def rows(session: Session) -> list[Visit]:
    session.expire_all()
    return list(session.scalars(
        select(Visit).join(Subject, Subject.id == Visit.subject_pk)
        .where(Subject.subject_id == "YC-001").order_by(Visit.target_date, Visit.id)
    ))


def expected(session: Session, day: date) -> tuple[list[str], list[str]]:
    """The rule, read off the stored rows: a planned visit is cancelled when its window had
    not closed by ``day``, and stays as it is otherwise."""
    planned = [v for v in rows(session) if v.state == "planned" and v.window_end is not None]
    return ([v.code for v in planned if v.window_end >= day],  # type: ignore[operator]
            [v.code for v in planned if v.window_end < day])  # type: ignore[operator]


def recorded(session: Session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(SubjectEvent)) or 0,
            session.scalar(select(func.count()).select_from(AuditRecord)) or 0)


def preview(client: TestClient, **params: str) -> str:
    page = client.get(f"{SUBJECT}/events/new", params=params)
    assert page.status_code == 200, page.text
    return page.text


def test_the_form_no_longer_claims_every_visit_is_cancelled(
    client: TestClient, seeded: Seeded
) -> None:
    page = client.get(f"{SUBJECT}/events/new").text
    assert "every visit not done is cancelled" not in page
    assert "whose window had not closed by the event date are cancelled" in page
    assert 'id="event-record"' not in page  # nothing to record before a preview


@pytest.mark.parametrize("days_ago", [0, 11, 30])
def test_the_preview_lists_what_a_death_on_that_date_cancels(
    client: TestClient, session: Session, seeded: Seeded, days_ago: int
) -> None:
    day = site_today() - timedelta(days=days_ago)
    cancelled, staying = expected(session, day)
    assert cancelled and staying  # each date splits the calendar
    before = recorded(session)
    page = preview(client, type="death", date=day.isoformat())
    assert listed(page, "preview-cancelled") == cancelled
    assert listed(page, "preview-unchanged") == staying
    assert f"{len(cancelled)} visits will be cancelled" in page
    assert f"Record death on {day:%a} {day.isoformat()} and cancel {len(cancelled)} visits" in page
    assert recorded(session) == before  # a preview writes nothing


def test_recording_after_the_preview_does_what_it_said(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    day = site_today() - timedelta(days=11)
    page = preview(client, type="withdrawal", date=day.isoformat())
    cancelled, staying = listed(page, "preview-cancelled"), listed(page, "preview-unchanged")
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*id="event-record"(.*?)</form>',
                     page, re.S)
    assert form is not None
    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
    response = client.post(form.group(1), data=data | {"note": "moved abroad"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    states = {v.code: v.state for v in rows(session)}
    assert {code: states[code] for code in cancelled} == dict.fromkeys(cancelled, "cancelled")
    assert {code: states[code] for code in staying} == dict.fromkeys(staying, "planned")


def test_an_ending_event_posted_without_its_preview_shows_it_first(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    """A form from before, or another date typed since the preview: nothing is recorded
    until the preview of this very event has been shown."""
    today = site_today()
    token = csrf_of(client.get(f"{SUBJECT}/events/new").text)
    before = recorded(session)
    stale = {"csrf_token": token, "type": "death", "date": today.isoformat(),
             "confirmed": f"death|{(today - timedelta(days=30)).isoformat()}|"}
    for data in ({"csrf_token": token, "type": "death", "date": today.isoformat()}, stale):
        response = client.post(f"{SUBJECT}/events", data=data, follow_redirects=False)
        assert response.status_code == 200
        assert "Check what this event changes, then record it." in response.text
        assert listed(response.text, "preview-cancelled") == expected(session, today)[0]
    assert recorded(session) == before
    assert "cancelled" not in {v.state for v in rows(session)}  # nothing recorded


def test_a_response_that_stops_nothing_is_recorded_at_once(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    token = csrf_of(client.get(f"{SUBJECT}/events/new").text)
    response = client.post(f"{SUBJECT}/events", data={
        "csrf_token": token, "type": "response", "date": site_today().isoformat(), "value": "LLDAS",
    }, follow_redirects=False)
    assert response.status_code == 303
    assert recorded(session)[0] == 1


@pytest.mark.parametrize(("params", "status", "message"), [
    ({"type": "death", "date": "2100-01-01"}, 422, "is in the future"),
    ({"type": "death", "date": "yesterday"}, 422, "Event date: enter a date as YYYY-MM-DD"),
    ({"type": "", "date": "2026-01-01"}, 422, "Choose the kind of event"),
    ({"type": "response", "date": "2026-02-20"}, 422, "needs a value: one of DORIS, LLDAS, ACTIVE"),
])
def test_a_preview_of_an_event_that_would_be_refused_says_why(
    client: TestClient, seeded: Seeded, params: dict[str, str], status: int, message: str
) -> None:
    page = client.get(f"{SUBJECT}/events/new", params=params)
    assert page.status_code == status
    assert message in page.text
    assert 'id="event-preview"' not in page.text and 'id="event-record"' not in page.text
