"""Irregular time points: ``at: [day 2, day 3, ...]`` gives one visit each, the code and
name templates using {day}, {n} and {i}."""

from __future__ import annotations

import textwrap
from datetime import date

import pytest

from app.errors import ScheduleError
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from tests.helpers_schedule import actual, expanded, plan_of
from tests.unit.test_loader import HEAD, problems

DAILY = ["day 2", "day 3", "day 4", "day 5", "day 7", "day 8", "day 10", "day 11", "day 14"]


def test_a_list_of_study_days_is_one_visit_each_under_the_day_1_convention() -> None:
    plan = plan_of([{"code": "D{day}", "name": "Inpatient day {day} (visit {i})",
                     "at": DAILY, "kind": "inpatient"}], anchor_day=1)
    visits = expanded(plan, actual(infusion=date(2025, 3, 26)))  # Day 1
    assert [(code, v.name, v.target_date) for code, v in visits.items()] == [
        ("D2", "Inpatient day 2 (visit 1)", date(2025, 3, 27)),
        ("D3", "Inpatient day 3 (visit 2)", date(2025, 3, 28)),
        ("D4", "Inpatient day 4 (visit 3)", date(2025, 3, 29)),
        ("D5", "Inpatient day 5 (visit 4)", date(2025, 3, 30)),
        ("D7", "Inpatient day 7 (visit 5)", date(2025, 4, 1)),
        ("D8", "Inpatient day 8 (visit 6)", date(2025, 4, 2)),
        ("D10", "Inpatient day 10 (visit 7)", date(2025, 4, 4)),
        ("D11", "Inpatient day 11 (visit 8)", date(2025, 4, 5)),
        ("D14", "Inpatient day 14 (visit 9)", date(2025, 4, 8)),
    ]


def test_a_list_may_mix_units_and_keeps_calendar_months() -> None:
    plan = plan_of([{"code": "FU{i}", "name": "Follow-up {i}",
                     "at": ["2 weeks", "3 months", "1 year"], "window": "3 days"}])
    visits = expanded(plan, actual(infusion=date(2024, 1, 31)))
    assert {code: v.target_date for code, v in visits.items()} == {
        "FU1": date(2024, 2, 14), "FU2": date(2024, 4, 30), "FU3": date(2025, 1, 31),
    }
    assert visits["FU2"].window_start == date(2024, 4, 27)


def test_the_list_round_trips_through_the_loader() -> None:
    text = HEAD + textwrap.dedent("""\
        visits:
          - code: D{day}
            name: Day {day}
            at: [day 2, day 7, day 14]
        """)
    protocol = parse_protocol(text, source="x.yaml")
    assert [v.code for v in build_plan(protocol).visits] == ["D2", "D7", "D14"]
    assert protocol.model_dump(by_alias=True)["visits"][0]["at"] == ["day 2", "day 7", "day 14"]


def test_mistakes_in_a_list_are_located_at_the_time_point() -> None:
    text = HEAD + textwrap.dedent("""\
        visits:
          - {code: "D{day}", name: Day, at: [day 2, soon, day 2]}
          - {code: "W{day}", name: Week, at: [1 week, 2 weeks]}
          - {code: "F{i}", name: F, at: []}
          - {code: "G{i}", name: G, at: [3 days], after_visit: B}
          - {code: X, name: X, at: [day 30, day 31]}
          - {code: B, name: B, at: day 1}
        """)
    assert problems(text) == [
        'x.yaml:16:45: visits[0].at[1]: "soon" is not a duration: write "14 days", "2 weeks",'
        ' "3 months", "2 years" or "day 14"',
        'x.yaml:16:51: visits[0].at[2]: time point "day 2" is listed twice (first at'
        " visits[0].at[0])",
        "x.yaml:17:12: visits[1].code: unknown placeholder {day}: use {n} (the time point),"
        " {day} (the study day, in a list of study days) or {i} (the position in the series)",
        "x.yaml:18:33: visits[2].at: Tuple should have at least 1 item after validation, not 0",
        "x.yaml:19:5: visits[3]: a list of time points is timed from an anchor, not from a"
        " visit",
        "x.yaml:20:12: visits[4].code: a series code must contain {n} or {i}, or every time"
        " point gets the same code",
    ]


def test_day_0_in_a_list_does_not_exist_under_the_day_1_convention() -> None:
    text = HEAD.replace("anchor_day: 0", "anchor_day: 1") + textwrap.dedent("""\
        visits:
          - {code: "D{day}", name: Day, at: [day -1, day 0, day 1]}
        """)
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(text, source="x.yaml")
    assert caught.value.problems == [
        "x.yaml:16:46: visits[0].at[1]: there is no day 0 when study.anchor_day is 1 (the"
        ' anchor is "day 1" and the day before it "day -1")',
    ]
