"""Visits timed from another visit: before it (negative offsets), and from its target
rather than its actual date when the protocol says so."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from app.schedule.expand import VisitRecord
from app.schedule.status import State
from tests.helpers_schedule import actual, expanded, plan_of

INFUSION = date(2025, 3, 3)  # a Monday
W2 = {"code": "W2", "name": "Week 2", "at": "2 weeks", "window": "3 days"}


def done(day: date) -> VisitRecord:
    return VisitRecord(State.COMPLETED, day, frozenset())


def test_a_visit_the_day_before_another_follows_its_actual_date() -> None:
    plan = plan_of([W2, {"code": "ECG-ON", "name": "Ambulatory ECG placed",
                         "after_visit": "W2", "at": "-1 day"}])
    assert plan.by_code["ECG-ON"].timing == "1 day before W2"
    before = expanded(plan, actual(infusion=INFUSION))
    assert before["ECG-ON"].target_date == date(2025, 3, 16)
    assert before["ECG-ON"].provisional  # W2 not done yet
    after = expanded(plan, actual(infusion=INFUSION), records={"W2": done(date(2025, 3, 19))})
    assert after["ECG-ON"].target_date == date(2025, 3, 18)
    assert not after["ECG-ON"].provisional


def test_a_visit_timed_from_the_target_does_not_move_when_the_visit_is_done_late() -> None:
    plan = plan_of([W2, {"code": "CALL", "name": "Phone call", "after_visit": "W2",
                         "timed_from": "target", "at": "2 weeks", "kind": "phone"}])
    assert plan.by_code["CALL"].timing == "2 weeks after the target of W2"
    late = expanded(plan, actual(infusion=INFUSION), records={"W2": done(date(2025, 3, 21))})
    assert late["CALL"].target_date == date(2025, 3, 31)  # Day 14 + 14, not 21 March + 14
    assert not late["CALL"].provisional  # the anchor is actual, so is W2's target


def test_timed_from_the_target_of_an_undone_chain_stays_provisional() -> None:
    plan = plan_of([
        W2,
        {"code": "W4", "name": "Week 4", "after_visit": "W2", "at": "2 weeks"},
        {"code": "CALL", "name": "Call", "after_visit": "W4", "timed_from": "target",
         "at": "1 week"},
    ])
    visits = expanded(plan, actual(infusion=INFUSION))
    assert visits["CALL"].target_date == date(2025, 4, 7)
    assert visits["CALL"].provisional  # W4 hangs on W2, not done yet


def test_timed_from_needs_a_visit_to_be_timed_from() -> None:
    with pytest.raises(ValidationError, match="timed_from applies to a visit timed from"):
        plan_of([{"code": "X", "name": "X", "at": "2 weeks", "timed_from": "target"}])
