"""When visits happen, in the schedule language: windows, grace periods, series and lists
of time points (the durations themselves are :mod:`app.schedule.durations`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    field_validator,
    model_validator,
)

from app.schedule.durations import (
    Duration,
    DurationText,
    Unit,
    WindowDuration,
    WindowString,
)
from app.schedule.names import Strict


def _days_or_weeks(value: Duration) -> Duration:
    if value.calendar_months is not None or value.study_day:
        raise ValueError("a window or grace period is given in days or weeks")
    if value.amount < 0:
        raise ValueError("must be >= 0 days")
    return value


# How long after its window a visit not done counts as missed (days or weeks).
GraceDuration = Annotated[WindowDuration, AfterValidator(_days_or_weeks)]


class Window(Strict):
    before: WindowDuration = Field(description="How early the visit may be done")
    after: WindowDuration = Field(description="How late the visit may be done")

    @field_validator("before", "after")
    @classmethod
    def _days_or_weeks(cls, value: Duration) -> Duration:
        return _days_or_weeks(value)


def _window(value: object) -> object:
    """A window may be written as one duration: "3 days" means 3 days before and after."""
    if isinstance(value, str):
        return {"before": value, "after": value}
    return value


WindowSpec = Annotated[
    Window, BeforeValidator(_window, json_schema_input_type=Window | WindowString)
]
NO_WINDOW = Window(before=Duration(0, Unit.DAYS), after=Duration(0, Unit.DAYS))

# A visit the protocol gives no window ("window: none"): never graded early or late, due
# from its target until a horizon (``due_for``, else the day before the next visit).
UNGRADED = "none"
_GRADED, _UNGRADED = "[window]", "[none]"


def _graded_or_not(value: object) -> str:
    return _UNGRADED if value == UNGRADED else _GRADED


VisitWindow = Annotated[
    Annotated[Literal["none"], Tag(_UNGRADED)] | Annotated[WindowSpec, Tag(_GRADED)],
    Discriminator(_graded_or_not),
]

class Series(Strict):
    every: DurationText
    start: DurationText = Field(alias="from")
    end: DurationText = Field(alias="to")

    @model_validator(mode="after")
    def _sane(self) -> Series:
        units = {self.every.unit, self.start.unit, self.end.unit}
        if len(units) != 1 or any(d.study_day for d in (self.every, self.start, self.end)):
            raise ValueError(
                "every, from and to must use the same unit (days, weeks, months or years)"
            )
        if self.every.amount <= 0:
            raise ValueError("every must be > 0")
        if self.end.amount < self.start.amount:
            raise ValueError("to must be >= from")
        if (self.end.amount - self.start.amount) // self.every.amount >= 200:
            raise ValueError("a series may not yield more than 200 visits")
        return self

    def points(self) -> list[Duration]:
        """Each time point, from ``from`` to ``to`` inclusive, every ``every``."""
        unit = self.every.unit
        steps = range(self.start.amount, self.end.amount + 1, self.every.amount)
        return [Duration(n, unit) for n in steps]


# The tags name the two forms of ``at``; in brackets, so that the loader leaves them out
# of a problem's path, as it does pydantic's other internal steps.
_ONE, _LIST = "[one]", "[list]"


def _one_or_list(value: object) -> str:
    return _LIST if isinstance(value, list | tuple) else _ONE


# Irregular time points: "at: [day 2, day 3, day 5, day 8]", one visit each.
TimePoints = Annotated[tuple[DurationText, ...], Field(min_length=1, max_length=200)]
VisitAt = Annotated[
    Annotated[DurationText, Tag(_ONE)] | Annotated[TimePoints, Tag(_LIST)],
    Discriminator(_one_or_list),
    PlainSerializer(lambda v: [str(d) for d in v] if isinstance(v, tuple) else str(v)),
]
