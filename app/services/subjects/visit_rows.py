"""Keep a subject's stored visit rows in step with its calendar.

The ``visits`` table holds each visit's dates and state so that the worklist and the
digest run in SQL. Whenever an anchor, event or visit outcome changes, the subject's
calendar is expanded again (pure, :func:`app.schedule.expand.expand`) and the rows are
brought in line with it. Done rows (completed, missed) keep their outcome and actual
date, while their target and window follow the anchors like any other row's (they are
re-evaluated, never moved); unscheduled visits are never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.models import AnchorDateRow, Site, Subject, SubjectEvent, Visit
from app.schedule.calendar import Calendar, build_calendar, endpoint_windows
from app.schedule.expand import (
    AnchorDate,
    ExpandedVisit,
    Expansion,
    VisitRecord,
    expand,
    schedule_done,
)
from app.schedule.lifecycle import (
    Event,
    EventType,
    consent_version,
    lifecycle_of,
    site_on,
    transfers,
)
from app.schedule.plan import Plan
from app.schedule.status import DONE_STATES, State, StatusInfo, visit_status

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
)
# What a new expansion may change on a done row: everything but its outcome.
RE_EVALUATED_COLUMNS = tuple(c for c in SCHEDULE_COLUMNS if c not in ("state", "reason"))


def _schedule_values(visit: ExpandedVisit, upcoming_days: int) -> dict[str, Any]:
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
            **_schedule_values(v, upcoming_days),
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


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a sync changed, in a form the audit trail can store."""

    created: list[str] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"visits_created": self.created, "visits_changed": self.changed}

    def moved(self) -> dict[str, Any]:
        """What an audit record adds about visits that moved (nothing when none did)."""
        return {"visits_changed": self.changed} if self.changed else {}


# Stands for the enrolment site in :func:`site_on`: no site code is empty.
_ENROLMENT = ""


@dataclass(frozen=True, slots=True)
class SiteHistory:
    """The subject's sites over time, as ids: :func:`app.schedule.lifecycle.site_on`
    over its transfer events."""

    enrolled_id: int
    moves: Sequence[Event]  # the transfers
    ids: dict[str, int]  # site code -> id, for every destination

    def on(self, day: date | None) -> int:
        """The id of the site in effect on ``day`` (None: now)."""
        code = site_on(day, _ENROLMENT, self.moves)
        return self.enrolled_id if code == _ENROLMENT else self.ids[code]

    def of(self, row: Visit) -> int:
        """The site a visit belongs to: the one in effect on its date (the actual date of
        a visit done, else its target date; an undated visit is the current site's)."""
        done = row.unscheduled or row.state == State.COMPLETED.value
        return self.on((row.actual_date if done else None) or row.target_date)


def site_history(session: Session, subject: Subject, events: Sequence[Event]) -> SiteHistory:
    """The subject's enrolment site and transfers; one query (none without a transfer)."""
    moves = transfers(events)
    codes = sorted({e.value for e in moves if e.value})
    ids: dict[str, int] = {}
    if codes:
        ids = {code: ident for ident, code in session.execute(
            select(Site.id, Site.code).where(Site.code.in_(codes))).tuples()}
    return SiteHistory(subject.enrolled_site_id, moves, ids)


def _site_codes(session: Session, changed: list[dict[str, Any]]) -> None:
    """Site ids in ``changed`` (rows that moved to another site) as codes, for the trail."""
    ids = {c[side]["site"] for c in changed for side in ("before", "after")
           if "site" in c[side]}
    if not ids:
        return
    codes = dict(
        session.execute(select(Site.id, Site.code).where(Site.id.in_(ids))).tuples().all())
    for c in changed:
        for side in ("before", "after"):
            if "site" in c[side]:
                c[side]["site"] = codes[c[side]["site"]]


def sync_subject(session: Session, subject: Subject, plan: Plan) -> SyncResult:
    """Bring the subject's stored visit rows, its site and its lifecycle in line with a
    fresh expansion.

    Rows that are not done get the new dates and state; done rows get the new dates
    and keep their outcome; rows for visit codes the calendar has and the table has not
    are inserted; unscheduled visits keep their dates. Every row belongs to the site in
    effect on its date, the subject to the site after its latest transfer. The
    lifecycle is derived from the events (and the calendar, when the protocol completes
    subjects by it). Four queries (five after a transfer) plus the writes.
    """
    state = load_state(session, subject.id)
    events = state.events
    expansion = expand(plan, state.anchors, events, state.records)
    sites = site_history(session, subject, events)
    subject.site_id = sites.on(None)
    lifecycle = lifecycle_of(events, schedule_done=schedule_done(plan, expansion)).value
    if subject.lifecycle != lifecycle:
        subject.lifecycle = lifecycle
    by_code = {r.code: r for r in state.visit_rows if not r.unscheduled}
    upcoming = plan.protocol.study.upcoming_days
    result = SyncResult()
    missing: list[ExpandedVisit] = []
    for visit in expansion.visits:
        row = by_code.get(visit.code)
        if row is None:
            missing.append(visit)
            continue
        values = _schedule_values(visit, upcoming)
        columns = RE_EVALUATED_COLUMNS if row.state in DONE_STATES else SCHEDULE_COLUMNS
        before: dict[str, object] = {}
        after: dict[str, object] = {}
        for column in columns:
            old, value = getattr(row, column), values[column]
            if old != value:
                before[column], after[column] = _jsonable(old), _jsonable(value)
                setattr(row, column, value)
        _move_to_site(row, sites, before, after)
        if after:
            result.changed.append({"code": visit.code, "before": before, "after": after})
    for row in state.visit_rows:
        if row.unscheduled:
            before, after = {}, {}
            _move_to_site(row, sites, before, after)
            if after:
                result.changed.append({"code": row.code, "before": before, "after": after})
    if missing:
        rows = visit_row_values(
            Expansion(tuple(missing)),
            subject_pk=subject.id,
            study_id=subject.study_id,
            site_id=subject.site_id,
            upcoming_days=upcoming,
        )
        for values in rows:
            values["site_id"] = sites.on(values["actual_date"] or values["target_date"])
        session.execute(insert(Visit), rows)
        result.created.extend(v.code for v in missing)
    _site_codes(session, result.changed)
    session.flush()
    return result


def _move_to_site(row: Visit, sites: SiteHistory, before: dict[str, object],
                  after: dict[str, object]) -> None:
    site_id = sites.of(row)
    if row.site_id != site_id:
        before["site"], after["site"] = row.site_id, site_id  # ids until _site_codes
        row.site_id = site_id


@dataclass(frozen=True, slots=True)
class StoredVisit:
    """A stored visit row with its status as of the calendar's date."""

    row: Visit
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
        assessments=frozenset(row.assessments or ()),
    )


def stored_visit(row: Visit, plan: Plan, *, today: date) -> StoredVisit:
    """One stored row with its status as of ``today``."""
    definition = None if row.unscheduled else plan.by_code.get(row.code)
    info = visit_status(
        state=State(row.state), window_start=row.window_start, window_end=row.window_end,
        actual_date=row.actual_date, optional=row.optional, today=today,
        upcoming_days=plan.protocol.study.upcoming_days, target_date=row.target_date,
        missed_from=row.missed_from,
    )
    return StoredVisit(row, definition.assessments if definition else (), info)


def stored_calendar(
    session: Session, subject: Subject, plan: Plan, *, today: date
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
