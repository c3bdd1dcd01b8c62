"""The engine's rules: re-anchoring, visit-relative timing, provisional dates, lifecycle
events and the conditional transplant phase of the myeloma trial."""

from __future__ import annotations

from datetime import date, timedelta

from app.schedule.dates import add_months
from app.schedule.expand import AnchorDate, PhaseState, VisitRecord, expand
from app.schedule.lifecycle import Event, EventType
from app.schedule.status import State, Status
from tests.helpers_schedule import actual, calendar, expanded, mm_plan, plan_of, sle_plan

INFUSION = date(2025, 3, 26)
DAY = timedelta(days=1)


def done(on: date, target: date, before: int = 0, after: int = 0, *assessments: str) -> VisitRecord:
    """A completed visit as the service stores it: planned dates frozen with it."""
    return VisitRecord(
        State.COMPLETED,
        on,
        frozenset(assessments),
    )


# Seeds: the dates of the issue's "done means".


def test_sle_dates_of_the_issue() -> None:
    v = expanded(sle_plan(), actual(infusion=INFUSION))
    assert v["D-2"].target_date == date(2025, 3, 24)
    assert v["D-1"].target_date == date(2025, 3, 25)
    assert v["D0"].target_date == INFUSION
    assert v["D14"].target_date == date(2025, 4, 9)
    assert (v["D14"].window_start, v["D14"].window_end) == (date(2025, 4, 7), date(2025, 4, 11))
    assert v["M3"].target_date == date(2025, 6, 26)
    assert v["M24"].target_date == date(2027, 3, 26)
    assert [v[c].study_day for c in ("D-2", "D0", "D14", "D28", "M3", "M24")] == [
        -2,
        0,
        14,
        28,
        92,
        730,
    ]
    assert all(x.state is State.PLANNED and not x.provisional for x in v.values())
    assert all(x.anchor == "infusion" for x in v.values())


def test_sle_infusion_on_30_november_puts_month_3_on_29_february() -> None:
    v = expanded(sle_plan(), actual(infusion=date(2023, 11, 30)))
    assert v["M3"].target_date == date(2024, 2, 29)
    assert v["M6"].target_date == date(2024, 5, 30)
    assert v["M9"].target_date == date(2024, 8, 30)
    assert v["M12"].target_date == date(2024, 11, 30)
    assert v["M3"].study_day == 91


def test_month_visits_from_31_january_are_never_chained() -> None:
    v = expanded(sle_plan(), actual(infusion=date(2025, 1, 31)))
    assert v["M3"].target_date == date(2025, 4, 30)
    assert v["M6"].target_date == date(2025, 7, 31)  # not 30 July, as chaining would give
    assert v["M9"].target_date == date(2025, 10, 31)
    assert v["M12"].target_date == date(2026, 1, 31)
    assert v["M18"].target_date == date(2026, 7, 31)


def test_month_2_from_31_january_is_31_march() -> None:
    plan = plan_of([{"code": f"M{n}", "name": "m", "at": f"{n} months"} for n in (1, 2, 3)])
    v = expanded(plan, actual(infusion=date(2025, 1, 31)))
    assert [v[c].target_date for c in ("M1", "M2", "M3")] == [
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]


def test_day_1_convention_has_no_day_0() -> None:
    plan = plan_of(
        [
            {"code": "DM1", "name": "day before", "at": "day -1"},
            {"code": "D1", "name": "anchor day", "at": "day 1"},
            {"code": "D15", "name": "day 15", "at": "day 15", "window": "2 days"},
            {"code": "M1", "name": "month 1", "at": "1 months"},
        ],
        anchor_day=1,
    )
    v = expanded(plan, actual(infusion=INFUSION))
    assert v["DM1"].target_date == date(2025, 3, 25) and v["DM1"].study_day == -1
    assert v["D1"].target_date == INFUSION and v["D1"].study_day == 1
    assert v["D15"].target_date == date(2025, 4, 9) and v["D15"].study_day == 15
    assert (v["D15"].window_start, v["D15"].window_end) == (date(2025, 4, 7), date(2025, 4, 11))
    assert v["M1"].target_date == date(2025, 4, 26) and v["M1"].study_day == 32


def test_negative_days_and_weeks() -> None:
    plan = plan_of(
        [
            {
                "code": "SCR",
                "name": "screening",
                "at": "-4 weeks",
                "window": {"before": "2 weeks", "after": "0 days"},
            },
            {"code": "LD", "name": "lymphodepletion", "at": "day -5"},
            {"code": "W2", "name": "week 2", "at": "2 weeks"},
        ]
    )
    v = expanded(plan, actual(infusion=date(2024, 3, 1)))
    assert v["SCR"].target_date == date(2024, 2, 2)
    assert (v["SCR"].window_start, v["SCR"].window_end) == (date(2024, 1, 19), date(2024, 2, 2))
    assert v["SCR"].study_day == -28
    assert v["LD"].target_date == date(2024, 2, 25)  # 2024 is a leap year
    assert v["W2"].target_date == date(2024, 3, 15)


def test_visits_come_back_in_protocol_order() -> None:
    codes = [v.code for v in expand(mm_plan(), actual(infusion=INFUSION)).visits]
    assert codes == [v.code for v in mm_plan().visits]


# Re-anchoring.


def test_reanchoring_re_evaluates_done_visits_and_keeps_their_outcome() -> None:
    records = {
        "D0": done(INFUSION, INFUSION),
        "D14": done(date(2025, 4, 12), date(2025, 4, 9), 2, 2),
        "D28": VisitRecord(State.MISSED),
    }
    moved = date(2025, 4, 2)
    after = expanded(sle_plan(), actual(infusion=moved), records=records)
    for code in ("D0", "D14", "D28"):
        assert after[code].state is records[code].state
        assert after[code].actual_date == records[code].actual_date
    # Every target follows the anchor, done or not: 7 days later.
    assert (after["D14"].target_date, after["D14"].window_start, after["D14"].window_end) == (
        date(2025, 4, 16), date(2025, 4, 14), date(2025, 4, 18))
    assert after["D28"].target_date == date(2025, 4, 30)
    assert after["D-2"].target_date == date(2025, 3, 31)
    assert after["M3"].target_date == date(2025, 7, 2)
    assert after["M24"].target_date == date(2027, 4, 2)
    # The study day of a done visit is counted from the current anchor date.
    assert after["D14"].study_day == 14


def test_a_done_visit_is_graded_against_the_current_plan() -> None:
    # D14 done on 10 April: inside the window of an infusion on 26 March (7-11 April),
    # two days early once the infusion is corrected to 1 April (13-17 April).
    record = {"D14": VisitRecord(State.COMPLETED, date(2025, 4, 10))}
    first = calendar(sle_plan(), actual(infusion=INFUSION), records=record,
                     today=date(2025, 5, 1))[1]["D14"]
    corrected = calendar(sle_plan(), actual(infusion=date(2025, 4, 1)), records=record,
                         today=date(2025, 5, 1))[1]["D14"]
    assert first.info.status is Status.COMPLETED and first.info.days_from_target == 1
    assert corrected.info.status is Status.COMPLETED_OUT_OF_WINDOW
    assert (corrected.info.days_early, corrected.info.days_from_target) == (3, -5)
    assert corrected.visit.actual_date == date(2025, 4, 10)


def test_a_record_without_planned_dates_gets_the_current_ones() -> None:
    record = VisitRecord(State.COMPLETED, date(2025, 4, 10))
    v = expanded(sle_plan(), actual(infusion=INFUSION), records={"D14": record})["D14"]
    assert v.target_date == date(2025, 4, 9) and v.state is State.COMPLETED


def test_planned_anchor_gives_provisional_dates() -> None:
    anchors = {"infusion": AnchorDate(INFUSION, actual=False)}
    v = expanded(sle_plan(), anchors, records={"D0": done(INFUSION, INFUSION)})
    assert v["D14"].provisional and v["M24"].provisional
    assert v["D14"].target_date == date(2025, 4, 9)  # same dates, only flagged
    # Done, but its target and window still hang on the planned date: provisional too.
    assert v["D0"].provisional and v["D0"].state is State.COMPLETED


# A visit timed from the actual date of another visit.

AFTER_VISIT = [
    {"code": "BM", "name": "Bone marrow", "at": "2 months", "window": "7 days"},
    {
        "code": "REVIEW",
        "name": "Result review",
        "after_visit": "BM",
        "at": "7 days",
        "window": "1 day",
    },
    {"code": "CHECK", "name": "Check after review", "after_visit": "REVIEW", "at": "1 months"},
]


def test_visit_after_a_visit_not_yet_done_is_provisional_from_its_target() -> None:
    v = expanded(plan_of(AFTER_VISIT), actual(infusion=INFUSION))
    assert v["BM"].target_date == date(2025, 5, 26) and not v["BM"].provisional
    assert v["REVIEW"].target_date == date(2025, 6, 2)
    assert (v["REVIEW"].window_start, v["REVIEW"].window_end) == (
        date(2025, 6, 1),
        date(2025, 6, 3),
    )
    assert v["REVIEW"].provisional and v["REVIEW"].anchor == "infusion"
    assert v["REVIEW"].study_day == 68  # counted from the root anchor
    assert v["CHECK"].target_date == date(2025, 7, 2) and v["CHECK"].provisional


def test_visit_after_a_completed_visit_uses_its_actual_date() -> None:
    records = {"BM": done(date(2025, 5, 30), date(2025, 5, 26), 7, 7)}
    v = expanded(plan_of(AFTER_VISIT), actual(infusion=INFUSION), records=records)
    assert v["REVIEW"].target_date == date(2025, 6, 6)
    assert not v["REVIEW"].provisional
    assert v["CHECK"].target_date == date(2025, 7, 6) and v["CHECK"].provisional
    # Moving the anchor does not move what hangs on a done visit.
    moved = expanded(plan_of(AFTER_VISIT), actual(infusion=date(2025, 3, 1)), records=records)
    assert moved["REVIEW"].target_date == date(2025, 6, 6)
    planned = {"infusion": AnchorDate(INFUSION, actual=False)}
    assert not expanded(plan_of(AFTER_VISIT), planned, records=records)["REVIEW"].provisional


def test_visit_after_a_missed_visit_keeps_its_target_for_good() -> None:
    records = {
        "BM": VisitRecord(
            State.MISSED,
        )
    }
    v = expanded(plan_of(AFTER_VISIT), actual(infusion=INFUSION), records=records)
    assert v["REVIEW"].target_date == date(2025, 6, 2) and not v["REVIEW"].provisional


def test_visit_after_a_visit_without_dates_is_pending() -> None:
    v = expanded(plan_of(AFTER_VISIT), {})
    assert v["REVIEW"].state is State.PENDING and v["REVIEW"].target_date is None
    assert v["REVIEW"].reason == "waiting for visit BM"
    assert v["BM"].reason == "waiting for anchor infusion"


def test_visit_may_be_timed_after_a_visit_declared_later() -> None:
    plan = plan_of(list(reversed(AFTER_VISIT)))
    v = expanded(plan, actual(infusion=INFUSION))
    assert v["CHECK"].target_date == date(2025, 7, 2)
    assert [x.code for x in expand(plan, actual(infusion=INFUSION)).visits] == [
        "CHECK",
        "REVIEW",
        "BM",
    ]


# Lifecycle events.


def test_death_cancels_visits_whose_window_had_not_closed() -> None:
    # D28's window is 2025-04-20 .. 2025-04-26.
    for terminal in (EventType.DEATH, EventType.WITHDRAWAL, EventType.LOST_TO_FOLLOW_UP):
        on_last_day = expanded(
            sle_plan(), actual(infusion=INFUSION), [Event(terminal, date(2025, 4, 26))]
        )
        assert on_last_day["D28"].state is State.CANCELLED
        assert on_last_day["D28"].reason == f"{terminal.value} on 2025-04-26"
        assert on_last_day["M24"].state is State.CANCELLED
        day_after = expanded(
            sle_plan(), actual(infusion=INFUSION), [Event(terminal, date(2025, 4, 27))]
        )
        # Closed the day before: missed (overdue), not cancelled.
        assert day_after["D28"].state is State.PLANNED
        assert day_after["M3"].state is State.CANCELLED


def test_death_never_touches_done_visits_and_cancels_pending_ones() -> None:
    records = {"D14": done(date(2025, 4, 9), date(2025, 4, 9), 2, 2)}
    death = [Event(EventType.DEATH, date(2025, 4, 1))]
    v = expanded(sle_plan(), actual(infusion=INFUSION), death, records)
    assert v["D14"].state is State.COMPLETED
    assert v["D28"].state is State.CANCELLED
    undated = expanded(sle_plan(), {}, death)
    assert {x.state for x in undated.values()} == {State.CANCELLED}


def test_the_earliest_ending_event_counts() -> None:
    events = [
        Event(EventType.DEATH, date(2025, 8, 1)),
        Event(EventType.WITHDRAWAL, date(2025, 6, 1)),
    ]
    v = expanded(sle_plan(), actual(infusion=INFUSION), events)
    assert v["M3"].reason == "withdrawal on 2025-06-01"


def test_progression_cancels_only_the_visits_that_stop_at_progression() -> None:
    progression = [Event(EventType.PROGRESSION, date(2025, 5, 20))]
    v = expanded(mm_plan(), actual(infusion=INFUSION), progression)
    assert v["M2"].state is State.CANCELLED  # window 2025-05-19 .. 2025-06-02
    assert v["M2"].reason == "progression on 2025-05-20"
    assert v["M3"].state is State.CANCELLED
    assert v["M9"].state is State.CANCELLED
    assert v["D28"].state is State.PLANNED  # does not stop at progression (and closed before)
    assert {v[c].state for c in ("M6", "M12", "M18", "M24")} == {State.PLANNED}
    late = expanded(
        mm_plan(), actual(infusion=INFUSION), [Event(EventType.PROGRESSION, date(2025, 6, 3))]
    )
    assert late["M2"].state is State.PLANNED  # its window closed the day before


# The myeloma transplant phase.

HSCT = ["HSCT-D0", "HSCT-D14", "HSCT-D28", "HSCT-D100", "HSCT-M6", "HSCT-M12"]
CR = Event(EventType.RESPONSE, date(2025, 5, 20), "CR")
TRANSPLANT = date(2025, 7, 1)


def test_hsct_phase_is_pending_without_complete_remission() -> None:
    result = expand(mm_plan(), actual(infusion=INFUSION, transplant=TRANSPLANT))
    assert result.phases == {"HSCT": PhaseState.PENDING}
    v = {x.code: x for x in result.visits}
    assert {v[c].state for c in HSCT} == {State.PENDING}
    assert v["HSCT-D14"].reason == "phase HSCT waiting for response CR/sCR"
    partial = Event(EventType.RESPONSE, date(2025, 5, 20), "PR")
    assert expand(mm_plan(), actual(infusion=INFUSION), [partial]).phases == {
        "HSCT": PhaseState.PENDING
    }


def test_hsct_phase_after_cr_is_dated_from_the_transplant() -> None:
    result = expand(mm_plan(), actual(infusion=INFUSION, transplant=TRANSPLANT), [CR])
    assert result.phases == {"HSCT": PhaseState.ACTIVE}
    v = {x.code: x for x in result.visits}
    assert {v[c].state for c in HSCT} == {State.PLANNED}
    assert v["HSCT-D0"].target_date == TRANSPLANT
    assert v["HSCT-D14"].target_date == date(2025, 7, 15)
    assert (v["HSCT-D14"].window_start, v["HSCT-D14"].window_end) == (
        date(2025, 7, 12),
        date(2025, 7, 18),
    )
    assert v["HSCT-D100"].target_date == date(2025, 10, 9)
    assert v["HSCT-M6"].target_date == add_months(TRANSPLANT, 6) == date(2026, 1, 1)
    assert v["HSCT-D14"].anchor == "transplant" and v["HSCT-D14"].study_day == 14
    assert v["M6"].target_date == date(2025, 9, 26)  # the main phase is unaffected


def test_hsct_phase_opened_but_no_transplant_date_yet() -> None:
    sCR = Event(EventType.RESPONSE, date(2025, 5, 20), "sCR")
    result = expand(mm_plan(), actual(infusion=INFUSION), [sCR])
    assert result.phases == {"HSCT": PhaseState.ACTIVE}
    v = {x.code: x for x in result.visits}
    assert v["HSCT-D14"].state is State.PENDING
    assert v["HSCT-D14"].reason == "waiting for anchor transplant"
    planned = {"infusion": AnchorDate(INFUSION), "transplant": AnchorDate(TRANSPLANT, False)}
    v = {x.code: x for x in expand(mm_plan(), planned, [sCR]).visits}
    assert v["HSCT-D14"].state is State.PLANNED and v["HSCT-D14"].provisional


def test_hsct_phase_is_not_applicable_when_progression_comes_before_cr() -> None:
    progression = Event(EventType.PROGRESSION, date(2025, 5, 10))
    for events in ([progression], [progression, CR]):
        result = expand(mm_plan(), actual(infusion=INFUSION), events)
        assert result.phases == {"HSCT": PhaseState.NOT_APPLICABLE}
        v = {x.code: x for x in result.visits}
        assert {v[c].state for c in HSCT} == {State.NOT_APPLICABLE}
        assert v["HSCT-D0"].reason == "phase HSCT closed: progression on 2025-05-10"


def test_hsct_phase_stays_after_progression_once_opened() -> None:
    progression = Event(EventType.PROGRESSION, date(2025, 9, 1))
    result = expand(mm_plan(), actual(infusion=INFUSION, transplant=TRANSPLANT), [CR, progression])
    assert result.phases == {"HSCT": PhaseState.ACTIVE}
    v = {x.code: x for x in result.visits}
    assert v["HSCT-D100"].state is State.PLANNED  # the phase's visits go on
    assert v["M9"].state is State.CANCELLED  # the main phase's stop rule still applies


def test_death_before_cr_closes_the_phase_and_after_cr_cancels_it() -> None:
    death = Event(EventType.DEATH, date(2025, 5, 1))
    assert expand(mm_plan(), actual(infusion=INFUSION), [death]).phases == {
        "HSCT": PhaseState.NOT_APPLICABLE
    }
    later = Event(EventType.DEATH, date(2025, 8, 1))
    result = expand(mm_plan(), actual(infusion=INFUSION, transplant=TRANSPLANT), [CR, later])
    v = {x.code: x for x in result.visits}
    assert v["HSCT-D14"].state is State.PLANNED  # window closed 2025-07-18, before death
    assert v["HSCT-D28"].state is State.CANCELLED  # window still open on the day of death
    assert v["HSCT-D100"].state is State.CANCELLED


def test_cr_and_progression_on_the_same_day_open_the_phase() -> None:
    same_day = [CR, Event(EventType.PROGRESSION, CR.date)]
    assert expand(mm_plan(), actual(infusion=INFUSION), same_day).phases == {
        "HSCT": PhaseState.ACTIVE
    }
