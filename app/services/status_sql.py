"""The SQL twin of :func:`app.schedule.status.visit_status`, for many sites at once.

"Today" is each site's local date, so the sites of a query are grouped by their date
and one query is run per group (at most three: every zone on Earth is within a day of
UTC), each with plain dates the planner can range over. The statuses split into five
classes; each urgent one has a condition that a partial index over the visits still to
do answers (``site_id IN (...) AND state = 'planned' AND window_* or missed_from
range``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from enum import IntEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Date,
    String,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    literal_column,
    or_,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from app.models import Visit
from app.schedule.status import State, Status

# The schedule language caps a study's "upcoming" horizon at 90 days, so an upcoming
# visit's window opens at most this far ahead: a tight range on the window_start index.
MAX_UPCOMING_DAYS = 90


# A literal, not a bound parameter: the planners only use a partial index when the
# query repeats its predicate (PostgreSQL's generic plans never do with a parameter).
PLANNED: ColumnElement[str] = literal_column(f"'{State.PLANNED.value}'", String())


NO_DATE = date(9999, 12, 31)  # sorts undated visits last among "the rest"


class Urgency(IntEnum):
    OVERDUE = 0
    DUE = 1
    UPCOMING = 2
    MISSED_UNDOCUMENTED = 3  # derived misses nobody has documented yet
    OTHER = 4


URGENT = {
    Status.OVERDUE: Urgency.OVERDUE,
    Status.DUE: Urgency.DUE,
    Status.UPCOMING: Urgency.UPCOMING,
    Status.MISSED_UNDOCUMENTED: Urgency.MISSED_UNDOCUMENTED,
}


# Stored states that can yield each "other" status (lets the database skip the rest).
STATES_OF = {
    Status.SCHEDULED: (State.PLANNED.value,),
    Status.COMPLETED: (State.COMPLETED.value,),
    Status.COMPLETED_OUT_OF_WINDOW: (State.COMPLETED.value,),
    Status.MISSED: (State.MISSED.value,),
    Status.CANCELLED: (State.CANCELLED.value,),
    Status.PENDING: (State.PENDING.value, State.PLANNED.value),
    Status.NOT_APPLICABLE: (State.NOT_APPLICABLE.value, State.PLANNED.value),
}


Groups = list[tuple[date, list[int]]]


DateExpr = ColumnElement[Any] | InstrumentedAttribute[Any]


# "Today" is a date, or the TODAY placeholder of a statement built once (page_query).
Day = date | BindParameter[date]


TODAY: BindParameter[date] = bindparam("today", type_=Date)


HORIZON: BindParameter[date] = bindparam("horizon", type_=Date)


def horizon(today: Day) -> Day:
    """The last day an upcoming visit's window may open (HORIZON for TODAY)."""
    if isinstance(today, BindParameter):
        return HORIZON
    return today + timedelta(days=MAX_UPCOMING_DAYS)


def day_values(today: date) -> dict[str, Day]:
    """The values of TODAY and HORIZON for sites whose date is ``today``."""
    return {"today": today, "horizon": horizon(today)}


def group_by_date(today: Mapping[int, date]) -> Groups:
    """Site ids grouped by their local date (one group, or two or three across zones)."""
    by_date: dict[date, list[int]] = {}
    for site_id, day in sorted(today.items()):
        by_date.setdefault(day, []).append(site_id)
    return sorted(by_date.items())


@lru_cache(maxsize=16)
def status_expr(today: Day) -> ColumnElement[str]:
    """The SQL twin of :func:`app.schedule.status.visit_status` at sites whose local
    date is ``today``.

    ``upcoming_from`` is the window start minus the study's upcoming horizon, stored
    with the visit so that SQL needs no protocol to say "upcoming". Kept per date: the
    expression is immutable, and building it is most of the cost of a small page.
    """
    last = horizon(today)
    has_window = and_(Visit.window_start.is_not(None), Visit.window_end.is_not(None))
    outside = or_(Visit.actual_date < Visit.window_start, Visit.actual_date > Visit.window_end)
    closed = case(
        (Visit.optional == true(), "not_applicable"),
        (Visit.missed_from <= today, "missed_undocumented"),
        else_="overdue",
    )
    return case(
        (
            and_(Visit.state == State.COMPLETED.value, Visit.actual_date.is_not(None), has_window,
                 outside, Visit.graded == true()),
            "completed_out_of_window",
        ),
        (Visit.state != State.PLANNED.value, Visit.state),
        (~has_window, "pending"),
        (Visit.window_end < today, closed),
        (Visit.window_start <= today, "due"),
        (and_(Visit.upcoming_from <= today, Visit.window_start <= last), "upcoming"),
        else_="scheduled",
    )


def urgent(rank: Urgency, today: Day) -> ColumnElement[bool]:
    """Among planned visits, those of an urgent class on ``today`` (what
    :func:`status_expr` calls overdue, due or upcoming, without its other branches)."""
    if rank is Urgency.OVERDUE:
        return and_(
            Visit.window_end < today,
            Visit.window_start.is_not(None),
            Visit.optional == false(),
            or_(Visit.missed_from.is_(None), Visit.missed_from > today),
        )
    if rank is Urgency.MISSED_UNDOCUMENTED:
        # missed_from is set only on visits with a window that closed before it.
        return and_(
            Visit.missed_from.is_not(None),
            Visit.missed_from <= today,
            Visit.optional == false(),
        )
    if rank is Urgency.DUE:
        return and_(Visit.window_end >= today, Visit.window_start <= today)
    if rank is Urgency.UPCOMING:
        return and_(
            Visit.window_start > today,
            Visit.window_start <= horizon(today),
            Visit.upcoming_from <= today,
            Visit.window_end.is_not(None),
        )
    raise ValueError(f"{rank.name} is not an urgent class")


def in_class(
    rank: Urgency, site_ids: Sequence[int] | BindParameter[Any], today: Day
) -> ColumnElement[bool]:
    """The visits of one urgency class at sites whose local date is ``today``.

    The four classes partition the visits exactly as :func:`status_expr` classifies
    them. The urgent ones repeat the partial indexes' predicate (``state = 'planned'``)
    and give a range on ``window_end`` or ``window_start`` right after ``site_id``.
    """
    at_sites = Visit.site_id.in_(site_ids)
    if rank is not Urgency.OTHER:
        return and_(at_sites, Visit.state == PLANNED, urgent(rank, today))
    last = horizon(today)
    return and_(
        at_sites,
        or_(
            Visit.state != State.PLANNED.value,
            Visit.window_start.is_(None),
            Visit.window_end.is_(None),
            and_(Visit.window_end < today, Visit.optional == true()),
            and_(
                Visit.window_start > today,
                or_(
                    Visit.upcoming_from.is_(None),
                    Visit.upcoming_from > today,
                    Visit.window_start > last,
                ),
            ),
        ),
    )


def of_subjects(lifecycle_in: ColumnElement[bool], leaving: bool) -> ColumnElement[bool]:
    """The visits of the subjects a lifecycle filter keeps (``lifecycle_in``, a condition
    on the subject row). With ``leaving`` (the filter keeps the subjects still on study)
    also the visits still to do of a phase the end of follow-up opened: a withdrawn
    subject's early-termination visit is the coordinator's to book. The index range of
    each class is unchanged: this is checked on the subject row each visit joins anyway."""
    if not leaving:
        return lifecycle_in
    return or_(lifecycle_in, and_(Visit.after_leaving == true(), Visit.state == PLANNED))


def sort_key(rank: Urgency) -> DateExpr:
    if rank in (Urgency.OVERDUE, Urgency.DUE):
        return Visit.window_end  # most overdue first; the window closing soonest first
    if rank is Urgency.UPCOMING:
        return Visit.window_start  # the window opening soonest first
    if rank is Urgency.MISSED_UNDOCUMENTED:
        return Visit.missed_from  # missed the longest first
    return func.coalesce(Visit.target_date, literal(NO_DATE, Date))
