"""One fact, one entry, as tables: what a visit that records an anchor and the anchor do
to each other (app.schedule.recording)."""

from __future__ import annotations

from datetime import date

import pytest

from app import errors
from app.schedule.expand import AnchorDate, VisitRecord
from app.schedule.lifecycle import Event, EventType
from app.schedule.outcome import Action, Completion, CurrentVisit, Missed
from app.schedule.recording import (
    AnchorChange,
    AnchorStep,
    Disagreement,
    VisitChange,
    anchor_on_completion,
    anchor_on_missed,
    anchor_records,
    closed_phase,
    completed_by_anchors,
    reconcile,
    recording_visit,
    visit_on_anchor,
)
from app.schedule.status import State
from tests.helpers_schedule import mm_plan, sle_plan

DAY = date(2026, 2, 1)
OTHER = date(2026, 2, 3)
PLANNED_ON_DAY = AnchorDate(DAY, actual=False)
PLANNED_OTHER = AnchorDate(OTHER, actual=False)
ACTUAL_ON_DAY = AnchorDate(DAY)
ACTUAL_OTHER = AnchorDate(OTHER)

BOTH = ("visit D0 on 2026-02-01 disagrees with the actual date of anchor infusion (2026-02-03);"
        " send correction: true with a reason to correct both")


@pytest.mark.parametrize(("stored", "request_", "expected"), [
    pytest.param(None, Completion(DAY), AnchorChange(AnchorStep.SET, DAY, True), id="no-date"),
    pytest.param(PLANNED_ON_DAY, Completion(DAY), AnchorChange(AnchorStep.CONFIRMED, DAY, True),
                 id="planned-same-day"),
    # A plan is not a fact: the completion is the actual date, no reason needed.
    pytest.param(PLANNED_OTHER, Completion(DAY), AnchorChange(AnchorStep.CONFIRMED, DAY, True),
                 id="planned-other-day"),
    pytest.param(PLANNED_OTHER, Completion(DAY, correction=True, reason=" moved "),
                 AnchorChange(AnchorStep.CONFIRMED, DAY, True, "moved"),
                 id="planned-other-day-with-reason"),
    pytest.param(ACTUAL_ON_DAY, Completion(DAY), None, id="actual-same-day"),
    pytest.param(ACTUAL_OTHER, Completion(DAY), Disagreement(BOTH), id="actual-other-day"),
    pytest.param(ACTUAL_OTHER, Completion(DAY, correction=True, reason=" "),
                 Disagreement("correcting anchor infusion needs a reason", reason_missing=True),
                 id="actual-other-day-correction-without-reason"),
    pytest.param(ACTUAL_OTHER, Completion(DAY, correction=True, reason="typo"),
                 AnchorChange(AnchorStep.CORRECTED, DAY, True, "typo"),
                 id="actual-other-day-correction"),
])
def test_completing_the_visit(
    stored: AnchorDate | None, request_: Completion, expected: object
) -> None:
    assert anchor_on_completion("D0", "infusion", stored, request_) == expected


@pytest.mark.parametrize(("stored", "request_", "expected"), [
    pytest.param(None, Missed("postponed"), None, id="no-date"),
    pytest.param(PLANNED_ON_DAY, Missed("postponed"), None, id="planned"),
    pytest.param(ACTUAL_ON_DAY, Missed("postponed"), Disagreement(
        "visit D0 cannot be marked missed: anchor infusion has an actual date (2026-02-01), so"
        " it took place; send correction: true with a reason to make infusion a planned date"
        " again"), id="actual"),
    pytest.param(ACTUAL_ON_DAY, Missed("never infused", correction=True),
                 AnchorChange(AnchorStep.CORRECTED, DAY, False, "never infused"),
                 id="actual-correction"),
])
def test_marking_the_visit_missed(
    stored: AnchorDate | None, request_: Missed, expected: object
) -> None:
    assert anchor_on_missed("D0", "infusion", stored, request_) == expected


PLANNED = CurrentVisit("D0", State.PLANNED)
PENDING = CurrentVisit("HSCT-D0", State.PENDING)
CANCELLED = CurrentVisit("D0", State.CANCELLED)
DONE_ON_DAY = CurrentVisit("D0", State.COMPLETED, actual_date=DAY)
DONE_OTHER = CurrentVisit("D0", State.COMPLETED, actual_date=OTHER)
MISSED = CurrentVisit("D0", State.MISSED, reason="postponed")


@pytest.mark.parametrize(("visit", "before", "after", "reason", "expected"), [
    # A planned date completes nothing.
    pytest.param(PLANNED, None, PLANNED_ON_DAY, None, None, id="planned-anchor"),
    pytest.param(MISSED, PLANNED_OTHER, PLANNED_ON_DAY, "moved", None,
                 id="planned-anchor-missed-visit"),
    # An actual date completes the visit not done, whatever its scheduled state.
    pytest.param(PLANNED, PLANNED_ON_DAY, ACTUAL_ON_DAY, None,
                 VisitChange(Action.COMPLETED, DAY), id="confirmed"),
    pytest.param(PLANNED, None, ACTUAL_ON_DAY, None, VisitChange(Action.COMPLETED, DAY),
                 id="set-actual"),
    pytest.param(PENDING, None, ACTUAL_ON_DAY, None, VisitChange(Action.COMPLETED, DAY),
                 id="pending-visit"),
    pytest.param(CANCELLED, None, ACTUAL_ON_DAY, None, VisitChange(Action.COMPLETED, DAY),
                 id="cancelled-visit"),
    pytest.param(DONE_ON_DAY, PLANNED_ON_DAY, ACTUAL_ON_DAY, None, None, id="already-done"),
    # The visit says otherwise: a reason corrects it, else the two disagree.
    pytest.param(DONE_OTHER, PLANNED_ON_DAY, ACTUAL_ON_DAY, None, Disagreement(
        "anchor infusion on 2026-02-01 disagrees with visit D0, which is completed on"
        " 2026-02-03; send a reason to correct the visit too"), id="done-other-day"),
    pytest.param(DONE_OTHER, ACTUAL_OTHER, ACTUAL_ON_DAY, " typo ",
                 VisitChange(Action.CORRECTED, DAY, "typo"), id="corrected-both"),
    pytest.param(MISSED, PLANNED_ON_DAY, ACTUAL_ON_DAY, None, Disagreement(
        "anchor infusion on 2026-02-01 disagrees with visit D0, which is marked missed"
        " (postponed); send a reason to correct the visit too"), id="missed-visit"),
    pytest.param(MISSED, PLANNED_ON_DAY, ACTUAL_ON_DAY, "infused after all",
                 VisitChange(Action.CORRECTED, DAY, "infused after all"),
                 id="missed-visit-corrected"),
    # An actual date back to planned reopens the visit it completed.
    pytest.param(DONE_ON_DAY, ACTUAL_ON_DAY, PLANNED_OTHER, "postponed",
                 VisitChange(Action.CORRECTED, None, "postponed"), id="back-to-planned"),
    pytest.param(DONE_ON_DAY, ACTUAL_ON_DAY, PLANNED_OTHER, None,
                 Disagreement("correcting anchor infusion needs a reason", reason_missing=True),
                 id="back-to-planned-without-reason"),
])
def test_setting_the_anchor(
    visit: CurrentVisit, before: AnchorDate | None, after: AnchorDate, reason: str | None,
    expected: object,
) -> None:
    assert visit_on_anchor(visit, "infusion", before, after, reason) == expected


def test_disagreements_are_conflicts_or_missing_reasons() -> None:
    assert type(Disagreement("x").error()) is errors.Conflict
    assert type(Disagreement("x", reason_missing=True).error()) is errors.ReasonRequired


def test_actual_anchors_complete_their_visits_at_enrolment() -> None:
    plan = mm_plan()
    assert recording_visit(plan, "transplant") is plan.by_code["HSCT-D0"]
    assert recording_visit(plan, "consent") is None
    records = anchor_records(plan, {"infusion": ACTUAL_ON_DAY, "transplant": PLANNED_OTHER,
                                    "consent": AnchorDate(date(2026, 1, 5))})
    assert records == {"D0": VisitRecord(State.COMPLETED, DAY, frozenset({"AE"}))}
    assert anchor_records(sle_plan(), {"infusion": PLANNED_ON_DAY}) == {}
    assert completed_by_anchors(records) == {"visits_completed": {"D0": "2026-02-01"}}
    assert completed_by_anchors({}) == {}


HSCT = ("anchor transplant cannot have an actual date: it is recorded by visit HSCT-D0 of"
        " phase HSCT, which")


@pytest.mark.parametrize(("anchor", "events", "expected"), [
    pytest.param("infusion", (), None, id="main-schedule"),
    pytest.param("transplant", (), f"{HSCT} has not opened (waiting for response CR/sCR):"
                 " record the response that opens it first, or send a planned date"
                 " (actual: false)", id="pending"),
    pytest.param("transplant", (Event(EventType.RESPONSE, date(2025, 4, 3), "PR"),),
                 f"{HSCT} has not opened (waiting for response CR/sCR): record the response"
                 " that opens it first, or send a planned date (actual: false)",
                 id="other-response"),
    pytest.param("transplant", (Event(EventType.RESPONSE, date(2025, 4, 3), "CR"),), None,
                 id="opened"),
    pytest.param("transplant", (Event(EventType.PROGRESSION, date(2025, 3, 20)),),
                 f"{HSCT} can no longer open (progression on 2025-03-20)", id="closed"),
])
def test_an_anchor_of_a_phase_not_open_cannot_be_actual(
    anchor: str, events: tuple[Event, ...], expected: str | None
) -> None:
    assert closed_phase(mm_plan(), anchor, events) == expected


NOT_OPEN = "anchor transplant cannot have an actual date: (the phase is not open)"


@pytest.mark.parametrize(("visit", "stored", "closed", "expected"), [
    pytest.param(CurrentVisit("D0", State.PLANNED), ACTUAL_ON_DAY, None,
                 VisitChange(Action.COMPLETED, DAY), id="actual-anchor-completes"),
    pytest.param(CurrentVisit("D0", State.COMPLETED, DAY), ACTUAL_ON_DAY, None, None,
                 id="agree"),
    pytest.param(CurrentVisit("D0", State.COMPLETED, DAY), None, None,
                 AnchorChange(AnchorStep.SET, DAY, True), id="visit-sets"),
    pytest.param(CurrentVisit("D0", State.COMPLETED, DAY), PLANNED_OTHER, None,
                 AnchorChange(AnchorStep.CONFIRMED, DAY, True), id="visit-confirms"),
    pytest.param(CurrentVisit("D0", State.MISSED, reason="no show"), PLANNED_ON_DAY, None,
                 None, id="missed-and-planned"),
    pytest.param(CurrentVisit("D0", State.PLANNED), PLANNED_ON_DAY, None, None,
                 id="nothing-yet"),
    pytest.param(CurrentVisit("D0", State.COMPLETED, OTHER), ACTUAL_ON_DAY, None,
                 Disagreement("anchor infusion is actual on 2026-02-01 but visit D0 was"
                              " completed on 2026-02-03"), id="other-day"),
    pytest.param(CurrentVisit("D0", State.MISSED, reason="no show"), ACTUAL_ON_DAY, None,
                 Disagreement("anchor infusion is actual on 2026-02-01 but visit D0 was"
                              " marked missed (no show)"), id="missed"),
    pytest.param(CurrentVisit("D0", State.PENDING), ACTUAL_ON_DAY, NOT_OPEN,
                 Disagreement(NOT_OPEN), id="anchor-of-a-phase-not-open"),
    pytest.param(CurrentVisit("D0", State.COMPLETED, DAY), None, NOT_OPEN,
                 Disagreement(f"visit D0 was completed on 2026-02-01, but {NOT_OPEN}"),
                 id="visit-of-a-phase-not-open"),
])
def test_reconciling_rows_stored_before_the_visit_recorded_its_anchor(
    visit: CurrentVisit, stored: AnchorDate | None, closed: str | None,
    expected: object,
) -> None:
    assert reconcile(visit, "infusion", stored, closed) == expected
