"""The example protocol schedules/examples/xanomeline-tts-ad.yaml (the CDISC pilot study
H2Q-MC-LZZT, with its early-termination and retrieval visits) against a calendar written
by hand from the protocol's text, not from the program's output.

Randomization (Week 0, Day 0) on Monday 15 January 2024; the subject withdraws on the leap
day, Thursday 29 February 2024. Each date below is randomization + 7 x week days, with
the protocol's window ("Visits 4, 5, 7, 8, and 13 ... within 3 days ... Visits 9, 10, 11,
and 12 ... within 4 days"); the visits without a window (screening, ECG placement, NPI-X
calls) are due from their date to the day before the next visit.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from app.schedule.calendar import PhaseOpening, build_calendar
from app.schedule.expand import AnchorDate, PhaseState, VisitRecord, expand
from app.schedule.lifecycle import Event, EventType
from app.schedule.loader import load_protocol
from app.schedule.plan import build_plan
from app.schedule.status import State, Status

EXAMPLE = Path(__file__).resolve().parents[2] / "schedules" / "examples" / "xanomeline-tts-ad.yaml"
PLAN = build_plan(load_protocol(EXAMPLE))
RANDOMIZED = {"randomization": AnchorDate(date(2024, 1, 15))}
WITHDRAWAL = Event(EventType.WITHDRAWAL, date(2024, 2, 29))
DONE = {
    "V1": VisitRecord(State.COMPLETED, date(2024, 1, 2)),
    "V2": VisitRecord(State.COMPLETED, date(2024, 1, 13)),
    "V3": VisitRecord(State.COMPLETED, date(2024, 1, 15)),
    "V4": VisitRecord(State.COMPLETED, date(2024, 1, 30)),
}

# code: (target, first day of the window, last day), by hand.
PLANNED_DATES = {
    "V1": (date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 12)),  # week -2; until V2
    "V2": (date(2024, 1, 13), date(2024, 1, 13), date(2024, 1, 14)),  # day -2; until V3
    "V3": (date(2024, 1, 15), date(2024, 1, 15), date(2024, 1, 15)),
    "V4": (date(2024, 1, 29), date(2024, 1, 26), date(2024, 2, 1)),  # +14 days, +/- 3
    "V5": (date(2024, 2, 12), date(2024, 2, 9), date(2024, 2, 15)),  # +28
    "V7": (date(2024, 2, 26), date(2024, 2, 23), date(2024, 2, 29)),  # +42, to the leap day
    "V8": (date(2024, 3, 11), date(2024, 3, 8), date(2024, 3, 14)),  # +56
    "V9": (date(2024, 4, 8), date(2024, 4, 4), date(2024, 4, 12)),  # +84, +/- 4
    "V10": (date(2024, 5, 6), date(2024, 5, 2), date(2024, 5, 10)),  # +112
    "V11": (date(2024, 6, 3), date(2024, 5, 30), date(2024, 6, 7)),  # +140
    "V12": (date(2024, 7, 1), date(2024, 6, 27), date(2024, 7, 5)),  # +168
    "V13": (date(2024, 7, 15), date(2024, 7, 12), date(2024, 7, 18)),  # +182, +/- 3
    "NPI10": (date(2024, 3, 25), date(2024, 3, 25), date(2024, 4, 7)),  # +70; until V9
    "NPI14": (date(2024, 4, 22), date(2024, 4, 22), date(2024, 5, 5)),  # +98; until V10
    "NPI18": (date(2024, 5, 20), date(2024, 5, 20), date(2024, 6, 2)),  # +126; until V11
    "NPI22": (date(2024, 6, 17), date(2024, 6, 17), date(2024, 6, 30)),  # +154; until V12
    # Opened by the withdrawal: within 14 days of it; the retrieval visit on Visit 12's date.
    "ET": (date(2024, 2, 29), date(2024, 2, 29), date(2024, 3, 14)),
    "RET": (date(2024, 7, 1), date(2024, 6, 27), date(2024, 7, 5)),
}


def test_every_visit_date_matches_the_protocol_text() -> None:
    expansion = expand(PLAN, RANDOMIZED, [WITHDRAWAL], DONE)
    got = {v.code: (v.target_date, v.window_start, v.window_end) for v in expansion.visits}
    assert got == PLANNED_DATES


def test_before_any_withdrawal_the_phase_waits_for_one() -> None:
    expansion = expand(PLAN, RANDOMIZED, [], DONE)
    assert expansion.phases == {"ET": PhaseState.PENDING}
    waiting = {v.code: (v.state, v.target_date, v.reason) for v in expansion.visits
               if v.phase == "ET"}
    assert waiting == {
        "ET": (State.PENDING, None, "phase ET waiting for withdrawal"),
        # Counted from randomization, it has a date even while the phase waits.
        "RET": (State.PENDING, date(2024, 7, 1), "phase ET waiting for withdrawal"),
    }
    main = {v.code: v.state for v in expansion.visits if v.phase == "main"}
    assert main["V13"] is State.PLANNED and main["V5"] is State.PLANNED


def test_after_the_withdrawal_on_the_leap_day() -> None:
    calendar = build_calendar(PLAN, RANDOMIZED, [WITHDRAWAL], DONE, today=date(2024, 3, 10))
    status = {cv.visit.code: cv.info.status for cv in calendar.visits}
    reason = {cv.visit.code: cv.visit.reason for cv in calendar.visits}
    assert {c: status[c] for c in ("V1", "V2", "V3", "V4")} == dict.fromkeys(
        ("V1", "V2", "V3", "V4"), Status.COMPLETED)
    # Week 4's window closed on 15 February, before the withdrawal: missed from it.
    assert status["V5"] is Status.MISSED_UNDOCUMENTED
    # Week 6's window was still open on 29 February: cancelled, as everything after it.
    cancelled = ["V7", "V8", "V9", "V10", "V11", "V12", "V13", "NPI10", "NPI14", "NPI18",
                 "NPI22"]
    assert {c: (status[c], reason[c]) for c in cancelled} == dict.fromkeys(
        cancelled, (Status.CANCELLED, "withdrawal on 2024-02-29"))
    # The early-termination visit is due, not missed for the subject having left.
    assert status["ET"] is Status.DUE and reason["ET"] is None
    assert status["RET"] is Status.SCHEDULED  # its window opens on 27 June
    assert calendar.opened == {"ET": PhaseOpening(EventType.WITHDRAWAL, date(2024, 2, 29))}
    days = {cv.visit.code: cv.visit.study_day for cv in calendar.visits}
    assert (days["ET"], days["RET"], days["V12"]) == (0, 168, 168)


def test_the_early_termination_visit_overdue_stays_to_do() -> None:
    late = build_calendar(PLAN, RANDOMIZED, [WITHDRAWAL], DONE, today=date(2024, 3, 15))
    info = {cv.visit.code: cv.info for cv in late.visits}
    assert (info["ET"].status, info["ET"].days_overdue) == (Status.OVERDUE, 1)
    # The retrieval visit is optional ("if possible"): once closed, nobody chases it.
    closed = build_calendar(PLAN, RANDOMIZED, [WITHDRAWAL], DONE, today=date(2024, 7, 6))
    assert {cv.visit.code: cv.info.status for cv in closed.visits}["RET"] is (
        Status.NOT_APPLICABLE)


def test_a_death_before_it_cancels_the_early_termination_visit() -> None:
    death = Event(EventType.DEATH, date(2024, 3, 5))
    expansion = expand(PLAN, RANDOMIZED, [WITHDRAWAL, death], DONE)
    got = {v.code: (v.state, v.reason) for v in expansion.visits if v.phase == "ET"}
    assert got == {"ET": (State.CANCELLED, "death on 2024-03-05"),
                   "RET": (State.CANCELLED, "death on 2024-03-05")}
