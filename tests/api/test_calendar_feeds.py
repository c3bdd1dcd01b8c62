"""iCalendar feeds, read back with an independent parser (the ``ics`` package)."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlsplit

import ics
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditRecord, Visit
from app.services.subjects.anchors import set_anchor
from app.services.visits import complete_visit
from tests.helpers_subjects import EDC, NOW, SLE, bearer
from tests.helpers_web import OTHER_SITE, OWN_SITE, Seeded, seed, site_today, stand_at

SUBJECT_URL = "/api/v1/studies/{study}/subjects/{subject}/calendar.ics"


@pytest.fixture
def seeded(session: Session, client: TestClient) -> Seeded:
    seeded = seed(session)
    stand_at(client)  # the feeds' clock reads the instant the data is dated from
    return seeded


def parse(body: bytes) -> dict[str, ics.Event]:
    calendar = ics.Calendar(body.decode("utf-8"))
    return {event.uid: event for event in calendar.events}


def rows_of(session: Session, subject_id: str) -> dict[str, Visit]:
    from app.models import Subject

    return {
        v.code: v
        for v in session.scalars(
            select(Visit).join(Subject, Subject.id == Visit.subject_pk)
            .where(Subject.subject_id == subject_id)
        )
    }


def sequence(event: ics.Event) -> int:
    return int(next(x.value for x in event.extra if x.name == "SEQUENCE"))


def subject_feed(client: TestClient, token: str, subject: str) -> bytes:
    response = client.get(SUBJECT_URL.format(study=SLE, subject=subject), headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    return response.content


def test_subject_feed_round_trips_every_window(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    events = parse(subject_feed(client, seeded.coordinator, seeded.own_subject))
    today = site_today()
    # Every dated visit that applies: not the optional ones whose window passed undone.
    rows = {code: v for code, v in rows_of(session, seeded.own_subject).items()
            if v.window_start is not None and v.window_end is not None
            and not (v.optional and v.state == "planned" and v.window_end < today)}
    assert rows, "the seeded subject has dated visits"
    assert set(events) == {f"{SLE}-{seeded.own_subject}-{code}@followup" for code in rows}
    for code, row in rows.items():
        event = events[f"{SLE}-{seeded.own_subject}-{code}@followup"]
        assert event.all_day
        assert event.name == f"{seeded.own_subject} {code}"  # subject id and visit code only
        assert event.begin.date() == row.window_start
        # DTEND is exclusive: the day after the window's last day.
        assert event.end.date() == row.window_end + timedelta(days=1)
        assert event.last_modified is not None
        assert sequence(event) > 0


def test_summary_names_no_patient_data(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    body = subject_feed(client, seeded.coordinator, seeded.own_subject).decode()
    assert "1980" not in body  # the date of birth of the seeded subject
    for event in parse(body.encode()).values():
        assert event.name is not None
        assert event.name.split()[0] == seeded.own_subject


def test_rescheduled_visit_keeps_its_uid(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    uid = f"{SLE}-{seeded.own_subject}-M3@followup"
    before = parse(subject_feed(client, seeded.coordinator, seeded.own_subject))[uid]
    infusion = site_today() - timedelta(days=33)  # a week later than enrolled
    set_anchor(session, study=SLE, subject_id=seeded.own_subject, name="infusion", day=infusion,
               actual=True, reason="infusion date mistyped", actor=EDC, now=NOW)
    session.commit()
    after = parse(subject_feed(client, seeded.coordinator, seeded.own_subject))[uid]
    assert after.begin.date() != before.begin.date()
    assert after.begin.date() - before.begin.date() == timedelta(days=7)
    assert after.uid == before.uid
    assert sequence(after) >= sequence(before)
    assert after.last_modified >= before.last_modified


def test_completed_and_cancelled_visits_in_the_subject_feed(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    row = rows_of(session, seeded.own_subject)["D28"]
    assert row.window_end is not None
    complete_visit(session, study=SLE, subject_id=seeded.own_subject, code="D28",
                   actual_date=row.window_end, actor=EDC, now=NOW)
    session.commit()
    body = subject_feed(client, seeded.coordinator, seeded.own_subject).decode()
    event = parse(body.encode())[f"{SLE}-{seeded.own_subject}-D28@followup"]
    assert event.status == "CONFIRMED"
    assert f"Done {row.window_end.isoformat()}" in (event.description or "")


def test_subject_feed_of_another_site_is_not_found(client: TestClient, seeded: Seeded) -> None:
    url = SUBJECT_URL.format(study=SLE, subject=seeded.other_subject)
    response = client.get(url, headers=bearer(seeded.coordinator))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_subject_feed_needs_a_token(client: TestClient, seeded: Seeded) -> None:
    response = client.get(SUBJECT_URL.format(study=SLE, subject=seeded.own_subject))
    assert response.status_code == 401


# -- per-site feeds -------------------------------------------------------------------


def create_feed(client: TestClient, token: str, site: str = OWN_SITE) -> dict[str, str]:
    response = client.post(f"/api/v1/sites/{site}/feed-tokens", headers=bearer(token))
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_site_feed_lists_only_the_sites_visits_to_do(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    created = create_feed(client, seeded.coordinator)
    assert created["url"].startswith("http://testserver/api/v1/sites/YC3H/calendar.ics?token=fd_")
    assert created["webcal_url"].startswith("webcal://testserver/")
    done = rows_of(session, seeded.own_subject)["D14"]
    complete_visit(session, study=SLE, subject_id=seeded.own_subject, code="D14",
                   actual_date=site_today() - timedelta(days=1), actor=EDC, now=NOW)
    session.commit()

    response = client.get(local_path(created["url"]))  # no Authorization header
    assert response.status_code == 200, response.text
    events = parse(response.content)
    subjects = {uid.split("-")[2] + "-" + uid.split("-")[3].split("@")[0] for uid in events}
    assert subjects == {seeded.own_subject}  # the other site's subject is absent
    assert f"{SLE}-{seeded.own_subject}-{done.code}@followup" not in events  # done
    today = site_today()
    overdue = events[f"{SLE}-{seeded.own_subject}-D28@followup"]
    assert overdue.end.date() <= today  # still listed: overdue
    ahead = events[f"{SLE}-{seeded.own_subject}-M3@followup"]
    assert ahead.begin.date() > today
    for event in events.values():
        assert event.end.date() > event.begin.date()


def test_feed_token_is_site_bound_and_revocable(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    created = create_feed(client, seeded.coordinator)
    token = created["url"].split("token=")[1]
    other = client.get(f"/api/v1/sites/{OTHER_SITE}/calendar.ics", params={"token": token})
    assert other.status_code == 404  # the token opens its own site only
    assert b"WT-00" not in other.content
    listed = client.get(f"/api/v1/sites/{OWN_SITE}/feed-tokens", headers=bearer(seeded.admin))
    assert [t["id"] for t in listed.json()] == [created["id"]]
    assert token not in listed.text

    gone = client.delete(f"/api/v1/sites/{OWN_SITE}/feed-tokens/{created['id']}",
                         headers=bearer(seeded.coordinator))
    assert gone.status_code == 204
    assert client.get(local_path(created["url"])).status_code == 401
    again = client.delete(f"/api/v1/sites/{OWN_SITE}/feed-tokens/{created['id']}",
                          headers=bearer(seeded.coordinator))
    assert again.status_code == 204  # revoking twice changes nothing
    actions = session.scalars(
        select(AuditRecord.action).where(AuditRecord.entity == "feed_token")
        .order_by(AuditRecord.id)
    ).all()
    assert actions == ["feed_token.created", "feed_token.revoked"]


def test_a_wrong_feed_token_is_refused(client: TestClient, seeded: Seeded) -> None:
    response = client.get(f"/api/v1/sites/{OWN_SITE}/calendar.ics",
                          params={"token": "fd_" + "x" * 40})
    assert response.status_code == 401
    assert client.get(f"/api/v1/sites/{OWN_SITE}/calendar.ics").status_code == 422


@pytest.mark.parametrize(
    ("who", "status"),
    [("coordinator", 201), ("admin", 201), ("other_coordinator", 404), ("monitor", 403)],
)
def test_who_may_create_a_site_feed(
    client: TestClient, seeded: Seeded, who: str, status: int
) -> None:
    token = getattr(seeded, who)
    response = client.post(f"/api/v1/sites/{OWN_SITE}/feed-tokens", headers=bearer(token))
    assert response.status_code == status, response.text


def test_revoking_another_sites_feed_token_is_not_found(
    client: TestClient, seeded: Seeded
) -> None:
    created = create_feed(client, seeded.coordinator)
    response = client.delete(f"/api/v1/sites/{OWN_SITE}/feed-tokens/{created['id']}",
                             headers=bearer(seeded.other_coordinator))
    assert response.status_code == 404
    wrong_site = client.delete(f"/api/v1/sites/{OTHER_SITE}/feed-tokens/{created['id']}",
                               headers=bearer(seeded.admin))
    assert wrong_site.status_code == 404


def test_an_all_day_event_is_one_day_per_window_day() -> None:
    from datetime import UTC, datetime

    from app.schedule.status import Status
    from app.services.feeds import FeedVisit, render_ics

    moment = datetime(2026, 3, 1, tzinfo=UTC)
    visit = FeedVisit(SLE, "S-1", "D0", "Infusion", Status.DUE, date(2026, 2, 28),
                      date(2026, 2, 28), date(2026, 2, 28), None, moment)
    body = render_ics([visit], name="x")
    assert b"DTSTART;VALUE=DATE:20260228" in body
    assert b"DTEND;VALUE=DATE:20260301" in body  # exclusive, across the month end
    (event,) = parse(body).values()
    assert (event.end - event.begin).days == 1


def test_a_feed_closes_with_the_token_that_made_it(
    client: TestClient, session: Session, seeded: Seeded
) -> None:
    created = create_feed(client, seeded.coordinator)
    assert client.get(local_path(created["url"])).status_code == 200
    revoked = client.delete("/api/v1/tokens/coord-yc3h", headers=bearer(seeded.admin))
    assert revoked.status_code == 200, revoked.text
    assert client.get(local_path(created["url"])).status_code == 401
    # A feed of another, still valid token keeps working.
    kept = create_feed(client, seeded.admin)
    assert client.get(local_path(kept["url"])).status_code == 200
