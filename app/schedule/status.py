"""The status of a visit as of a date.

A stored visit has a *state* that only changes when something is recorded (planned,
completed, missed, cancelled, not applicable, pending). Its *status* also depends on
the date it is looked at: a planned visit is scheduled, upcoming, due, overdue or
missed (derived, not yet documented) depending on "today", which is always an argument
(the site's local date), never the clock. The SQL worklist mirrors
:func:`visit_status`; keep the two in step.

The deviation numbers of a completed visit: ``days_early`` counts the days from the
actual date to the first day of the window, ``days_late`` from the last day of the
window to the actual date (both None inside the window); ``days_from_target`` is the
actual date minus the target date (negative when early, whatever the window). A visit
without a window (``window: none``) is never graded: no ``days_early`` or ``days_late``.
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
    MISSED_UNDOCUMENTED = "missed_undocumented"  # derived: nobody has documented it yet
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
    days_from_target: int | None = None


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
    target_date: date | None = None,
    missed_from: date | None = None,
    graded: bool = True,
) -> StatusInfo:
    """Status of a visit on ``today``.

    A planned visit is *due* from the first to the last day of its window (both
    inclusive), *overdue* from the day after, *missed_undocumented* from ``missed_from``
    (derived by the engine: a later visit was done, a grace period passed, the subject
    left), *upcoming* during the ``upcoming_days`` before its window opens and
    *scheduled* before that. An optional visit whose window closed without being done
    is *not applicable* rather than overdue: nobody has to chase it. A visit the protocol
    gives no window (``graded`` false) is never graded: completed on any date, it is
    *completed*, with only its ``days_from_target``.
    """
    if state is State.COMPLETED:
        if actual_date is None or window_start is None or window_end is None:
            return _PLAIN[Status.COMPLETED]
        if not graded:
            if target_date is None:
                return _PLAIN[Status.COMPLETED]
            return StatusInfo(Status.COMPLETED, days_from_target=(actual_date - target_date).days)
        early, late = deviation(actual_date, window_start, window_end)
        from_target = None if target_date is None else (actual_date - target_date).days
        if early is None and late is None:
            if from_target is None:
                return _PLAIN[Status.COMPLETED]
            return StatusInfo(Status.COMPLETED, days_from_target=from_target)
        return StatusInfo(Status.COMPLETED_OUT_OF_WINDOW, days_early=early, days_late=late,
                          days_from_target=from_target)
    if state is not State.PLANNED or window_start is None or window_end is None:
        return _OF_STATE[state]  # a planned visit without dates is pending
    if today > window_end:
        if optional:
            return _PLAIN[Status.NOT_APPLICABLE]
        overdue = (today - window_end).days
        if missed_from is not None and today >= missed_from:
            return StatusInfo(Status.MISSED_UNDOCUMENTED, days_overdue=overdue)
        return StatusInfo(Status.OVERDUE, days_overdue=overdue)
    if today >= window_start:
        return _PLAIN[Status.DUE]
    if (window_start - today).days <= upcoming_days:
        return _PLAIN[Status.UPCOMING]
    return _PLAIN[Status.SCHEDULED]
