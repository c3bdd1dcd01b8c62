"""The status of a visit as of a date.

A stored visit has a *state* that only changes when something is recorded (planned,
completed, missed, cancelled, not applicable, pending). Its *status* also depends on
the date it is looked at: a planned visit is scheduled, upcoming, due or overdue
depending on "today", which is always an argument (the site's local date), never the
clock. The SQL worklist mirrors :func:`visit_status`; keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class State(StrEnum):
    PLANNED = "planned"
    COMPLETED = "completed"
    MISSED = "missed"
    CANCELLED = "cancelled"
    NOT_APPLICABLE = "not_applicable"
    PENDING = "pending"


DONE_STATES = frozenset({State.COMPLETED, State.MISSED})


class Status(StrEnum):
    SCHEDULED = "scheduled"
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    COMPLETED = "completed"
    COMPLETED_OUT_OF_WINDOW = "completed_out_of_window"
    MISSED = "missed"
    CANCELLED = "cancelled"
    NOT_APPLICABLE = "not_applicable"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class StatusInfo:
    status: Status
    days_overdue: int | None = None
    days_early: int | None = None
    days_late: int | None = None


# Statuses that carry no number are shared: a calendar of many visits allocates none.
_PLAIN = {status: StatusInfo(status) for status in Status}
_OF_STATE = {
    State.MISSED: _PLAIN[Status.MISSED],
    State.CANCELLED: _PLAIN[Status.CANCELLED],
    State.NOT_APPLICABLE: _PLAIN[Status.NOT_APPLICABLE],
    State.PENDING: _PLAIN[Status.PENDING],
    State.PLANNED: _PLAIN[Status.PENDING],
}


def deviation(actual: date, window_start: date, window_end: date) -> tuple[int | None, int | None]:
    """Days early and days late of a visit done on ``actual`` (None when inside).

    >>> deviation(date(2025, 4, 5), date(2025, 4, 7), date(2025, 4, 11))
    (2, None)
    """
    if actual < window_start:
        return (window_start - actual).days, None
    if actual > window_end:
        return None, (actual - window_end).days
    return None, None


def visit_status(
    *,
    state: State,
    window_start: date | None,
    window_end: date | None,
    actual_date: date | None,
    optional: bool,
    today: date,
    upcoming_days: int,
) -> StatusInfo:
    """Status of a visit on ``today``.

    A planned visit is *due* from the first to the last day of its window (both
    inclusive), *overdue* from the day after, *upcoming* during the ``upcoming_days``
    before its window opens and *scheduled* before that. An optional visit whose window
    closed without being done is *not applicable* rather than overdue: nobody has to
    chase it.
    """
    if state is State.COMPLETED:
        if actual_date is None or window_start is None or window_end is None:
            return _PLAIN[Status.COMPLETED]
        early, late = deviation(actual_date, window_start, window_end)
        if early is None and late is None:
            return _PLAIN[Status.COMPLETED]
        return StatusInfo(Status.COMPLETED_OUT_OF_WINDOW, days_early=early, days_late=late)
    if state is not State.PLANNED or window_start is None or window_end is None:
        return _OF_STATE[state]  # a planned visit without dates is pending
    if today > window_end:
        if optional:
            return _PLAIN[Status.NOT_APPLICABLE]
        return StatusInfo(Status.OVERDUE, days_overdue=(today - window_end).days)
    if today >= window_start:
        return _PLAIN[Status.DUE]
    if (window_start - today).days <= upcoming_days:
        return _PLAIN[Status.UPCOMING]
    return _PLAIN[Status.SCHEDULED]
