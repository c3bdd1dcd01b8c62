"""Exact edge dates of the date arithmetic: month ends, leap years, Day 0 vs Day 1."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.schedule.dates import Offset, add_months, local_today, study_day
from app.schedule.durations import Duration, Unit, parse_duration


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        # End of month clamps to the last day of a shorter month.
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 11, 30), 3, date(2024, 2, 29)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2025, 8, 31), 1, date(2025, 9, 30)),
        (date(2025, 5, 31), -1, date(2025, 4, 30)),
        # Counted from the anchor, never chained: month 2 from 31 Jan is 31 Mar.
        (date(2025, 1, 31), 2, date(2025, 3, 31)),
        (date(2025, 1, 31), 3, date(2025, 4, 30)),
        # Leap years: 2000 is one, 1900 and 2100 are not.
        (date(2000, 1, 31), 1, date(2000, 2, 29)),
        (date(1900, 1, 31), 1, date(1900, 2, 28)),
        (date(2100, 1, 29), 1, date(2100, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2024, 2, 29), -12, date(2023, 2, 28)),
        # Year boundaries, both ways, and more than a year.
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 1, 15), -1, date(2024, 12, 15)),
        (date(2025, 1, 31), -13, date(2023, 12, 31)),
        (date(2025, 3, 26), 24, date(2027, 3, 26)),
        (date(2025, 3, 26), 0, date(2025, 3, 26)),
        # A day that exists in every month never moves.
        (date(2025, 3, 28), 11, date(2026, 2, 28)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


def test_months_are_counted_from_the_anchor_not_chained() -> None:
    anchor = date(2025, 1, 31)
    chained = add_months(add_months(anchor, 1), 1)
    assert chained == date(2025, 3, 28)  # what a chained schedule would wrongly give
    assert add_months(anchor, 2) == date(2025, 3, 31)
    assert [add_months(anchor, n).day for n in range(1, 13)] == [
        28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
        31,
    ]


def test_add_months_at_the_limits_of_the_calendar() -> None:
    assert add_months(date(1, 1, 31), 1) == date(1, 2, 28)
    assert add_months(date(9999, 11, 30), 1) == date(9999, 12, 30)
    with pytest.raises(ValueError):
        add_months(date(9999, 12, 31), 1)


@pytest.mark.parametrize(
    ("offset", "anchor", "expected"),
    [
        (Offset(), date(2025, 3, 26), date(2025, 3, 26)),
        (Offset(days=14), date(2025, 3, 26), date(2025, 4, 9)),
        (Offset(days=-2), date(2025, 3, 26), date(2025, 3, 24)),
        (Offset(days=-2), date(2024, 3, 1), date(2024, 2, 28)),
        (Offset(days=1), date(2024, 2, 28), date(2024, 2, 29)),
        (Offset(days=1), date(2025, 2, 28), date(2025, 3, 1)),
        (Offset(months=3), date(2025, 3, 26), date(2025, 6, 26)),
        (Offset(months=24), date(2025, 3, 26), date(2027, 3, 26)),
        # Months first, then days: (31 Jan + 1 month) - 1 day.
        (Offset(months=1, days=-1), date(2025, 1, 31), date(2025, 2, 27)),
        (Offset(months=1, days=1), date(2024, 1, 31), date(2024, 3, 1)),
    ],
)
def test_offset_apply(offset: Offset, anchor: date, expected: date) -> None:
    assert offset.apply(anchor) == expected


ANCHOR = date(2025, 3, 26)


@pytest.mark.parametrize(
    ("day", "day0", "day1"),
    [
        (date(2025, 3, 24), -2, -2),
        (date(2025, 3, 25), -1, -1),  # the day before the anchor is Day -1 in both
        (ANCHOR, 0, 1),  # the anchor itself
        (date(2025, 3, 27), 1, 2),
        (date(2025, 4, 9), 14, 15),
        (date(2025, 6, 26), 92, 93),
        (date(2024, 3, 26), -365, -365),
        (date(2027, 3, 26), 730, 731),
    ],
)
def test_study_day_under_both_conventions(day: date, day0: int, day1: int) -> None:
    assert study_day(ANCHOR, day, 0) == day0
    assert study_day(ANCHOR, day, 1) == day1


def test_there_is_no_day_0_under_the_day_1_convention() -> None:
    days = [study_day(ANCHOR, ANCHOR + timedelta(days=n), 1) for n in range(-400, 400)]
    assert 0 not in days
    assert len(set(days)) == len(days)  # still one study day per calendar date
    assert days[399:401] == [-1, 1]


@pytest.mark.parametrize(
    ("text", "day0", "day1"),
    [
        ("day 0", 0, 0),
        ("day 1", 1, 0),  # Day 1 is the anchor under the SDTM convention
        ("day 14", 14, 13),
        ("day 15", 15, 14),
        ("day -1", -1, -1),  # no shift before the anchor: Day -1 is the day before
        ("day -2", -2, -2),
        ("14 days", 14, 14),  # a duration is not a study day: it never shifts
        ("-2 days", -2, -2),
        ("2 weeks", 14, 14),
        ("-1 week", -7, -7),
    ],
)
def test_day_offsets_under_both_conventions(text: str, day0: int, day1: int) -> None:
    duration = parse_duration(text)
    assert duration.offset_days_for(0) == day0
    assert duration.offset_days_for(1) == day1


@pytest.mark.parametrize("n", [-30, -2, -1, 1, 2, 14, 28, 100, 365])
def test_day_n_lands_on_study_day_n(n: int) -> None:
    for convention in (0, 1):
        offset = Duration(n, Unit.DAYS, study_day=True).offset_days_for(convention)
        assert study_day(ANCHOR, ANCHOR + timedelta(days=offset), convention) == n


def test_a_month_has_no_fixed_number_of_days() -> None:
    with pytest.raises(ValueError):
        parse_duration("3 months").offset_days_for(0)


@pytest.mark.parametrize(
    ("instant", "zone", "expected"),
    [
        # 16:00 UTC is midnight in Shanghai: the site's date turns before UTC's does.
        (datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC), "Asia/Shanghai", date(2026, 3, 1)),
        (datetime(2026, 3, 1, 16, 0, tzinfo=UTC), "Asia/Shanghai", date(2026, 3, 2)),
        (datetime(2026, 3, 2, 6, 0, tzinfo=UTC), "America/Los_Angeles", date(2026, 3, 1)),
        (datetime(2026, 3, 2, 6, 0, tzinfo=UTC), "UTC", date(2026, 3, 2)),
        # Shanghai's 29 February 2024 starts at 16:00 UTC on the 28th.
        (datetime(2024, 2, 28, 16, 0, tzinfo=UTC), "Asia/Shanghai", date(2024, 2, 29)),
    ],
)
def test_local_today(instant: datetime, zone: str, expected: date) -> None:
    assert local_today(instant, zone) == expected


def test_local_today_refuses_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="time zone"):
        local_today(datetime(2026, 3, 1, 12, 0), "Asia/Shanghai")
