"""USDM timings in whole days and calendar months: ISO 8601 durations and their sums.

A USDM ``Timing`` gives a non-negative ISO 8601 ``value`` (``P14D``, ``P2W``, ``P1M``,
``PT15M``) whose direction comes from its ``type`` (After, Before, Fixed Reference).
Our schedule language counts whole days, weeks and calendar months, so a duration is
kept as calendar months plus days (a year is 12 months, a week 7 days; a month is
never turned into days) and what is left below a day is reported, never rounded up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from app.schedule.durations import Duration, Unit

_ISO = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


class TimingType(StrEnum):
    """The C201264 codelist, by its decode."""

    AFTER = "After"
    BEFORE = "Before"
    FIXED = "Fixed Reference"


@dataclass(frozen=True, slots=True)
class IsoDuration:
    """A parsed ISO 8601 duration: calendar months, whole days, and seconds below them.

    ``weeks`` says that the days were written in weeks only (P2W), so that a sum of
    weeks can stay in weeks.

    >>> parse_iso("P2W")
    IsoDuration(months=0, days=14, seconds=0.0, weeks=True)
    >>> parse_iso("P1Y2M").months
    14
    >>> parse_iso("PT15M").seconds
    900.0
    """

    months: int
    days: int
    seconds: float
    weeks: bool = False

    @property
    def sub_day(self) -> bool:
        return self.seconds > 0


def parse_iso(text: object) -> IsoDuration | None:
    """The duration, or None when the text is not an ISO 8601 duration we read."""
    if not isinstance(text, str):
        return None
    match = _ISO.match(text.strip().upper())
    if not match:
        return None
    years, months, weeks, days, hours, minutes, seconds = match.groups()
    n_weeks = int(weeks or 0)
    n_days = int(days or 0)
    total_seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    whole_days, rest = divmod(total_seconds, 86400)
    return IsoDuration(
        months=int(years or 0) * 12 + int(months or 0),
        days=n_weeks * 7 + n_days + int(whole_days),
        seconds=rest,
        weeks=n_weeks > 0 and not days and not whole_days,
    )


@dataclass(frozen=True, slots=True)
class Offset:
    """A signed time from the anchor: calendar months and days (weeks when all were)."""

    months: int = 0
    days: int = 0
    weeks: bool = True

    def plus(self, other: Offset) -> Offset:
        return Offset(self.months + other.months, self.days + other.days,
                      self.weeks and other.weeks)

    @classmethod
    def of(cls, duration: IsoDuration, sign: int) -> Offset:
        return cls(sign * duration.months, sign * duration.days,
                   duration.weeks or duration.days == 0)  # no days: neutral

    @property
    def mixed(self) -> bool:
        """Months and days at once: no single duration of the language says it."""
        return self.months != 0 and self.days != 0

    def duration(self) -> Duration:
        """The one duration of the language for it (not for a mixed offset).

        >>> str(Offset(0, 14, True).duration()), str(Offset(0, -2, False).duration())
        ('2 weeks', '-2 days')
        >>> str(Offset(3, 0).duration())
        '3 months'
        """
        if self.mixed:
            raise ValueError("months and days at once")
        if self.months:
            return Duration(self.months, Unit.MONTHS)
        if self.weeks and self.days % 7 == 0 and self.days:
            return Duration(self.days // 7, Unit.WEEKS)
        return Duration(self.days, Unit.DAYS)

    def __str__(self) -> str:
        if not self.mixed:
            return str(self.duration())
        return f"{Duration(self.months, Unit.MONTHS)} {self.days:+d} days"


def window_side(duration: IsoDuration) -> Duration:
    """A window side in days, or weeks when written in weeks (months are refused)."""
    if duration.months:
        raise ValueError("months")
    if duration.weeks:
        return Duration(duration.days // 7, Unit.WEEKS)
    return Duration(duration.days, Unit.DAYS)
