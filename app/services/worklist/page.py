"""The coordinators' worklist: visits across subjects, most urgent first, computed in SQL.

A visit's status depends on "today", and today is each site's own local date, so the
sites asked for are grouped by their date (sites are few, visits are millions) and the
database computes statuses with the rules of :func:`app.schedule.status.visit_status`
(see :mod:`app.services.status_sql`).

The list is ordered by urgency class (overdue, due, upcoming, missed and not
documented, the rest) and is read class by class with index-friendly queries: overdue
and due walk the partial index ``ix_visits_open_site_window_end`` (or
``..._window_start``), upcoming ``ix_visits_open_site_window_start``, the derived
misses ``ix_visits_open_site_missed_from``. A page usually needs one or two of them.
Pages are cut by keyset on (class, date, visit id), never OFFSET.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import InvalidRequest
from app.schedule.lifecycle import STILL_FOLLOWED, Lifecycle
from app.schedule.status import Status, deviation
from app.services.status_sql import (
    NO_DATE,
    URGENT,
    Urgency,
    day_values,
    group_by_date,
)
from app.services.worklist.query import Cursor, page_query
from app.services.worklist.selection import leaves_open, resolve_scope, todays


class WorklistRow(NamedTuple):
    """One visit of the worklist. A named tuple, in the order of the page query's
    columns: a page makes hundreds of them, and a tuple is built ten times faster
    than a frozen dataclass."""

    study: str
    subject_id: str
    site: str
    visit: str
    name: str
    phase: str
    kind: str
    target_date: date | None
    window_start: date | None
    window_end: date | None
    actual_date: date | None
    status: Status
    as_of: date
    days_overdue: int | None
    days_early: int | None
    days_late: int | None
    days_from_target: int | None
    missed_from: date | None  # the day a visit not done began to count as missed


@dataclass(frozen=True, slots=True)
class WorklistPage:
    rows: list[WorklistRow]
    next_cursor: str | None


def _row_key(rank: Urgency, row: WorklistRow) -> date:
    if rank is Urgency.UPCOMING:
        return row.window_start or NO_DATE
    if rank is Urgency.OTHER:
        return row.target_date or NO_DATE
    if rank is Urgency.MISSED_UNDOCUMENTED:
        return row.missed_from or NO_DATE
    return row.window_end or NO_DATE


def worklist(
    session: Session,
    *,
    actor: Actor,
    sites: Sequence[str] | None = None,
    studies: Sequence[str] | None = None,
    statuses: Collection[Status] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    as_of: date | None = None,
    today_by_site: Mapping[int, date] | None = None,
    lifecycles: Collection[Lifecycle] | None = STILL_FOLLOWED,
    now: datetime,
    limit: int = 100,
    cursor: str | None = None,
) -> WorklistPage:
    """One page of visits, most urgent first.

    Each site's "today" is ``as_of`` when given, else ``today_by_site[site id]``, else
    the site's local date at the instant ``now``. ``statuses`` keeps only those
    statuses; ``date_from``/``date_to`` bound the target date (both inclusive).
    ``lifecycles`` keeps the visits of subjects in those lifecycles (by default those
    still on study; None: every subject); keeping those still on study also keeps the
    visits still to do of a phase a subject's leaving opened (early termination).
    """
    if not 1 <= limit <= 500:
        raise InvalidRequest("limit must be between 1 and 500", field="limit")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidRequest("from must not be after to", field="from")
    after = Cursor.decode(cursor) if cursor else None
    scope = resolve_scope(session, actor=actor, sites=sites, studies=studies)
    if not scope.sites:
        return WorklistPage([], None)
    today = todays(scope.sites, as_of=as_of, today_by_site=today_by_site, now=now)
    groups = group_by_date(today)
    wanted = set(statuses) if statuses else None
    values: dict[str, Any] = {"studies": scope.study_ids, "date_from": date_from,
                              "date_to": date_to,
                              "lifecycles": sorted(lc.value for lc in lifecycles or ())}
    rows: list[tuple[Urgency, int, WorklistRow]] = []
    conn = session.connection()  # plain rows, no ORM result machinery
    for rank in Urgency:
        need = limit + 1 - len(rows)
        if need <= 0:
            break
        if after is not None and rank < after.rank:
            continue
        if wanted is not None and not _class_wanted(rank, wanted):
            continue
        others = None
        if rank is Urgency.OTHER and wanted is not None:
            others = tuple(sorted(s for s in wanted if s not in URGENT))
        resumes = False  # this class is where the previous page ended
        if after is not None and rank == after.rank:
            resumes = True
            values.update(after_key=after.key, after_id=after.id)
        stmt = page_query(rank, others, actor, after=resumes,
                          studies=scope.study_ids is not None,
                          date_from=date_from is not None, date_to=date_to is not None,
                          lifecycles=lifecycles is not None,
                          leaving=leaves_open(lifecycles))
        # One query per local date; each is a range scan, merged here by (key, id).
        found: list[tuple[date, int, WorklistRow]] = []
        for day, site_ids in groups:
            params = {**values, **day_values(day), "sites": site_ids, "need": need}
            for ident, *columns in conn.execute(stmt, params):
                row = _row(columns, day)
                found.append((_row_key(rank, row), ident, row))
        found.sort(key=lambda item: (item[0], item[1]))
        rows += [(rank, ident, row) for _, ident, row in found[:need]]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        rank, ident, last = rows[-1]
        next_cursor = Cursor(rank, _row_key(rank, last), ident).encode()
    return WorklistPage([row for _, _, row in rows], next_cursor)


def _class_wanted(rank: Urgency, wanted: set[Status]) -> bool:
    if rank is Urgency.OTHER:
        return any(status not in URGENT for status in wanted)
    return any(URGENT.get(status) is rank for status in wanted)


_STATUSES = {status.value: status for status in Status}


def _row(values: Sequence[Any], as_of: date) -> WorklistRow:
    """One row of :func:`page_query` (after its id) as a worklist row on ``as_of``."""
    (study, subject_id, site, code, name, phase, kind, target, start, end, actual,
     status_value, missed_from) = values
    status = _STATUSES[status_value]
    overdue = early = late = from_target = None
    if status is Status.OVERDUE or status is Status.MISSED_UNDOCUMENTED:
        overdue = (as_of - end).days
    elif status is Status.COMPLETED_OUT_OF_WINDOW:
        early, late = deviation(actual, start, end)
    if actual is not None and target is not None:
        from_target = (actual - target).days
    return WorklistRow(study, subject_id, site, code, name, phase, kind, target, start, end,
                       actual, status, as_of, overdue, early, late, from_target,
                       None if status is not Status.MISSED_UNDOCUMENTED else missed_from)
