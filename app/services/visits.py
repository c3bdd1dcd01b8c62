"""Visit outcomes: completion (and its correction), missed visits, unscheduled visits.

A visit done outside its window is a protocol deviation that is recorded (with the
days early or late), never refused. Sending the same completion again returns the
stored record, so an EDC may retry safely; a different outcome for a done visit is a
correction and needs ``correction`` and a reason. Every change is audited. Whether an
outcome is refused, changes nothing or is recorded is decided in the schedule core
(:mod:`app.schedule.outcome`); this module reads and writes the rows around it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import InvalidDate, InvalidRequest, NotFound
from app.models import AnchorDateRow, SubjectEvent, Visit
from app.schedule.dates import study_day
from app.schedule.expand import cancelled_on, in_open_phase
from app.schedule.language import VisitKind
from app.schedule.lifecycle import Event, EventType, visit_date_conflict
from app.schedule.outcome import (
    Action,
    Completion,
    CurrentVisit,
    Missed,
    Refused,
    Unchanged,
    decide_completion,
    decide_missed,
)
from app.schedule.rules import check_date, require_reason
from app.schedule.status import State, deviation
from app.services.subjects.loading import LoadedSubject, load_subject
from app.services.subjects.visit_rows import sync_subject

UNSCHEDULED_PREFIX = "UNS-"
UNSCHEDULED_PHASE = "unscheduled"
VISIT_KINDS: tuple[str, ...] = get_args(VisitKind)


@dataclass(frozen=True, slots=True)
class VisitOutcome:
    loaded: LoadedSubject
    visit: Visit
    created: bool  # False when the stored record was returned or corrected


def _lock_visit(session: Session, loaded: LoadedSubject, code: str) -> Visit:
    # Read the row again under its lock: a concurrent request may have just recorded it.
    visit = session.scalars(
        select(Visit)
        .where(Visit.subject_pk == loaded.subject.id, Visit.code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if visit is None:
        raise NotFound(f"visit {code} not found for subject {loaded.subject.subject_id}")
    return visit


def _events(session: Session, loaded: LoadedSubject) -> list[Event]:
    return [
        Event(EventType(t), d, v)
        for t, d, v in session.execute(
            select(SubjectEvent.type, SubjectEvent.date, SubjectEvent.value)
            .where(SubjectEvent.subject_pk == loaded.subject.id)
        ).tuples()
    ]


def _current(visit: Visit, loaded: LoadedSubject, events: Sequence[Event]) -> CurrentVisit:
    """The stored row as the outcome decision reads it, with what the events say of it."""
    plan = loaded.plan
    return CurrentVisit(
        code=visit.code, state=State(visit.state), actual_date=visit.actual_date,
        assessments=tuple(visit.assessments or ()), note=visit.note,
        unscheduled=visit.unscheduled, reason=visit.reason,
        cancelled_on=cancelled_on(plan, visit.code, events),
        waiting_for_anchor=not visit.unscheduled and in_open_phase(plan, visit.code, events),
    )


def _check_visit_date(
    loaded: LoadedSubject, day: date, now: datetime, events: Sequence[Event]
) -> None:
    check_date(day, "visit date")
    today = loaded.today(now)
    if day > today:
        raise InvalidDate(f"visit date {day.isoformat()} is in the future"
                          f" (site date {today.isoformat()})")
    consent = loaded.subject.consent_date
    if day < consent:
        raise InvalidDate(f"visit date {day.isoformat()} is before consent ({consent.isoformat()})")
    problem = visit_date_conflict(day, events)
    if problem is not None:
        raise InvalidDate(problem)


def _outcome(visit: Visit) -> dict[str, Any]:
    out: dict[str, Any] = {
        "state": visit.state,
        "actual_date": visit.actual_date.isoformat() if visit.actual_date else None,
        "assessments": list(visit.assessments or []),
    }
    if visit.state == State.COMPLETED and visit.actual_date and visit.window_start \
            and visit.window_end:
        early, late = deviation(visit.actual_date, visit.window_start, visit.window_end)
        out |= {"days_early": early, "days_late": late}
    if visit.note:
        out["note"] = visit.note
    if visit.state == State.MISSED:
        out["reason"] = visit.reason
    return out


def _clean(assessments: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(a.strip() for a in assessments if a.strip()))


def complete_visit(
    session: Session,
    *,
    study: str,
    subject_id: str,
    code: str,
    actual_date: date,
    assessments: Sequence[str] | None = None,
    note: str | None = None,
    correction: bool = False,
    reason: str | None = None,
    actor: Actor,
    now: datetime,
) -> VisitOutcome:
    """Record that a visit took place on ``actual_date``.

    ``assessments`` default to the visit's planned ones. The same date again returns
    the stored record (``created`` False, nothing audited); another date, or completing
    a missed visit, is refused unless sent as a correction with a reason.
    """
    actor.require_write()
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True,
                          visit=code)
    visit = _lock_visit(session, loaded, code)
    events = _events(session, loaded)
    done = _clean(assessments) if assessments is not None else None
    request = Completion(actual_date, assessments=None if done is None else tuple(done),
                         note=note, correction=correction, reason=reason)
    decision = decide_completion(_current(visit, loaded, events), request)
    if isinstance(decision, Refused):
        raise decision.error()
    if isinstance(decision, Unchanged):
        return VisitOutcome(loaded, visit, created=False)
    _check_visit_date(loaded, actual_date, now, events)
    before = _outcome(visit)
    if done is None:
        done = list(visit.assessments or []) if visit.state == State.COMPLETED else []
        if not done and not visit.unscheduled:
            definition = loaded.plan.by_code.get(code)
            done = list(definition.assessments) if definition else []
    visit.state = State.COMPLETED.value
    visit.actual_date = actual_date
    if visit.unscheduled:
        visit.target_date = actual_date
    visit.assessments = done
    visit.reason = None
    if note is not None:
        visit.note = note
    visit.recorded_at = now
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    after = _outcome(visit) | result.moved()
    loaded.audit(session, actor=actor, action=decision.action.value, entity="visit", key=code,
                 before=before, after=after, reason=decision.reason)
    return VisitOutcome(loaded, visit, created=decision.action is Action.COMPLETED)


def mark_missed(
    session: Session,
    *,
    study: str,
    subject_id: str,
    code: str,
    reason: str | None,
    correction: bool = False,
    actor: Actor,
    now: datetime,
) -> VisitOutcome:
    """Record that a visit will not take place. A reason is always required; a
    completed visit becomes missed only as a correction."""
    actor.require_write()
    why = require_reason(reason, "a missed visit")
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True,
                          visit=code)
    visit = _lock_visit(session, loaded, code)
    decision = decide_missed(_current(visit, loaded, _events(session, loaded)),
                             Missed(why, correction))
    if isinstance(decision, Refused):
        raise decision.error()
    if isinstance(decision, Unchanged):
        return VisitOutcome(loaded, visit, created=False)
    before = _outcome(visit)
    visit.state = State.MISSED.value
    visit.actual_date = None
    visit.assessments = []
    visit.reason = why
    visit.recorded_at = now
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    after = _outcome(visit) | result.moved()
    loaded.audit(session, actor=actor, action=decision.action.value, entity="visit", key=code,
                 before=before, after=after, reason=why)
    return VisitOutcome(loaded, visit, created=decision.action is Action.MISSED)


_UNS_RE = re.compile(rf"^{UNSCHEDULED_PREFIX}(\d+)$")


def record_unscheduled(
    session: Session,
    *,
    study: str,
    subject_id: str,
    day: date,
    name: str | None = None,
    kind: str = "clinic",
    assessments: Sequence[str] = (),
    note: str | None = None,
    actor: Actor,
    now: datetime,
) -> VisitOutcome:
    """Record a visit the protocol did not plan (code UNS-1, UNS-2, ...), as completed."""
    actor.require_write()
    if kind not in VISIT_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(VISIT_KINDS)}", field="kind")
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    _check_visit_date(loaded, day, now, _events(session, loaded))
    subject = loaded.subject
    codes = session.scalars(
        select(Visit.code).where(Visit.subject_pk == subject.id, Visit.unscheduled.is_(True))
    ).all()
    numbers = [int(m.group(1)) for c in codes if (m := _UNS_RE.match(c))]
    code = f"{UNSCHEDULED_PREFIX}{max(numbers, default=0) + 1}"
    plan = loaded.plan
    main = plan.protocol.main_anchor
    anchor = session.scalars(
        select(AnchorDateRow).where(
            AnchorDateRow.subject_pk == subject.id, AnchorDateRow.name == main
        )
    ).first()
    visit = Visit(
        subject_pk=subject.id, study_id=subject.study_id, site_id=subject.site_id, code=code,
        name=name or "Unscheduled visit", phase=UNSCHEDULED_PHASE, kind=kind, optional=False,
        unscheduled=True, state=State.COMPLETED.value, target_date=day, actual_date=day,
        study_day=study_day(anchor.date, day, plan.anchor_day) if anchor else None,
        provisional=False, assessments=_clean(assessments), note=note, recorded_at=now,
    )
    session.add(visit)
    session.flush()
    sync_subject(session, subject, plan)  # the visit belongs to the site of its date
    loaded.audit(session, actor=actor, action="visit.unscheduled", entity="visit", key=code,
                 after=_outcome(visit) | {"name": visit.name, "kind": kind})
    return VisitOutcome(loaded, visit, created=True)
