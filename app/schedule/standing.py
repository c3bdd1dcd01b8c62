"""Where a visit or a subject stands in its calendar, as the services ask it: the date an
event cancels a visit, whether a visit's phase has opened, whether a subject's schedule is
done (the protocol may complete a subject by it)."""

from __future__ import annotations

from collections.abc import Sequence
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
from app.schedule.plan import MAIN_PHASE, Plan, VisitDef
from app.schedule.status import State


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
