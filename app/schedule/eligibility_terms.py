"""What a protocol says about who may be enrolled: the age at consent, and dates that
must fall within a span after consent ("screening within 28 days of consent").

Both count from the consent date, never from the day the subject is entered into the
service: a subject enrolled through a bulk import months later is judged by the same
dates. :mod:`app.schedule.eligibility` applies them to an enrolment.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, model_validator

from app.schedule.dates import Offset
from app.schedule.durations import Duration, parse_duration
from app.schedule.names import Strict

CONSENT_ANCHOR = "consent"


class AgeRange(Strict):
    """Eligible ages at consent; a protocol may give only one bound (">= 50 years")."""

    min: int | None = Field(
        default=None, ge=0, le=130, description="Youngest eligible age in whole years, inclusive"
    )
    max: int | None = Field(
        default=None, ge=0, le=130, description="Oldest eligible age in whole years, inclusive"
    )

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("max must be >= min")
        return self

    def admits(self, age: int) -> bool:
        return (self.min is None or age >= self.min) and (self.max is None or age <= self.max)

    def __str__(self) -> str:
        """As the pages show it: "18–70 years", "50 years or older", "75 years or younger"."""
        if self.min is not None and self.max is not None:
            return f"{self.min}–{self.max} years"
        if self.min is not None:
            return f"{self.min} years or older"
        return f"{self.max} years or younger"


def _span(value: Duration) -> Duration:
    if value.study_day:
        raise ValueError(f'write the span after consent as "{value.amount} days", not '
                         f'"{value}"')
    if value.amount < 0:
        raise ValueError("must not be negative: the date is on or after the consent date")
    return value


# How long after consent an eligibility date may be: days, weeks, months or years.
SPAN_PATTERN = r"^\s*\+?\d{1,4}\s+(?:days?|weeks?|months?|years?)\s*$"
_SpanString = Annotated[str, Field(
    pattern=SPAN_PATTERN, description='"28 days", "4 weeks", "1 month" or "1 year"')]
AfterConsent = Annotated[
    Duration,
    BeforeValidator(parse_duration, json_schema_input_type=_SpanString),
    PlainSerializer(str, return_type=str),
    AfterValidator(_span),
]


def after_consent_problem(name: object, recorded: object) -> str | None:
    """Why an anchor may not carry ``after_consent``, or None when it may.

    Eligibility is decided at enrolment, so the date must be one given then; a date
    recorded later is a fact of the calendar, never refused for being late.
    """
    if name == CONSENT_ANCHOR:
        return "the consent anchor is the consent date itself"
    if recorded != "at_enrolment":
        return ("after_consent applies to an anchor given at enrolment (recorded: "
                "at_enrolment): eligibility is decided when the subject is enrolled")
    return None


def latest_after_consent(consent: date, span: Duration) -> date:
    """The last eligible date ``span`` after ``consent`` (both ends inclusive).

    Months and years are calendar months, clamped to the end of a shorter month:

    >>> from app.schedule.durations import Unit
    >>> latest_after_consent(date(2024, 1, 31), Duration(1, Unit.MONTHS))
    datetime.date(2024, 2, 29)
    >>> latest_after_consent(date(2026, 1, 5), Duration(28, Unit.DAYS))
    datetime.date(2026, 2, 2)
    >>> latest_after_consent(date(2026, 1, 5), Duration(4, Unit.WEEKS))
    datetime.date(2026, 2, 2)
    """
    months = span.calendar_months
    offset = Offset(days=span.offset_days_for(0)) if months is None else Offset(months=months)
    try:
        return offset.apply(consent)
    except (OverflowError, ValueError):  # "9999 years" after a late date: no limit at all
        return date.max
