"""What a site's digest says: sections, order, study filter, the site's local date."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor, Role
from app.errors import NotFound
from app.models import DigestSend, Subject
from app.services.digest.content import build_site_digest, preview_site_digest, site_local_date
from app.services.digest.mail import compose, group_recipients, render, subject_line
from app.services.digest.recipients import Recipient
from tests.helpers_digest import (
    DAY,
    DOB,
    MM,
    NOW,
    SENDER,
    SLE,
    World,
    add_visit,
    build_world,
    d,
)

BASE = "https://followup.example"


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def keys(rows: object) -> list[tuple[str, str]]:
    return [(row.subject_id, row.visit_code) for row in rows]  # type: ignore[attr-defined]


def test_sections_and_their_order(session: Session, world: World) -> None:
    digest = build_site_digest(session, site=world.yc3h, local_date=DAY, base_url=BASE)
    assert keys(digest.overdue) == [("YC3H-001", "D14"), ("YC3H-002", "D28"), ("YC3H-003", "M3")]
    assert [row.days_overdue for row in digest.overdue] == [16, 4, 1]
    # Closing soonest first; M6 has not opened yet but closes within 3 days.
    assert keys(digest.due) == [("YC3H-001", "D28"), ("YC3H-003", "M6"), ("YC3H-002", "M3")]
    assert [row.closes_in_days for row in digest.due] == [2, 3, 18]
    assert keys(digest.upcoming) == [("YC3H-001", "M3"), ("YC3H-003", "M9")]
    assert [row.opens_in_days for row in digest.upcoming] == [4, 7]
    assert [(s.study, s.overdue, s.due, s.upcoming) for s in digest.studies] == [
        (MM, 1, 1, 1), (SLE, 2, 2, 1),
    ]
    assert digest.worklist_url == f"{BASE}/worklist?site=YC3H"
    assert not digest.all_clear


def test_a_day_later_the_due_visit_closing_tomorrow_is_still_due(
    session: Session, world: World
) -> None:
    digest = build_site_digest(session, site=world.yc3h, local_date=d(3, 5), base_url=BASE)
    # D28 closed on 4 March: overdue by one day on the 5th; M6 closes on the 5th.
    assert ("YC3H-001", "D28") in keys(digest.overdue)
    assert digest.due[0].visit_code == "M6" and digest.due[0].closes_in_days == 0


def test_study_filter_keeps_only_that_study(session: Session, world: World) -> None:
    digest = build_site_digest(session, site=world.yc3h, local_date=DAY, base_url=BASE)
    only_mm = digest.for_study(MM, base_url=BASE)
    assert keys(only_mm.overdue) == [("YC3H-003", "M3")]
    assert {row.study for row in (*only_mm.due, *only_mm.upcoming)} == {MM}
    assert [s.study for s in only_mm.studies] == [MM]
    assert only_mm.worklist_url == f"{BASE}/worklist?site=YC3H&study={MM}"
    assert subject_line(only_mm) == f"[followup] YC3H {MM} 2026-03-02 (Mon): 1 overdue visit"


def test_all_clear_site(session: Session, world: World) -> None:
    digest = build_site_digest(session, site=world.paris, local_date=DAY, base_url=BASE)
    assert digest.all_clear
    assert [(s.study, s.overdue) for s in digest.studies] == [(SLE, 0)]
    assert subject_line(digest) == "[followup] PAR1 2026-03-02 (Mon): all clear"
    text, html = render(digest)
    assert "All clear" in text and "All clear" in html


def test_site_local_date_whatever_the_server_time_zone(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 17:00 UTC on 1 March it is 09:00 on 1 March in Los Angeles and 01:00 on
    2 March in Shanghai: the Shanghai digest is the 2 March one, with M3 overdue."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert datetime.fromtimestamp(NOW.timestamp()).day == 1  # the server's own date
        assert site_local_date(world.yc3h, NOW) == DAY
        assert site_local_date(world.paris, NOW) == d(3, 1)
        admin = Actor(name="admin", role=Role.ADMIN)
        digest = preview_site_digest(session, site="YC3H", local_date=None, now=NOW,
                                     base_url=BASE, actor=admin)
        assert digest.local_date == DAY
        assert ("YC3H-003", "M3", 1) in [
            (r.subject_id, r.visit_code, r.days_overdue) for r in digest.overdue
        ]
        # One hour earlier it was still 1 March in Shanghai: M3 was due, closing today.
        before = preview_site_digest(session, site="YC3H", local_date=None,
                                     now=datetime(2026, 3, 1, 15, 59, tzinfo=UTC),
                                     base_url=BASE, actor=admin)
        assert before.local_date == d(3, 1)
        assert ("YC3H-003", "M3") in keys(before.due)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_preview_visibility(session: Session, world: World) -> None:
    other_site = Actor(name="c", role=Role.COORDINATOR, sites=frozenset({"WTCH"}))
    with pytest.raises(NotFound):
        preview_site_digest(session, site="YC3H", local_date=DAY, now=NOW, base_url=BASE,
                            actor=other_site)
    with pytest.raises(NotFound):
        preview_site_digest(session, site="NOPE", local_date=DAY, now=NOW, base_url=BASE,
                            actor=Actor(name="a", role=Role.ADMIN))
    edc_mm = Actor(name="e", role=Role.EDC, studies=frozenset({MM}))
    digest = preview_site_digest(session, site="YC3H", local_date=DAY, now=NOW, base_url=BASE,
                                 actor=edc_mm)
    assert {row.study for row in (*digest.overdue, *digest.due, *digest.upcoming)} == {MM}
    assert [s.study for s in digest.studies] == [MM]


def test_recipients_grouped_by_filter() -> None:
    groups = group_recipients([
        Recipient("YC3H", "b@x.example", SLE),
        Recipient("YC3H", "a@x.example", None),
        Recipient("YC3H", "c@x.example", None),
        Recipient("YC3H", "a@x.example", SLE),
    ])
    assert [(g.study, g.emails) for g in groups] == [
        (None, ("a@x.example", "c@x.example")), (SLE, ("a@x.example", "b@x.example")),
    ]


def test_the_html_part_escapes_protocol_text(session: Session, world: World) -> None:
    digest = build_site_digest(session, site=world.yc3h, local_date=DAY, base_url=BASE)
    text, html = render(digest)
    assert "Day 14 <clinic>" in text
    assert "Day 14 &lt;clinic&gt;" in html and "<clinic>" not in html


def test_no_date_of_birth_in_either_part(session: Session, world: World) -> None:
    digest = build_site_digest(session, site=world.yc3h, local_date=DAY, base_url=BASE)
    message = compose(digest, to=["a@x.example"], sender=SENDER, now=NOW)
    for part in message.iter_parts():
        content = part.get_content()  # type: ignore[attr-defined]
        assert DOB.isoformat() not in content and "1971" not in content
        assert "YC3H-001" in content


def test_derived_misses_are_newly_missed_once_and_never_overdue(
    session: Session, world: World
) -> None:
    """Visits that count as missed (derived) leave the overdue section; the digest lists
    those that began to count since the previous digest sent in full (the first digest:
    the last 7 days)."""
    s1 = session.scalars(select(Subject).where(Subject.subject_id == "YC3H-001")).one()
    old = add_visit(session, s1, "W1", d(1, 20), d(1, 22))
    old.missed_from = d(2, 20)  # before the first digest's 7 days
    recent = add_visit(session, s1, "W2", d(2, 1), d(2, 5))
    recent.missed_from = d(2, 28)
    today = add_visit(session, s1, "W3", d(2, 6), d(2, 8))
    today.missed_from = DAY
    later = add_visit(session, s1, "W4", d(2, 9), d(2, 11))
    later.missed_from = d(3, 3)  # still overdue on 2 March
    session.flush()
    first = build_site_digest(session, site=world.yc3h, local_date=DAY, base_url=BASE)
    assert (first.previous_digest, first.missed_after) == (None, d(2, 23))
    assert keys(first.newly_missed) == [("YC3H-001", "W2"), ("YC3H-001", "W3")]
    assert [(r.missed_from, r.days_overdue) for r in first.newly_missed] == [
        (d(2, 28), 25), (DAY, 22)]
    overdue = keys(first.overdue)
    assert ("YC3H-001", "W4") in overdue
    others = set(overdue) | set(keys(first.due)) | set(keys(first.upcoming))
    assert not {("YC3H-001", code) for code in ("W1", "W2", "W3")} & others
    assert [(s.study, s.newly_missed) for s in first.studies] == [(MM, 0), (SLE, 2)]
    assert subject_line(first) == (
        "[followup] YC3H 2026-03-02 (Mon): 4 overdue visits, 2 newly missed")
    # A partial send (some messages not accepted) is not a previous digest; a sent one is.
    session.add(DigestSend(site_id=world.yc3h.id, local_date=d(2, 27), state="partial",
                           claimed_at=NOW, recipients=1))
    session.add(DigestSend(site_id=world.yc3h.id, local_date=d(2, 28), state="sent",
                           claimed_at=NOW, sent_at=NOW, recipients=1))
    session.flush()
    second = build_site_digest(session, site=world.yc3h, local_date=DAY, base_url=BASE)
    assert (second.previous_digest, second.missed_after) == (d(2, 28), d(2, 28))
    assert keys(second.newly_missed) == [("YC3H-001", "W3")]
    assert keys(second.for_study(MM, base_url=BASE).newly_missed) == []
    text, html = render(second)
    assert "NEWLY MISSED: 1 visit began to count as missed since the last digest" \
        " (2026-02-28 (Sat))" in text
    assert "- since 2026-03-02 (Mon): YC3H-001 (UCART-SLE) W3 Visit W3;" in text
    assert "Newly missed: 1 visit" in html and "<td>2026-03-02 (Mon)</td>" in html
