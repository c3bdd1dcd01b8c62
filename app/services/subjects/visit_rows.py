"""A subject's stored visit rows: their column values, and the calendar read from them.

The ``visits`` table holds each visit's dates and state so that the worklist and the
digest run in SQL. Whenever an anchor, event or visit outcome changes, the subject's
calendar is expanded again (pure, :func:`app.schedule.expand.expand`) and the rows are
brought in line with it (:mod:`.sync`). Done rows (completed, missed) keep their outcome
and actual date, while their target and window follow the anchors like any other row's
(they are re-evaluated, never moved); unscheduled visits are never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AnchorDateRow, Site, SubjectEvent, Visit
from app.schedule.calendar import Calendar, build_calendar, endpoint_windows
from app.schedule.expand import (
    AnchorDate,
    ExpandedVisit,
    Expansion,
    VisitRecord,
)
from app.schedule.lifecycle import (
    Event,
    EventType,
    consent_version,
)
from app.schedule.plan import Plan
from app.schedule.status import DONE_STATES, State, StatusInfo, visit_status
from app.services.plain_rows import SubjectRow, VisitRow

log = logging.getLogger(__name__)

# The columns a new expansion may change on a row that is not done.
SCHEDULE_COLUMNS = (
    "state",
    "target_date",
    "window_start",
    "window_end",
    "upcoming_from",
    "study_day",
    "provisional",
    "reason",
    "missed_from",
    "graded",
)
# What a new expansion may change on a done row: everything but its outcome.
RE_EVALUATED_COLUMNS = tuple(c for c in SCHEDULE_COLUMNS if c not in ("state", "reason"))


def schedule_values(visit: ExpandedVisit, upcoming_days: int) -> dict[str, Any]:
    start = visit.window_start
    return {
        "state": visit.state.value,
        "target_date": visit.target_date,
        "window_start": start,
        "window_end": visit.window_end,
        "upcoming_from": None if start is None else start - timedelta(days=upcoming_days),
        "study_day": visit.study_day,
        "provisional": visit.provisional,
        "reason": visit.reason,
        "missed_from": visit.missed_from,
        "graded": visit.graded,
    }


def visit_row_values(
    expansion: Expansion, *, subject_pk: int, study_id: int, site_id: int, upcoming_days: int
) -> list[dict[str, Any]]:
    """Column values of the ``visits`` rows of one expanded calendar.

    Every dict has the same keys, so a list of them can go to one ``executemany``
    insert (the bulk import does exactly that for many subjects at once).
    """
    return [
        {
            "subject_pk": subject_pk,
            "study_id": study_id,
            "site_id": site_id,
            "code": v.code,
            "name": v.name,
            "phase": v.phase,
            "kind": v.kind,
            "optional": v.optional,
            "unscheduled": False,
            "after_leaving": v.after_leaving,
            **schedule_values(v, upcoming_days),
            "actual_date": v.actual_date,
            "assessments": sorted(v.assessments),
            "note": None,
        }
        for v in expansion.visits
    ]


@dataclass(frozen=True, slots=True)
class SubjectState:
    """What is stored about one subject besides the subject row itself."""

    anchor_rows: Sequence[AnchorDateRow]
    event_rows: Sequence[SubjectEvent]
    visit_rows: Sequence[Visit]

    @property
    def anchors(self) -> dict[str, AnchorDate]:
        return {a.name: AnchorDate(a.date, a.actual) for a in self.anchor_rows}

    @property
    def events(self) -> list[Event]:
        return [Event(EventType(e.type), e.date, e.value) for e in self.event_rows]

    @property
    def records(self) -> dict[str, VisitRecord]:
        return {
            r.code: record_of(r)
            for r in self.visit_rows
            if not r.unscheduled and r.state in DONE_STATES
        }


def record_of(row: Visit) -> VisitRecord:
    """A done row as the engine's record: its outcome, never its planned dates."""
    return VisitRecord(
        state=State(row.state),
        actual_date=row.actual_date,
        assessments=frozenset(row.assessments or ()),
    )


def load_state(session: Session, subject_pk: int) -> SubjectState:
    """Anchors, events and visit rows of a subject: three queries, whatever its size."""
    anchors = session.scalars(
        select(AnchorDateRow)
        .where(AnchorDateRow.subject_pk == subject_pk)
        .order_by(AnchorDateRow.id)
    ).all()
    events = session.scalars(
        select(SubjectEvent)
        .where(SubjectEvent.subject_pk == subject_pk)
        .order_by(SubjectEvent.date, SubjectEvent.id)
    ).all()
    visits = session.scalars(
        select(Visit).where(Visit.subject_pk == subject_pk).order_by(Visit.id)
    ).all()
    return SubjectState(anchors, events, visits)


@dataclass(frozen=True, slots=True)
class StoredVisit:
    """A stored visit row with its status as of the calendar's date."""

    row: VisitRow
    planned_assessments: tuple[str, ...]
    info: StatusInfo


@dataclass(frozen=True, slots=True)
class StoredCalendar:
    calendar: Calendar  # periods, phases and endpoint windows
    visits: tuple[StoredVisit, ...]  # chronological; pending (undated) visits last
    anchors: Sequence[AnchorDateRow]
    events: Sequence[SubjectEvent]
    sites: Mapping[int, str]  # site id -> code, for the sites the visits belong to

    @property
    def consent_version(self) -> str | None:
        """The version of the consent the subject signed last (its latest re-consent)."""
        return consent_version(Event(EventType(e.type), e.date, e.value) for e in self.events)


def _as_expanded(row: Visit) -> ExpandedVisit:
    return ExpandedVisit(
        code=row.code, name=row.name, phase=row.phase, kind=row.kind, optional=row.optional,
        state=State(row.state), anchor=None, target_date=row.target_date,
        window_start=row.window_start, window_end=row.window_end, study_day=row.study_day,
        provisional=False, actual_date=row.actual_date,
        assessments=frozenset(row.assessments or ()), graded=row.graded,
    )


def stored_visit(row: VisitRow, plan: Plan, *, today: date) -> StoredVisit:
    """One stored row with its status as of ``today``."""
    definition = None if row.unscheduled else plan.by_code.get(row.code)
    info = visit_status(
        state=State(row.state), window_start=row.window_start, window_end=row.window_end,
        actual_date=row.actual_date, optional=row.optional, today=today,
        upcoming_days=plan.protocol.study.upcoming_days, target_date=row.target_date,
        missed_from=row.missed_from, graded=row.graded,
    )
    return StoredVisit(row, definition.assessments if definition else (), info)


def stored_calendar(
    session: Session, subject: SubjectRow, plan: Plan, *, today: date
) -> StoredCalendar:
    """The subject's calendar as of ``today`` read from its stored rows.

    The rows are the source of truth for visit dates and states (the worklist reads the
    same rows); the engine's calendar supplies periods, phases and endpoint windows, and
    must agree with the rows, since every change ends with :func:`sync_subject`.
    """
    state = load_state(session, subject.id)
    anchors, events = state.anchors, state.events
    calendar = build_calendar(plan, anchors, events, state.records, today=today)
    unscheduled = [r for r in state.visit_rows if r.unscheduled]
    if unscheduled:
        # An unscheduled visit that carries an endpoint's assessment may satisfy it too.
        visits = [cv.visit for cv in calendar.visits] + [_as_expanded(r) for r in unscheduled]
        calendar = replace(
            calendar, endpoints=endpoint_windows(plan, anchors, events, visits, today)
        )
    expected = {cv.visit.code: cv.visit for cv in calendar.visits}
    order = {v.code: i for i, v in enumerate(plan.visits)}
    out: list[StoredVisit] = []
    for row in state.visit_rows:
        planned = expected.get(row.code)
        if planned is not None and (planned.target_date, planned.state.value) != (
            row.target_date, row.state
        ):
            log.warning("stored visit %s of subject %s differs from its expansion",
                        row.code, subject.id)
        out.append(stored_visit(row, plan, today=today))
    out.sort(key=lambda v: (
        v.row.target_date is None, v.row.target_date or date.min,
        order.get(v.row.code, len(order)), v.row.id,
    ))
    # The subject's site is in the session already (it was loaded with the subject): the
    # common case, every visit at one site, costs no query.
    sites = {}
    for ident in sorted({v.row.site_id for v in out} | {subject.site_id}):
        site = session.get(Site, ident)
        assert site is not None  # a foreign key
        sites[ident] = site.code
    return StoredCalendar(calendar, tuple(out), state.anchor_rows, state.event_rows, sites)
