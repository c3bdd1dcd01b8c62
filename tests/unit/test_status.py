"""The status of a visit as of a date, for every status of the brief."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import pytest

from app.schedule.expand import AnchorDate, VisitRecord
from app.schedule.lifecycle import Event, EventType
from app.schedule.status import State, Status, StatusInfo, deviation, visit_status
from tests.helpers_schedule import actual, calendar, mm_plan, sle_plan

# D14 of an infusion on 2025-03-26: target 2025-04-09, window 2025-04-07 .. 2025-04-11.
START, END = date(2025, 4, 7), date(2025, 4, 11)


def status_on(
    today: date,
    *,
    state: State = State.PLANNED,
    actual_date: date | None = None,
    optional: bool = False,
    upcoming_days: int = 7,
    window: tuple[date | None, date | None] = (START, END),
) -> StatusInfo:
    return visit_status(
        state=state,
        window_start=window[0],
        window_end=window[1],
        actual_date=actual_date,
        optional=optional,
        today=today,
        upcoming_days=upcoming_days,
    )


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2025, 3, 1), StatusInfo(Status.SCHEDULED)),
        (date(2025, 3, 30), StatusInfo(Status.SCHEDULED)),  # 8 days before the window opens
        (date(2025, 3, 31), StatusInfo(Status.UPCOMING)),  # 7 days before
        (date(2025, 4, 6), StatusInfo(Status.UPCOMING)),
        (date(2025, 4, 7), StatusInfo(Status.DUE)),  # first day of the window
        (date(2025, 4, 9), StatusInfo(Status.DUE)),
        (date(2025, 4, 11), StatusInfo(Status.DUE)),  # last day of the window
        (date(2025, 4, 12), StatusInfo(Status.OVERDUE, days_overdue=1)),
        (date(2025, 5, 11), StatusInfo(Status.OVERDUE, days_overdue=30)),
    ],
)
def test_planned_visit_through_time(today: date, expected: StatusInfo) -> None:
    assert status_on(today) == expected


def test_upcoming_follows_the_study_setting() -> None:
    assert status_on(date(2025, 4, 6), upcoming_days=0).status is Status.SCHEDULED
    assert status_on(date(2025, 3, 24), upcoming_days=14).status is Status.UPCOMING
    assert status_on(date(2025, 3, 23), upcoming_days=14).status is Status.SCHEDULED


def test_one_day_window() -> None:
    day = date(2025, 3, 26)
    assert status_on(day - timedelta(days=1), window=(day, day)).status is Status.UPCOMING
    assert status_on(day, window=(day, day)).status is Status.DUE
    assert status_on(day + timedelta(days=1), window=(day, day)) == StatusInfo(
        Status.OVERDUE, days_overdue=1
    )


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        (date(2025, 4, 7), StatusInfo(Status.COMPLETED)),
        (date(2025, 4, 9), StatusInfo(Status.COMPLETED)),
        (date(2025, 4, 11), StatusInfo(Status.COMPLETED)),
        (date(2025, 4, 6), StatusInfo(Status.COMPLETED_OUT_OF_WINDOW, days_early=1)),
        (date(2025, 4, 5), StatusInfo(Status.COMPLETED_OUT_OF_WINDOW, days_early=2)),
        (date(2025, 4, 12), StatusInfo(Status.COMPLETED_OUT_OF_WINDOW, days_late=1)),
        (date(2025, 4, 14), StatusInfo(Status.COMPLETED_OUT_OF_WINDOW, days_late=3)),
    ],
)
def test_completed_in_and_out_of_window(done: date, expected: StatusInfo) -> None:
    for today in (done, END + timedelta(days=100)):  # does not change with time
        assert status_on(today, state=State.COMPLETED, actual_date=done) == expected


def test_deviation() -> None:
    assert deviation(date(2025, 4, 9), START, END) == (None, None)
    assert deviation(date(2025, 4, 1), START, END) == (6, None)
    assert deviation(date(2025, 4, 20), START, END) == (None, 9)


def test_completed_without_a_window_or_date_is_simply_completed() -> None:
    today = date(2025, 4, 9)
    assert status_on(today, state=State.COMPLETED).status is Status.COMPLETED
    assert (
        status_on(today, state=State.COMPLETED, actual_date=today, window=(None, None)).status
        is Status.COMPLETED
    )


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (State.MISSED, Status.MISSED),
        (State.CANCELLED, Status.CANCELLED),
        (State.NOT_APPLICABLE, Status.NOT_APPLICABLE),
        (State.PENDING, Status.PENDING),
    ],
)
def test_stored_states_do_not_depend_on_the_date(state: State, status: Status) -> None:
    for today in (date(2025, 1, 1), START, END, date(2030, 1, 1)):
        assert status_on(today, state=state) == StatusInfo(status)
        assert status_on(today, state=state, window=(None, None)) == StatusInfo(status)


def test_planned_without_dates_is_pending() -> None:
    assert status_on(START, window=(None, None)) == StatusInfo(Status.PENDING)


def test_optional_visit_whose_window_closed_is_not_applicable() -> None:
    assert status_on(date(2025, 4, 9), optional=True).status is Status.DUE
    assert status_on(date(2025, 4, 12), optional=True) == StatusInfo(Status.NOT_APPLICABLE)


# The same statuses, as the calendar of a subject computes them.

INFUSION = date(2025, 3, 26)


def sle_status(
    today: date, events: Sequence[Event] = (), records: Mapping[str, VisitRecord] | None = None
) -> dict[str, StatusInfo]:
    _, visits = calendar(sle_plan(), actual(infusion=INFUSION), events, records, today=today)
    return {code: v.info for code, v in visits.items()}


def test_sle_calendar_statuses_on_day_14() -> None:
    s = sle_status(date(2025, 4, 9))
    assert s["D-2"] == s["D-1"] == StatusInfo(Status.NOT_APPLICABLE)  # optional, window closed
    assert s["D0"] == StatusInfo(Status.OVERDUE, days_overdue=14)
    assert s["D14"] == StatusInfo(Status.DUE)
    assert s["D28"] == StatusInfo(Status.SCHEDULED)  # window opens 2025-04-20
    assert s["M3"] == StatusInfo(Status.SCHEDULED)


def test_sle_calendar_upcoming_is_the_week_before_the_window() -> None:
    # D28's window opens on 2025-04-20.
    assert sle_status(date(2025, 4, 12))["D28"] == StatusInfo(Status.SCHEDULED)
    assert sle_status(date(2025, 4, 13))["D28"] == StatusInfo(Status.UPCOMING)
    assert sle_status(date(2025, 4, 19))["D28"] == StatusInfo(Status.UPCOMING)
    assert sle_status(date(2025, 4, 20))["D28"] == StatusInfo(Status.DUE)


def test_sle_calendar_records() -> None:
    records = {
        "D0": VisitRecord(
            State.COMPLETED,
            INFUSION,
        ),
        "D14": VisitRecord(
            State.COMPLETED,
            date(2025, 4, 13),
        ),
        "D28": VisitRecord(
            State.MISSED,
        ),
    }
    s = sle_status(date(2025, 5, 1), records=records)
    assert s["D0"] == StatusInfo(Status.COMPLETED, days_from_target=0)
    assert s["D14"] == StatusInfo(Status.COMPLETED_OUT_OF_WINDOW, days_late=2, days_from_target=4)
    assert s["D28"] == StatusInfo(Status.MISSED)


def test_sle_calendar_pending_without_an_infusion_date() -> None:
    cal_visits = calendar(sle_plan(), {}, today=date(2025, 4, 9))[1]
    assert {v.info.status for v in cal_visits.values()} == {Status.PENDING}
    assert {v.visit.target_date for v in cal_visits.values()} == {None}
    assert cal_visits["M3"].visit.reason == "waiting for anchor infusion"


def test_sle_calendar_cancelled_after_death() -> None:
    death = Event(EventType.DEATH, date(2025, 5, 1))
    s = sle_status(date(2025, 5, 2), events=[death])
    # D28's window closed before the death: missed from the day the subject died.
    assert s["D28"] == StatusInfo(Status.MISSED_UNDOCUMENTED, days_overdue=6)
    assert sle_status(date(2025, 4, 30), events=[death])["D28"] == StatusInfo(
        Status.OVERDUE, days_overdue=4)
    assert s["M3"] == StatusInfo(Status.CANCELLED)


def test_mm_calendar_conditional_phase_pending_then_not_applicable() -> None:
    anchors = actual(infusion=INFUSION)
    today = date(2025, 6, 1)
    pending = calendar(mm_plan(), anchors, today=today)[1]
    assert pending["HSCT-D14"].info == StatusInfo(Status.PENDING)
    progression = Event(EventType.PROGRESSION, date(2025, 5, 30))
    closed = calendar(mm_plan(), anchors, [progression], today=today)[1]
    assert closed["HSCT-D14"].info == StatusInfo(Status.NOT_APPLICABLE)
    assert closed["M3"].info == StatusInfo(Status.CANCELLED)  # stops at progression


def test_provisional_anchor_still_gives_statuses() -> None:
    planned = {"infusion": AnchorDate(INFUSION, actual=False)}
    visits = calendar(sle_plan(), planned, today=date(2025, 4, 9))[1]
    assert visits["D14"].info.status is Status.DUE
    assert visits["D14"].visit.provisional
