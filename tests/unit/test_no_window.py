"""Visits the protocol gives no window (``window: none``): never graded early or late, due
from their target until ``due_for`` or the day before the next visit of their schedule."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.schedule.amendment import Change, ChangeKind, Section, diff_plans
from app.schedule.expand import VisitRecord
from app.schedule.lifecycle import Event, EventType
from app.schedule.status import State, Status, StatusInfo
from tests.helpers_schedule import actual, calendar, expanded, plan_of

VISITS = [
    {"code": "SCR2", "name": "Screening 2", "at": "-14 days", "window": "none"},
    {"code": "BL", "name": "Baseline", "at": "-1 days", "window": "none", "due_for": "3 days"},
    {"code": "D0", "name": "Day 0", "at": "day 0"},
    {"code": "D14", "name": "Day 14", "at": "day 14", "window": "2 days"},
    {"code": "ECG", "name": "ECG removal", "after_visit": "D14", "at": "1 day",
     "window": "none"},
    {"code": "D28", "name": "Day 28", "at": "day 28", "window": "3 days"},
]
PLAN = plan_of(VISITS)
INFUSION = date(2025, 3, 10)
ANCHORS = actual(infusion=INFUSION)


def _status(code: str, today: date, records: dict[str, VisitRecord] | None = None,
            events: list[Event] | None = None) -> StatusInfo:
    _, visits = calendar(PLAN, ANCHORS, events or [], records, today=today)
    return visits[code].info


def test_the_plan_marks_them_ungraded() -> None:
    graded = {v.code: (v.graded, v.due_until_next, v.before_days, v.after_days)
              for v in PLAN.visits}
    assert graded == {
        "SCR2": (False, True, 0, 0), "BL": (False, False, 0, 3), "D0": (True, False, 0, 0),
        "D14": (True, False, 2, 2), "ECG": (False, True, 0, 0), "D28": (True, False, 3, 3),
    }
    assert PLAN.until_next == (0, 4) and plan_of(VISITS[1:4]).until_next == ()


def test_due_from_the_target_until_the_day_before_the_next_visit() -> None:
    visits = expanded(PLAN, ANCHORS)
    windows = {code: (v.target_date, v.window_start, v.window_end, v.graded)
               for code, v in visits.items()}
    assert windows == {
        # until the day before BL (9 March)
        "SCR2": (date(2025, 2, 24), date(2025, 2, 24), date(2025, 3, 8), False),
        # due_for 3 days: its target and the 3 days after
        "BL": (date(2025, 3, 9), date(2025, 3, 9), date(2025, 3, 12), False),
        "D0": (INFUSION, INFUSION, INFUSION, True),
        "D14": (date(2025, 3, 24), date(2025, 3, 22), date(2025, 3, 26), True),
        # the day after D14's target, until the day before D28 (7 April)
        "ECG": (date(2025, 3, 25), date(2025, 3, 25), date(2025, 4, 6), False),
        "D28": (date(2025, 4, 7), date(2025, 4, 4), date(2025, 4, 10), True),
    }


def test_never_overdue_before_its_horizon() -> None:
    assert _status("SCR2", date(2025, 2, 23)).status is Status.UPCOMING
    assert _status("SCR2", date(2025, 2, 24)).status is Status.DUE
    assert _status("SCR2", date(2025, 3, 8)).status is Status.DUE
    assert _status("SCR2", date(2025, 3, 9)) == StatusInfo(Status.OVERDUE, days_overdue=1)
    assert _status("BL", date(2025, 3, 12)).status is Status.DUE
    assert _status("BL", date(2025, 3, 13)) == StatusInfo(Status.OVERDUE, days_overdue=1)


def test_completed_on_any_date_is_completed_with_its_distance_from_the_target() -> None:
    late = {"SCR2": VisitRecord(State.COMPLETED, date(2025, 3, 20))}
    early = {"SCR2": VisitRecord(State.COMPLETED, date(2025, 2, 10))}
    assert _status("SCR2", date(2025, 4, 1), late) == StatusInfo(
        Status.COMPLETED, days_from_target=24)
    assert _status("SCR2", date(2025, 4, 1), early) == StatusInfo(
        Status.COMPLETED, days_from_target=-14)
    # A graded visit done that late is still graded.
    d14 = {"D14": VisitRecord(State.COMPLETED, date(2025, 3, 30))}
    assert _status("D14", date(2025, 4, 1), d14) == StatusInfo(
        Status.COMPLETED_OUT_OF_WINDOW, days_late=4, days_from_target=6)


def test_the_next_visit_of_its_own_schedule_only() -> None:
    phase = {"code": "HSCT", "name": "Transplant", "anchor": "transplant",
             "condition": {"event": "response", "values": ["CR"]},
             "visits": [{"code": "H-D0", "name": "Transplant day", "at": "day 0",
                         "window": "none"},
                        {"code": "H-D30", "name": "Day 30", "at": "day 30"}]}
    plan = plan_of(VISITS, phases=[phase])
    visits = expanded(plan, actual(infusion=INFUSION, transplant=date(2025, 6, 1)),
                      events=[Event(EventType.RESPONSE, date(2025, 5, 1), "CR")])
    # The main schedule's D28 comes first, but only H-D30 ends the phase's visit.
    assert visits["H-D0"].window_end == date(2025, 6, 30)
    assert visits["D28"].window_end == date(2025, 4, 10)


def test_a_series_without_a_window_is_due_until_its_next_time_point() -> None:
    plan = plan_of([{"code": "W{n}", "name": "Week {n}", "window": "none",
                     "series": {"every": "1 week", "from": "1 week", "to": "3 weeks"}},
                    {"code": "M1", "name": "Month 1", "at": "1 month"}])
    ends = {c: v.window_end for c, v in expanded(plan, ANCHORS).items()}
    assert ends == {"W1": date(2025, 3, 23), "W2": date(2025, 3, 30),
                    "W3": date(2025, 4, 9), "M1": date(2025, 4, 10)}


def test_leaving_while_it_is_due_cancels_it() -> None:
    left = [Event(EventType.WITHDRAWAL, date(2025, 3, 1))]
    visits = expanded(PLAN, ANCHORS, events=left)
    assert visits["SCR2"].state is State.CANCELLED  # due until 8 March: still open on the 1st
    assert visits["SCR2"].reason == "withdrawal on 2025-03-01"


def test_a_grace_period_counts_from_its_horizon() -> None:
    plan = plan_of(VISITS, missed_after="7 days")
    visits = expanded(plan, ANCHORS)
    assert visits["SCR2"].missed_from == date(2025, 3, 16)  # 8 March + 1 + 7
    assert visits["BL"].missed_from == date(2025, 3, 20)  # 12 March + 1 + 7


def test_an_amendment_that_drops_a_window_says_so() -> None:
    exact = plan_of([{**VISITS[0], "window": "0 days"}, VISITS[1],
                     {**VISITS[2], "window": "none", "due_for": "2 days"}, *VISITS[3:]])
    changes = diff_plans(exact, PLAN).of(Section.VISIT)
    assert changes == (
        Change(Section.VISIT, "SCR2", ChangeKind.WINDOW, "window", "-0 days / +0 days", "none"),
        Change(Section.VISIT, "D0", ChangeKind.WINDOW, "window", "none, due for 2 days",
               "-0 days / +0 days"),
    )


@settings(max_examples=120, deadline=None)
@given(
    anchor=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    look=st.integers(min_value=-60, max_value=90),
    done=st.one_of(st.none(), st.integers(min_value=-60, max_value=90)),
)
def test_a_visit_without_a_window_is_never_graded_nor_overdue_before_its_horizon(
    anchor: date, look: int, done: int | None
) -> None:
    anchors = actual(infusion=anchor)
    for code in ("SCR2", "BL", "ECG"):
        target = expanded(PLAN, anchors)[code].target_date
        assert target is not None
        records = None if done is None else {
            code: VisitRecord(State.COMPLETED, target + timedelta(days=done))}
        today = target + timedelta(days=look)
        _, visits = calendar(PLAN, anchors, records=records, today=today)
        visit, info = visits[code].visit, visits[code].info
        assert visit.graded is False and visit.window_end is not None
        assert info.days_early is None and info.days_late is None
        assert info.status is not Status.COMPLETED_OUT_OF_WINDOW
        if done is not None:
            assert info == StatusInfo(Status.COMPLETED, days_from_target=done)
        elif today <= visit.window_end:
            assert info.status in (Status.SCHEDULED, Status.UPCOMING, Status.DUE)
        else:
            assert info.status is Status.OVERDUE
