"""Events that would leave recorded visits in a conditional phase not open, and the words
a visit of such a phase is refused with."""

from __future__ import annotations

from datetime import date

import pytest

from app.schedule.lifecycle import Event, EventType
from app.schedule.standing import (
    PhaseWithRecords,
    RecordedVisit,
    phases_with_records,
    visit_phase_not_open,
)
from app.schedule.status import State
from tests.helpers_schedule import mm_plan, sle_plan

CR = Event(EventType.RESPONSE, date(2025, 4, 3), "CR")
VGPR = Event(EventType.RESPONSE, date(2025, 4, 3), "VGPR")
EARLY_PROGRESSION = Event(EventType.PROGRESSION, date(2025, 3, 20))
LATE_PROGRESSION = Event(EventType.PROGRESSION, date(2025, 6, 1))
D0 = RecordedVisit("HSCT-D0", State.COMPLETED, date(2025, 5, 5))
D14 = RecordedVisit("HSCT-D14", State.MISSED)
MAIN = RecordedVisit("M3", State.COMPLETED, date(2025, 5, 2))
WAITING = "has not opened (waiting for response CR/sCR)"


@pytest.mark.parametrize(("events", "recorded", "expected"), [
    pytest.param((CR,), (D0, D14), [], id="open"),
    pytest.param((CR, LATE_PROGRESSION), (D0,), [], id="progression-after-it-opened"),
    pytest.param((), (D14, D0), [PhaseWithRecords("HSCT", WAITING, (D0, D14))],
                 id="response-removed"),
    pytest.param((VGPR,), (D0,), [PhaseWithRecords("HSCT", WAITING, (D0,))],
                 id="response-that-opens-nothing"),
    pytest.param((CR, EARLY_PROGRESSION), (D0,), [PhaseWithRecords(
        "HSCT", "can no longer open (progression on 2025-03-20)", (D0,))],
        id="progression-before-the-response"),
    pytest.param((), (MAIN, RecordedVisit("HSCT-D28", State.PLANNED)), [],
                 id="nothing-recorded-in-the-phase"),
])
def test_phases_left_with_recorded_visits(
    events: tuple[Event, ...], recorded: tuple[RecordedVisit, ...],
    expected: list[PhaseWithRecords],
) -> None:
    assert phases_with_records(mm_plan(), events, recorded) == expected


def test_the_refusal_names_every_visit() -> None:
    [found] = phases_with_records(mm_plan(), (), (D14, D0))
    assert str(found) == (
        "phase HSCT has not opened (waiting for response CR/sCR), yet visits of it are"
        " recorded (HSCT-D0 completed on 2025-05-05, HSCT-D14 missed): a visit recorded in"
        " a phase needs the event that opens it")


def test_a_protocol_without_phases_has_nothing_to_leave() -> None:
    done = RecordedVisit("D14", State.COMPLETED, date(2026, 1, 24))
    assert phases_with_records(sle_plan(), (), (done,)) == []


@pytest.mark.parametrize(("code", "events", "expected"), [
    pytest.param("HSCT-D14", (), "its phase HSCT has not opened (waiting for response CR/sCR):"
                 " record the response that opens it first", id="pending"),
    pytest.param("HSCT-D14", (EARLY_PROGRESSION,),
                 "its phase HSCT can no longer open (progression on 2025-03-20)", id="closed"),
    pytest.param("HSCT-D14", (CR,), None, id="open"),
    pytest.param("M3", (), None, id="main-schedule"),
    pytest.param("NOPE", (), None, id="unknown-visit"),
])
def test_why_a_visit_of_a_phase_takes_no_outcome(
    code: str, events: tuple[Event, ...], expected: str | None
) -> None:
    assert visit_phase_not_open(mm_plan(), code, events) == expected
