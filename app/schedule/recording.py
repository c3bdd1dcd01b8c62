"""One fact, one entry: a visit that records an anchor and the anchor's actual date.

A protocol may say that a visit records an anchor (``records: infusion`` on D0): the
visit taking place and the anchor's actual date are then one fact, which may be entered
either way. Pure: what is stored about the visit and the anchor and what the request
says go in; out comes what to change on the other entry, or why the two disagree.

Completing the visit (on day D):

- an anchor without a date is set to D, actual;
- a planned anchor is confirmed on D, whatever day was planned: a plan is not a fact,
  and the EDC's completion is the actual date, so no reason is needed;
- an actual anchor on D changes nothing; on another day it disagrees (a conflict naming
  both days) unless the completion is sent as a correction with a reason, which then
  corrects the anchor too, with that reason.

Marking the visit missed: a planned anchor (or none) stays as it is; an actual anchor says
the visit took place, so this disagrees unless sent as a correction (missed visits always
carry a reason), which turns the anchor back into a planned date on the same day.

Setting the anchor (on day D):

- an actual date is refused while the recording visit belongs to a conditional phase that
  has not opened (or can no longer open): that visit cannot be completed then, whichever
  way it is entered, so neither can the anchor that is the same fact (a conflict naming
  the phase and what opens it); a planned date is accepted;

- a planned date completes nothing; turning an actual date back into a planned one
  (a correction, with its reason) reopens the completed visit: back on the schedule;
- an actual date completes the visit on D when it is not done, whatever its scheduled
  state: the anchor is the fact, the visit its entry. A visit completed on D is left as it
  is; completed on another day, or marked missed, it disagrees unless the anchor change
  carries a reason, which corrects the visit too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from app.errors import Conflict, ReasonRequired
from app.schedule.expand import AnchorDate, VisitRecord
from app.schedule.lifecycle import Event
from app.schedule.openings import PhaseState, phase_state
from app.schedule.outcome import Action, Completion, CurrentVisit, Missed
from app.schedule.plan import Plan, VisitDef
from app.schedule.rules import given_reason, reason_required
from app.schedule.standing import phase_not_open, phase_of
from app.schedule.status import State


class AnchorStep(StrEnum):
    """What happens to the anchor, named as its audit action."""

    SET = "anchor.set"  # it had no date
    CONFIRMED = "anchor.confirmed"  # a planned date becomes actual
    CORRECTED = "anchor.corrected"  # an actual date changes, or becomes planned again


@dataclass(frozen=True, slots=True)
class AnchorChange:
    step: AnchorStep
    date: date
    actual: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class VisitChange:
    """The visit is completed on ``actual_date``, or back on the schedule when None."""

    action: Action  # COMPLETED or CORRECTED
    actual_date: date | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Disagreement:
    """The visit and its anchor would say different things."""

    message: str
    reason_missing: bool = False  # a correction without its reason

    def error(self) -> Conflict | ReasonRequired:
        return ReasonRequired(self.message) if self.reason_missing else Conflict(self.message)


def recording_visit(plan: Plan, anchor: str) -> VisitDef | None:
    """The visit that records ``anchor``, if the protocol names one."""
    return plan.recorded_by.get(anchor)


def anchor_records(plan: Plan, anchors: Mapping[str, AnchorDate]) -> dict[str, VisitRecord]:
    """The visits completed by the actual anchors given (at enrolment, in an import):
    each on its anchor's date, with its planned assessments."""
    out: dict[str, VisitRecord] = {}
    for name, visit in plan.recorded_by.items():
        anchor = anchors.get(name)
        if anchor is not None and anchor.actual:
            out[visit.code] = VisitRecord(State.COMPLETED, anchor.date,
                                          frozenset(visit.assessments))
    return out


def closed_phase(plan: Plan, anchor: str, events: Sequence[Event]) -> str | None:
    """Why ``anchor`` cannot have an actual date yet (None: it can): the visit that records
    it belongs to a conditional phase that has not opened, or can no longer open, on
    ``events``. Completing that visit is refused then (:mod:`app.schedule.outcome`, in the
    same words), and the actual anchor is the same fact."""
    visit = plan.recorded_by.get(anchor)
    phase = None if visit is None else phase_of(plan, visit.code)
    words = None if phase is None else phase_not_open(phase, events)
    if visit is None or phase is None or words is None:
        return None
    pending = phase_state(phase, events)[0] is PhaseState.PENDING
    return (f"anchor {anchor} cannot have an actual date: it is recorded by visit"
            f" {visit.code} of phase {phase.code}, which {words}"
            + (", or send a planned date (actual: false)" if pending else ""))


def completed_by_anchors(records: Mapping[str, VisitRecord]) -> dict[str, Any]:
    """What an enrolment's audit record adds about the visits its anchors completed."""
    if not records:
        return {}
    return {"visits_completed": {code: r.actual_date.isoformat() if r.actual_date else None
                                 for code, r in records.items()}}


def _day(d: date) -> str:
    return d.isoformat()


def anchor_on_completion(
    visit: str, anchor: str, stored: AnchorDate | None, request: Completion
) -> AnchorChange | Disagreement | None:
    """What completing ``visit`` does to the ``anchor`` it records (None: nothing)."""
    day = request.actual_date
    if stored is None:
        return AnchorChange(AnchorStep.SET, day, True)
    if not stored.actual:
        return AnchorChange(AnchorStep.CONFIRMED, day, True, given_reason(request.reason))
    if stored.date == day:
        return None
    if not request.correction:
        return Disagreement(
            f"visit {visit} on {_day(day)} disagrees with the actual date of anchor {anchor}"
            f" ({_day(stored.date)}); send correction: true with a reason to correct both")
    why = given_reason(request.reason)
    if why is None:
        return Disagreement(reason_required(f"correcting anchor {anchor}"), reason_missing=True)
    return AnchorChange(AnchorStep.CORRECTED, day, True, why)


def anchor_on_missed(
    visit: str, anchor: str, stored: AnchorDate | None, request: Missed
) -> AnchorChange | Disagreement | None:
    """What marking ``visit`` missed does to the ``anchor`` it records (None: nothing)."""
    if stored is None or not stored.actual:
        return None
    if not request.correction:
        return Disagreement(
            f"visit {visit} cannot be marked missed: anchor {anchor} has an actual date"
            f" ({_day(stored.date)}), so it took place; send correction: true with a reason"
            f" to make {anchor} a planned date again")
    return AnchorChange(AnchorStep.CORRECTED, stored.date, False, request.reason)


def visit_on_anchor(
    visit: CurrentVisit,
    anchor: str,
    before: AnchorDate | None,
    after: AnchorDate,
    reason: str | None,
) -> VisitChange | Disagreement | None:
    """What setting ``anchor`` from ``before`` to ``after`` (with the change's reason, if
    any) does to the ``visit`` that records it (None: nothing)."""
    why = given_reason(reason)
    if not after.actual:
        if visit.state is State.COMPLETED and before is not None and before.actual:
            if why is None:
                return Disagreement(reason_required(f"correcting anchor {anchor}"),
                                    reason_missing=True)
            return VisitChange(Action.CORRECTED, None, why)
        return None
    if visit.state is State.COMPLETED:
        if visit.actual_date == after.date:
            return None
        recorded = "completed on " + (_day(visit.actual_date) if visit.actual_date else "?")
    elif visit.state is State.MISSED:
        recorded = "marked missed" + (f" ({visit.reason})" if visit.reason else "")
    else:
        return VisitChange(Action.COMPLETED, after.date)
    if why is None:
        return Disagreement(
            f"anchor {anchor} on {_day(after.date)} disagrees with visit {visit.code}, which"
            f" is {recorded}; send a reason to correct the visit too")
    return VisitChange(Action.CORRECTED, after.date, why)


def reconcile(
    visit: CurrentVisit, anchor: str, stored: AnchorDate | None, closed: str | None
) -> AnchorChange | VisitChange | Disagreement | None:
    """Bring a stored ``visit`` and the ``anchor`` it records in line, for rows written
    before the protocol said the visit records it (None: they agree). ``closed``: why the
    anchor cannot be actual (:func:`closed_phase`), if so.

    The rule of entering either one: an actual anchor completes a visit not done, a
    completed visit sets (or confirms) an anchor that is not actual. Two facts that
    disagree (the visit done on another day, or missed, while the anchor is actual; an
    actual anchor of a phase not open) are reported, never resolved: someone corrects one.
    """
    if stored is not None and stored.actual:
        if visit.state is State.COMPLETED and visit.actual_date == stored.date:
            return None
        where = f"anchor {anchor} is actual on {_day(stored.date)} but visit {visit.code}"
        if visit.state is State.COMPLETED:
            return Disagreement(f"{where} was completed on "
                                + (_day(visit.actual_date) if visit.actual_date else "?"))
        if visit.state is State.MISSED:
            return Disagreement(f"{where} was marked missed"
                                + (f" ({visit.reason})" if visit.reason else ""))
        if closed is not None:
            return Disagreement(closed)
        return VisitChange(Action.COMPLETED, stored.date)
    if visit.state is State.COMPLETED and visit.actual_date is not None:
        if closed is not None:
            return Disagreement(f"visit {visit.code} was completed on"
                                f" {_day(visit.actual_date)}, but {closed}")
        step = AnchorStep.SET if stored is None else AnchorStep.CONFIRMED
        return AnchorChange(step, visit.actual_date, True)
    return None
