"""The visit-outcome decision as a table: refused, unchanged or recorded (and how)."""

from __future__ import annotations

from datetime import date

import pytest

from app import errors
from app.schedule.outcome import (
    Action,
    Completion,
    CurrentVisit,
    Decision,
    Missed,
    Record,
    Refusal,
    Refused,
    Unchanged,
    decide_outcome,
)
from app.schedule.status import State

DAY = date(2026, 2, 15)
OTHER_DAY = date(2026, 2, 16)
PLANNED = CurrentVisit("D14", State.PLANNED)
COMPLETED = CurrentVisit("D14", State.COMPLETED, actual_date=DAY, assessments=("vitals", "labs"),
                         note="fine")
MISSED = CurrentVisit("D14", State.MISSED, reason="hospitalised")
UNSCHEDULED = CurrentVisit("UNS-1", State.COMPLETED, actual_date=DAY, unscheduled=True)
CANCELLED = CurrentVisit("D14", State.CANCELLED, reason="death on 2026-02-10")
NOT_APPLICABLE = CurrentVisit("T30", State.NOT_APPLICABLE)
PENDING = CurrentVisit("D14", State.PENDING, reason="waiting for anchor infusion")
PHASE_NOT_OPEN = CurrentVisit(
    "HSCT-D14", State.PENDING, reason="phase HSCT waiting for response CR/sCR",
    phase_not_open="its phase HSCT has not opened (waiting for response CR/sCR): record the"
    " response that opens it first")

AGAIN = "send correction: true with a reason to change it"
TO_MISSED = "send correction: true with a reason to mark it missed"


def refused(refusal: Refusal, message: str, state: State) -> Refused:
    return Refused(refusal, message, state)


@pytest.mark.parametrize(("visit", "request_", "expected"), [
    # Visits that take no outcome, whatever is sent.
    pytest.param(CANCELLED, Completion(DAY), refused(
        Refusal.NOT_OPEN,
        "visit D14 cannot be completed on 2026-02-15: it was cancelled (death on 2026-02-10)",
        State.CANCELLED), id="complete-cancelled"),
    pytest.param(NOT_APPLICABLE, Completion(DAY, correction=True, reason="r"), refused(
        Refusal.NOT_OPEN,
        "visit T30 cannot be completed on 2026-02-15: it does not apply to this subject",
        State.NOT_APPLICABLE), id="complete-not-applicable-even-as-correction"),
    pytest.param(PENDING, Missed("away"), refused(
        Refusal.NOT_OPEN, "visit D14 cannot be marked missed: it has no date yet"
        " (waiting for anchor infusion)", State.PENDING), id="miss-pending"),
    pytest.param(PHASE_NOT_OPEN, Missed("away"), refused(
        Refusal.NOT_OPEN, "visit HSCT-D14 cannot be marked missed: its phase HSCT has not"
        " opened (waiting for response CR/sCR): record the response that opens it first",
        State.PENDING), id="miss-in-a-phase-not-open"),
    pytest.param(PHASE_NOT_OPEN, Completion(DAY), refused(
        Refusal.NOT_OPEN, "visit HSCT-D14 cannot be completed on 2026-02-15: its phase HSCT"
        " has not opened (waiting for response CR/sCR): record the response that opens it"
        " first", State.PENDING), id="complete-in-a-phase-not-open"),
    # A planned visit: first outcome.
    pytest.param(PLANNED, Completion(DAY), Record(Action.COMPLETED), id="complete-planned"),
    pytest.param(PLANNED, Completion(DAY, correction=True, reason=" r "),
                 Record(Action.COMPLETED), id="complete-planned-flagged-as-correction"),
    pytest.param(PLANNED, Missed("away"), Record(Action.MISSED, "away"), id="miss-planned"),
    # The same completion again: unchanged.
    pytest.param(COMPLETED, Completion(DAY), Unchanged(), id="same-date"),
    pytest.param(COMPLETED, Completion(DAY, ("vitals", "labs"), "fine"), Unchanged(),
                 id="same-date-assessments-note"),
    pytest.param(COMPLETED, Completion(DAY, correction=True), Unchanged(),
                 id="same-as-correction-without-reason"),
    # Something else for a completed visit: a correction.
    pytest.param(COMPLETED, Completion(OTHER_DAY), refused(
        Refusal.ALREADY_RECORDED, f"visit D14 is already completed on 2026-02-15; {AGAIN}",
        State.COMPLETED), id="other-date"),
    pytest.param(COMPLETED, Completion(DAY, ("vitals",)), refused(
        Refusal.ALREADY_RECORDED, "visit D14 is already completed on 2026-02-15 with other"
        f" assessments or note; {AGAIN}", State.COMPLETED), id="other-assessments"),
    pytest.param(COMPLETED, Completion(DAY, note="other"), refused(
        Refusal.ALREADY_RECORDED, "visit D14 is already completed on 2026-02-15 with other"
        f" assessments or note; {AGAIN}", State.COMPLETED), id="other-note"),
    pytest.param(COMPLETED, Completion(OTHER_DAY, correction=True), refused(
        Refusal.REASON_REQUIRED, "correcting visit D14 needs a reason", State.COMPLETED),
        id="correction-without-reason"),
    pytest.param(COMPLETED, Completion(OTHER_DAY, correction=True, reason="  "), refused(
        Refusal.REASON_REQUIRED, "correcting visit D14 needs a reason", State.COMPLETED),
        id="correction-with-blank-reason"),
    pytest.param(COMPLETED, Completion(OTHER_DAY, correction=True, reason=" typo "),
                 Record(Action.CORRECTED, "typo"), id="correction"),
    # Completing a missed visit: a correction too.
    pytest.param(MISSED, Completion(DAY), refused(
        Refusal.ALREADY_RECORDED, f"visit D14 is already missed; {AGAIN}", State.MISSED),
        id="complete-missed"),
    pytest.param(MISSED, Completion(DAY, correction=True, reason="found the notes"),
                 Record(Action.CORRECTED, "found the notes"), id="complete-missed-correction"),
    # Marking missed again changes nothing, whatever the reason.
    pytest.param(MISSED, Missed("another reason", correction=True), Unchanged(),
                 id="missed-again"),
    # A completed visit becomes missed only as a correction, never an unscheduled one.
    pytest.param(COMPLETED, Missed("away"), refused(
        Refusal.ALREADY_RECORDED, f"visit D14 is already completed on 2026-02-15; {TO_MISSED}",
        State.COMPLETED), id="miss-completed"),
    pytest.param(COMPLETED, Missed("away", correction=True), Record(Action.CORRECTED, "away"),
                 id="miss-completed-correction"),
    pytest.param(UNSCHEDULED, Missed("away", correction=True), refused(
        Refusal.ALREADY_RECORDED, f"visit UNS-1 is already completed on 2026-02-15; {TO_MISSED}",
        State.COMPLETED), id="miss-unscheduled"),
    pytest.param(UNSCHEDULED, Completion(OTHER_DAY, correction=True, reason="typo"),
                 Record(Action.CORRECTED, "typo"), id="correct-unscheduled-date"),
])
def test_outcome_decision(
    visit: CurrentVisit, request_: Completion | Missed, expected: Decision
) -> None:
    assert decide_outcome(visit, request_) == expected


@pytest.mark.parametrize(("decision", "error", "extra"), [
    (refused(Refusal.NOT_OPEN, "m", State.CANCELLED), errors.Conflict, {"state": "cancelled"}),
    (refused(Refusal.ALREADY_RECORDED, "m", State.MISSED), errors.AlreadyRecorded,
     {"state": "missed"}),
    (refused(Refusal.REASON_REQUIRED, "m", State.COMPLETED), errors.ReasonRequired, {}),
])
def test_a_refusal_is_raised_as_the_error_it_names(
    decision: Refused, error: type[errors.FollowupError], extra: dict[str, object]
) -> None:
    raised = decision.error()
    assert type(raised) is error and raised.detail == "m" and raised.extra == extra


# Facts in any order: what the event that cancelled a visit, or a missing anchor date,
# still lets through.
CANCELLED_BY_WITHDRAWAL = CurrentVisit("D14", State.CANCELLED, reason="withdrawal on 2026-02-18",
                                       cancelled_on=date(2026, 2, 18))
WAITING_FOR_ANCHOR = CurrentVisit("SCR", State.PENDING, reason="waiting for anchor infusion",
                                  waiting_for_anchor=True)


@pytest.mark.parametrize(("visit", "request_", "expected"), [
    pytest.param(CANCELLED_BY_WITHDRAWAL, Completion(date(2026, 2, 17)),
                 Record(Action.COMPLETED), id="done-before-the-withdrawal"),
    pytest.param(CANCELLED_BY_WITHDRAWAL, Completion(date(2026, 2, 18)),
                 Record(Action.COMPLETED), id="done-on-the-day-of-the-withdrawal"),
    pytest.param(CANCELLED_BY_WITHDRAWAL, Completion(date(2026, 2, 19)), refused(
        Refusal.NOT_OPEN, "visit D14 cannot be completed on 2026-02-19: it was cancelled"
        " (withdrawal on 2026-02-18)", State.CANCELLED), id="done-after-the-withdrawal"),
    pytest.param(CANCELLED_BY_WITHDRAWAL, Missed("away"), Record(Action.MISSED, "away"),
                 id="documented-missed-after-the-withdrawal"),
    pytest.param(WAITING_FOR_ANCHOR, Completion(DAY), Record(Action.COMPLETED),
                 id="done-before-its-anchor-has-a-date"),
    pytest.param(PENDING, Completion(DAY), refused(
        Refusal.NOT_OPEN, "visit D14 cannot be completed on 2026-02-15: it has no date yet"
        " (waiting for anchor infusion)", State.PENDING), id="pending-on-a-phase"),
])
def test_facts_arriving_late(visit: CurrentVisit, request_: Completion | Missed,
                             expected: Decision) -> None:
    assert decide_outcome(visit, request_) == expected
