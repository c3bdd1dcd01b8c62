"""The ``years`` unit: twelve calendar months, in offsets, series and endpoints."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from app.schedule.durations import Duration, Unit, parse_duration
from app.schedule.plan import resolve
from tests.helpers_schedule import actual, expanded, plan_of


@pytest.mark.parametrize(("text", "duration"), [
    ("2 years", Duration(2, Unit.YEARS)),
    ("1 year", Duration(1, Unit.YEARS)),
    ("-1 year", Duration(-1, Unit.YEARS)),
])
def test_years_are_written_like_the_other_units(text: str, duration: Duration) -> None:
    assert parse_duration(text) == duration
    assert str(duration) == text
    assert duration.calendar_months == duration.amount * 12
    assert resolve(duration, 0) == resolve(Duration(duration.amount * 12, Unit.MONTHS), 0)


def test_a_year_has_no_fixed_number_of_days() -> None:
    with pytest.raises(ValueError, match="a year duration has no fixed number of days"):
        Duration(1, Unit.YEARS).offset_days_for(0)


def test_yearly_visits_keep_their_day_and_clamp_a_leap_day() -> None:
    plan = plan_of([
        {"code": "Y{n}", "name": "Year {n}", "series": {"every": "1 year", "from": "1 year",
                                                        "to": "4 years"}, "window": "2 weeks"},
    ])
    visits = expanded(plan, actual(infusion=date(2024, 2, 29)))
    assert {code: v.target_date for code, v in visits.items()} == {
        "Y1": date(2025, 2, 28), "Y2": date(2026, 2, 28), "Y3": date(2027, 2, 28),
        "Y4": date(2028, 2, 29),
    }
    assert visits["Y1"].window_start == date(2025, 2, 14)


def test_a_window_is_never_given_in_years() -> None:
    with pytest.raises(ValidationError, match="a window or grace period is given in days or weeks"):
        plan_of([{"code": "Y1", "name": "Year 1", "at": "1 year", "window": "1 year"}])
