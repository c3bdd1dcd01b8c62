"""The coordinators' worklist: visits across subjects, most urgent first, computed in SQL.

A visit's status depends on "today", and today is each site's own local date, so the
sites asked for are grouped by their date (sites are few, visits are millions) and the
database computes statuses with the rules of :func:`app.schedule.status.visit_status`
(see :mod:`app.services.worklist_sql`).

The list is ordered by urgency class (overdue, due, upcoming, the rest) and is read
class by class with index-friendly queries: overdue and due walk the partial index
``ix_visits_open_site_window_end`` (or ``..._window_start``), upcoming
``ix_visits_open_site_window_start``. A page usually needs one or two of them. Pages
are cut by keyset on (class, date, visit id), never OFFSET.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Select,
    bindparam,
    case,
    func,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.db import utcnow
from app.errors import InvalidRequest, NotFound
from app.models import Site, Study, StudySite, Visit
from app.schedule.dates import local_today
from app.schedule.status import Status, deviation
from app.services.access import Actor
from app.services.studies import visible_site, visible_study
from app.services.worklist_sql import (
    MAX_UPCOMING_DAYS,
    NO_DATE,
    PLANNED,
    URGENT,
    Cursor,
    Urgency,
    day_values,
    group_by_date,
    page_query,
    urgent,
)


@dataclass(frozen=True, slots=True)
class SiteRef:
    id: int
    code: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class Scope:
    """What a request may read: the sites (checked) and the studies (None: all)."""

    sites: tuple[SiteRef, ...]
    study_ids: tuple[int, ...] | None


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


@dataclass(frozen=True, slots=True)
class WorklistPage:
    rows: list[WorklistRow]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class StatusCount:
    site: str
    study: str
    as_of: date
    overdue: int
    due: int
    upcoming: int


def resolve_scope(
    session: Session,
    *,
    actor: Actor,
    sites: Sequence[str] | None = None,
    studies: Sequence[str] | None = None,
) -> Scope:
    """The sites and studies asked for, limited to what the actor may see.

    A code the actor may not see is reported exactly like one that does not exist.
    """
    conn = session.connection()  # plain rows: this runs on every worklist request
    codes = {"codes": sorted(set(sites))} if sites else {}
    refs = tuple(SiteRef(*row) for row in conn.execute(_sites_query(actor, bool(sites)), codes))
    if sites:
        _all_found("site", sites, {ref.code for ref in refs})
    study_ids: tuple[int, ...] | None = None
    if studies or actor.studies is not None:
        study_stmt = select(Study.id, Study.code).where(visible_study(actor))
        if studies:
            study_stmt = study_stmt.where(Study.code.in_(sorted(set(studies))))
        found = conn.execute(study_stmt.order_by(Study.id)).all()
        if studies:
            _all_found("study", studies, {code for _, code in found})
        study_ids = tuple(study_id for study_id, _ in found)
    return Scope(refs, study_ids)


@lru_cache(maxsize=64)
def _sites_query(actor: Actor, by_code: bool) -> Select[int, str, str]:
    """The sites the actor may see (those of the CODES when ``by_code``); built once."""
    stmt = select(Site.id, Site.code, Site.time_zone).where(visible_site(actor))
    if by_code:
        stmt = stmt.where(Site.code.in_(bindparam("codes", expanding=True)))
    return stmt.order_by(Site.id)


def _all_found(kind: str, asked: Sequence[str], found: set[str]) -> None:
    missing = sorted(set(asked) - found)
    if missing:
        raise NotFound(f"{kind} {', '.join(missing)} not found")


def todays(
    sites: Sequence[SiteRef],
    *,
    as_of: date | None = None,
    today_by_site: Mapping[int, date] | None = None,
    now: datetime | None = None,
) -> dict[int, date]:
    """Each site's "today": ``as_of`` for all, else ``today_by_site``, else the local
    date at the site at the instant ``now`` (the clock when not given)."""
    given = today_by_site or {}
    moment = now or utcnow()
    return {
        site.id: as_of or given.get(site.id) or local_today(moment, site.time_zone)
        for site in sites
    }


def _row_key(rank: Urgency, row: WorklistRow) -> date:
    if rank is Urgency.UPCOMING:
        return row.window_start or NO_DATE
    if rank is Urgency.OTHER:
        return row.target_date or NO_DATE
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
    now: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> WorklistPage:
    """One page of visits, most urgent first.

    Each site's "today" is ``as_of`` when given, else ``today_by_site[site id]``, else
    the site's local date at ``now`` (the clock). ``statuses`` keeps only those
    statuses; ``date_from``/``date_to`` bound the target date (both inclusive).
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
                              "date_to": date_to}
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
                          date_from=date_from is not None, date_to=date_to is not None)
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
     status_value) = values
    status = _STATUSES[status_value]
    overdue = early = late = None
    if status is Status.OVERDUE:
        overdue = (as_of - end).days
    elif status is Status.COMPLETED_OUT_OF_WINDOW:
        early, late = deviation(actual, start, end)
    return WorklistRow(study, subject_id, site, code, name, phase, kind, target, start, end,
                       actual, status, as_of, overdue, early, late)


def status_counts(
    session: Session,
    *,
    actor: Actor,
    sites: Sequence[str] | None = None,
    studies: Sequence[str] | None = None,
    as_of: date | None = None,
    today_by_site: Mapping[int, date] | None = None,
    now: datetime | None = None,
) -> list[StatusCount]:
    """Overdue, due and upcoming visits per site and study (the same rules and "today"
    as :func:`worklist`). Every study a site takes part in is listed, even with zeros."""
    scope = resolve_scope(session, actor=actor, sites=sites, studies=studies)
    if not scope.sites:
        return []
    today = todays(scope.sites, as_of=as_of, today_by_site=today_by_site, now=now)
    links = select(StudySite.site_id, StudySite.study_id).where(
        StudySite.site_id.in_([site.id for site in scope.sites])
    )
    if scope.study_ids is not None:
        links = links.where(StudySite.study_id.in_(scope.study_ids))
    zero = (0, 0, 0)
    counts: dict[tuple[int, int], tuple[int, int, int]] = dict.fromkeys(
        session.execute(links).tuples(), zero
    )
    for day, site_ids in group_by_date(today):
        for site_id, study_id, *numbers in session.execute(
            _count_query(site_ids, day, scope.study_ids)
        ):
            counts[(site_id, study_id)] = (int(numbers[0]), int(numbers[1]), int(numbers[2]))
    study_ids = sorted({study_id for _, study_id in counts})
    study_codes = dict(
        session.execute(select(Study.id, Study.code).where(Study.id.in_(study_ids))).tuples().all()
    )
    site_codes = {site.id: site.code for site in scope.sites}
    out = [
        StatusCount(site_codes[site_id], study_codes[study_id], today[site_id], *numbers)
        for (site_id, study_id), numbers in counts.items()
    ]
    return sorted(out, key=lambda c: (c.site, c.study))


def _count_query(
    site_ids: Sequence[int], today: date, study_ids: Sequence[int] | None
) -> Select[*tuple[Any, ...]]:
    def count(rank: Urgency) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((urgent(rank, today), 1), else_=0)), 0)

    # Overdue, due and upcoming visits all open within the upcoming horizon: one range
    # on the window_start partial index.
    stmt = (
        select(
            Visit.site_id,
            Visit.study_id,
            count(Urgency.OVERDUE),
            count(Urgency.DUE),
            count(Urgency.UPCOMING),
        )
        .where(
            Visit.site_id.in_(site_ids),
            Visit.state == PLANNED,
            Visit.window_start <= today + timedelta(days=MAX_UPCOMING_DAYS),
        )
        .group_by(Visit.site_id, Visit.study_id)
    )
    return stmt if study_ids is None else stmt.where(Visit.study_id.in_(study_ids))
