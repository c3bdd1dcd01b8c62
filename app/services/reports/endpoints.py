"""Endpoint completeness per endpoint time point and site.

Endpoint windows are not stored: each subject's are computed by the engine
(:func:`app.schedule.calendar.endpoint_windows`) from its anchors, events and completed
visits, exactly as its calendar shows them. Subjects are read in batches (keyset on the
subject id), three queries per batch, so memory stays flat whatever the study's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.models import AnchorDateRow, ProtocolVersion, Subject, SubjectEvent, Visit
from app.schedule.calendar import EndpointStatus, endpoint_windows
from app.schedule.expand import AnchorDate, ExpandedVisit
from app.schedule.lifecycle import Event, EventType
from app.schedule.plan import Plan
from app.schedule.status import State
from app.services.reports.scope import ReportScope, rate, report_scope
from app.services.studies import plan_of

BATCH_SUBJECTS = 1000


@dataclass(frozen=True, slots=True)
class EndpointCounts:
    met: int = 0
    open: int = 0
    scheduled: int = 0
    missed: int = 0
    pending: int = 0
    cancelled: int = 0

    @property
    def decided(self) -> int:
        """Time points met, or whose window closed unmet (the rate's denominator)."""
        return self.met + self.missed

    @property
    def met_rate(self) -> float | None:
        return rate(self.met, self.decided)

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def count(self, status: EndpointStatus) -> int:
        value: int = getattr(self, status.value)
        return value

    def plus(self, other: EndpointCounts) -> EndpointCounts:
        return EndpointCounts(*(getattr(self, f.name) + getattr(other, f.name)
                                for f in fields(self)))


@dataclass(frozen=True, slots=True)
class EndpointRow:
    site: str
    endpoint: str  # e.g. "DORIS"
    time_point: str  # e.g. "6 months"
    name: str
    counts: EndpointCounts

    @property
    def code(self) -> str:
        return f"{self.endpoint}@{self.time_point}"


@dataclass(frozen=True, slots=True)
class EndpointTotal:
    endpoint: str
    time_point: str
    name: str
    counts: EndpointCounts


@dataclass(frozen=True, slots=True)
class EndpointReport:
    study: str
    as_of: dict[str, date]
    subjects: int  # subjects counted (those at the sites the actor may see)
    rows: tuple[EndpointRow, ...]  # per site, then per time point in protocol order
    by_time_point: tuple[EndpointTotal, ...]
    total: EndpointCounts


Key = tuple[str, str]  # (endpoint, time point)


def endpoint_report(
    session: Session, *, study: str, actor: Actor, now: datetime, as_of: date | None = None,
    batch: int = BATCH_SUBJECTS,
) -> EndpointReport:
    """Endpoint completeness of ``study`` per time point and site (the subject's current
    site), for every subject at the sites the actor may see, whatever its lifecycle."""
    scope = report_scope(session, study=study, actor=actor, now=now, as_of=as_of)
    counted: dict[tuple[int, Key], dict[str, int]] = {}
    names: dict[Key, str] = {}
    plans: dict[int, tuple[Plan, frozenset[str]]] = {}
    subjects = 0
    after = 0
    while scope.sites:
        chunk = session.execute(
            select(Subject.id, Subject.site_id, Subject.protocol_version_id)
            .where(Subject.study_id == scope.study_id, Subject.site_id.in_(scope.site_ids),
                   Subject.id > after)
            .order_by(Subject.id).limit(batch)
        ).tuples().all()
        if not chunk:
            break
        after = chunk[-1][0]
        subjects += len(chunk)
        _count_batch(session, scope, chunk, plans, counted, names)
    return _assemble(scope, subjects, counted, names)


def _count_batch(
    session: Session,
    scope: ReportScope,
    chunk: Sequence[tuple[int, int, int]],
    plans: dict[int, tuple[Plan, frozenset[str]]],
    counted: dict[tuple[int, Key], dict[str, int]],
    names: dict[Key, str],
) -> None:
    ids = [ident for ident, _, _ in chunk]
    anchors: dict[int, dict[str, AnchorDate]] = {}
    for pk, name, day, actual in session.execute(
        select(AnchorDateRow.subject_pk, AnchorDateRow.name, AnchorDateRow.date,
               AnchorDateRow.actual).where(AnchorDateRow.subject_pk.in_(ids))
    ):
        anchors.setdefault(pk, {})[name] = AnchorDate(day, actual)
    events: dict[int, list[Event]] = {}
    for pk, kind, day, value in session.execute(
        select(SubjectEvent.subject_pk, SubjectEvent.type, SubjectEvent.date,
               SubjectEvent.value).where(SubjectEvent.subject_pk.in_(ids))
        .order_by(SubjectEvent.date, SubjectEvent.id)
    ):
        events.setdefault(pk, []).append(Event(EventType(kind), day, value))
    done: dict[int, list[tuple[str, date, list[str]]]] = {}
    for pk, code, actual, assessments in session.execute(
        select(Visit.subject_pk, Visit.code, Visit.actual_date, Visit.assessments)
        .where(Visit.subject_pk.in_(ids), Visit.state == State.COMPLETED.value,
               Visit.actual_date.is_not(None))
        .order_by(Visit.id)
    ):
        done.setdefault(pk, []).append((code, actual, assessments or []))
    today = {site.id: site.today for site in scope.sites}
    for pk, site_id, version_id in chunk:
        plan, measured = _plan(session, plans, version_id)
        # Only a visit carrying an endpoint's assessment can meet it: the others are left
        # out before the engine looks (the same answer, less work).
        visits = [_completed(code, actual, assessments)
                  for code, actual, assessments in done.get(pk, ())
                  if not measured.isdisjoint(assessments)]
        for window in endpoint_windows(plan, anchors.get(pk, {}), events.get(pk, []),
                                       visits, today[site_id]):
            key = (window.endpoint, window.time_point)
            names.setdefault(key, window.name)
            cell = counted.setdefault((site_id, key), {})
            cell[window.status.value] = cell.get(window.status.value, 0) + 1


def _completed(code: str, actual: date, assessments: list[str]) -> ExpandedVisit:
    """A completed visit row as the engine's visit (all that endpoints look at)."""
    return ExpandedVisit(
        code=code, name=code, phase="", kind="", optional=False, state=State.COMPLETED,
        anchor=None, target_date=None, window_start=None, window_end=None, study_day=None,
        provisional=False, actual_date=actual, assessments=frozenset(assessments),
    )


def _plan(
    session: Session, plans: dict[int, tuple[Plan, frozenset[str]]], version_id: int
) -> tuple[Plan, frozenset[str]]:
    """A protocol version's plan and the assessment codes its endpoints look for."""
    if version_id not in plans:
        version = session.get(ProtocolVersion, version_id)
        assert version is not None  # a foreign key
        plan = plan_of(version)
        plans[version_id] = (plan, frozenset(ep.assessment_code
                                             for ep in plan.protocol.endpoints))
    return plans[version_id]


def _assemble(
    scope: ReportScope, subjects: int, counted: dict[tuple[int, Key], dict[str, int]],
    names: dict[Key, str],
) -> EndpointReport:
    """Every site x every time point of the current protocol (zeros included), then
    time points only older versions had."""
    keys: list[Key] = []
    for ep in scope.plan.protocol.endpoints:
        for at in ep.time_points:
            keys.append((ep.code, str(at)))
            names.setdefault((ep.code, str(at)), ep.name)
    keys += sorted({key for _, key in counted} - set(keys))
    rows = tuple(
        EndpointRow(site.code, key[0], key[1], names[key],
                    EndpointCounts(**counted.get((site.id, key), {})))
        for site in scope.sites for key in keys
    )
    per_key: dict[Key, EndpointCounts] = {}
    for r in rows:
        per_key[(r.endpoint, r.time_point)] = per_key.get(
            (r.endpoint, r.time_point), EndpointCounts()).plus(r.counts)
    by_time_point = tuple(EndpointTotal(key[0], key[1], names[key],
                                        per_key.get(key, EndpointCounts())) for key in keys)
    total = EndpointCounts()
    for t in by_time_point:
        total = total.plus(t.counts)
    return EndpointReport(scope.study, {site.code: site.today for site in scope.sites},
                          subjects, rows, by_time_point, total)
