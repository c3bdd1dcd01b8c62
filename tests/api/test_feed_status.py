"""The calendar feeds say each visit's computed status, and leave out what does not apply."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import ics
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Subject, Visit
from app.schedule.lifecycle import EventType
from app.services.subjects.events import record_event
from app.services.visits import complete_visit, mark_missed
from tests.helpers_subjects import EDC, NOW, SLE, bearer
from tests.helpers_web import Seeded, enrol_recent, seed, site_today, stand_at


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)
    return seeded


def uid(subject: str, code: str) -> str:
    return f"{SLE}-{subject}-{code}@followup"


def events_of(body: bytes) -> dict[str, ics.Event]:
    return {event.uid: event for event in ics.Calendar(body.decode("utf-8")).events}


def subject_events(client: TestClient, token: str, subject: str) -> dict[str, ics.Event]:
    response = client.get(f"/api/v1/studies/{SLE}/subjects/{subject}/calendar.ics",
                          headers=bearer(token))
    assert response.status_code == 200, response.text
    return events_of(response.content)


def site_events(client: TestClient, token: str) -> dict[str, ics.Event]:
    created = client.post("/api/v1/sites/YC3H/feed-tokens", headers=bearer(token)).json()
    parts = urlsplit(created["url"])
    response = client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200, response.text
    return events_of(response.content)


def category(event: ics.Event) -> str:
    (only,) = event.categories
    return str(only)


def not_applicable(session: Session, subject: str) -> list[str]:
    """Optional visits whose window passed undone: stored as planned, not applicable."""
    today = site_today()
    return list(session.scalars(
        select(Visit.code).join(Subject, Subject.id == Visit.subject_pk)
        .where(Subject.subject_id == subject, Visit.optional.is_(True),
               Visit.state == "planned", Visit.window_end < today)
    ))


def test_the_subject_feed_shows_each_visits_status(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    subject = seeded.own_subject
    complete_visit(session, study=SLE, subject_id=subject, code="D0",
                   actual_date=site_today() - timedelta(days=40), actor=EDC, now=NOW)
    mark_missed(session, study=SLE, subject_id=subject, code="D14", reason="in hospital",
                actor=EDC, now=NOW)
    session.commit()
    events = subject_events(client, seeded.coordinator, subject)
    d28 = events[uid(subject, "D28")]
    assert category(d28) == "overdue"
    assert "Status: overdue (9 days)" in (d28.description or "")
    assert category(events[uid(subject, "D0")]) == "completed"
    assert category(events[uid(subject, "D14")]) == "missed"
    assert category(events[uid(subject, "M3")]) == "scheduled"
    assert all(category(e) != "planned" for e in events.values())
    gone = not_applicable(session, subject)
    assert gone  # D-2 and D-1, the optional rest days
    assert not {uid(subject, code) for code in gone} & set(events)


def test_after_a_death_the_cancelled_visits_come_as_cancelled(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    subject = seeded.own_subject
    record_event(session, study=SLE, subject_id=subject, type=EventType.DEATH,
                 day=site_today(), actor=EDC, now=NOW)
    session.commit()
    events = subject_events(client, seeded.coordinator, subject)
    m3 = events[uid(subject, "M3")]
    assert (m3.status, category(m3)) == ("CANCELLED", "cancelled")
    assert category(events[uid(subject, "D28")]) == "missed undocumented"  # closed before the death
    # A coordinator's calendar of the site has no cancelled visit at all.
    site = site_events(client, seeded.coordinator)
    # Nor anything of a subject who died: nothing there is to do any more.
    assert uid(subject, "M3") not in site and uid(subject, "D28") not in site


def test_the_site_feed_lists_only_what_is_to_do_with_its_status(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    enrol_recent(session, "YC-009", infused_days_ago=9)
    session.commit()
    events = site_events(client, seeded.coordinator)
    assert category(events[uid(seeded.own_subject, "D28")]) == "overdue"
    assert uid("YC-009", "D0") not in events  # completed at enrolment by its infusion
    assert category(events[uid("YC-009", "D14")]) == "upcoming"
    statuses = {category(e) for e in events.values()}
    assert statuses <= {"overdue", "due", "upcoming", "scheduled"}
    gone = not_applicable(session, seeded.own_subject)
    assert gone and not {uid(seeded.own_subject, code) for code in gone} & set(events)
