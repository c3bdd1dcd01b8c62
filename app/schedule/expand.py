"""Expand a protocol into one subject's calendar.

:func:`expand` is pure: the protocol plan, the subject's anchor dates, lifecycle
events and recorded visits go in; every visit's dates and state come out. Statuses
as of a date are added by :func:`app.schedule.calendar.build_calendar`.

Rules (the brief's domain rules, in code):

- a visit is timed from an anchor, or from the actual date of an earlier visit (its
  target date until that visit is done, which makes the date provisional; a missed
  visit's target, which is final);
- a visit whose anchor has no date yet is *pending*; a planned (not yet confirmed)
  anchor gives *provisional* dates;
- a done visit (completed or missed) keeps the dates it was planned with: re-anchoring
  moves only what is not done;
- a conditional phase opens when its response event is recorded before any of its
  closing events (a response and a closing event on the same day: the response
  counts); until then its visits are pending, once closed not applicable;
- death, withdrawal and loss to follow-up cancel every visit not done whose window
  had not closed by the event date; progression does the same for the visits the
  protocol stops at progression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from app.schedule.dates import study_day
from app.schedule.plan import PhaseDef, Plan
from app.schedule.status import State


class EventType(StrEnum):
    RESPONSE = "response"
    PROGRESSION = "progression"
    DEATH = "death"
    WITHDRAWAL = "withdrawal"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


class Lifecycle(StrEnum):
    """Where a subject stands: still followed, or gone for good (and how)."""

    ACTIVE = "active"
    DIED = "died"
    WITHDRAWN = "withdrawn"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


# The events that end a subject's follow-up, and what each makes of the subject.
ENDS_AS: Mapping[EventType, Lifecycle] = {
    EventType.DEATH: Lifecycle.DIED,
    EventType.WITHDRAWAL: Lifecycle.WITHDRAWN,
    EventType.LOST_TO_FOLLOW_UP: Lifecycle.LOST_TO_FOLLOW_UP,
}
TERMINAL_EVENTS = frozenset(ENDS_AS)


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


def _first(events: Sequence[Event], types: frozenset[EventType]) -> tuple[date, str] | None:
    """Date of the earliest event of these types, with the reason it gives."""
    first = min((e for e in events if e.type in types), key=lambda e: e.date, default=None)
    return None if first is None else (first.date, f"{first.type.value} on {first.date}")


_STOPS_AT_PROGRESSION = TERMINAL_EVENTS | {EventType.PROGRESSION}
_NOTHING: frozenset[str] = frozenset()

# (date visits timed after a visit are counted from, root anchor name, root anchor date,
# whether that date may still move)
_Base = tuple[date, str, date, bool]


def expand(
    plan: Plan,
    anchors: Mapping[str, AnchorDate],
    events: Sequence[Event] = (),
    records: Mapping[str, VisitRecord] | None = None,
) -> Expansion:
    """Dates and state of every visit of one subject (see the module's rules).

    Runs once per subject and change, in bulk too: everything that does not depend on
    the visit is worked out before the loop, which builds one object per visit.
    """
    records = records or {}
    anchor_day = plan.anchor_day
    phases = {p.code: phase_state(p, events) for p in plan.phases}
    blocked: dict[str, tuple[State, str]] = {}  # state and reason of an inactive phase's visits
    for code, (phase, why) in phases.items():
        if phase is PhaseState.NOT_APPLICABLE:
            blocked[code] = (State.NOT_APPLICABLE, f"phase {code} closed: {why}")
        elif phase is PhaseState.PENDING:
            blocked[code] = (State.PENDING, f"phase {code} {why}")
    ended = _first(events, TERMINAL_EVENTS)
    stopped = _first(events, _STOPS_AT_PROGRESSION)
    roots: dict[str, _Base] = {
        name: (a.date, name, a.date, not a.actual) for name, a in anchors.items()
    }
    bases: dict[str, _Base | None] = {}
    out: list[ExpandedVisit] = []
    for visit in plan.order:
        # Where the visit is timed from: an anchor, or the date of an earlier visit.
        if visit.after_visit is not None:
            base = bases.get(visit.after_visit)
        else:
            base = roots.get(visit.anchor or "")  # a visit not timed after a visit has one
        record = records.get(visit.code) if records else None

        target: date | None
        start: date | None
        end: date | None
        day: int | None
        provisional = False
        root = visit.anchor
        if record is not None and record.target_date is not None:
            # A done visit keeps the dates it was planned with.
            target, start, end = record.target_date, record.window_start, record.window_end
            day = None if base is None else study_day(base[2], target, anchor_day)
            if base is not None:
                root = base[1]
        elif base is not None:
            base_date, root, root_date, provisional = base
            target = visit.offset.apply(base_date)
            start, end = target - visit.before, target + visit.after
            day = study_day(root_date, target, anchor_day)
        else:
            target = start = end = day = None

        # The base for visits timed after this one: its actual date once completed, which
        # no later change moves. Before that its target, which moves when it is done,
        # unless it was missed: a missed visit keeps its target for good.
        if base is None:
            bases[visit.code] = None
        elif record is not None and record.state is State.COMPLETED and record.actual_date:
            bases[visit.code] = (record.actual_date, base[1], base[2], False)
        elif target is not None:
            moving = record is None or (record.target_date is None and base[3])
            bases[visit.code] = (target, base[1], base[2], moving)
        else:
            bases[visit.code] = None

        reason: str | None = None
        if record is not None:
            state = record.state
        elif visit.phase in blocked:
            state, reason = blocked[visit.phase]
        else:
            stop = stopped if visit.stops_at_progression else ended
            if stop is not None and (end is None or end >= stop[0]):
                state, reason = State.CANCELLED, stop[1]
            elif target is None:
                state, reason = State.PENDING, visit.waiting
            else:
                state = State.PLANNED

        out.append(
            ExpandedVisit(  # positional: this runs for every visit of every subject
                visit.code,
                visit.name,
                visit.phase,
                visit.kind,
                visit.optional,
                state,
                root,
                target,
                start,
                end,
                day,
                provisional and state is not State.COMPLETED,
                None if record is None else record.actual_date,
                _NOTHING if record is None else record.assessments,
                reason,
            )
        )
    if plan.order is not plan.visits:  # some visit is timed after a later one
        by_code = {v.code: v for v in out}
        out = [by_code[v.code] for v in plan.visits]
    return Expansion(visits=tuple(out), phases={k: s for k, (s, _) in phases.items()})
