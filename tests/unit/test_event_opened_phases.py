"""Phases opened by progression and anchored on the event's date (follow-up after
progression), with no second entry of the date."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.schedule.expand import AnchorDate, PhaseState, expand
from app.schedule.lifecycle import Event, EventType
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from app.schedule.status import State
from tests.unit.test_loader import HEAD, problems

BODY = """\
visits:
  - {code: M3, name: Month 3, at: 3 months, window: 7 days, stops_at_progression: true}
  - {code: M6, name: Month 6, at: 6 months, window: 14 days}
phases:
  - code: SURV
    name: Survival follow-up after progression
    condition: {event: progression}
    visits:
      - code: SURV{n}
        name: Survival call, month {n} after progression
        series: {every: 3 months, from: 3 months, to: 12 months}
        window: 14 days
        kind: phone
"""
PLAN = build_plan(parse_protocol(HEAD + BODY, source="x.yaml"))
INFUSION = {"infusion": AnchorDate(date(2025, 1, 15))}


def test_the_phase_waits_for_progression_then_counts_from_its_date() -> None:
    before = expand(PLAN, INFUSION, [])
    assert before.phases["SURV"] is PhaseState.PENDING
    surv = [v for v in before.visits if v.phase == "SURV"]
    assert {v.state for v in surv} == {State.PENDING}
    assert surv[0].reason == "phase SURV waiting for progression"
    progressed = expand(PLAN, INFUSION, [Event(EventType.PROGRESSION, date(2025, 2, 28))])
    assert progressed.phases["SURV"] is PhaseState.ACTIVE
    by_code = {v.code: v for v in progressed.visits}
    assert [(c, by_code[c].target_date) for c in ("SURV3", "SURV6", "SURV9", "SURV12")] == [
        ("SURV3", date(2025, 5, 28)), ("SURV6", date(2025, 8, 28)),
        ("SURV9", date(2025, 11, 28)), ("SURV12", date(2026, 2, 28)),
    ]
    assert by_code["SURV3"].anchor == "progression" and not by_code["SURV3"].provisional
    assert by_code["SURV3"].study_day == 89  # from the progression, the phase's own anchor
    assert by_code["M3"].state is State.CANCELLED  # stops at progression
    assert by_code["M6"].state is State.PLANNED


def test_death_closes_it_and_cancels_what_is_left() -> None:
    events = [Event(EventType.PROGRESSION, date(2025, 2, 28)), Event(EventType.DEATH,
                                                                     date(2025, 9, 1))]
    by_code = {v.code: v for v in expand(PLAN, INFUSION, events).visits}
    assert by_code["SURV3"].state is State.PLANNED  # window closed before the death
    assert by_code["SURV3"].missed_from == date(2025, 9, 1)
    assert by_code["SURV6"].state is State.CANCELLED  # window still open on the day
    assert by_code["SURV9"].state is State.CANCELLED


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2000))
def test_no_dated_visit_of_the_phase_comes_before_its_event(days: int) -> None:
    progression = date(2025, 1, 15) + timedelta(days=days)
    expansion = expand(PLAN, INFUSION, [Event(EventType.PROGRESSION, progression)])
    for v in expansion.visits:
        if v.phase == "SURV":
            assert v.target_date is not None and v.window_start is not None
            assert v.window_start > progression


def test_a_progression_condition_takes_no_values_and_a_response_needs_them() -> None:
    wrong = BODY.replace("condition: {event: progression}",
                         "condition: {event: progression, values: [PD]}")
    assert problems(HEAD + wrong) == [
        "x.yaml:21:16: phases[0].condition: a progression carries no value: leave out values",
    ]
    empty = BODY.replace("condition: {event: progression}", "condition: {event: response}")
    assert problems(HEAD + empty) == [
        "x.yaml:21:16: phases[0].condition: a response condition lists the values that open"
        " the phase",
    ]
    stops = BODY.replace("    condition: {event: progression}\n",
                         "    condition: {event: progression}\n    stops_at_progression: true\n")
    assert problems(HEAD + stops) == [
        "x.yaml:19:5: phases[0]: a phase opened by progression cannot stop at progression",
    ]
