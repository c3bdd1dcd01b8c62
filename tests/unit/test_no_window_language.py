"""``window: none`` and ``due_for`` in schedule files: what loads, and the exact problems
of what does not."""

from __future__ import annotations

from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from tests.unit.test_loader import HEAD, problems

DAY0 = """\
visits:
  - code: D0
    name: Day 0
    at: day 0
"""


def test_window_none_loads_with_or_without_due_for() -> None:
    text = HEAD + """\
visits:
  - code: SCR2
    name: Screening 2
    anchor: transplant
    at: -14 days
    window: none
  - code: BL
    name: Baseline
    at: -1 days
    window: none
    due_for: 1 week
  - code: D0
    name: Day 0
    at: day 0
  - code: SCR3
    name: Screening 3
    anchor: transplant
    at: -7 days
  - code: ECG
    name: ECG removal
    after_visit: D0
    at: 2 days
    window: none
  - code: D14
    name: Day 14
    after_visit: D0
    at: 14 days
"""
    plan = build_plan(parse_protocol(text, source="x.yaml"))
    assert [(v.code, v.graded, v.due_until_next, v.after_days) for v in plan.visits] == [
        ("SCR2", False, True, 0), ("BL", False, False, 7), ("D0", True, False, 0),
        ("SCR3", True, False, 0), ("ECG", False, True, 0), ("D14", True, False, 0),
    ]


def test_a_visit_after_it_is_a_later_visit() -> None:
    text = HEAD + """\
visits:
  - code: D0
    name: Day 0
    at: day 0
    window: none
  - code: D2
    name: Day 2
    after_visit: D0
    at: 2 days
"""
    assert build_plan(parse_protocol(text, source="x.yaml")).by_code["D0"].due_until_next


def test_without_due_for_nor_a_later_visit_it_is_an_error() -> None:
    text = HEAD + DAY0 + """\
  - code: ECG
    name: ECG removal
    at: day 14
    window: none
  - code: T0
    name: Transplant day
    anchor: transplant
    at: day 0
"""
    # T0 is later in the file but counts from another anchor: only dates tell the order.
    assert problems(text) == [
        "x.yaml:22:13: visits[1].window: a visit without a window is due until due_for or "
        "the day before the next visit of its schedule: give due_for, or a later visit "
        "timed from the same anchor (or after this one)"
    ]


def test_the_last_point_of_a_series_needs_a_later_visit() -> None:
    text = HEAD + """\
visits:
  - code: W{n}
    name: Week {n}
    series: {every: 1 week, from: 1 week, to: 3 weeks}
    window: none
"""
    assert problems(text) == [
        "x.yaml:19:13: visits[0].window: a visit without a window is due until due_for or "
        "the day before the next visit of its schedule: give due_for, or a later visit "
        "timed from the same anchor (or after this one)"
    ]


def test_due_for_needs_window_none_and_is_days_or_weeks() -> None:
    assert problems(HEAD + DAY0 + "    due_for: 3 days\n") == [
        "x.yaml:19:14: visits[0].due_for: due_for applies to a visit without a window "
        "(window: none)"
    ]
    assert problems(HEAD + DAY0 + "    window: 2 days\n    due_for: 3 days\n") == [
        "x.yaml:20:14: visits[0].due_for: due_for applies to a visit without a window "
        "(window: none)"
    ]
    assert problems(HEAD + DAY0 + "    window: none\n    due_for: 1 month\n") == [
        "x.yaml:20:14: visits[0].due_for: a window or grace period is given in days or weeks"
    ]


def test_a_misspelt_none_is_a_bad_duration() -> None:
    assert problems(HEAD + DAY0 + "    window: nonee\n    due_for: 2 days\n") == [
        'x.yaml:19:13: visits[0].window.after: "nonee" is not a duration: write "14 days", '
        '"2 weeks", "3 months", "2 years" or "day 14"',
        'x.yaml:19:13: visits[0].window.before: "nonee" is not a duration: write "14 days", '
        '"2 weeks", "3 months", "2 years" or "day 14"',
    ]
