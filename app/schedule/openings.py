"""When a conditional phase opens and what ends its visits, from the subject's events.

A phase opens on the first event that opens it, recorded no later than any event that
closes it; an occurrence k of a repeating phase (:mod:`app.schedule.repeats`) on the
k-th such event, in date order (the same calendar whatever order the events were entered
in). The opening of occurrence k+1 stops occurrence k: its visits not done whose window
was still open that day are cancelled, like the visits a progression stops, and those
whose window had closed count as missed from then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from app.schedule.lifecycle import TERMINAL_EVENTS, Event, EventType
from app.schedule.plan import PhaseDef, Plan, VisitDef

STOPS_AT_PROGRESSION = TERMINAL_EVENTS | {EventType.PROGRESSION}
DEATH = frozenset({EventType.DEATH})

# The date an event stops a visit, with the reason it gives.
Stop = tuple[date, str]


class PhaseState(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    NOT_APPLICABLE = "not_applicable"


def _openers(phase: PhaseDef, events: Sequence[Event]) -> list[Event]:
    """The events that open the phase (each occurrence of a repeating one), by date."""
    return sorted(
        (e for e in events if e.type.value == phase.opened_by
         and (not phase.opens_on or e.value in phase.opens_on)),
        key=lambda e: (e.date, e.value or ""),
    )


def opening_date(phase: PhaseDef, events: Sequence[Event]) -> date | None:
    """The date of the event that opens the phase, or this occurrence of it (None: none
    has yet)."""
    if not phase.occurrence:
        return min((e.date for e in _openers(phase, events)), default=None)
    openers = _openers(phase, events)
    return openers[phase.occurrence - 1].date if len(openers) >= phase.occurrence else None


def next_opening(phase: PhaseDef, events: Sequence[Event]) -> Stop | None:
    """The event that opens the next occurrence of a repeating phase, which stops this
    one (None: not repeating, the last occurrence, or none recorded yet)."""
    if not phase.occurrence or phase.occurrence >= phase.occurrences:
        return None
    openers = _openers(phase, events)
    if len(openers) <= phase.occurrence:
        return None
    e = openers[phase.occurrence]
    return e.date, f"{e.type.value} on {e.date.isoformat()} opens occurrence " \
                   f"{phase.occurrence + 1}"


def phase_state(phase: PhaseDef, events: Sequence[Event]) -> tuple[PhaseState, str | None]:
    """Whether a conditional phase (or one occurrence of it) is active, still pending or
    can no longer happen.

    A phase opened on the day an event closes it still opens: a phase opened by
    progression is the follow-up after it. The event type that opens a phase never
    closes it (the next progression opens the next retreatment)."""
    opened = opening_date(phase, events)
    closing = [e for e in events if e.type.value != phase.opened_by
               and (e.type.value in phase.closes_on or e.type in TERMINAL_EVENTS)]
    closed = min(closing, key=lambda e: (e.date, e.type), default=None)
    if opened is not None and (closed is None or opened <= closed.date):
        return PhaseState.ACTIVE, None
    if closed is not None:
        return PhaseState.NOT_APPLICABLE, f"{closed.type.value} on {closed.date.isoformat()}"
    waiting = "/".join(phase.opens_on)
    if phase.occurrence > 1:
        waiting = f"{waiting}{' ' if waiting else ''}(occurrence {phase.occurrence})"
    return PhaseState.PENDING, f"waiting for {phase.opened_by}{' ' if waiting else ''}{waiting}"


def first_event(events: Sequence[Event], types: frozenset[EventType]) -> Stop | None:
    """Date of the earliest event of these types, with the reason it gives."""
    first = min((e for e in events if e.type in types), key=lambda e: (e.date, e.type),
                default=None)
    return None if first is None else (first.date, f"{first.type.value} on {first.date}")


def superseded(plan: Plan, events: Sequence[Event]) -> dict[str, Stop]:
    """Per occurrence of a repeating phase that the next one has stopped: that opening."""
    out = {}
    for p in plan.phases:
        if p.occurrence and (stop := next_opening(p, events)) is not None:
            out[p.code] = stop
    return out


@dataclass(frozen=True, slots=True)
class Stops:
    """What may stop a subject's visits: the end of follow-up, the first progression, a
    death, and the opening of a repeating phase's next occurrence (per phase)."""

    ended: Stop | None
    stopped: Stop | None
    died: Stop | None
    superseded: Mapping[str, Stop]

    def of(self, visit: VisitDef) -> Stop | None:
        """The event that ends a visit (cancelled when its window is still open then,
        counting as missed from then when it had closed): the end of follow-up;
        progression for a visit that stops at progression; only a death for a visit of a
        phase the end of follow-up opened (the early-termination visit is due *because*
        the subject left); the next occurrence for a visit of a repeating phase, when it
        comes first."""
        if visit.after_leaving:
            stop = self.died
        else:
            stop = self.stopped if visit.stops_at_progression else self.ended
        if self.superseded:
            nxt = self.superseded.get(visit.phase)
            if nxt is not None and (stop is None or nxt[0] < stop[0]):
                return nxt
        return stop
