"""Whether an outcome sent for a visit may be recorded: the decision, as a value.

Pure: what is stored about the visit and what the request says go in; out comes a
refusal (with the error it is raised as), "unchanged" (the same outcome again: an EDC
may retry safely and gets the stored record back) or the audit action to record it
with. The dates of a completion (not in the future, not before consent, not after
death) need the subject and are checked by the caller once the decision is to record.

- a not applicable visit takes no outcome, nor does a visit pending on a phase that has
  not opened (the refusal says so, and what opens it, in the words of the anchor it
  may record); a visit pending only because its anchor has no date yet may be recorded
  (screening before the first dose), and is graded once the anchor has a date;
- a visit cancelled by an event (the subject left, or progressed) may still be completed
  on a date up to that event, and marked missed: facts arrive in any order, so what
  would have been accepted before the event was entered is accepted after it;
- completing a completed visit on the same date, with no other assessments or note
  sent, changes nothing; marking a missed visit missed again changes nothing;
- any other outcome for a done visit is a correction: refused unless sent as one, and
  a correction needs a reason; an unscheduled visit cannot be turned into a missed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from app.errors import AlreadyRecorded, Conflict, ReasonRequired
from app.schedule.rules import given_reason, reason_required
from app.schedule.status import State

_NOT_OPEN = {
    State.CANCELLED: "it was cancelled",
    State.NOT_APPLICABLE: "it does not apply to this subject",
    State.PENDING: "it has no date yet",
}


@dataclass(frozen=True, slots=True)
class CurrentVisit:
    """What is stored about the visit now."""

    code: str
    state: State
    actual_date: date | None = None
    assessments: tuple[str, ...] = ()
    note: str | None = None
    unscheduled: bool = False
    reason: str | None = None  # why missed, cancelled, pending or not applicable
    cancelled_on: date | None = None  # the date of the event that cancelled it
    waiting_for_anchor: bool = False  # pending only because its anchor has no date
    # Why its conditional phase is not open ("its phase HSCT has not opened (...): record
    # the response that opens it first"), said instead of "no date yet" when pending.
    phase_not_open: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """The visit took place on ``actual_date``."""

    actual_date: date
    assessments: tuple[str, ...] | None = None  # None: not sent
    note: str | None = None
    correction: bool = False
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Missed:
    """The visit will not take place; the reason is required before anything is read."""

    reason: str
    correction: bool = False


class Refusal(StrEnum):
    """Why an outcome is refused, naming the error it is raised as."""

    NOT_OPEN = "not_open"  # Conflict
    ALREADY_RECORDED = "already_recorded"  # AlreadyRecorded
    REASON_REQUIRED = "reason_required"  # ReasonRequired


class Action(StrEnum):
    """The audit action of an outcome that is recorded."""

    COMPLETED = "visit.completed"
    CORRECTED = "visit.corrected"
    MISSED = "visit.missed"


@dataclass(frozen=True, slots=True)
class Refused:
    refusal: Refusal
    message: str
    state: State  # the visit's stored state, which the error reports

    def error(self) -> Conflict | ReasonRequired:
        if self.refusal is Refusal.REASON_REQUIRED:
            return ReasonRequired(self.message)
        cls = AlreadyRecorded if self.refusal is Refusal.ALREADY_RECORDED else Conflict
        return cls(self.message, state=self.state.value)


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The stored record already says this."""


@dataclass(frozen=True, slots=True)
class Record:
    action: Action
    reason: str | None = None  # the audited reason (trimmed)


Decision = Refused | Unchanged | Record


def _not_open(visit: CurrentVisit, what: str, on: date | None = None) -> Refused | None:
    """Why the visit takes no outcome (``on``: the date of a completion), or None."""
    if visit.state is State.PENDING and visit.waiting_for_anchor:
        return None
    if visit.state is State.CANCELLED and visit.cancelled_on is not None and (
            on is None or on <= visit.cancelled_on):
        return None
    if visit.state is State.PENDING and visit.phase_not_open is not None:
        return Refused(Refusal.NOT_OPEN, f"visit {visit.code} cannot be {what}:"
                       f" {visit.phase_not_open}", visit.state)
    why = _NOT_OPEN.get(visit.state)
    if why is None:
        return None
    return Refused(Refusal.NOT_OPEN, f"visit {visit.code} cannot be {what}: {why}"
                   + (f" ({visit.reason})" if visit.reason else ""), visit.state)


def decide_completion(visit: CurrentVisit, request: Completion) -> Decision:
    """Whether ``request`` completes ``visit``, changes nothing or is refused."""
    refused = _not_open(visit, f"completed on {request.actual_date.isoformat()}",
                        request.actual_date)
    if refused is not None:
        return refused
    if visit.state not in (State.COMPLETED, State.MISSED):
        return Record(Action.COMPLETED)
    same = (
        visit.state is State.COMPLETED
        and visit.actual_date == request.actual_date
        and (request.assessments is None or request.assessments == visit.assessments)
        and (request.note is None or request.note == visit.note)
    )
    if same:
        return Unchanged()
    if not request.correction:
        recorded = (f"completed on {visit.actual_date.isoformat()}" if visit.actual_date
                    else "missed")
        if visit.actual_date == request.actual_date:
            recorded += " with other assessments or note"
        return Refused(Refusal.ALREADY_RECORDED,
                       f"visit {visit.code} is already {recorded}; send correction: true with"
                       " a reason to change it", visit.state)
    why = given_reason(request.reason)
    if why is None:
        return Refused(Refusal.REASON_REQUIRED,
                       reason_required(f"correcting visit {visit.code}"), visit.state)
    return Record(Action.CORRECTED, why)


def decide_missed(visit: CurrentVisit, request: Missed) -> Decision:
    """Whether ``request`` marks ``visit`` missed, changes nothing or is refused."""
    refused = _not_open(visit, "marked missed")
    if refused is not None:
        return refused
    if visit.state is State.MISSED:
        return Unchanged()
    if visit.state is not State.COMPLETED:
        return Record(Action.MISSED, request.reason)
    if not request.correction or visit.unscheduled:
        return Refused(Refusal.ALREADY_RECORDED,
                       f"visit {visit.code} is already completed on {visit.actual_date};"
                       " send correction: true with a reason to mark it missed", visit.state)
    return Record(Action.CORRECTED, request.reason)


def decide_outcome(visit: CurrentVisit, request: Completion | Missed) -> Decision:
    """The decision for either kind of outcome."""
    if isinstance(request, Completion):
        return decide_completion(visit, request)
    return decide_missed(visit, request)
