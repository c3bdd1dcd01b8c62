"""The calendar is a function of the facts, not of their arrival order; done visits are
re-evaluated after any correction; every way a subject leaves (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import errors
from app.models import Subject, Visit
from app.schedule.calendar import EndpointStatus
from app.schedule.lifecycle import EventType, Lifecycle
from app.services.subjects.anchors import set_anchor
from app.services.subjects.events import record_event
from app.services.subjects.loading import subject_calendar
from app.services.visits import complete_visit, mark_missed
from tests.helpers_subjects import EDC, MM, NOW, SLE, enrol_mm, enrol_sle, load_seed_studies

# SLE, infusion 10 January 2026: D14 window 22-26 January, D28 4-10 February.
INFUSION = date(2026, 1, 10)


@pytest.fixture
def seeded(session: Session) -> Session:
    load_seed_studies(session)
    return session


def _calendar(session: Session, subject_id: str) -> list[tuple[object, ...]]:
    pk = session.scalar(select(Subject.id).where(Subject.subject_id == subject_id))
    rows = session.scalars(select(Visit).where(Visit.subject_pk == pk).order_by(Visit.code))
    return [(v.code, v.state, v.target_date, v.window_start, v.window_end, v.actual_date,
             v.missed_from, v.provisional, v.reason) for v in rows]


def _withdraw(session: Session, subject_id: str) -> None:
    record_event(session, study=SLE, subject_id=subject_id, type=EventType.WITHDRAWAL,
                 day=date(2026, 1, 25), actor=EDC, now=NOW)


def _complete_d14(session: Session, subject_id: str) -> None:
    complete_visit(session, study=SLE, subject_id=subject_id, code="D14",
                   actual_date=date(2026, 1, 24), actor=EDC, now=NOW)


def _respond(session: Session, subject_id: str) -> None:
    record_event(session, study=SLE, subject_id=subject_id, type=EventType.RESPONSE,
                 day=date(2026, 1, 20), value="DORIS", actor=EDC, now=NOW)


def test_a_visit_done_before_a_withdrawal_is_accepted_after_it(seeded: Session) -> None:
    # The case of the issue: the withdrawal (25 January) is entered first, then the visit
    # done the day before it.
    enrol_sle(seeded, "S-001", infusion=INFUSION)
    _withdraw(seeded, "S-001")
    d14 = next(r for r in _calendar(seeded, "S-001") if r[0] == "D14")
    assert d14[1] == "cancelled"
    _complete_d14(seeded, "S-001")
    # The other order gives the same calendar.
    enrol_sle(seeded, "S-002", infusion=INFUSION)
    _complete_d14(seeded, "S-002")
    _withdraw(seeded, "S-002")
    assert _calendar(seeded, "S-001") == _calendar(seeded, "S-002")
    d14 = next(r for r in _calendar(seeded, "S-001") if r[0] == "D14")
    assert d14[1] == "completed" and d14[5] == date(2026, 1, 24)


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (2, 0, 1)])
def test_three_facts_in_several_orders_give_one_calendar(
    seeded: Session, order: tuple[int, int, int]
) -> None:
    steps: list[Callable[[Session, str], None]] = [_respond, _complete_d14, _withdraw]
    enrol_sle(seeded, "REF", infusion=INFUSION)
    for step in steps:
        step(seeded, "REF")
    enrol_sle(seeded, "S-001", infusion=INFUSION)
    for i in order:
        steps[i](seeded, "S-001")
    assert _calendar(seeded, "S-001") == _calendar(seeded, "REF")


def test_facts_that_do_not_fit_are_refused_whichever_comes_first(seeded: Session) -> None:
    enrol_sle(seeded, "S-001", infusion=INFUSION)
    _withdraw(seeded, "S-001")
    with pytest.raises(errors.Conflict, match=r"cancelled \(withdrawal on 2026-01-25\)"):
        complete_visit(seeded, study=SLE, subject_id="S-001", code="D28",
                       actual_date=date(2026, 2, 5), actor=EDC, now=NOW)
    with pytest.raises(errors.SubjectEnded, match="after the withdrawal"):
        record_event(seeded, study=SLE, subject_id="S-001", type=EventType.PROGRESSION,
                     day=date(2026, 2, 5), actor=EDC, now=NOW)
    enrol_sle(seeded, "S-002", infusion=INFUSION)
    complete_visit(seeded, study=SLE, subject_id="S-002", code="D28",
                   actual_date=date(2026, 2, 5), actor=EDC, now=NOW)
    with pytest.raises(errors.SubjectEnded, match="visit D28 was done on 2026-02-05"):
        _withdraw(seeded, "S-002")


def test_a_cancelled_visit_may_be_documented_as_missed(seeded: Session) -> None:
    enrol_sle(seeded, "S-001", infusion=INFUSION)
    _withdraw(seeded, "S-001")
    outcome = mark_missed(seeded, study=SLE, subject_id="S-001", code="D14",
                          reason="patient in hospital", actor=EDC, now=NOW)
    assert outcome.visit.state == "missed"


def test_confirming_and_correcting_an_anchor_re_evaluates_done_visits(seeded: Session) -> None:
    loaded = enrol_sle(seeded, "S-001", infusion=INFUSION, actual=False)
    _complete_d14(seeded, "S-001")
    d14 = next(r for r in _calendar(seeded, "S-001") if r[0] == "D14")
    assert d14[1] == "completed" and d14[7] is True  # dated from a planned infusion
    set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion", day=INFUSION,
               actual=True, actor=EDC, now=NOW)
    d14 = next(r for r in _calendar(seeded, "S-001") if r[0] == "D14")
    assert d14[7] is False  # confirmed: nothing provisional any more
    set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion", day=date(2026, 1, 14),
               actual=True, reason="date mistyped", actor=EDC, now=NOW)
    d14 = next(r for r in _calendar(seeded, "S-001") if r[0] == "D14")
    assert d14[2:6] == (date(2026, 1, 28), date(2026, 1, 26), date(2026, 1, 30),
                        date(2026, 1, 24))
    visit = next(v for v in subject_calendar(seeded, loaded, today=date(2026, 3, 1)).visits
                 if v.row.code == "D14")
    assert visit.info.status.value == "completed_out_of_window"
    assert (visit.info.days_early, visit.info.days_from_target) == (2, -4)


def test_visits_and_endpoints_agree_after_re_anchoring(seeded: Session) -> None:
    # M6 done inside its window and the ORR month-6 endpoint met; the infusion date is then
    # corrected by 22 days: both now say the visit fell outside the window.
    loaded = enrol_mm(seeded)
    complete_visit(seeded, study=MM, subject_id="MM-001", code="M6",
                   actual_date=date(2025, 8, 1), assessments=["ORR", "PFS", "OS"], actor=EDC,
                   now=NOW)
    today = date(2026, 3, 1)
    cal = subject_calendar(seeded, loaded, today=today)
    orr = next(e for e in cal.calendar.endpoints if e.code == "ORR@6 months")
    m6 = next(v for v in cal.visits if v.row.code == "M6")
    assert (orr.status, m6.info.status.value) == (EndpointStatus.MET, "completed")
    set_anchor(seeded, study=MM, subject_id="MM-001", name="infusion", day=date(2025, 2, 25),
               actual=True, reason="infusion postponed", actor=EDC, now=NOW)
    cal = subject_calendar(seeded, loaded, today=today)
    orr = next(e for e in cal.calendar.endpoints if e.code == "ORR@6 months")
    m6 = next(v for v in cal.visits if v.row.code == "M6")
    assert m6.info.status.value == "completed_out_of_window" and m6.info.days_early == 10
    assert orr.status is EndpointStatus.MISSED
    assert (m6.row.window_start, m6.row.window_end) == (orr.window_start, orr.window_end)


def test_a_screen_failure_cancels_everything_and_refuses_a_treatment_date(
    seeded: Session
) -> None:
    loaded = enrol_sle(seeded, "S-001", infusion=date(2026, 1, 20), actual=False)
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.SCREEN_FAILURE,
                 day=date(2026, 1, 12), actor=EDC, now=NOW)
    assert loaded.subject.lifecycle == Lifecycle.SCREEN_FAILED
    assert {r[1] for r in _calendar(seeded, "S-001")} == {"cancelled"}
    with pytest.raises(errors.Conflict, match="failed screening"):
        set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion",
                   day=date(2026, 1, 20), actual=True, actor=EDC, now=NOW)
    enrol_sle(seeded, "S-002", infusion=INFUSION)
    with pytest.raises(errors.Conflict, match="cannot follow treatment"):
        record_event(seeded, study=SLE, subject_id="S-002", type=EventType.SCREEN_FAILURE,
                     day=date(2026, 1, 12), actor=EDC, now=NOW)


def test_completing_the_study_ends_the_follow_up(seeded: Session) -> None:
    loaded = enrol_sle(seeded, "S-001", infusion=INFUSION)
    record_event(seeded, study=SLE, subject_id="S-001", type=EventType.STUDY_COMPLETED,
                 day=date(2026, 2, 20), actor=EDC, now=NOW)
    assert loaded.subject.lifecycle == Lifecycle.COMPLETED
    rows = {r[0]: r for r in _calendar(seeded, "S-001")}
    assert rows["M3"][1] == "cancelled" and rows["M3"][8] == "study_completed on 2026-02-20"
    # D14 and D28 closed before the end: missed from the day the subject completed.
    assert rows["D14"][1] == "planned" and rows["D14"][6] == date(2026, 2, 20)


def test_a_visit_before_the_anchor_is_recorded_before_the_anchor_has_a_date(
    seeded: Session
) -> None:
    loaded = enrol_sle(seeded, "S-001", infusion=None)
    rows = {r[0]: r for r in _calendar(seeded, "S-001")}
    assert rows["D-2"][1] == "pending"
    complete_visit(seeded, study=SLE, subject_id="S-001", code="D-2",
                   actual_date=date(2026, 1, 18), actor=EDC, now=NOW)
    rows = {r[0]: r for r in _calendar(seeded, "S-001")}
    assert rows["D-2"][1] == "completed" and rows["D-2"][2] is None  # graded later
    set_anchor(seeded, study=SLE, subject_id="S-001", name="infusion", day=date(2026, 1, 20),
               actual=True, actor=EDC, now=NOW)
    rows = {r[0]: r for r in _calendar(seeded, "S-001")}
    assert rows["D-2"][2] == date(2026, 1, 18) and rows["D-2"][5] == date(2026, 1, 18)
    visit = next(v for v in subject_calendar(seeded, loaded, today=date(2026, 3, 1)).visits
                 if v.row.code == "D-2")
    assert visit.info.status.value == "completed"
