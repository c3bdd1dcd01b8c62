"""A subject's calendar: periods and endpoint windows as of a date."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import pytest

from app.schedule.calendar import EndpointStatus, EndpointWindow, PeriodSpan, build_calendar
from app.schedule.expand import AnchorDate, PhaseState, VisitRecord
from app.schedule.lifecycle import Event, EventType
from app.schedule.status import State
from tests.helpers_schedule import actual, calendar, mm_plan, plan_of, sle_plan

INFUSION = date(2025, 3, 26)
TRANSPLANT = date(2025, 7, 1)


def periods_of(cal_periods: Sequence[PeriodSpan]) -> dict[str, tuple[date | None, date | None]]:
    return {p.code: (p.start, p.end) for p in cal_periods}


def test_sle_periods() -> None:
    cal, _ = calendar(sle_plan(), actual(infusion=INFUSION), today=INFUSION)
    assert periods_of(cal.periods) == {
        "INPATIENT": (INFUSION, date(2025, 4, 2)),
        "NEAR-SITE": (INFUSION, date(2025, 4, 23)),
        "AE-WINDOW": (INFUSION, date(2025, 6, 26)),
    }
    assert not any(p.provisional for p in cal.periods)
    assert cal.as_of == INFUSION


def test_periods_of_a_planned_or_unknown_anchor() -> None:
    planned = {"infusion": AnchorDate(INFUSION, actual=False)}
    cal, _ = calendar(mm_plan(), planned, today=INFUSION)
    spans = {p.code: p for p in cal.periods}
    assert spans["INPATIENT"].provisional
    assert (spans["HSCT-INPATIENT"].start, spans["HSCT-INPATIENT"].end) == (None, None)
    assert not spans["HSCT-INPATIENT"].provisional
    cal, _ = calendar(mm_plan(), actual(infusion=INFUSION, transplant=TRANSPLANT), today=INFUSION)
    assert periods_of(cal.periods)["HSCT-INPATIENT"] == (TRANSPLANT, date(2025, 7, 31))


def test_periods_under_the_day_1_convention() -> None:
    plan = plan_of(
        [{"code": "V", "name": "v", "at": "day 1"}],
        anchor_day=1,
        periods=[
            {
                "code": "IN",
                "name": "inpatient",
                "anchor": "infusion",
                "from": "day 1",
                "to": "day 8",
            },
            {"code": "AE", "name": "ae", "anchor": "infusion", "from": "day -1", "to": "1 months"},
        ],
    )
    cal, _ = calendar(plan, actual(infusion=date(2024, 1, 31)), today=INFUSION)
    assert periods_of(cal.periods) == {
        "IN": (date(2024, 1, 31), date(2024, 2, 7)),
        "AE": (date(2024, 1, 30), date(2024, 2, 29)),
    }


# Endpoint windows of the myeloma trial: ORR, PFS and OS at months 6, 12, 18 and 24;
# the 6-month window is 2025-09-12 .. 2025-10-10 around 2025-09-26.

WINDOW_6 = (date(2025, 9, 12), date(2025, 10, 10))


def endpoints(
    today: date,
    records: Mapping[str, VisitRecord] | None = None,
    events: Sequence[Event] = (),
) -> dict[str, EndpointWindow]:
    cal = build_calendar(mm_plan(), actual(infusion=INFUSION), events, records, today=today)
    return {e.code: e for e in cal.endpoints}


def m6(on: date, *assessments: str) -> dict[str, VisitRecord]:
    return {
        "M6": VisitRecord(State.COMPLETED, on, frozenset(assessments))
    }


def test_endpoint_windows_are_dated_from_the_anchor() -> None:
    e = endpoints(INFUSION)
    assert list(e) == [f"{ep}@{n} months" for ep in ("ORR", "PFS", "OS") for n in (6, 12, 18, 24)]
    orr6 = e["ORR@6 months"]
    assert (orr6.endpoint, orr6.time_point, orr6.target_date) == (
        "ORR",
        "6 months",
        date(2025, 9, 26),
    )
    assert (orr6.window_start, orr6.window_end) == WINDOW_6
    assert e["OS@24 months"].target_date == date(2027, 3, 26)
    assert {x.status for x in e.values()} == {EndpointStatus.SCHEDULED}


@pytest.mark.parametrize(
    ("today", "status"),
    [
        (date(2025, 9, 11), EndpointStatus.SCHEDULED),
        (date(2025, 9, 12), EndpointStatus.OPEN),
        (date(2025, 10, 10), EndpointStatus.OPEN),
        (date(2025, 10, 11), EndpointStatus.MISSED),
    ],
)
def test_endpoint_window_through_time(today: date, status: EndpointStatus) -> None:
    assert endpoints(today)["PFS@6 months"].status is status


def test_endpoint_met_by_a_completed_visit_in_the_window_with_the_assessment() -> None:
    e = endpoints(date(2025, 9, 20), m6(date(2025, 9, 20), "ORR", "PFS", "OS"))
    for code in ("ORR@6 months", "PFS@6 months", "OS@6 months"):
        assert (e[code].status, e[code].satisfied_by) == (EndpointStatus.MET, "M6")
    assert e["ORR@12 months"].status is EndpointStatus.SCHEDULED
    # On the window's edges too.
    for on in WINDOW_6:
        assert endpoints(on, m6(on, "ORR"))["ORR@6 months"].status is EndpointStatus.MET


def test_endpoint_needs_the_assessment() -> None:
    e = endpoints(date(2025, 9, 20), m6(date(2025, 9, 20), "PFS"))
    assert e["PFS@6 months"].status is EndpointStatus.MET
    assert e["ORR@6 months"].status is EndpointStatus.OPEN
    assert e["ORR@6 months"].satisfied_by is None
    assert endpoints(date(2025, 11, 1), m6(date(2025, 9, 20)))["ORR@6 months"].status is (
        EndpointStatus.MISSED
    )


def test_endpoint_needs_a_visit_inside_the_window() -> None:
    late = endpoints(date(2025, 10, 12), m6(date(2025, 10, 11), "ORR", "PFS", "OS"))
    assert late["ORR@6 months"].status is EndpointStatus.MISSED
    early = endpoints(date(2025, 9, 20), m6(date(2025, 9, 11), "ORR"))
    assert early["ORR@6 months"].status is EndpointStatus.OPEN


def test_endpoint_needs_a_completed_visit() -> None:
    missed = {
        "M6": VisitRecord(State.MISSED, None, frozenset({"ORR"}))
    }
    assert endpoints(date(2025, 11, 1), missed)["ORR@6 months"].status is EndpointStatus.MISSED


def test_endpoint_satisfied_by_limits_the_visits() -> None:
    # Any visit may satisfy ORR; only M6, M12, M18 and M24 may satisfy OS.
    d28 = {"D28": VisitRecord(State.COMPLETED, date(2025, 9, 20), frozenset({"ORR", "OS"}))}
    e = endpoints(date(2025, 9, 21), d28)
    assert (e["ORR@6 months"].status, e["ORR@6 months"].satisfied_by) == (
        EndpointStatus.MET,
        "D28",
    )
    assert e["OS@6 months"].status is EndpointStatus.OPEN


@pytest.mark.parametrize(
    ("death", "status"),
    [
        (date(2025, 6, 1), EndpointStatus.CANCELLED),  # before the window opens
        (date(2025, 9, 20), EndpointStatus.CANCELLED),  # inside it
        (date(2025, 10, 10), EndpointStatus.CANCELLED),  # on its last day
        (date(2025, 10, 11), EndpointStatus.MISSED),  # after it closed
    ],
)
def test_endpoint_after_death(death: date, status: EndpointStatus) -> None:
    e = endpoints(date(2025, 11, 1), events=[Event(EventType.DEATH, death)])
    assert e["OS@6 months"].status is status
    assert e["OS@24 months"].status is EndpointStatus.CANCELLED


def test_endpoint_met_before_death_stays_met() -> None:
    e = endpoints(
        date(2025, 11, 1), m6(date(2025, 9, 20), "OS"), [Event(EventType.DEATH, date(2025, 9, 25))]
    )
    assert e["OS@6 months"].status is EndpointStatus.MET


def test_endpoint_without_an_anchor_date_is_pending() -> None:
    cal = build_calendar(mm_plan(), {}, today=INFUSION)
    assert {e.status for e in cal.endpoints} == {EndpointStatus.PENDING}
    assert {(e.target_date, e.window_start, e.window_end) for e in cal.endpoints} == {
        (None, None, None)
    }


def test_endpoint_windows_follow_month_ends() -> None:
    cal = build_calendar(mm_plan(), actual(infusion=date(2023, 8, 31)), today=INFUSION)
    e = {x.code: x for x in cal.endpoints}
    assert e["ORR@6 months"].target_date == date(2024, 2, 29)
    assert e["ORR@6 months"].window_end == date(2024, 2, 29) + timedelta(days=14)
    assert e["ORR@18 months"].target_date == date(2025, 2, 28)


# The calendar as a whole.


def test_mm_calendar_of_the_issue() -> None:
    cr = Event(EventType.RESPONSE, date(2025, 5, 20), "CR")
    cal, visits = calendar(
        mm_plan(), actual(infusion=INFUSION, transplant=TRANSPLANT), [cr], today=date(2025, 9, 1)
    )
    assert cal.phases == {"HSCT": PhaseState.ACTIVE}
    assert visits["HSCT-D14"].visit.target_date == date(2025, 7, 15)
    assert len(cal.visits) == len(mm_plan().visits)
    without, _ = calendar(mm_plan(), actual(infusion=INFUSION), today=date(2025, 9, 1))
    assert without.phases == {"HSCT": PhaseState.PENDING}


def test_endpoint_windows_of_a_planned_anchor_are_provisional() -> None:
    planned = {"infusion": AnchorDate(INFUSION, actual=False)}
    cal = build_calendar(mm_plan(), planned, today=INFUSION)
    assert all(e.provisional for e in cal.endpoints)
    assert cal.endpoints[0].target_date == date(2025, 9, 26)
    confirmed = build_calendar(mm_plan(), actual(infusion=INFUSION), today=INFUSION)
    assert not any(e.provisional for e in confirmed.endpoints)
