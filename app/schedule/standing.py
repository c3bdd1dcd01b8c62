"""Where a visit or a subject stands in its calendar, as the services ask it: the date an
event cancels a visit, whether a visit's phase has opened (and, when not, why, in the
words every refusal uses), whether events would leave recorded visits in a phase not
open, whether a subject's schedule is done (the protocol may complete a subject by it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from app.schedule.expand import Expansion
from app.schedule.lifecycle import TERMINAL_EVENTS, Event, EventType, end_of_follow_up
from app.schedule.openings import (
    STOPS_AT_PROGRESSION,
    PhaseState,
    first_event,
    next_opening,
    phase_state,
)
from app.schedule.plan import MAIN_PHASE, PhaseDef, Plan, VisitDef
from app.schedule.status import DONE_STATES, State


def cancelled_on(plan: Plan, code: str, events: Sequence[Event]) -> date | None:
    """The date of the event that cancels the visit ``code`` when not done by then: the
    end of follow-up, or progression for a visit the protocol stops at progression, or a
    death for a visit of a phase the end of follow-up opened (early termination); or,
    when earlier, the opening of the next occurrence of its repeating phase."""
    definition = plan.by_code.get(code)
    if definition is None:
        return None
    phase = next((p for p in plan.phases if p.code == definition.phase), None)
    nxt = None if phase is None else next_opening(phase, events)
    day = _cancelled_on(definition, events)
    return day if nxt is None or (day is not None and day <= nxt[0]) else nxt[0]


def _cancelled_on(definition: VisitDef, events: Sequence[Event]) -> date | None:
    if definition.after_leaving:  # early termination: only a death cancels it
        died = first_event(events, frozenset({EventType.DEATH}))
        return None if died is None else died[0]
    stop = first_event(events, STOPS_AT_PROGRESSION if definition.stops_at_progression
                  else TERMINAL_EVENTS)
    end = end_of_follow_up(events)
    if end is not None and end.type is EventType.SCREEN_FAILURE:
        return end.date
    return None if stop is None else stop[0]


def phase_not_open(phase: PhaseDef, events: Sequence[Event], *, hint: bool = True) -> str | None:
    """Why a conditional phase is not open on ``events``, in the words every refusal uses
    (None: it is open), e.g. "has not opened (waiting for response CR/sCR): record the
    response that opens it first" (the advice left out without ``hint``) or "can no
    longer open (progression on 2025-03-20)"."""
    state, why = phase_state(phase, events)
    if state is PhaseState.ACTIVE:
        return None
    if state is PhaseState.NOT_APPLICABLE:
        return f"can no longer open ({why})"
    advice = f": record the {phase.opened_by} that opens it first" if hint else ""
    return f"has not opened ({why}){advice}"


def phase_of(plan: Plan, code: str) -> PhaseDef | None:
    """The conditional phase the visit ``code`` belongs to (None: the main schedule, or
    no such visit)."""
    definition = plan.by_code.get(code)
    if definition is None:
        return None
    return next((p for p in plan.phases if p.code == definition.phase), None)


def visit_phase_not_open(plan: Plan, code: str, events: Sequence[Event]) -> str | None:
    """Why the visit ``code`` takes no outcome because of its phase: "its phase HSCT has
    not opened (...): record the response that opens it first" (None: its phase is open,
    or it has none)."""
    phase = phase_of(plan, code)
    if phase is None:
        return None
    words = phase_not_open(phase, events)
    return None if words is None else f"its phase {phase.code} {words}"


def in_open_phase(plan: Plan, code: str, events: Sequence[Event]) -> bool:
    """Whether the visit belongs to the main schedule or to a phase that has opened."""
    definition = plan.by_code.get(code)
    if definition is None:
        return False
    phase = next((p for p in plan.phases if p.code == definition.phase), None)
    return phase is None or phase_state(phase, events)[0] is PhaseState.ACTIVE


_STILL_TO_DO = frozenset({State.PLANNED, State.PENDING})


def schedule_done(plan: Plan, expansion: Expansion) -> bool:
    """Whether the subject has completed the study by its calendar, for a protocol that
    says so (``complete_after_last_visit``): no non-optional visit of the main schedule,
    or of a phase that opened, is still to do (planned or pending). A visit counting as
    missed but not documented is still to do: someone has to document it."""
    if not plan.protocol.study.complete_after_last_visit:
        return False
    open_phases = {code for code, state in expansion.phases.items()
                   if state is PhaseState.ACTIVE}
    return not any(
        v.state in _STILL_TO_DO and not v.optional
        and (v.phase == MAIN_PHASE or v.phase in open_phases)
        for v in expansion.visits
    )


@dataclass(frozen=True, slots=True)
class RecordedVisit:
    """A visit of the subject's calendar with an outcome entered (completed or missed)."""

    code: str
    state: State
    actual_date: date | None = None

    def __str__(self) -> str:
        if self.state is State.COMPLETED and self.actual_date is not None:
            return f"{self.code} completed on {self.actual_date.isoformat()}"
        return f"{self.code} {self.state.value}"


@dataclass(frozen=True, slots=True)
class PhaseWithRecords:
    """A conditional phase ``events`` leave not open although visits of it are recorded."""

    phase: str
    why: str  # "has not opened (waiting for response CR/sCR)", "can no longer open (...)"
    visits: tuple[RecordedVisit, ...]

    def __str__(self) -> str:
        listed = ", ".join(str(v) for v in self.visits)
        return (f"phase {self.phase} {self.why}, yet visits of it are recorded ({listed}):"
                " a visit recorded in a phase needs the event that opens it")


def phases_with_records(
    plan: Plan, events: Sequence[Event], recorded: Iterable[RecordedVisit]
) -> list[PhaseWithRecords]:
    """The conditional phases not open on ``events`` that hold recorded visits.

    Completing or documenting a visit of such a phase is refused
    (:mod:`app.schedule.outcome`), and so is the anchor its visit records
    (:func:`app.schedule.recording.closed_phase`); so is, then, a change of the events (a
    response removed or corrected to another value, a progression dated before the
    response) that would leave visits already recorded there: whichever arrives last,
    the same facts are refused together. Recorded visits are never dropped."""
    held: dict[str, list[RecordedVisit]] = {}
    for visit in recorded:
        phase = phase_of(plan, visit.code)
        if phase is not None and visit.state in DONE_STATES:
            held.setdefault(phase.code, []).append(visit)
    out = []
    for phase in plan.phases:
        why = phase_not_open(phase, events, hint=False) if phase.code in held else None
        if why is not None:
            visits = sorted(held[phase.code], key=lambda v: (v.actual_date or date.max, v.code))
            out.append(PhaseWithRecords(phase.code, why, tuple(visits)))
    return out
