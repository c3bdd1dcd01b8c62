"""A visit still to do whose window closed is overdue until it counts as missed: derived
by each of three rules, never stored as if someone had entered it."""

from __future__ import annotations

from datetime import date, timedelta

from app.schedule.expand import VisitRecord
from app.schedule.lifecycle import Event, EventType
from app.schedule.status import State, Status
from tests.helpers_schedule import actual, calendar, expanded, plan_of, sle_plan

INFUSION = date(2025, 3, 26)  # SLE: D14 window 7-11 April, D28 20-26 April, M3 19 June-3 July
ANCHORS = actual(infusion=INFUSION)


def status_of(code: str, today: date, **kwargs: object) -> Status:
    _, visits = calendar(sle_plan(), ANCHORS, today=today, **kwargs)  # type: ignore[arg-type]
    return visits[code].info.status


def test_an_unresolved_visit_stays_overdue_without_a_rule_that_resolves_it() -> None:
    v = expanded(sle_plan(), ANCHORS)["D14"]
    assert v.state is State.PLANNED and v.missed_from is None
    assert status_of("D14", date(2026, 1, 1)) is Status.OVERDUE


def test_a_later_visit_of_the_same_schedule_done_makes_it_missed() -> None:
    records = {"D28": VisitRecord(State.COMPLETED, date(2025, 4, 22))}
    v = expanded(sle_plan(), ANCHORS, records=records)["D14"]
    assert v.state is State.PLANNED  # derived, never stored as an outcome
    assert v.missed_from == date(2025, 4, 22)
    assert status_of("D14", date(2025, 4, 21), records=records) is Status.OVERDUE
    assert status_of("D14", date(2025, 4, 22), records=records) is Status.MISSED_UNDOCUMENTED


def test_a_later_visit_done_while_the_window_is_open_counts_once_it_closes() -> None:
    # D28 done early on 10 April while D14's window (7-11 April) is still open.
    records = {"D28": VisitRecord(State.COMPLETED, date(2025, 4, 10))}
    assert expanded(sle_plan(), ANCHORS, records=records)["D14"].missed_from == date(2025, 4, 12)
    assert status_of("D14", date(2025, 4, 11), records=records) is Status.DUE


def test_an_earlier_visit_done_never_resolves_a_later_one() -> None:
    records = {"D14": VisitRecord(State.COMPLETED, date(2025, 4, 9))}
    assert expanded(sle_plan(), ANCHORS, records=records)["D28"].missed_from is None


def test_a_missed_later_visit_is_not_a_sign_the_subject_moved_on() -> None:
    records = {"D28": VisitRecord(State.MISSED)}
    assert expanded(sle_plan(), ANCHORS, records=records)["D14"].missed_from is None


def test_the_protocols_grace_period_makes_it_missed() -> None:
    visits = [
        {"code": "V1", "name": "v1", "at": "day 10", "window": "2 days"},
        {"code": "V2", "name": "v2", "at": "day 60", "window": "2 days",
         "missed_after": "3 days"},
    ]
    plan = plan_of(visits)
    plan_with_study_grace = plan_of(visits, missed_after="2 weeks")
    anchors = actual(infusion=date(2025, 1, 1))
    v = expanded(plan, anchors)
    assert v["V1"].missed_from is None  # no grace declared for it
    assert v["V2"].missed_from == date(2025, 3, 2) + timedelta(days=2 + 1 + 3)
    w = expanded(plan_with_study_grace, anchors)
    assert w["V1"].missed_from == date(2025, 1, 13) + timedelta(days=15)
    assert w["V2"].missed_from == date(2025, 3, 8)  # its own grace wins


def test_leaving_after_the_window_closed_makes_it_missed_from_the_day_of_leaving() -> None:
    withdrawal = Event(EventType.WITHDRAWAL, date(2025, 5, 2))
    v = expanded(sle_plan(), ANCHORS, [withdrawal])
    assert v["D28"].state is State.PLANNED and v["D28"].missed_from == date(2025, 5, 2)
    assert v["M3"].state is State.CANCELLED  # its window was still to come
    assert status_of("D28", date(2025, 6, 1), events=[withdrawal]) is Status.MISSED_UNDOCUMENTED


def test_an_optional_visit_is_never_missed() -> None:
    plan = plan_of([
        {"code": "V1", "name": "v1", "at": "day 10", "window": "2 days", "optional": True},
        {"code": "V2", "name": "v2", "at": "day 20", "window": "2 days"},
    ])
    records = {"V2": VisitRecord(State.COMPLETED, date(2025, 1, 21))}
    assert expanded(plan, actual(infusion=date(2025, 1, 1)), records=records)["V1"].missed_from \
        is None


def test_a_phase_is_its_own_schedule() -> None:
    plan = plan_of(
        [{"code": "V1", "name": "v1", "at": "day 10", "window": "2 days"}],
        phases=[{"code": "P", "name": "phase", "anchor": "transplant",
                 "condition": {"event": "response", "values": ["CR"]},
                 "visits": [{"code": "P1", "name": "p1", "at": "day 30", "window": "2 days"}]}],
    )
    anchors = actual(infusion=date(2025, 1, 1), transplant=date(2025, 1, 2))
    events = [Event(EventType.RESPONSE, date(2025, 1, 2), "CR")]
    records = {"P1": VisitRecord(State.COMPLETED, date(2025, 2, 1))}
    assert expanded(plan, anchors, events, records)["V1"].missed_from is None


def test_the_earliest_rule_wins() -> None:
    records = {"D28": VisitRecord(State.COMPLETED, date(2025, 4, 22))}
    withdrawal = Event(EventType.WITHDRAWAL, date(2025, 5, 2))
    v = expanded(sle_plan(), ANCHORS, [withdrawal], records)["D14"]
    assert v.missed_from == date(2025, 4, 22)
