"""The schedule language's ``records:``: a visit that is an anchor's actual date."""

from __future__ import annotations

import textwrap

import pytest

from app.errors import ScheduleError
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from tests.helpers_schedule import mm_plan, sle_plan


def head(anchor_day: int = 0) -> str:
    return f"""\
study:
  code: T
  title: Test study
  version: "1"
  target_enrolment: 10
  time_zone: Europe/Paris
  anchor_day: {anchor_day}
anchors:
  - name: infusion
    label: Infusion
    recorded: later
  - name: transplant
    label: Transplant
    recorded: later
  - name: consent
    label: Consent
    recorded: at_enrolment
"""  # 17 lines: a file's own lines start at 18


def problems(text: str) -> list[str]:
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(textwrap.dedent(text), source="x.yaml")
    return caught.value.problems


def test_the_seeds_record_their_anchors() -> None:
    assert sle_plan().by_code["D0"].records_anchor == "infusion"
    assert mm_plan().by_code["D0"].records_anchor == "infusion"
    assert mm_plan().by_code["HSCT-D0"].records_anchor == "transplant"
    assert mm_plan().recorded_by == {"infusion": mm_plan().by_code["D0"],
                                     "transplant": mm_plan().by_code["HSCT-D0"]}
    assert sle_plan().by_code["D14"].records_anchor is None


@pytest.mark.parametrize(("anchor_day", "at"), [(0, "day 0"), (1, "day 1"), (0, "0 days"),
                                               (1, "0 days")])
def test_a_visit_on_the_anchor_day_may_record_it(anchor_day: int, at: str) -> None:
    text = head(anchor_day) + f"""\
visits:
  - code: D0
    name: Infusion
    at: {at}
    window: 0 days
    records: infusion
phases:
  - code: TX
    name: Transplant
    anchor: transplant
    condition: {{values: [CR]}}
    visits:
      - code: TX-D0
        name: Transplant
        at: {at}
        records: transplant
"""
    plan = build_plan(parse_protocol(text, source="x.yaml"))
    assert plan.by_code["D0"].records_anchor == "infusion"
    assert plan.by_code["TX-D0"].records_anchor == "transplant"


def test_every_mistake_of_records_is_located() -> None:
    text = head() + """\
visits:
  - code: D0
    name: Infusion
    at: day 0
    records: infuson
  - code: D1
    name: Day 1
    at: day 1
    window: 1 day
    records: infusion
  - code: C
    name: Consent visit
    anchor: consent
    at: day 0
    records: consent
  - code: T0
    name: Transplant on the infusion's clock
    at: day 0
    records: transplant
  - code: M{n}
    name: Month {n}
    anchor: transplant
    series: {every: 1 months, from: 1 months, to: 2 months}
    records: transplant
"""
    assert problems(text) == [
        'x.yaml:22:14: visits[0].records: unknown anchor "infuson" (did you mean "infusion"?);'
        " declared anchors: consent, infusion, transplant",
        'x.yaml:25:9: visits[1].at: a visit that records anchor infusion is on the anchor\'s'
        ' day: write "day 0"',
        "x.yaml:26:13: visits[1].window: a visit that records anchor infusion has no window:"
        " it is done on the anchor's day",
        "x.yaml:32:14: visits[2].records: anchor consent is recorded at enrolment; a visit can"
        " only record an anchor recorded later",
        "x.yaml:36:14: visits[3].records: a visit that records anchor transplant must be timed"
        " from it, not from infusion (add anchor: transplant)",
        "x.yaml:41:14: visits[4].records: anchor transplant is already recorded by visit T0"
        " (at visits[3])",
    ]


def test_a_series_or_a_visit_timed_after_another_cannot_record_an_anchor() -> None:
    text = head(1) + """\
visits:
  - code: D1
    name: Day 1
    at: day 1
  - code: T{n}
    name: Transplant {n}
    anchor: transplant
    series: {every: 1 months, from: 0 months, to: 1 months}
    records: transplant
  - code: INF
    name: Infusion after D1
    after_visit: D1
    at: 0 days
    records: infusion
  - code: X0
    name: No day 0 here
    at: day 0
    anchor: transplant
"""
    assert problems(text) == [
        "x.yaml:26:14: visits[1].records: a series or a list of time points cannot record an"
        " anchor: the anchor has one date",
        "x.yaml:31:14: visits[2].records: a visit that records anchor infusion is timed from"
        " it, not after visit D1",
        "x.yaml:34:9: visits[3].at: there is no day 0 when study.anchor_day is 1 (the anchor"
        ' is "day 1" and the day before it "day -1")',
    ]
