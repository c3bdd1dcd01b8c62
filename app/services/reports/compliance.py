"""Visit compliance per visit and site, counted in SQL over the visit rows.

Each visit's status is :func:`app.services.status_sql.status_expr` at its site's local
date (the same rules as the calendar, the worklist and the digest); one GROUP BY per
group of sites sharing a date counts the statuses per site and visit code, with the
out-of-window completions split into early and late.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, case, false, func, select
from sqlalchemy.orm import Session

from app.access import Actor
from app.models import Visit
from app.schedule.status import Status
from app.services.reports.scope import ReportScope, rate, report_scope
from app.services.status_sql import group_by_date, status_expr


class ComplianceColumn(StrEnum):
    """The outcome classes a visit is counted in (their sum is ``expected``)."""

    IN_WINDOW = "in_window"
    EARLY = "early"
    LATE = "late"
    MISSED_DOCUMENTED = "missed_documented"
    MISSED_UNDOCUMENTED = "missed_undocumented"
    OVERDUE = "overdue"


# The status of each class; completed_out_of_window is split on the window's side.
COLUMN_OF: dict[Status, ComplianceColumn] = {
    Status.COMPLETED: ComplianceColumn.IN_WINDOW,
    Status.MISSED: ComplianceColumn.MISSED_DOCUMENTED,
    Status.MISSED_UNDOCUMENTED: ComplianceColumn.MISSED_UNDOCUMENTED,
    Status.OVERDUE: ComplianceColumn.OVERDUE,
}


@dataclass(frozen=True, slots=True)
class ComplianceCounts:
    in_window: int = 0
    early: int = 0
    late: int = 0
    missed_documented: int = 0
    missed_undocumented: int = 0
    overdue: int = 0

    @property
    def expected(self) -> int:
        """Visits that should have happened by now: done, documented as missed, or not
        done with their window closed (not optional, not cancelled)."""
        return (self.in_window + self.early + self.late + self.missed_documented
                + self.missed_undocumented + self.overdue)

    def count(self, column: ComplianceColumn) -> int:
        value: int = getattr(self, column.value)
        return value

    def rate(self, column: ComplianceColumn) -> float | None:
        """The share of ``expected`` in ``column`` (None when nothing is expected)."""
        return rate(self.count(column), self.expected)

    def plus(self, other: ComplianceCounts) -> ComplianceCounts:
        return ComplianceCounts(*(getattr(self, f.name) + getattr(other, f.name)
                                  for f in fields(self)))


ZERO = ComplianceCounts()


@dataclass(frozen=True, slots=True)
class ComplianceRow:
    site: str
    visit: str
    name: str
    counts: ComplianceCounts


@dataclass(frozen=True, slots=True)
class ComplianceTotal:
    key: str  # the site code (per site) or the visit code (per visit)
    name: str  # the visit's name, or the site code again
    counts: ComplianceCounts


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    study: str
    as_of: dict[str, date]  # site code -> the local date its statuses are computed for
    rows: tuple[ComplianceRow, ...]  # per site, then per visit in protocol order
    by_site: tuple[ComplianceTotal, ...]
    by_visit: tuple[ComplianceTotal, ...]
    total: ComplianceCounts


def compliance_report(
    session: Session, *, study: str, actor: Actor, now: datetime, as_of: date | None = None
) -> ComplianceReport:
    """Visit compliance of ``study`` per site and visit, at the sites the actor may see.

    Every subject counts, whatever its lifecycle (a visit missed before a subject left
    is still missed); unscheduled visits do not (they have no window). A visit counts
    at the site it belongs to (the site in effect on its date).
    """
    scope = report_scope(session, study=study, actor=actor, now=now, as_of=as_of)
    counted: dict[tuple[int, str], dict[ComplianceColumn, int]] = {}
    today = {site.id: site.today for site in scope.sites}
    for day, site_ids in group_by_date(today):
        for site_id, code, status, early, number in session.execute(
            _count_query(scope.study_id, site_ids, day)
        ):
            column = _column(Status(status), bool(early))
            if column is not None:
                cell = counted.setdefault((site_id, code), {})
                cell[column] = cell.get(column, 0) + int(number)
    return _assemble(scope, counted)


def _column(status: Status, early: bool) -> ComplianceColumn | None:
    if status is Status.COMPLETED_OUT_OF_WINDOW:
        return ComplianceColumn.EARLY if early else ComplianceColumn.LATE
    return COLUMN_OF.get(status)


def _count_query(study_id: int, site_ids: list[int], today: date) -> Select[Any]:
    # Labelled in a subquery, so that GROUP BY names the columns rather than repeating
    # expressions whose parameters PostgreSQL would not see as the same.
    inner = (
        select(
            Visit.site_id.label("site_id"),
            Visit.code.label("code"),
            status_expr(today).label("status"),
            case((Visit.actual_date < Visit.window_start, 1), else_=0).label("early"),
        )
        .where(Visit.study_id == study_id, Visit.site_id.in_(site_ids),
               Visit.unscheduled == false())
        .subquery()
    )
    return (
        select(inner.c.site_id, inner.c.code, inner.c.status, inner.c.early, func.count())
        .group_by(inner.c.site_id, inner.c.code, inner.c.status, inner.c.early)
    )


def _counts(cell: dict[ComplianceColumn, int]) -> ComplianceCounts:
    return ComplianceCounts(**{column.value: n for column, n in cell.items()})


def _summed(counts: Iterable[ComplianceCounts]) -> ComplianceCounts:
    total = ZERO
    for c in counts:
        total = total.plus(c)
    return total


def _assemble(
    scope: ReportScope, counted: dict[tuple[int, str], dict[ComplianceColumn, int]]
) -> ComplianceReport:
    """Every site x every visit of the protocol (zeros included), then visit codes only
    older protocol versions had, in code order."""
    names = {v.code: v.name for v in scope.plan.visits}
    codes = [v.code for v in scope.plan.visits]
    codes += sorted({code for _, code in counted} - set(names))
    rows = tuple(
        ComplianceRow(site.code, code, names.get(code, code),
                      _counts(counted.get((site.id, code), {})))
        for site in scope.sites for code in codes
    )
    per_site: dict[str, ComplianceCounts] = {}
    per_visit: dict[str, ComplianceCounts] = {}
    for r in rows:
        per_site[r.site] = per_site.get(r.site, ZERO).plus(r.counts)
        per_visit[r.visit] = per_visit.get(r.visit, ZERO).plus(r.counts)
    by_site = tuple(ComplianceTotal(site.code, site.code, per_site.get(site.code, ZERO))
                    for site in scope.sites)
    by_visit = tuple(ComplianceTotal(code, names.get(code, code), per_visit.get(code, ZERO))
                     for code in codes)
    return ComplianceReport(
        study=scope.study,
        as_of={site.code: site.today for site in scope.sites},
        rows=rows,
        by_site=by_site,
        by_visit=by_visit,
        total=_summed(t.counts for t in by_site),
    )
