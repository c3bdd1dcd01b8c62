"""A visit another visit already covers (``skip_within``): long-term follow-up that does
not double a main-schedule visit on the same day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.schedule.expand import VisitRecord
from app.schedule.lifecycle import Event, EventType
from app.schedule.status import State
from tests.helpers_schedule import actual, expanded, plan_of

VISITS = [
    {"code": "M{n}", "name": "Month {n}", "series": {"every": "12 months", "from": "12 months",
                                                     "to": "24 months"},
     "window": "14 days", "stops_at_progression": True},
    {"code": "LTFU-Y{n}", "name": "Long-term follow-up, year {n}",
     "series": {"every": "1 year", "from": "1 year", "to": "4 years"}, "window": "30 days",
     "skip_within": "30 days"},
]
PLAN = plan_of(VISITS)
INFUSION = date(2025, 3, 10)


def test_a_yearly_visit_on_a_main_visits_day_is_not_applicable() -> None:
    visits = expanded(PLAN, actual(infusion=INFUSION))
    assert visits["LTFU-Y1"].state is State.NOT_APPLICABLE
    assert visits["LTFU-Y1"].reason == "covered by visit M12 (2026-03-10)"
    assert visits["LTFU-Y2"].state is State.NOT_APPLICABLE
    assert visits["LTFU-Y3"].state is State.PLANNED  # no main visit in year 3
    assert visits["M12"].state is State.PLANNED


def test_the_covered_visit_comes_back_when_the_covering_one_is_cancelled() -> None:
    visits = expanded(PLAN, actual(infusion=INFUSION),
                      events=[Event(EventType.PROGRESSION, date(2025, 9, 1))])
    assert visits["M12"].state is State.CANCELLED
    assert visits["LTFU-Y1"].state is State.PLANNED


def test_a_visit_done_far_from_its_target_covers_by_its_actual_date() -> None:
    late = {"M12": VisitRecord(State.COMPLETED, date(2026, 5, 1), frozenset())}
    visits = expanded(PLAN, actual(infusion=INFUSION), records=late)
    assert visits["LTFU-Y1"].state is State.PLANNED  # M12 happened 52 days after its target
    assert visits["LTFU-Y2"].state is State.NOT_APPLICABLE


def test_skip_within_is_days_or_weeks() -> None:
    with pytest.raises(ValidationError, match="days or weeks"):
        plan_of([{**VISITS[1], "skip_within": "1 month"}])


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=3000))
def test_no_two_visits_left_within_the_distance(days: int) -> None:
    anchor = date(2020, 1, 1) + timedelta(days=days)
    planned = sorted(v.target_date for v in expanded(PLAN, actual(infusion=anchor)).values()
                     if v.state is State.PLANNED and v.target_date is not None)
    assert all(b - a > timedelta(days=30) for a, b in zip(planned, planned[1:], strict=False))
