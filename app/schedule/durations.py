"""Durations as the schedule language writes them: "14 days", "2 weeks", "3 months",
"2 years", "day 14".

The text forms, their parser and the pydantic field types built on them. A duration is
signed and keeps its unit: calendar months (and years, twelve of them) are never turned
into days here (that is
:mod:`app.schedule.dates`' job, against a real date).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer


class Unit(StrEnum):
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"
    YEARS = "years"  # twelve calendar months: a yearly visit keeps its day of the year


@dataclass(frozen=True, slots=True)
class Duration:
    """A signed amount of days, weeks, calendar months or years.

    ``study_day`` is set when the text was written as "day N": the offset then depends
    on the study's day convention and is resolved by :meth:`offset_days_for`.
    """

    amount: int
    unit: Unit
    study_day: bool = False

    def __str__(self) -> str:
        if self.study_day:
            return f"day {self.amount}"
        word = self.unit.value if abs(self.amount) != 1 else self.unit.value[:-1]
        return f"{self.amount} {word}"

    @property
    def calendar_months(self) -> int | None:
        """The calendar months of a month or year duration (None for days and weeks)."""
        if self.unit is Unit.MONTHS:
            return self.amount
        return self.amount * 12 if self.unit is Unit.YEARS else None

    def offset_days_for(self, anchor_day: int) -> int:
        """Days from the anchor for a day-or-week duration.

        "day N" under the Day 1 convention has no Day 0: Day 1 is the anchor itself and
        Day -1 the day before it, so positive study days are shifted by one.

        >>> Duration(14, Unit.DAYS, study_day=True).offset_days_for(0)
        14
        >>> Duration(15, Unit.DAYS, study_day=True).offset_days_for(1)
        14
        >>> Duration(-1, Unit.DAYS, study_day=True).offset_days_for(1)
        -1
        """
        if self.calendar_months is not None:
            raise ValueError(f"a {self.unit.value[:-1]} duration has no fixed number of days")
        days = self.amount * (7 if self.unit is Unit.WEEKS else 1)
        if self.study_day and anchor_day == 1 and days > 0:
            return days - 1
        return days


_DURATION_RE = re.compile(r"^\s*([+-]?\d{1,4})\s+(day|days|week|weeks|month|months|year|years)\s*$")
_STUDY_DAY_RE = re.compile(r"^\s*day\s+([+-]?\d{1,5})\s*$")


def parse_duration(value: object) -> Duration:
    """Parse "14 days", "-2 days", "2 weeks", "3 months", "2 years" or "day 14".

    >>> parse_duration("3 months")
    Duration(amount=3, unit=<Unit.MONTHS: 'months'>, study_day=False)
    >>> str(parse_duration("day -2"))
    'day -2'
    """
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            'must be text such as "14 days", "2 weeks", "3 months", "2 years" or "day 14"'
        )
    if match := _STUDY_DAY_RE.match(value):
        return Duration(int(match.group(1)), Unit.DAYS, study_day=True)
    if match := _DURATION_RE.match(value):
        unit = match.group(2)
        return Duration(int(match.group(1)), Unit(unit if unit.endswith("s") else unit + "s"))
    raise ValueError(
        f'"{value}" is not a duration: write "14 days", "2 weeks", "3 months", "2 years"'
        ' or "day 14"'
    )


# The same grammar as the two regular expressions above, for the JSON Schema (editors).
DURATION_PATTERN = (
    r"^\s*(?:[+-]?\d{1,4}\s+(?:days?|weeks?|months?|years?)|day\s+[+-]?\d{1,5})\s*$"
)
DurationString = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        description='"14 days", "-2 days", "2 weeks", "3 months", "2 years", or a study day'
        ' "day 14"',
    ),
]
DurationText = Annotated[
    Duration,
    BeforeValidator(parse_duration, json_schema_input_type=DurationString),
    PlainSerializer(str, return_type=str),
]
# A window side: days or weeks, never negative (checked again by Window).
WINDOW_PATTERN = r"^\s*\+?\d{1,4}\s+(?:days?|weeks?)\s*$"
WindowString = Annotated[
    str, Field(pattern=WINDOW_PATTERN, description='Days or weeks, e.g. "3 days" or "1 week"')
]
WindowDuration = Annotated[
    Duration,
    BeforeValidator(parse_duration, json_schema_input_type=WindowString),
    PlainSerializer(str, return_type=str),
]
