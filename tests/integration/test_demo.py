"""The demo generator: realistic history, reproducible from the seed, through the bulk path."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import SYSTEM
from app.errors import Conflict
from app.models import AnchorDateRow, Site, Subject, SubjectEvent, Visit
from app.services.demo import demo_text, generate
from app.services.subjects.resync import resync_batch
from tests.helpers_subjects import seed_text

AS_OF = date(2026, 3, 1)


def snapshot(session: Session) -> list[tuple[object, ...]]:
    """Every generated row, by natural keys (no surrogate ids, no timestamps)."""
    subjects = session.execute(
        select(Subject.subject_id, Site.code, Subject.consent_date, Subject.date_of_birth,
               Subject.lifecycle).join(Site, Site.id == Subject.site_id)
        .order_by(Subject.subject_id)).all()
    visits = session.execute(
        select(Subject.subject_id, Visit.code, Visit.state, Visit.target_date,
               Visit.window_start, Visit.window_end, Visit.actual_date, Visit.assessments)
        .join(Subject).order_by(Subject.subject_id, Visit.code)).all()
    events = session.execute(
        select(Subject.subject_id, SubjectEvent.type, SubjectEvent.date, SubjectEvent.value)
        .join(Subject).order_by(Subject.subject_id, SubjectEvent.type)).all()
    anchors = session.execute(
        select(Subject.subject_id, AnchorDateRow.name, AnchorDateRow.date, AnchorDateRow.actual)
        .join(Subject).order_by(Subject.subject_id, AnchorDateRow.name)).all()
    return [tuple(r) for r in (*subjects, *visits, *events, *anchors)]


def run(session: Session, seed: int) -> list[tuple[object, ...]]:
    savepoint = session.begin_nested()
    result = generate(session, actor=SYSTEM, subjects=300, sites=4, as_of=AS_OF, seed=seed)
    assert result.subjects == 300
    rows = snapshot(session)
    savepoint.rollback()
    session.expunge_all()  # the next run may reuse the rolled-back ids
    return rows


def test_the_same_seed_gives_the_same_rows(session: Session) -> None:
    first, again, other = run(session, 7), run(session, 7), run(session, 8)
    assert first == again
    assert first != other


def test_history_looks_like_a_real_trial(session: Session) -> None:
    generate(session, actor=SYSTEM, subjects=400, sites=5, as_of=AS_OF, seed=3)
    sites = session.execute(select(Site.code, Site.time_zone).where(Site.code.like("DEMO%"))).all()
    assert len(sites) == 5 and len({tz for _, tz in sites}) == 5
    states = Counter(session.scalars(select(Visit.state)))
    past = session.scalars(select(Visit).where(Visit.window_end < AS_OF)).all()
    done = [v for v in past if v.state == "completed"]
    in_window = [v for v in done if v.window_start <= v.actual_date <= v.window_end]  # type: ignore[operator]
    overdue = [v for v in past if v.state == "planned" and not v.optional]
    assert states["missed"] and states["cancelled"] and states["pending"]
    assert len(in_window) > 0.8 * len(done) and len(done) > len(in_window)  # some out of window
    assert 0 < len(overdue) < 0.15 * len(past)
    assert all(v.actual_date <= AS_OF for v in done)  # type: ignore[operator]
    lifecycles = Counter(session.scalars(select(Subject.lifecycle)))
    assert lifecycles["died"] and lifecycles["withdrawn"] and lifecycles["active"] > 300
    events = Counter(session.scalars(select(SubjectEvent.type)))
    assert events["progression"] and events["response"]
    transplants = session.scalars(select(AnchorDateRow).where(AnchorDateRow.name == "transplant"))
    assert any(a.actual for a in transplants)
    assert session.scalars(select(Visit).where(Visit.code == "HSCT-D14",
                                               Visit.state == "completed")).first() is not None


def test_stored_rows_are_those_a_resync_would_store(session: Session) -> None:
    """The bulk path stores what a change of the subject would: the derived misses too
    (a later visit done after one left open), so a resync finds nothing to change."""
    generate(session, actor=SYSTEM, subjects=200, sites=3, as_of=AS_OF, seed=5)
    missed = session.scalars(select(Visit).where(Visit.missed_from.is_not(None),
                                                 Visit.state == "planned")).all()
    assert missed and all(v.window_end < v.missed_from <= AS_OF for v in missed)  # type: ignore[operator]
    batch = resync_batch(session, actor=SYSTEM, now=datetime(2026, 3, 1, tzinfo=UTC),
                         limit=1000)
    assert batch.examined == 200 and batch.changed == ()


def test_a_second_run_is_refused(session: Session) -> None:
    generate(session, actor=SYSTEM, subjects=5, sites=1, as_of=AS_OF)
    with pytest.raises(Conflict):
        generate(session, actor=SYSTEM, subjects=5, sites=1, as_of=AS_OF)


def test_demo_copies_keep_the_schedule() -> None:
    text = demo_text(seed_text("ucart-sle.yaml"))
    assert "  code: UCART-SLE-DEMO\n" in text and "target_enrolment: 1000000" in text
    assert text.count("\n") == seed_text("ucart-sle.yaml").count("\n")


def test_nothing_happens_after_a_subject_leaves(session: Session) -> None:
    # 3,000 subjects at this seed and date draw responses and transplants after a
    # withdrawal (the import then refused the actual transplants): a subject who left or
    # died has no response, progression or transplant dated after it.
    generate(session, actor=SYSTEM, subjects=3000, sites=20, as_of=AS_OF, seed=1)
    ending_types = {"death", "withdrawal", "lost_to_follow_up"}
    events: dict[int, list[SubjectEvent]] = {}
    for event in session.scalars(select(SubjectEvent)):
        events.setdefault(event.subject_pk, []).append(event)
    transplants = {a.subject_pk: a.date for a in session.scalars(
        select(AnchorDateRow).where(AnchorDateRow.name == "transplant"))}
    left = 0
    for pk, subject_events in events.items():
        endings = [e.date for e in subject_events if e.type in ending_types]
        if not endings:
            continue
        left += 1
        assert all(e.date <= min(endings) for e in subject_events), pk
        assert transplants.get(pk, min(endings)) <= min(endings), pk
    assert left > 100
