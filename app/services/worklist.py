"""The coordinators' worklist: visits across subjects, most urgent first, computed in SQL.

A visit's status depends on "today", and today is each site's own local date, so the
sites asked for are grouped by their date and every condition is built per group (sites
are few, visits are millions). Statuses are computed by the database with the same rules
as :func:`app.schedule.status.visit_status`; keep the two in step.

The list is ordered by urgency class (overdue, due, upcoming, the rest) and is read
class by class with one index-friendly query each: overdue and due walk the partial
index ``ix_visits_open_site_window_end``, upcoming ``ix_visits_open_site_window_start``
(``site_id IN (...) AND state = 'planned' AND window_* range``). A page usually needs
one or two of them. Pages are cut by keyset on (class, date, visit id), never OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    and_,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.db import utcnow
from app.errors import InvalidRequest, NotFound
from app.models import Site, Study, StudySite, Subject, Visit
from app.schedule.dates import local_today
from app.schedule.status import Status, deviation
from app.services.access import Actor
from app.services.studies import visible_site, visible_study
from app.services.worklist_sql import (
    MAX_UPCOMING_DAYS,
    NO_DATE,
    PLANNED,
    STATES_OF,
    URGENT,
    Groups,
    Urgency,
    group_by_date,
    in_class,
    sort_key,
    status_expr,
)

MAX_ID = 2**31 - 1


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


@dataclass(frozen=True, slots=True)
class WorklistRow:
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
    status: Status
    as_of: date
    days_overdue: int | None
    days_early: int | None
    days_late: int | None
    actual_date: date | None


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
    site_stmt = select(Site.id, Site.code, Site.time_zone).where(visible_site(actor))
    if sites:
        site_stmt = site_stmt.where(Site.code.in_(sorted(set(sites))))
    refs = tuple(SiteRef(*row) for row in session.execute(site_stmt.order_by(Site.id)))
    if sites:
        _all_found("site", sites, {ref.code for ref in refs})
    study_ids: tuple[int, ...] | None = None
    if studies or actor.studies is not None:
        study_stmt = select(Study.id, Study.code).where(visible_study(actor))
        if studies:
            study_stmt = study_stmt.where(Study.code.in_(sorted(set(studies))))
        found = session.execute(study_stmt.order_by(Study.id)).all()
        if studies:
            _all_found("study", studies, {code for _, code in found})
        study_ids = tuple(study_id for study_id, _ in found)
    return Scope(refs, study_ids)


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


@dataclass(frozen=True, slots=True)
class Cursor:
    rank: Urgency
    key: date
    id: int

    def encode(self) -> str:
        raw = json.dumps([1, int(self.rank), self.key.isoformat(), self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            version, rank, key, ident = json.loads(raw)
            if version != 1 or type(rank) is not int or type(ident) is not int:
                raise ValueError("unknown cursor layout")
            if not 0 <= ident <= MAX_ID:
                raise ValueError("id out of range")
            return cls(Urgency(rank), date.fromisoformat(key), ident)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidRequest(
                "cursor is not valid: pass the next_cursor of a previous page unchanged",
                field="cursor",
            ) from exc


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
    common = _common_filters(actor, scope, date_from, date_to)
    rows: list[tuple[Urgency, int, WorklistRow]] = []
    for rank in Urgency:
        need = limit + 1 - len(rows)
        if need <= 0:
            break
        if after is not None and rank < after.rank:
            continue
        if wanted is not None and not _class_wanted(rank, wanted):
            continue
        where = [in_class(rank, groups), *common]
        if rank is Urgency.OTHER and wanted is not None:
            others = sorted(s for s in wanted if s not in URGENT)
            states = sorted({state for status in others for state in STATES_OF[status]})
            where += [Visit.state.in_(states), status_expr(groups).in_(others)]
        key = sort_key(rank)
        if after is not None and rank == after.rank:
            where += [key >= after.key, or_(key > after.key, Visit.id > after.id)]
        found = session.execute(
            _select(groups).where(*where).order_by(key, Visit.id).limit(need)
        ).all()
        rows += [(rank, r.id, _row(r, today)) for r in found]
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


def _common_filters(
    actor: Actor, scope: Scope, date_from: date | None, date_to: date | None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [actor.scope(Study.code.expression, Site.code.expression)]
    if scope.study_ids is not None:
        where.append(Visit.study_id.in_(scope.study_ids))
    if date_from is not None:
        where.append(Visit.target_date >= date_from)
    if date_to is not None:
        where.append(Visit.target_date <= date_to)
    return where


def _select(groups: Groups) -> Select[*tuple[Any, ...]]:
    # Codes come from the same query (no query per row); only the columns shown.
    return (
        select(
            Visit.id,
            Visit.site_id,
            Study.code.label("study"),
            Subject.subject_id,
            Site.code.label("site"),
            Visit.code,
            Visit.name,
            Visit.phase,
            Visit.kind,
            Visit.target_date,
            Visit.window_start,
            Visit.window_end,
            Visit.actual_date,
            status_expr(groups).label("status"),
        )
        .select_from(Visit)
        .join(Subject, Subject.id == Visit.subject_pk)
        .join(Site, Site.id == Visit.site_id)
        .join(Study, Study.id == Visit.study_id)
    )


def _row(row: Row[*tuple[Any, ...]], today: Mapping[int, date]) -> WorklistRow:
    status = Status(row.status)
    as_of = today[row.site_id]
    overdue = early = late = None
    if status is Status.OVERDUE:
        overdue = (as_of - row.window_end).days
    elif status is Status.COMPLETED_OUT_OF_WINDOW:
        early, late = deviation(row.actual_date, row.window_start, row.window_end)
    return WorklistRow(
        study=row.study,
        subject_id=row.subject_id,
        site=row.site,
        visit=row.code,
        name=row.name,
        phase=row.phase,
        kind=row.kind,
        target_date=row.target_date,
        window_start=row.window_start,
        window_end=row.window_end,
        status=status,
        as_of=as_of,
        days_overdue=overdue,
        days_early=early,
        days_late=late,
        actual_date=row.actual_date,
    )


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
    groups = group_by_date(today)
    status = status_expr(groups)

    def count(name: str) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((status == name, 1), else_=0)), 0)

    # Overdue, due and upcoming visits all open within the upcoming horizon: one range
    # on the window_start partial index per group of sites.
    reach = [
        and_(
            Visit.site_id.in_(ids),
            Visit.window_start <= day + timedelta(days=MAX_UPCOMING_DAYS),
        )
        for day, ids in groups
    ]
    stmt = (
        select(Visit.site_id, Visit.study_id, count("overdue"), count("due"), count("upcoming"))
        .where(Visit.state == PLANNED, reach[0] if len(reach) == 1 else or_(*reach))
        .group_by(Visit.site_id, Visit.study_id)
    )
    links = select(StudySite.site_id, StudySite.study_id).where(
        StudySite.site_id.in_([site.id for site in scope.sites])
    )
    if scope.study_ids is not None:
        stmt = stmt.where(Visit.study_id.in_(scope.study_ids))
        links = links.where(StudySite.study_id.in_(scope.study_ids))
    zero = (0, 0, 0)
    counts: dict[tuple[int, int], tuple[int, int, int]] = dict.fromkeys(
        session.execute(links).tuples(), zero
    )
    for site_id, study_id, overdue, due, upcoming in session.execute(stmt):
        counts[(site_id, study_id)] = (int(overdue), int(due), int(upcoming))
    study_codes = dict(
        session.execute(
            select(Study.id, Study.code).where(Study.id.in_({k[1] for k in counts}))
        ).tuples()
    )
    site_codes = {site.id: site.code for site in scope.sites}
    out = [
        StatusCount(site_codes[site_id], study_codes[study_id], today[site_id], *numbers)
        for (site_id, study_id), numbers in counts.items()
    ]
    return sorted(out, key=lambda c: (c.site, c.study))
