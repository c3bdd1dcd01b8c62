"""Overdue, due, upcoming and missed-not-documented visits per site and study, counted
in SQL: two indexed ranges per local date (the window_start partial index for the first
three, the missed_from one for the derived misses).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    case,
    func,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.access import Actor
from app.models import Study, StudySite, Subject, Visit
from app.schedule.lifecycle import STILL_FOLLOWED, Lifecycle
from app.services.status_sql import (
    MAX_UPCOMING_DAYS,
    PLANNED,
    Urgency,
    group_by_date,
    in_class,
    of_subjects,
    urgent,
)
from app.services.worklist.selection import leaves_open, resolve_scope, todays


@dataclass(frozen=True, slots=True)
class StatusCount:
    site: str
    study: str
    as_of: date
    overdue: int
    due: int
    upcoming: int
    missed_undocumented: int


def status_counts(
    session: Session,
    *,
    actor: Actor,
    sites: Sequence[str] | None = None,
    studies: Sequence[str] | None = None,
    as_of: date | None = None,
    today_by_site: Mapping[int, date] | None = None,
    lifecycles: Collection[Lifecycle] | None = STILL_FOLLOWED,
    now: datetime,
) -> list[StatusCount]:
    """Overdue, due, upcoming and missed-not-documented visits per site and study (the
    same rules, "today" and subjects as :func:`worklist`: by default those still on
    study). Every study a site takes part in is listed, even with zeros."""
    scope = resolve_scope(session, actor=actor, sites=sites, studies=studies)
    if not scope.sites:
        return []
    today = todays(scope.sites, as_of=as_of, today_by_site=today_by_site, now=now)
    links = select(StudySite.site_id, StudySite.study_id).where(
        StudySite.site_id.in_([site.id for site in scope.sites])
    )
    if scope.study_ids is not None:
        links = links.where(StudySite.study_id.in_(scope.study_ids))
    zero = (0, 0, 0, 0)
    counts: dict[tuple[int, int], tuple[int, int, int, int]] = dict.fromkeys(
        session.execute(links).tuples(), zero
    )
    for day, site_ids in group_by_date(today):
        for site_id, study_id, *numbers in session.execute(
            _count_query(site_ids, day, scope.study_ids, lifecycles)
        ):
            missed = counts.get((site_id, study_id), zero)[3]
            counts[(site_id, study_id)] = (int(numbers[0]), int(numbers[1]), int(numbers[2]),
                                           missed)
        for site_id, study_id, missed in session.execute(
            _missed_query(site_ids, day, scope.study_ids)
        ):
            overdue, due, upcoming, _ = counts.get((site_id, study_id), zero)
            counts[(site_id, study_id)] = (overdue, due, upcoming, int(missed))
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
    site_ids: Sequence[int], today: date, study_ids: Sequence[int] | None,
    lifecycles: Collection[Lifecycle] | None,
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
    if lifecycles is not None:
        stmt = stmt.join(Subject, Subject.id == Visit.subject_pk).where(of_subjects(
            Subject.lifecycle.in_(sorted(lc.value for lc in lifecycles)),
            leaves_open(lifecycles)))
    return stmt if study_ids is None else stmt.where(Visit.study_id.in_(study_ids))


def _missed_query(
    site_ids: Sequence[int], today: date, study_ids: Sequence[int] | None
) -> Select[*tuple[Any, ...]]:
    # The derived misses lie anywhere in the past: their own class's range on the
    # missed_from partial index, never a scan of the closed windows.
    stmt = (
        select(Visit.site_id, Visit.study_id, func.count())
        .where(in_class(Urgency.MISSED_UNDOCUMENTED, site_ids, today))
        .group_by(Visit.site_id, Visit.study_id)
    )
    return stmt if study_ids is None else stmt.where(Visit.study_id.in_(study_ids))
