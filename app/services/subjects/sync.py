"""Bring a subject's stored visit rows, site and lifecycle in line with its facts.

Every change to a subject (an anchor, an event, a visit outcome) ends here. The calendar
is expanded again by the pure engine (:func:`app.schedule.expand.expand`, tens of
microseconds), and only the rows it changes are written: the rows are read as plain
columns (no ORM object), compared column by column with the new expansion, and the
changed ones go out in one ``executemany`` UPDATE. Done rows (completed, missed) keep
their outcome while their target and window follow the anchors; unscheduled visits keep
their dates. Every row belongs to the site in effect on its date.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    String,
    Table,
    bindparam,
    false,
    insert,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from app.models import AnchorDateRow, Site, Subject, SubjectEvent, Visit
from app.schedule.expand import (
    AnchorDate,
    ExpandedVisit,
    Expansion,
    VisitRecord,
    expand,
)
from app.schedule.lifecycle import Event, EventType, lifecycle_of, site_on, transfers
from app.schedule.plan import Plan
from app.schedule.standing import schedule_done
from app.schedule.status import DONE_STATES, State
from app.services.plain_rows import SubjectRow, VisitRow, show_written
from app.services.subjects.visit_rows import (
    RE_EVALUATED_COLUMNS,
    SCHEDULE_COLUMNS,
    visit_row_values,
)
from app.statements import Prepared

_VISITS = cast(Table, Visit.__table__)
_ANCHORS = cast(Table, AnchorDateRow.__table__)
_EVENTS = cast(Table, SubjectEvent.__table__)

# Statements built once: each sync binds values only.
_READ_ANCHORS = (
    select(_ANCHORS.c.name, _ANCHORS.c.date, _ANCHORS.c.actual)
    .where(_ANCHORS.c.subject_pk == bindparam("subject_pk"))
    .order_by(_ANCHORS.c.id)
)
_READ_EVENTS = (
    select(_EVENTS.c.type, _EVENTS.c.date, _EVENTS.c.value)
    .where(_EVENTS.c.subject_pk == bindparam("subject_pk"))
    .order_by(_EVENTS.c.date, _EVENTS.c.id)
)


class _StoredRow(NamedTuple):
    """A visit row as the sync reads it. A plain tuple: a database row's attributes are
    looked up by name on every access, and a sync reads each of them several times."""

    id: int
    code: str
    unscheduled: bool
    actual_date: date | None
    assessments: list[str] | None
    site_id: int
    # SCHEDULE_COLUMNS, in their order
    state: str
    target_date: date | None
    window_start: date | None
    window_end: date | None
    upcoming_from: date | None
    study_day: int | None
    provisional: bool
    reason: str | None
    missed_from: date | None
    graded: bool


_ROW_COLUMNS = _StoredRow._fields
_READ_VISITS = (
    select(*(_VISITS.c[c] for c in _ROW_COLUMNS))
    .where(_VISITS.c.subject_pk == bindparam("subject_pk"))
    .order_by(_VISITS.c.id)
)
_SCHEDULE = slice(6, 6 + len(SCHEDULE_COLUMNS))  # a read row's SCHEDULE_COLUMNS (a test holds it)
_WRITTEN = (*SCHEDULE_COLUMNS, "site_id")
_SUBJECTS = cast(Table, Subject.__table__)
_UPDATE_SUBJECT = Prepared(
    update(_SUBJECTS)
    .where(_SUBJECTS.c.id == bindparam("subject_pk"))
    .values(site_id=bindparam("site_id"), lifecycle=bindparam("lifecycle"))
)
_UPDATE_VISIT = Prepared(
    update(_VISITS)
    .where(_VISITS.c.id == bindparam("row_id"))
    .values({c: bindparam(c, type_=_VISITS.c[c].type) for c in _WRITTEN})
)


# The anchors, the events and the visit rows in one trip (recording a visit needs all
# three): anchors first, by id, then events by date and id, then visit rows by id. Each
# part fills its own columns and leaves the others NULL; the first part's NULLs are
# typed, so every column is read with its own type.
def _nulls(*columns: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    return [sql_cast(null(), c.type) for c in columns]


_FACT_COLUMNS = 7  # kind, key, date, actual, value, at, id; then the visit row's columns
# The assessments are read as their JSON text and decoded through a small cache: a
# subject's rows repeat the same few lists, and decoding each costs more than the rest
# of the row.
_ROW_SOURCE = [sql_cast(_VISITS.c[c], String).label(c) if c == "assessments" else _VISITS.c[c]
               for c in _ROW_COLUMNS]
_ASSESSMENTS = _ROW_COLUMNS.index("assessments")
# The part numbers and the events' "actual" are written into the SQL, not bound.
_PART = [literal_column(str(n), Integer) for n in range(3)]
_FACTS = Prepared(union_all(
    select(_PART[0].label("kind"), _ANCHORS.c.name.label("key"), _ANCHORS.c.date,
           _ANCHORS.c.actual, sql_cast(null(), String).label("value"),
           sql_cast(null(), Date).label("at"), _ANCHORS.c.id, *_nulls(*_ROW_SOURCE))
    .where(_ANCHORS.c.subject_pk == bindparam("subject_pk")),
    select(_PART[1], _EVENTS.c.type, _EVENTS.c.date, false(), _EVENTS.c.value,
           _EVENTS.c.date, _EVENTS.c.id, *_nulls(*_ROW_SOURCE))
    .where(_EVENTS.c.subject_pk == bindparam("subject_pk")),
    select(_PART[2], null(), null(), null(), null(), null(), _VISITS.c.id, *_ROW_SOURCE)
    .where(_VISITS.c.subject_pk == bindparam("subject_pk")),
).order_by("kind", "at", "id"))


@dataclass(frozen=True, slots=True)
class Facts:
    """A subject's anchor dates by name, lifecycle events (oldest first) and visit rows."""

    anchors: dict[str, AnchorDate]
    events: list[Event]
    rows: list[_StoredRow]


def read_facts(session: Session, subject_pk: int) -> Facts:
    """The subject's anchors, events and visit rows, read in one statement."""
    facts = Facts({}, [], [])
    for row in _FACTS.rows(session, {"subject_pk": subject_pk}):
        kind, key, day, actual, value = row[:5]
        if kind == 0:
            facts.anchors[key] = AnchorDate(day, actual)
        elif kind == 1:
            facts.events.append(Event(EventType(key), day, value))
        else:
            values = list(row[_FACT_COLUMNS:])
            values[_ASSESSMENTS] = _assessments(values[_ASSESSMENTS])
            facts.rows.append(_StoredRow._make(values))
    return facts


@lru_cache(maxsize=512)
def _decoded(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _assessments(text: str | None) -> list[str] | None:
    return None if text is None else list(_decoded(text))


def read_events(session: Session, subject_pk: int) -> list[Event]:
    """The subject's lifecycle events, oldest first."""
    return [Event(EventType(t), d, v)
            for t, d, v in session.execute(_READ_EVENTS, {"subject_pk": subject_pk})]


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
        if not self.moves:
            return self.enrolled_id
        code = site_on(day, _ENROLMENT, self.moves)
        return self.enrolled_id if code == _ENROLMENT else self.ids[code]

    def of(self, *, unscheduled: bool, state: str, actual_date: date | None,
           target_date: date | None) -> int:
        """The site a visit belongs to: the one in effect on its date (the actual date of
        a visit done, else its target date; an undated visit is the current site's)."""
        done = unscheduled or state == State.COMPLETED.value
        return self.on((actual_date if done else None) or target_date)


def site_history(session: Session, subject: SubjectRow, events: Sequence[Event]) -> SiteHistory:
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


def _record(row: _StoredRow) -> VisitRecord:
    return VisitRecord(state=State(row.state), actual_date=row.actual_date,
                       assessments=frozenset(row.assessments or ()))


def sync_subject(
    session: Session, subject: SubjectRow, plan: Plan, *,
    events: Sequence[Event] | None = None, anchors: Mapping[str, AnchorDate] | None = None,
    held: VisitRow | None = None, rows: Sequence[_StoredRow] | None = None,
) -> SyncResult:
    """Bring the subject's stored visit rows, its site and its lifecycle in line with a
    fresh expansion, writing only what changed.

    Rows that are not done get the new dates and state; done rows get the new dates
    and keep their outcome; rows for visit codes the calendar has and the table has not
    are inserted; unscheduled visits keep their dates. Every row belongs to the site in
    effect on its date, the subject to the site after its latest transfer. The
    lifecycle is derived from the events (and the calendar, when the protocol completes
    subjects by it). ``events``: the subject's events when the caller has just read
    them (they are read otherwise), and ``anchors`` and the visit ``rows`` likewise
    (:func:`read_facts`: rows read before the caller wrote the ``held`` visit's outcome,
    which is taken from the visit held). ``held``: a visit the caller holds as a plain
    value, shown with what is written to its row (ORM objects in the session are). Up
    to three queries (one more after a transfer), then one UPDATE for all the rows that
    changed, and one for the subject's row if its site or lifecycle did.
    """
    session.flush()  # what the caller changed is what the rows are read from
    key = {"subject_pk": subject.id}
    if anchors is None:
        anchors = {name: AnchorDate(day, actual)
                   for name, day, actual in session.execute(_READ_ANCHORS, key)}
    if events is None:
        events = read_events(session, subject.id)
    if rows is None:
        rows = [_StoredRow._make(r) for r in session.execute(_READ_VISITS, key)]
    elif held is not None:  # its outcome was written since: as the visit held shows it
        rows = [_StoredRow._make(getattr(held, c) for c in _ROW_COLUMNS) if r.id == held.id
                else r for r in rows]
    records = {r.code: _record(r) for r in rows
               if not r.unscheduled and r.state in DONE_STATES}
    expansion = expand(plan, anchors, events, records)
    sites = site_history(session, subject, events)
    site_id = sites.on(None)
    lifecycle = lifecycle_of(events, schedule_done=schedule_done(plan, expansion)).value
    if (subject.site_id, subject.lifecycle) != (site_id, lifecycle):
        moved = {"site_id": site_id, "lifecycle": lifecycle}
        _UPDATE_SUBJECT.execute(session, {"subject_pk": subject.id, **moved})
        show_written(session, subject, moved)
    by_code = {r.code: r for r in rows if not r.unscheduled}
    upcoming = plan.protocol.study.upcoming_days
    result = SyncResult()
    writes: list[dict[str, Any]] = []
    missing: list[ExpandedVisit] = []
    upcoming_delta = timedelta(days=upcoming)
    for visit in expansion.visits:
        row = by_code.get(visit.code)
        if row is None:
            missing.append(visit)
            continue
        done = row.state in DONE_STATES
        start = visit.window_start
        # In SCHEDULE_COLUMNS order; a done row keeps its outcome (state and reason).
        fresh = (row.state if done else visit.state.value, visit.target_date, start,
               visit.window_end, None if start is None else start - upcoming_delta,
               visit.study_day, visit.provisional, row.reason if done else visit.reason,
               visit.missed_from, visit.graded)
        if fresh == row[_SCHEDULE] and row.site_id == sites.of(
                unscheduled=False, state=fresh[0], actual_date=row.actual_date,
                target_date=visit.target_date):
            continue  # the common case: nothing to write
        _compare(row, dict(zip(SCHEDULE_COLUMNS, fresh, strict=True)),
                 RE_EVALUATED_COLUMNS if done else SCHEDULE_COLUMNS, sites, result, writes)
    for row in rows:
        if row.unscheduled:
            values = {c: getattr(row, c) for c in SCHEDULE_COLUMNS}
            _compare(row, values, (), sites, result, writes)
    if writes:
        _UPDATE_VISIT.execute_many(session, writes)
        _refresh_loaded(session, writes, held)
    if missing:
        new = visit_row_values(
            Expansion(tuple(missing)), subject_pk=subject.id, study_id=subject.study_id,
            site_id=subject.site_id, upcoming_days=upcoming,
        )
        for values in new:
            values["site_id"] = sites.on(values["actual_date"] or values["target_date"])
        session.execute(insert(Visit), new)
        result.created.extend(v.code for v in missing)
    _site_codes(session, result.changed)
    session.flush()
    return result


def _compare(row: _StoredRow, values: dict[str, Any], columns: Sequence[str], sites: SiteHistory,
             result: SyncResult, writes: list[dict[str, Any]]) -> None:
    """Note what differs between the stored row and its new ``values`` (the trail keeps
    ``columns`` and the site), and queue the row's write when anything does."""
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    for column in columns:
        old, value = getattr(row, column), values[column]
        if old != value:
            before[column], after[column] = _jsonable(old), _jsonable(value)
    site_id = sites.of(unscheduled=row.unscheduled, state=values["state"],
                       actual_date=row.actual_date, target_date=values["target_date"])
    if row.site_id != site_id:
        before["site"], after["site"] = row.site_id, site_id  # ids until _site_codes
    if after:
        result.changed.append({"code": row.code, "before": before, "after": after})
        writes.append({"row_id": row.id, **values, "site_id": site_id})


def _refresh_loaded(session: Session, writes: list[dict[str, Any]], held: VisitRow | None) -> None:
    """The rows just written, as the session's loaded objects and the ``held`` row show
    them (without marking them changed): a caller holding one sees its new dates."""
    for values in writes:
        row_id = values["row_id"]
        loaded = held if held is not None and held.id == row_id else \
            session.identity_map.get(session.identity_key(Visit, row_id))
        if loaded is not None:
            show_written(session, loaded, {column: values[column] for column in _WRITTEN})
