"""The early-termination phase of the example protocol schedules/examples/zuma1-axi-cel.yaml
(ZUMA-1, axi-cel, NCT02348216) against dates written by hand, not from the program's
output.

Infusion Thu 2023-08-31 (Day 0, the Day 0 convention), as in tests/golden/examples/
zuma1-axi-cel.csv; study days count from the infusion for every visit, the
early-termination visit included. By hand:

- A withdrawal on Wed 2024-01-31 (Day 153): ET on that day, due to Wed 2024-02-14.
  Month 3 (window 16 November - 14 December) had closed undone: missed from the
  withdrawal. Month 6 (window from 15 February) is cancelled.
- A progression on Fri 2024-05-31 (Day 274) and then a withdrawal on Sun 2024-09-01 (Day
  367, 2024 being a leap year): the first survival call (31 August, window 17 August - 14
  September) was open on the withdrawal's day, so it and every later call are cancelled;
  ET on 1 September, due to 15 September.
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

PLAN = build_plan(load_protocol(ROOT / "schedules" / "examples" / "zuma1-axi-cel.yaml"))
ANCHORS = {"consent": AnchorDate(date(2023, 7, 24)),
           "leukapheresis": AnchorDate(date(2023, 8, 7)),
           "infusion": AnchorDate(date(2023, 8, 31))}
WITHDRAWAL = Event(EventType.WITHDRAWAL, date(2024, 1, 31))
DONE = {code: VisitRecord(State.COMPLETED, day) for code, day in (
    ("SCR", date(2023, 7, 24)), ("LEUK", date(2023, 8, 7)), ("D-5", date(2023, 8, 26)),
    ("D-4", date(2023, 8, 27)), ("D-3", date(2023, 8, 28)), ("D0", date(2023, 8, 31)),
    *((f"D{n}", date(2023, 9, n)) for n in range(1, 8)),
    ("W2", date(2023, 9, 14)), ("W4", date(2023, 9, 28)))}


def test_the_withdrawal_opens_the_early_termination_visit() -> None:
    expansion = expand(PLAN, ANCHORS, [WITHDRAWAL], DONE)
    assert expansion.phases == {"SURV": PhaseState.NOT_APPLICABLE, "ET": PhaseState.ACTIVE}
    got = {v.code: (v.state, v.target_date, v.window_start, v.window_end, v.study_day,
                    v.missed_from, v.reason) for v in expansion.visits}
    assert got["ET"] == (State.PLANNED, date(2024, 1, 31), date(2024, 1, 31),
                         date(2024, 2, 14), 153, None, None)
    assert got["M3"][0] is State.PLANNED and got["M3"][5] == date(2024, 1, 31)
    assert got["M6"][0] is State.CANCELLED and got["M6"][6] == "withdrawal on 2024-01-31"


def test_statuses_after_the_withdrawal() -> None:
    calendar = build_calendar(PLAN, ANCHORS, [WITHDRAWAL], DONE, today=date(2024, 2, 5))
    status = {cv.visit.code: cv.info.status for cv in calendar.visits}
    assert (status["ET"], status["M3"], status["M6"]) == (
        Status.DUE, Status.MISSED_UNDOCUMENTED, Status.CANCELLED)
    assert calendar.opened == {"ET": PhaseOpening(EventType.WITHDRAWAL, date(2024, 1, 31))}
    late = build_calendar(PLAN, ANCHORS, [WITHDRAWAL], DONE, today=date(2024, 2, 16))
    et = next(cv.info for cv in late.visits if cv.visit.code == "ET")
    assert (et.status, et.days_overdue) == (Status.OVERDUE, 2)


def test_a_death_inside_its_window_cancels_it() -> None:
    death = Event(EventType.DEATH, date(2024, 2, 10))
    et = next(v for v in expand(PLAN, ANCHORS, [WITHDRAWAL, death], DONE).visits
              if v.code == "ET")
    assert (et.state, et.reason) == (State.CANCELLED, "death on 2024-02-10")


def test_a_withdrawal_after_progression_stops_the_survival_calls() -> None:
    events = [Event(EventType.PROGRESSION, date(2024, 5, 31)),
              Event(EventType.WITHDRAWAL, date(2024, 9, 1))]
    visits = {v.code: v for v in expand(PLAN, ANCHORS, events, DONE).visits}
    surv = [v for v in visits.values() if v.phase == "SURV"]
    assert len(surv) == 20
    assert {(v.state, v.reason) for v in surv} == {(State.CANCELLED, "withdrawal on 2024-09-01")}
    assert (visits["SURV3"].target_date, visits["SURV3"].window_end) == (
        date(2024, 8, 31), date(2024, 9, 14))
    et = visits["ET"]
    assert (et.state, et.target_date, et.window_end, et.study_day) == (
        State.PLANNED, date(2024, 9, 1), date(2024, 9, 15), 367)
