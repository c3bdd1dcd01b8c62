"""Date arithmetic of schedules. Every function states its policy.

- Months are calendar months counted from the anchor, with end-of-month clamping
  (31 January + 1 month = 28 or 29 February), never "30 days" and never chained:
  month 2 is anchor + 2 months, not (anchor + 1 month) + 1 month.
- Study days follow the protocol's convention: with ``anchor_day=0`` the anchor is
  Day 0 and the day before is Day -1; with ``anchor_day=1`` the anchor is Day 1, the
  day before is Day -1 and there is no Day 0 (CDISC SDTM).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(start: date, months: int) -> date:
    """Add calendar months, clamping to the last day of the target month.

    Policy: clamp, never skip or roll over (as dateutil's ``relativedelta``): a day
    the target month lacks becomes its last day. Count every time point from the
    anchor itself; chaining loses days for good (31 Jan + 1 + 1 is 28 Mar).

    >>> add_months(date(2025, 1, 31), 2)
    datetime.date(2025, 3, 31)
    >>> add_months(add_months(date(2025, 1, 31), 1), 1)
    datetime.date(2025, 3, 28)
    >>> add_months(date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    >>> add_months(date(2023, 11, 30), 3)
    datetime.date(2024, 2, 29)
    >>> add_months(date(2025, 3, 31), -1)
    datetime.date(2025, 2, 28)
    """
    year, month0 = divmod(start.year * 12 + start.month - 1 + months, 12)
    day = start.day
    if day > 28:  # only the last days of a month can need clamping
        last = 29 if month0 == 1 and calendar.isleap(year) else _MONTH_DAYS[month0]
        day = min(day, last)
    return date(year, month0 + 1, day)


@dataclass(frozen=True, slots=True)
class Offset:
    """A resolved distance from an anchor: whole calendar months, then days.

    >>> Offset(months=1, days=-1).apply(date(2024, 1, 31))
    datetime.date(2024, 2, 28)
    """

    months: int = 0
    days: int = 0
    delta: timedelta = field(init=False, repr=False, compare=False)  # built once, used often

    def __post_init__(self) -> None:
        object.__setattr__(self, "delta", timedelta(days=self.days))

    def apply(self, anchor: date) -> date:
        base = add_months(anchor, self.months) if self.months else anchor
        return base + self.delta if self.days else base


def study_day(anchor: date, day: date, anchor_day: int) -> int:
    """The study day of ``day`` relative to ``anchor`` under the protocol's convention.

    >>> study_day(date(2025, 3, 26), date(2025, 3, 24), 0)
    -2
    >>> study_day(date(2025, 3, 26), date(2025, 3, 26), 1)
    1
    >>> study_day(date(2025, 3, 26), date(2025, 3, 25), 1)
    -1
    """
    delta = (day - anchor).days
    if anchor_day == 1 and delta >= 0:
        return delta + 1
    return delta


def local_today(now: datetime, time_zone: str) -> date:
    """The calendar date at a site at the instant ``now`` (which must be aware).

    >>> from datetime import timezone
    >>> local_today(datetime(2026, 3, 1, 16, 30, tzinfo=timezone.utc), "Asia/Shanghai")
    datetime.date(2026, 3, 2)
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    return now.astimezone(ZoneInfo(time_zone)).date()
