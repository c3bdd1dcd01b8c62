"""A visit row's outcome: read it as the decisions see it, check its date, write it.

Shared by the visit routes (:mod:`app.services.visits`) and the anchors
(:mod:`app.services.subjects.anchors`): a visit that records an anchor is completed by
either, with the same checks and the same audit record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from app.errors import InvalidDate, NotFound
from app.models import AnchorDateRow, Visit
from app.schedule.expand import AnchorDate
from app.schedule.lifecycle import Event, visit_date_conflict
from app.schedule.outcome import CurrentVisit
from app.schedule.rules import check_date
from app.schedule.standing import cancelled_on, in_open_phase, visit_phase_not_open
from app.schedule.status import State, deviation
from app.services.plain_rows import VisitRow, show_written
from app.services.subjects.loading import LoadedSubject
from app.services.subjects.sync import read_events
from app.statements import Prepared

# Built once: each call binds values only.
_LOCK_VISIT = (
    select(Visit)
    .where(Visit.subject_pk == bindparam("subject_pk"), Visit.code == bindparam("code"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_ANCHOR = select(AnchorDateRow).where(
    AnchorDateRow.subject_pk == bindparam("subject_pk"), AnchorDateRow.name == bindparam("name"))


def lock_visit(session: Session, loaded: LoadedSubject, code: str) -> Visit:
    """The visit row, read again under its lock: a concurrent request may have just
    recorded it."""
    visit = session.scalars(_LOCK_VISIT, {"subject_pk": loaded.subject.id, "code": code}).first()
    if visit is None:
        raise NotFound(f"visit {code} not found for subject {loaded.subject.subject_id}")
    return visit


def anchor_row(session: Session, loaded: LoadedSubject, name: str) -> AnchorDateRow | None:
    return session.scalars(_ANCHOR, {"subject_pk": loaded.subject.id, "name": name}).first()


def stored_anchor(row: AnchorDateRow | None) -> AnchorDate | None:
    return None if row is None else AnchorDate(row.date, row.actual)


def subject_events(session: Session, loaded: LoadedSubject) -> list[Event]:
    return read_events(session, loaded.subject.id)


def current_visit(visit: VisitRow, loaded: LoadedSubject, events: Sequence[Event]) -> CurrentVisit:
    """The stored row as the outcome decisions read it, with what the events say of it."""
    plan = loaded.plan
    return CurrentVisit(
        code=visit.code, state=State(visit.state), actual_date=visit.actual_date,
        assessments=tuple(visit.assessments or ()), note=visit.note,
        unscheduled=visit.unscheduled, reason=visit.reason,
        cancelled_on=cancelled_on(plan, visit.code, events),
        waiting_for_anchor=not visit.unscheduled and in_open_phase(plan, visit.code, events),
        phase_not_open=(visit_phase_not_open(plan, visit.code, events)
                        if visit.state == State.PENDING.value else None),
    )


def check_visit_date(
    loaded: LoadedSubject, day: date, now: datetime, events: Sequence[Event],
    code: str | None = None,
) -> None:
    """A visit cannot have been done in the site's future, before consent or after the
    subject left (or died); the visit ``code`` of a phase the subject's leaving opened
    (early termination) may be done after the leaving, never after a death."""
    check_date(day, "visit date")
    today = loaded.today(now)
    if day > today:
        raise InvalidDate(f"visit date {day.isoformat()} is in the future"
                          f" (site date {today.isoformat()})")
    consent = loaded.subject.consent_date
    if day < consent:
        raise InvalidDate(f"visit date {day.isoformat()} is before consent ({consent.isoformat()})")
    definition = None if code is None else loaded.plan.by_code.get(code)
    problem = visit_date_conflict(
        day, events, after_leaving=definition is not None and definition.after_leaving)
    if problem is not None:
        raise InvalidDate(problem)


def outcome_of(visit: VisitRow) -> dict[str, Any]:
    """A visit's outcome as its audit records show it."""
    out: dict[str, Any] = {
        "state": visit.state,
        "actual_date": visit.actual_date.isoformat() if visit.actual_date else None,
        "assessments": list(visit.assessments or []),
    }
    if visit.state == State.COMPLETED and visit.actual_date and visit.window_start \
            and visit.window_end and visit.graded:
        early, late = deviation(visit.actual_date, visit.window_start, visit.window_end)
        out |= {"days_early": early, "days_late": late}
    if visit.note:
        out["note"] = visit.note
    if visit.state == State.MISSED:
        out["reason"] = visit.reason
    return out


# The columns an outcome writes; one UPDATE statement, built once, writes them all.
_OUTCOME_COLUMNS = ("state", "actual_date", "target_date", "assessments", "reason", "note",
                    "recorded_at")
_VISITS = cast(Table, Visit.__table__)
_WRITE_OUTCOME = Prepared(
    update(_VISITS)
    .where(_VISITS.c.id == bindparam("row_id"))
    .values({c: bindparam(c, type_=_VISITS.c[c].type) for c in _OUTCOME_COLUMNS})
)


def write_outcome(session: Session, visit: VisitRow, **values: Any) -> None:
    """Write a visit row's outcome columns (``values``; the others keep theirs) in one
    UPDATE, and show them on the loaded row without marking it changed: no flush of the
    ORM object is needed for it."""
    full = {c: values[c] if c in values else getattr(visit, c) for c in _OUTCOME_COLUMNS}
    _WRITE_OUTCOME.execute(session, {"row_id": visit.id, **full})
    show_written(session, visit, full)


def complete_row(
    session: Session, visit: VisitRow, day: date, assessments: Sequence[str], *,
    note: str | None, now: datetime,
) -> None:
    """Write a completion on the row (the caller syncs the subject and audits)."""
    values: dict[str, Any] = {
        "state": State.COMPLETED.value, "actual_date": day, "assessments": list(assessments),
        "reason": None, "recorded_at": now,
    }
    if visit.unscheduled:
        values["target_date"] = day
    if note is not None:
        values["note"] = note
    write_outcome(session, visit, **values)


def miss_row(session: Session, visit: VisitRow, reason: str, *, now: datetime) -> None:
    """Write a missed visit on the row (the caller syncs the subject and audits)."""
    write_outcome(session, visit, state=State.MISSED.value, actual_date=None, assessments=[],
                  reason=reason, recorded_at=now)


def reopen_row(session: Session, visit: VisitRow) -> None:
    """Put a done row back on the schedule: the next sync gives it its scheduled state."""
    write_outcome(session, visit, state=State.PLANNED.value, actual_date=None, assessments=[],
                  reason=None, recorded_at=None)
