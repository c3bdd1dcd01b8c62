"""Expand a protocol into one subject's calendar.

:func:`expand` is pure: the protocol plan, the subject's anchor dates, lifecycle
events and recorded visits go in; every visit's dates and state come out. Statuses
as of a date are added by :func:`app.schedule.calendar.build_calendar`.

Rules (the brief's domain rules, in code):

- a visit is timed from an anchor, or from the actual date of an earlier visit (its
  target date until that visit is done, which makes the date provisional);
- a visit whose anchor has no date yet is *pending*; a planned (not yet confirmed)
  anchor gives *provisional* dates;
- a done visit (completed or missed) keeps the dates it was planned with: re-anchoring
  moves only what is not done;
- a conditional phase opens when its response event is recorded before any of its
  closing events; until then its visits are pending, once closed not applicable;
- death, withdrawal and loss to follow-up cancel every visit not done whose window
  had not closed by the event date; progression does the same for the visits the
  protocol stops at progression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from app.schedule.dates import study_day
from app.schedule.plan import MAIN_PHASE, PhaseDef, Plan, VisitDef
from app.schedule.status import State


class EventType(StrEnum):
    RESPONSE = "response"
    PROGRESSION = "progression"
    DEATH = "death"
    WITHDRAWAL = "withdrawal"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


TERMINAL_EVENTS = frozenset({EventType.DEATH, EventType.WITHDRAWAL, EventType.LOST_TO_FOLLOW_UP})


@dataclass(frozen=True, slots=True)
class AnchorDate:
    date: date
    actual: bool = True  # False: planned, not yet confirmed


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    date: date
    value: str | None = None  # e.g. "CR" for a response


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """What was recorded for a visit. Planned dates are kept once it is done."""

    state: State  # COMPLETED or MISSED
    actual_date: date | None = None
    assessments: frozenset[str] = frozenset()
    target_date: date | None = None
    window_start: date | None = None
    window_end: date | None = None


class PhaseState(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True, slots=True)
class ExpandedVisit:
    code: str
    name: str
    phase: str
    kind: str
    optional: bool
    state: State
    anchor: str | None
    target_date: date | None
    window_start: date | None
    window_end: date | None
    study_day: int | None
    provisional: bool
    actual_date: date | None = None
    assessments: frozenset[str] = frozenset()
    reason: str | None = None  # why cancelled, pending or not applicable


@dataclass(frozen=True, slots=True)
class Expansion:
    visits: tuple[ExpandedVisit, ...]
    phases: Mapping[str, PhaseState] = field(default_factory=dict)


def phase_state(phase: PhaseDef, events: Sequence[Event]) -> tuple[PhaseState, str | None]:
    """Whether a conditional phase is active, still pending or can no longer happen."""
    opened = min(
        (e.date for e in events if e.type is EventType.RESPONSE and e.value in phase.opens_on),
        default=None,
    )
    closing = [e for e in events if e.type.value in phase.closes_on or e.type in TERMINAL_EVENTS]
    closed = min(closing, key=lambda e: e.date, default=None)
    if opened is not None and (closed is None or opened <= closed.date):
        return PhaseState.ACTIVE, None
    if closed is not None:
        return PhaseState.NOT_APPLICABLE, f"{closed.type.value} on {closed.date.isoformat()}"
    return PhaseState.PENDING, f"waiting for response {'/'.join(phase.opens_on)}"


def _stopping_event(visit: VisitDef, events: Sequence[Event]) -> Event | None:
    relevant = [
        e
        for e in events
        if e.type in TERMINAL_EVENTS
        or (e.type is EventType.PROGRESSION and visit.stops_at_progression)
    ]
    return min(relevant, key=lambda e: e.date, default=None)


def expand(
    plan: Plan,
    anchors: Mapping[str, AnchorDate],
    events: Sequence[Event] = (),
    records: Mapping[str, VisitRecord] | None = None,
) -> Expansion:
    records = records or {}
    phases = {p.code: phase_state(p, events) for p in plan.phases}
    # code -> (base date for visits timed after it, root anchor name, root anchor date, provisional)
    bases: dict[str, tuple[date, str, date, bool] | None] = {}
    out: list[ExpandedVisit] = []
    for visit in _in_dependency_order(plan):
        out.append(_expand_one(plan, visit, anchors, events, records, phases, bases))
    by_code = {v.code: v for v in out}
    ordered = tuple(by_code[v.code] for v in plan.visits)
    return Expansion(visits=ordered, phases={k: s for k, (s, _) in phases.items()})


def _in_dependency_order(plan: Plan) -> list[VisitDef]:
    """Visits timed from another visit come after it (the loader refuses cycles)."""
    done: set[str] = set()
    ordered: list[VisitDef] = []

    def visit(v: VisitDef) -> None:
        if v.code in done:
            return
        done.add(v.code)
        if v.after_visit is not None:
            visit(plan.by_code[v.after_visit])
        ordered.append(v)

    for v in plan.visits:
        visit(v)
    return ordered


def _expand_one(
    plan: Plan,
    visit: VisitDef,
    anchors: Mapping[str, AnchorDate],
    events: Sequence[Event],
    records: Mapping[str, VisitRecord],
    phases: Mapping[str, tuple[PhaseState, str | None]],
    bases: dict[str, tuple[date, str, date, bool] | None],
) -> ExpandedVisit:
    # Where the visit is timed from: an anchor, or the date of an earlier visit.
    base: tuple[date, str, date, bool] | None
    if visit.after_visit is not None:
        base = bases.get(visit.after_visit)
        pending_reason = f"waiting for visit {visit.after_visit}"
    else:
        assert visit.anchor is not None
        anchor = anchors.get(visit.anchor)
        base = (
            None if anchor is None else (anchor.date, visit.anchor, anchor.date, not anchor.actual)
        )
        pending_reason = f"waiting for anchor {visit.anchor}"

    record = records.get(visit.code)
    target = start = end = None
    day = None
    provisional = False
    root: str | None = visit.anchor
    if record is not None and record.target_date is not None:
        # A done visit keeps the dates it was planned with.
        target, start, end = record.target_date, record.window_start, record.window_end
        if base is not None:
            root, day = base[1], study_day(base[2], target, plan.anchor_day)
    elif base is not None:
        base_date, root, root_date, provisional = base
        target = visit.offset.apply(base_date)
        start = target - timedelta(days=visit.before_days)
        end = target + timedelta(days=visit.after_days)
        day = study_day(root_date, target, plan.anchor_day)

    # The base for visits timed after this one: its actual date once completed, which no
    # later change moves. Before that its target, which moves when it is done, unless it
    # was missed: a missed visit keeps its target for good.
    if record is not None and record.state is State.COMPLETED and record.actual_date and base:
        bases[visit.code] = (record.actual_date, base[1], base[2], False)
    elif target is not None and base is not None:
        moving = record is None or (record.target_date is None and base[3])
        bases[visit.code] = (target, base[1], base[2], moving)
    else:
        bases[visit.code] = None

    state, reason = _state(visit, record, events, phases, end, target is None, pending_reason)
    return ExpandedVisit(
        code=visit.code,
        name=visit.name,
        phase=visit.phase,
        kind=visit.kind,
        optional=visit.optional,
        state=state,
        anchor=root,
        target_date=target,
        window_start=start,
        window_end=end,
        study_day=day,
        provisional=provisional and state is not State.COMPLETED,
        actual_date=record.actual_date if record else None,
        assessments=record.assessments if record else frozenset(),
        reason=reason,
    )


def _state(
    visit: VisitDef,
    record: VisitRecord | None,
    events: Sequence[Event],
    phases: Mapping[str, tuple[PhaseState, str | None]],
    window_end: date | None,
    undated: bool,
    pending_reason: str,
) -> tuple[State, str | None]:
    if record is not None:
        return record.state, None
    if visit.phase != MAIN_PHASE:
        phase, why = phases[visit.phase]
        if phase is PhaseState.NOT_APPLICABLE:
            return State.NOT_APPLICABLE, f"phase {visit.phase} closed: {why}"
        if phase is PhaseState.PENDING:
            return State.PENDING, f"phase {visit.phase} {why}"
    stop = _stopping_event(visit, events)
    if stop is not None and (window_end is None or window_end >= stop.date):
        return State.CANCELLED, f"{stop.type.value} on {stop.date.isoformat()}"
    if undated:
        return State.PENDING, pending_reason
    return State.PLANNED, None
