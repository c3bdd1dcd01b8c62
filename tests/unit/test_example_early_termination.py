"""The early-termination phase of the example protocol schedules/examples/
lzzt-xanomeline.yaml (the CDISC pilot study H2Q-MC-LZZT: "If a patient's participation
terminates early, an early termination visit should be scheduled"; "patients who have
terminated early will be retrieved on the date which would have represented Visit 12
(Week 24)") against dates written by hand from the protocol's rules, not from the
program's output.

First dose Fri 2024-03-01 (Day 1, no Day 0), as in tests/golden/examples/
lzzt-xanomeline.csv; screening, baseline and weeks 2, 4 and 6 done on their day; the
subject withdraws on Fri 2024-05-31, a month end. By hand:

- ET: the withdrawal's day, window to 14 days after it (Fri 2024-06-14); Day 1 of its
  own anchor, the withdrawal.
- RET: week 24 from Day 1, 168 days: Fri 2024-08-16, window 12..20 August; Day 169.
- Week 8 (window 23..29 April), the week 10 call (from week 8's target, 10..17 May) and
  week 12 (20..28 May) had closed undone: missed from the withdrawal.
- The week 14 call (7..14 June) and everything after it were still to come: cancelled.
"""

from __future__ import annotations

from datetime import date

from app.schedule.calendar import PhaseOpening, build_calendar
from app.schedule.expand import AnchorDate, PhaseState, VisitRecord, expand
from app.schedule.lifecycle import Event, EventType
from app.schedule.loader import load_protocol
from app.schedule.plan import build_plan
from app.schedule.status import State, Status
from tests.helpers_schedule import ROOT

PLAN = build_plan(load_protocol(ROOT / "schedules" / "examples" / "lzzt-xanomeline.yaml"))
FIRST_DOSE = {"first_dose": AnchorDate(date(2024, 3, 1))}
WITHDRAWAL = Event(EventType.WITHDRAWAL, date(2024, 5, 31))
DONE = {code: VisitRecord(State.COMPLETED, day) for code, day in (
    ("SCR1", date(2024, 2, 16)), ("SCR2", date(2024, 2, 28)), ("BL", date(2024, 3, 1)),
    ("WK2", date(2024, 3, 15)), ("WK4", date(2024, 3, 29)), ("WK6", date(2024, 4, 12)))}
CANCELLED = ("TEL14", "WK16", "TEL18", "WK20", "TEL22", "WK24", "WK26")


def test_the_withdrawal_opens_the_phase_dated_from_it() -> None:
    expansion = expand(PLAN, FIRST_DOSE, [WITHDRAWAL], DONE)
    assert expansion.phases == {"ET": PhaseState.ACTIVE}
    got = {v.code: (v.state, v.target_date, v.window_start, v.window_end, v.study_day,
                    v.missed_from, v.reason) for v in expansion.visits}
    assert got["ET"] == (State.PLANNED, date(2024, 5, 31), date(2024, 5, 31),
                         date(2024, 6, 14), 1, None, None)
    assert got["RET"] == (State.PLANNED, date(2024, 8, 16), date(2024, 8, 12),
                          date(2024, 8, 20), 169, None, None)
    for code in ("WK8", "TEL10", "WK12"):
        assert got[code][0] is State.PLANNED and got[code][5] == date(2024, 5, 31), code
    for code in CANCELLED:
        assert got[code][0] is State.CANCELLED, code
        assert got[code][6] == "withdrawal on 2024-05-31", code


def test_statuses_after_the_withdrawal() -> None:
    calendar = build_calendar(PLAN, FIRST_DOSE, [WITHDRAWAL], DONE, today=date(2024, 6, 5))
    status = {cv.visit.code: cv.info.status for cv in calendar.visits}
    assert status["ET"] is Status.DUE  # not missed for the subject having left
    assert status["RET"] is Status.SCHEDULED  # its window opens on 12 August
    assert {status[c] for c in ("WK8", "TEL10", "WK12")} == {Status.MISSED_UNDOCUMENTED}
    assert calendar.opened == {"ET": PhaseOpening(EventType.WITHDRAWAL, date(2024, 5, 31))}
    late = build_calendar(PLAN, FIRST_DOSE, [WITHDRAWAL], DONE, today=date(2024, 6, 15))
    et = next(cv.info for cv in late.visits if cv.visit.code == "ET")
    assert (et.status, et.days_overdue) == (Status.OVERDUE, 1)
    # Optional ("if possible"): once its window closed, nobody chases the retrieval visit.
    after = build_calendar(PLAN, FIRST_DOSE, [WITHDRAWAL], DONE, today=date(2024, 8, 21))
    assert next(cv.info.status for cv in after.visits if cv.visit.code == "RET") is (
        Status.NOT_APPLICABLE)


def test_only_a_death_closes_it() -> None:
    later = expand(PLAN, FIRST_DOSE, [WITHDRAWAL, Event(EventType.DEATH, date(2024, 6, 20))],
                   DONE)
    got = {v.code: (v.state, v.missed_from, v.reason) for v in later.visits if v.phase == "ET"}
    assert got == {"ET": (State.PLANNED, date(2024, 6, 20), None),  # closed on 14 June
                   "RET": (State.CANCELLED, None, "death on 2024-06-20")}
    soon = expand(PLAN, FIRST_DOSE, [WITHDRAWAL, Event(EventType.DEATH, date(2024, 6, 10))],
                  DONE)
    assert {v.code: v.state for v in soon.visits if v.phase == "ET"} == {
        "ET": State.CANCELLED, "RET": State.CANCELLED}


def test_another_way_of_leaving_never_opens_it() -> None:
    lost = expand(PLAN, FIRST_DOSE, [Event(EventType.LOST_TO_FOLLOW_UP, date(2024, 5, 31))],
                  DONE)
    assert lost.phases == {"ET": PhaseState.NOT_APPLICABLE}
    assert {v.state for v in lost.visits if v.phase == "ET"} == {State.NOT_APPLICABLE}
