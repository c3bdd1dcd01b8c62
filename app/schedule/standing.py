"""Where a visit or a subject stands in its calendar, as the services ask it: the date an
event cancels a visit, whether a visit's phase has opened, whether a subject's schedule is
done (the protocol may complete a subject by it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from app.schedule.expand import (
    STOPS_AT_PROGRESSION,
    Expansion,
    PhaseState,
    first_event,
    phase_state,
)
from app.schedule.lifecycle import TERMINAL_EVENTS, Event, EventType, end_of_follow_up
from app.schedule.plan import MAIN_PHASE, PhaseDef, Plan
from app.schedule.status import State


def cancelled_on(plan: Plan, code: str, events: Sequence[Event]) -> date | None:
    """The date of the event that cancels the visit ``code`` when not done by then: the
    end of follow-up, or progression for a visit the protocol stops at progression, or a
    death for a visit of a phase the end of follow-up opened (early termination)."""
    definition = plan.by_code.get(code)
    if definition is None:
        return None
    if definition.after_leaving:  # early termination: only a death cancels it
        died = first_event(events, frozenset({EventType.DEATH}))
        return None if died is None else died[0]
    stop = first_event(events, STOPS_AT_PROGRESSION if definition.stops_at_progression
                  else TERMINAL_EVENTS)
    end = end_of_follow_up(events)
    if end is not None and end.type is EventType.SCREEN_FAILURE:
        return end.date
    return None if stop is None else stop[0]


def phase_not_open(phase: PhaseDef, events: Sequence[Event]) -> str | None:
    """Why a conditional phase is not open on ``events``, in the words every refusal uses
    (None: it is open), e.g. "has not opened (waiting for response CR/sCR): record the
    response that opens it first" or "can no longer open (progression on 2025-03-20)"."""
    state, why = phase_state(phase, events)
    if state is PhaseState.ACTIVE:
        return None
    if state is PhaseState.NOT_APPLICABLE:
        return f"can no longer open ({why})"
    return f"has not opened ({why}): record the {phase.opened_by} that opens it first"


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
