"""Correcting and removing an event on the subject page; a transferred subject's page at
each site; the worklist's subjects filter."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, SubjectEvent
from app.schedule.lifecycle import EventType, Lifecycle
from app.services.subjects.events import record_event
from app.services.tokens import authenticate
from app.services.worklist.counts import status_counts
from app.services.worklist.page import worklist
from tests.helpers_subjects import EDC, NOW, SLE
from tests.helpers_web import OTHER_SITE, OWN_SITE, Seeded, seed, site_today, stand_at
from tests.web.helpers import post_form, sign_in

SUBJECT = "/studies/UCART-SLE/subjects/YC-001"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)
    return seeded


def _withdraw(session: Session) -> int:
    _, event = record_event(session, study=SLE, subject_id="YC-001", type=EventType.WITHDRAWAL,
                            day=site_today() - timedelta(days=2), actor=EDC, now=NOW)
    session.commit()
    return event.id


def _last_action(session: Session) -> str | None:
    return session.scalar(select(AuditRecord.action).where(AuditRecord.subject_id == "YC-001")
                          .order_by(AuditRecord.id.desc()).limit(1))


def test_correct_an_event_on_its_form(client: TestClient, session: Session,
                                      seeded: Seeded) -> None:
    event_id = _withdraw(session)
    sign_in(client, seeded.coordinator)
    page = client.get(SUBJECT).text
    assert f'href="{SUBJECT}/events/{event_id}"' in page and "Correct or remove" in page
    form = f"{SUBJECT}/events/{event_id}"
    day = (site_today() - timedelta(days=1)).isoformat()
    no_reason = post_form(client, form, form, {"date": day, "reason": ""})
    assert no_reason.status_code == 422 and "An event correction needs a reason" in no_reason.text
    future = post_form(client, form, form, {"date": (site_today() + timedelta(days=1))
                                            .isoformat(), "reason": "typo"})
    assert future.status_code == 422 and "is in the future" in future.text
    done = post_form(client, form, form, {"date": day, "reason": "typo in the date"})
    assert done.status_code == 303
    assert done.headers["location"] == f"{SUBJECT}?notice=event-corrected"
    session.expire_all()
    assert session.get(SubjectEvent, event_id).date.isoformat() == day  # type: ignore[union-attr]
    assert _last_action(session) == "event.corrected"
    assert "Event corrected" in client.get(done.headers["location"]).text
    without_token = client.post(form, data={"date": day, "reason": "x"}, follow_redirects=False)
    assert without_token.status_code == 403  # the CSRF check: nothing changed
    assert _last_action(session) == "event.corrected"


def test_remove_an_event_on_its_form(client: TestClient, session: Session,
                                     seeded: Seeded) -> None:
    event_id = _withdraw(session)
    sign_in(client, seeded.coordinator)
    form, action = f"{SUBJECT}/events/{event_id}", f"{SUBJECT}/events/{event_id}/removal"
    refused = post_form(client, form, action, {"reason": " "})
    assert refused.status_code == 422 and "Removing an event needs a reason" in refused.text
    done = post_form(client, form, action, {"reason": "recorded on the wrong subject"})
    assert done.status_code == 303
    assert done.headers["location"] == f"{SUBJECT}?notice=event-removed"
    session.expire_all()
    assert session.get(SubjectEvent, event_id) is None
    assert _last_action(session) == "event.removed"
    assert client.get(form).status_code == 404


def test_a_monitor_gets_no_correction_form(client: TestClient, session: Session,
                                           seeded: Seeded) -> None:
    event_id = _withdraw(session)
    sign_in(client, seeded.monitor)
    assert "Correct or remove" not in client.get(SUBJECT).text
    assert client.get(f"{SUBJECT}/events/{event_id}").status_code == 403


def test_a_transferred_subject_at_each_site(client: TestClient, session: Session,
                                            seeded: Seeded) -> None:
    # Infused 40 days ago: D14 (26 days ago) stays with YC3H, D28 (12 days ago) moves.
    record_event(session, study=SLE, subject_id="YC-001", type=EventType.TRANSFER,
                 day=site_today() - timedelta(days=20), value=OTHER_SITE, actor=EDC, now=NOW)
    session.commit()
    sign_in(client, seeded.coordinator)  # the old site
    page = client.get(SUBJECT)
    assert page.status_code == 200
    assert f"{OTHER_SITE} ·" in page.text and "Record an event" not in page.text
    assert f'href="{SUBJECT}/visits/D14/record' in page.text
    assert f'href="{SUBJECT}/visits/D28/record' not in page.text
    refused = post_form(client, f"{SUBJECT}/visits/D14/record", f"{SUBJECT}/visits/D28/record",
                        {"actual_date": site_today().isoformat(),
                         "confirmed_date": site_today().isoformat()})
    assert refused.status_code == 403 and "belongs to site WTCH" in refused.text
    client.cookies.clear()
    sign_in(client, seeded.other_coordinator)  # the new site
    page = client.get(SUBJECT)
    assert "Record an event" in page.text
    assert f'href="{SUBJECT}/visits/D28/record' in page.text
    # The site the subject is at now may document the earlier visits too.
    assert f'href="{SUBJECT}/visits/D14/record' in page.text
    assert re.search(r"site WTCH", page.text) and re.search(rf"site {OWN_SITE}", page.text)


def test_the_worklist_filters_subjects_by_lifecycle(client: TestClient, session: Session,
                                                    seeded: Seeded) -> None:
    sign_in(client, seeded.coordinator)
    actor = authenticate(session, seeded.coordinator, now=NOW)
    page = client.get("/worklist").text
    assert '<option value="active" selected>Still on study</option>' in page
    overdue = sum(c.overdue for c in status_counts(session, actor=actor, now=NOW))
    assert overdue > 0 and f'id="count-overdue">{overdue}<' in page
    _withdraw(session)
    page = client.get("/worklist").text
    assert 'id="count-overdue">0<' in page and 'data-subject="YC-001"' not in page
    ended = client.get("/worklist", params={"lifecycle": "ended", "tab": "overdue"}).text
    assert '<option value="ended" selected>Left the study</option>' in ended
    assert "lifecycle=ended" in ended  # the tabs keep the filter
    rows = worklist(session, actor=actor, lifecycles=frozenset(set(Lifecycle) - {
        Lifecycle.ACTIVE}), now=NOW).rows
    assert len(re.findall(r'data-subject="YC-001"', ended)) == len(
        [r for r in rows if r.status.value == "overdue"])
