"""Rules a request must pass, decided as values: each broken rule is a :class:`Violation`.

A rule returns every violation it finds instead of raising on the first, so that a
bulk import can report all of them, each beside its column, and a table of cases can
test them. A single request raises the first one (:func:`raise_first`) as the error
its kind names. Dates outside :data:`MIN_DATE`..:data:`MAX_DATE` are typing mistakes,
never real dates of a trial.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from app.errors import Ineligible, InvalidDate, InvalidRequest, ReasonRequired

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2200, 12, 31)


class ViolationKind(StrEnum):
    """Which error a violation is raised as."""

    INVALID_DATE = "invalid_date"  # InvalidDate
    INELIGIBLE = "ineligible"  # Ineligible, with the age and the protocol's limits
    INVALID_REQUEST = "invalid_request"  # InvalidRequest, naming the field


@dataclass(frozen=True, slots=True)
class AgeOutside:
    """An age at consent outside the protocol's range (both bounds inclusive)."""

    age: int
    min_age: int | None  # None: the protocol gives no such bound
    max_age: int | None


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the request field it is about, and what is wrong.

    ``message`` is the whole sentence a single request's error carries. A bulk import
    shows the problem beside its column, where a few messages drop the field name they
    start with (``short``); both wordings are part of the API.
    """

    kind: ViolationKind
    field: str  # consent_date, date_of_birth, anchors, anchors.<name>, date, actual...
    message: str
    short: str | None = None
    age: AgeOutside | None = None  # for INELIGIBLE

    @property
    def row_message(self) -> str:
        """The message beside its column in a bulk import's report."""
        return self.message if self.short is None else self.short

    def error(self) -> InvalidRequest:
        """The error a single request fails with."""
        if self.kind is ViolationKind.INVALID_DATE:
            return InvalidDate(self.message)
        if self.kind is ViolationKind.INELIGIBLE and self.age is not None:
            return Ineligible(self.message, age=self.age.age, min_age=self.age.min_age,
                              max_age=self.age.max_age)
        return InvalidRequest(self.message, field=self.field)


def raise_first(violations: Iterable[Violation]) -> None:
    """Raise the first violation's error, if there is any."""
    for violation in violations:
        raise violation.error()


def in_bounds(value: date) -> bool:
    return MIN_DATE <= value <= MAX_DATE


def date_bounds(value: date, what: str, *, field: str) -> list[Violation]:
    """A date outside MIN_DATE..MAX_DATE (``what`` names it in the message).

    >>> date_bounds(date(2201, 1, 1), "visit date", field="date")[0].message
    'visit date 2201-01-01 is outside 1900-01-01..2200-12-31'
    """
    if in_bounds(value):
        return []
    return [Violation(
        ViolationKind.INVALID_DATE, field,
        f"{what} {value.isoformat()} is outside {MIN_DATE.isoformat()}..{MAX_DATE.isoformat()}",
    )]


def check_date(value: date, what: str) -> None:
    """Raise :class:`InvalidDate` for a date outside MIN_DATE..MAX_DATE."""
    raise_first(date_bounds(value, what, field=what))


def given_reason(reason: str | None) -> str | None:
    """The reason as it is kept (trimmed), or None when none was given."""
    if reason is None or not reason.strip():
        return None
    return reason.strip()


def reason_required(what: str) -> str:
    """The message when ``what`` (a correction, a missed visit) comes without a reason."""
    return f"{what} needs a reason"


def require_reason(reason: str | None, what: str) -> str:
    """The trimmed reason; :class:`ReasonRequired` when there is none."""
    given = given_reason(reason)
    if given is None:
        raise ReasonRequired(reason_required(what))
    return given
