"""The schedule language: frozen models of what a protocol YAML file may say.

A file has the sections ``study``, ``sites``, ``anchors``, ``event_values``, ``visits``,
``phases``, ``endpoints`` and ``periods``. Durations (:mod:`app.schedule.durations`) are
written as text ("14 days", "-2 days", "2 weeks", "3 months") or as a study day ("day 14"),
which depends on the study's day convention (``anchor_day``). See ``schedules/README.md``
for the full language.

These models check the *shape* of one file. Cross references (unknown anchors,
duplicate codes, cycles) are checked by :mod:`app.schedule.checks` and
:mod:`app.schedule.event_checks`, so that every
mistake of a file is reported at once.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
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

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,39}$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"

Code = Annotated[
    str, Field(pattern=CODE_PATTERN, description="A short code: letters, digits, _ . + -")
]
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="A lower-case identifier")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class AgeRange(Strict):
    min: int = Field(ge=0, le=130, description="Youngest eligible age in whole years, inclusive")
    max: int = Field(ge=0, le=130, description="Oldest eligible age in whole years, inclusive")

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.max < self.min:
            raise ValueError("max must be >= min")
        return self


def _check_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f'"{value}" is not an IANA time zone such as "Asia/Shanghai"') from exc
    return value


class Study(Strict):
    code: Code
    title: str = Field(min_length=1, max_length=300)
    registry_id: str | None = Field(default=None, max_length=40)
    version: str = Field(min_length=1, max_length=40, description="Protocol version")
    target_enrolment: int = Field(ge=1, le=1_000_000)
    age: AgeRange | None = None
    time_zone: str = Field(description="Default IANA time zone of the study's sites")
    anchor_day: Literal[0, 1] = Field(
        description="0: the anchor date is Day 0 (CAR-T); 1: the anchor is Day 1, no Day 0 (SDTM)"
    )
    upcoming_days: int = Field(
        default=7,
        ge=0,
        le=90,
        description="A visit is 'upcoming' this many days before its window opens",
    )
    missed_after: GraceDuration | None = Field(
        default=None,
        description="A visit still not done this long after its window closed counts as "
        "missed (derived, until someone documents it); none: it stays overdue",
    )

    complete_after_last_visit: bool = Field(
        default=False,
        description="A subject counts as having completed the study once every non-optional "
        "visit of the main schedule (and of a phase that opened) is done: completed, missed "
        "or cancelled (derived; a study_completed event still ends it explicitly)",
    )

    _zone = field_validator("time_zone")(_check_zone)


class Site(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    time_zone: str | None = Field(default=None, description="Defaults to the study's time zone")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)


class Anchor(Strict):
    name: Name
    label: str = Field(min_length=1, max_length=200)
    recorded: Literal["at_enrolment", "later"] = Field(
        description="at_enrolment: required to enrol; later: recorded (or planned) after enrolment"
    )


def _days_or_weeks(value: Duration) -> Duration:
    if value.unit is Unit.MONTHS or value.study_day:
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

VisitKind = Literal["clinic", "phone", "procedure", "inpatient", "home"]


class Series(Strict):
    every: DurationText
    start: DurationText = Field(alias="from")
    end: DurationText = Field(alias="to")

    @model_validator(mode="after")
    def _sane(self) -> Series:
        units = {self.every.unit, self.start.unit, self.end.unit}
        if len(units) != 1 or any(d.study_day for d in (self.every, self.start, self.end)):
            raise ValueError("every, from and to must use the same unit (days, weeks or months)")
        if self.every.amount <= 0:
            raise ValueError("every must be > 0")
        if self.end.amount < self.start.amount:
            raise ValueError("to must be >= from")
        if (self.end.amount - self.start.amount) // self.every.amount >= 200:
            raise ValueError("a series may not yield more than 200 visits")
        return self


class Visit(Strict):
    """One visit, or a series of visits when ``series`` is given.

    In a series, ``code`` and ``name`` are templates: ``{n}`` is the time point in the
    series' unit (3, 6, 9 for months) and ``{i}`` its position (1, 2, 3).
    """

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    anchor: Name | None = Field(default=None, description="Defaults to the phase or study anchor")
    after_visit: str | None = Field(
        default=None, description="Time from the actual date of this earlier visit instead"
    )
    at: DurationText | None = None
    series: Series | None = None
    window: WindowSpec = NO_WINDOW
    kind: VisitKind = "clinic"
    optional: bool = False
    stops_at_progression: bool = False
    assessments: tuple[Code, ...] = ()
    missed_after: GraceDuration | None = Field(
        default=None, description="Overrides the study's missed_after for this visit"
    )
    records: Name | None = Field(
        default=None,
        description="The anchor whose actual date this visit is: completing the visit sets "
        "the anchor, confirming the anchor completes the visit (timed on the anchor's day, "
        "no window)",
    )

    @model_validator(mode="after")
    def _timing(self) -> Visit:
        if (self.at is None) == (self.series is None):
            raise ValueError("give exactly one of 'at' or 'series'")
        if self.anchor is not None and self.after_visit is not None:
            raise ValueError("give 'anchor' or 'after_visit', not both")
        if self.series is not None and self.after_visit is not None:
            raise ValueError("a series is timed from an anchor, not from a visit")
        return self


class Term(Strict):
    """One value an event may carry: a case-sensitive code (IMWG writes sCR) and its label."""

    value: Code
    label: str | None = Field(default=None, min_length=1, max_length=200)


class EventValues(Strict):
    """Per event type that carries a value, the values it may carry, in the protocol's order.

    One field per such event type. An event type the file leaves out accepts any code, as
    before vocabularies were declared: protocol versions already stored still load, and
    their phase conditions are not checked against anything.
    """

    # Left out: (), which a file cannot write (min_length), so "declared" is never empty.
    response: tuple[Term, ...] = Field(default=(), min_length=1)

    def terms(self, event: str) -> tuple[Term, ...] | None:
        """The declared values of an event type; None when the protocol declares none."""
        if event not in type(self).model_fields:
            return None
        declared: tuple[Term, ...] = getattr(self, event)
        return declared or None

    def declared(self) -> dict[str, tuple[Term, ...]]:
        """Every event type with a declared vocabulary, in the order of the fields."""
        return {
            event: terms
            for event in type(self).model_fields
            if (terms := self.terms(event)) is not None
        }


class Condition(Strict):
    event: Literal["response"] = "response"
    values: tuple[Code, ...] = Field(
        min_length=1,
        description="Response values that open the phase; each one declared in event_values "
                    "when the protocol declares response values",
    )


class Phase(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    anchor: Name
    condition: Condition
    closes_on: tuple[Literal["progression", "death", "withdrawal", "lost_to_follow_up"], ...] = (
        "progression",
    )
    stops_at_progression: bool = False
    visits: tuple[Visit, ...] = Field(min_length=1)


class Endpoint(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=300)
    anchor: Name
    at: tuple[DurationText, ...] = Field(min_length=1)
    window: WindowSpec = NO_WINDOW
    assessment: Code | None = Field(default=None, description="Defaults to the endpoint's code")
    satisfied_by: tuple[str, ...] | None = Field(
        default=None, description="Visit codes that may satisfy it; any visit when omitted"
    )

    @property
    def assessment_code(self) -> str:
        return self.assessment or self.code


class Period(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    anchor: Name
    start: DurationText = Field(alias="from")
    end: DurationText = Field(alias="to")


class Protocol(Strict):
    """A whole schedule file."""

    study: Study
    sites: tuple[Site, ...] = ()
    anchors: tuple[Anchor, ...] = Field(min_length=1)
    default_anchor: Name | None = Field(
        default=None, description="Anchor of visits that name none; defaults to the first anchor"
    )
    event_values: EventValues = EventValues()
    visits: tuple[Visit, ...] = Field(min_length=1)
    phases: tuple[Phase, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    periods: tuple[Period, ...] = ()

    @property
    def main_anchor(self) -> str:
        return self.default_anchor or self.anchors[0].name

    def allowed_values(self, event: str) -> tuple[str, ...] | None:
        """The values an event of this type may carry; None: any code (none declared)."""
        terms = self.event_values.terms(event)
        return None if terms is None else tuple(t.value for t in terms)
