"""The SQL twin of :func:`app.schedule.status.visit_status`, for many sites at once.

"Today" is each site's local date, so the sites of a query are grouped by their date
(usually one group, two around midnight) and every condition is built per group. The
statuses split into four urgency classes; each class has a condition that the partial
indexes over the visits still to do can answer (``site_id IN (...) AND state =
'planned' AND window_* range``), and together the four partition the visits exactly as
:func:`status_expr` classifies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from enum import IntEnum
from typing import Any

from sqlalchemy import Date, String, and_, case, false, func, literal, literal_column, or_, true
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from app.models import Visit
from app.schedule.status import Status

# The schedule language caps a study's "upcoming" horizon at 90 days, so an upcoming
# visit's window opens at most this far ahead: a tight range on the window_start index.
MAX_UPCOMING_DAYS = 90
# A literal, not a bound parameter: the planners only use a partial index when the
# query repeats its predicate (PostgreSQL's generic plans never do with a parameter).
PLANNED: ColumnElement[str] = literal_column("'planned'", String())
NO_DATE = date(9999, 12, 31)  # sorts undated visits last among "the rest"


class Urgency(IntEnum):
    OVERDUE = 0
    DUE = 1
    UPCOMING = 2
    OTHER = 3


URGENT = {
    Status.OVERDUE: Urgency.OVERDUE,
    Status.DUE: Urgency.DUE,
    Status.UPCOMING: Urgency.UPCOMING,
}
# Stored states that can yield each "other" status (lets the database skip the rest).
STATES_OF = {
    Status.SCHEDULED: ("planned",),
    Status.COMPLETED: ("completed",),
    Status.COMPLETED_OUT_OF_WINDOW: ("completed",),
    Status.MISSED: ("missed",),
    Status.CANCELLED: ("cancelled",),
    Status.PENDING: ("pending", "planned"),
    Status.NOT_APPLICABLE: ("not_applicable", "planned"),
}


Groups = list[tuple[date, list[int]]]
DateExpr = ColumnElement[Any] | InstrumentedAttribute[Any]


def group_by_date(today: Mapping[int, date]) -> Groups:
    """Site ids grouped by their local date (usually one group, two around midnight)."""
    by_date: dict[date, list[int]] = {}
    for site_id, day in sorted(today.items()):
        by_date.setdefault(day, []).append(site_id)
    return sorted(by_date.items())


def day_expr(groups: Groups, shift: int = 0) -> ColumnElement[date]:
    """Each row's site "today" (plus ``shift`` days) as an SQL expression."""
    if len(groups) == 1:
        return literal(groups[0][0] + timedelta(days=shift), Date)
    delta = timedelta(days=shift)
    return case(*((Visit.site_id.in_(ids), literal(day + delta, Date)) for day, ids in groups))


def status_expr(groups: Groups) -> ColumnElement[str]:
    """The SQL twin of :func:`app.schedule.status.visit_status`.

    ``upcoming_from`` is the window start minus the study's upcoming horizon, stored
    with the visit so that SQL needs no protocol to say "upcoming".
    """
    today, horizon = day_expr(groups), day_expr(groups, MAX_UPCOMING_DAYS)
    has_window = and_(Visit.window_start.is_not(None), Visit.window_end.is_not(None))
    outside = or_(Visit.actual_date < Visit.window_start, Visit.actual_date > Visit.window_end)
    closed = case((Visit.optional == true(), "not_applicable"), else_="overdue")
    return case(
        (
            and_(Visit.state == "completed", Visit.actual_date.is_not(None), has_window, outside),
            "completed_out_of_window",
        ),
        (Visit.state != "planned", Visit.state),
        (~has_window, "pending"),
        (Visit.window_end < today, closed),
        (Visit.window_start <= today, "due"),
        (and_(Visit.upcoming_from <= today, Visit.window_start <= horizon), "upcoming"),
        else_="scheduled",
    )


def class_condition(rank: Urgency, today: date) -> ColumnElement[bool]:
    """The visits of one urgency class at sites whose local date is ``today``.

    The four classes partition the visits exactly as :func:`status_expr` does.
    """
    horizon = today + timedelta(days=MAX_UPCOMING_DAYS)
    if rank is Urgency.OVERDUE:
        return and_(
            Visit.state == PLANNED,
            Visit.window_end < today,
            Visit.window_start.is_not(None),
            Visit.optional == false(),
        )
    if rank is Urgency.DUE:
        return and_(Visit.state == PLANNED, Visit.window_end >= today, Visit.window_start <= today)
    if rank is Urgency.UPCOMING:
        return and_(
            Visit.state == PLANNED,
            Visit.window_start > today,
            Visit.window_start <= horizon,
            Visit.upcoming_from <= today,
            Visit.window_end.is_not(None),
        )
    return or_(
        Visit.state != "planned",
        Visit.window_start.is_(None),
        Visit.window_end.is_(None),
        and_(Visit.window_end < today, Visit.optional == true()),
        and_(
            Visit.window_start > today,
            or_(
                Visit.upcoming_from.is_(None),
                Visit.upcoming_from > today,
                Visit.window_start > horizon,
            ),
        ),
    )


def in_class(rank: Urgency, groups: Groups) -> ColumnElement[bool]:
    # One group needs no OR, which keeps the plan a plain range scan of the index.
    parts = [and_(Visit.site_id.in_(ids), class_condition(rank, day)) for day, ids in groups]
    return parts[0] if len(parts) == 1 else or_(*parts)


def sort_key(rank: Urgency) -> DateExpr:
    if rank in (Urgency.OVERDUE, Urgency.DUE):
        return Visit.window_end  # most overdue first; the window closing soonest first
    if rank is Urgency.UPCOMING:
        return Visit.window_start  # the window opening soonest first
    return func.coalesce(Visit.target_date, literal(NO_DATE, Date))
