"""Phases that happen more than once: a retreatment opened by each progression, numbered
per occurrence (RT1, RT2), each occurrence timed from its own progression, the next one
closing the one before (its visits still to do are cancelled, or missed when their
window had already closed)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.schedule.expand import AnchorDate, ExpandedVisit, PhaseState, VisitRecord, expand
from app.schedule.lifecycle import Event, EventType
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from app.schedule.sdtm import trial_visits
from app.schedule.standing import cancelled_on
from app.schedule.status import State
from tests.unit.test_loader import HEAD, problems

BODY = """\
visits:
  - {code: M1, name: Month 1, at: 1 month, window: 3 days}
  - {code: M3, name: Month 3, at: 3 months, window: 7 days}
phases:
  - code: RT
    name: Retreatment
    condition: {event: progression}
    closes_on: [death]
    repeats: {max: 2}
    visits:
      - {code: D1, name: Retreatment infusion, at: 14 days, window: 3 days}
      - {code: M1, name: Month 1 after retreatment, at: 1 month, window: 7 days}
"""  # phases[0] is at line 19 of the file, its repeats at line 23
PLAN = build_plan(parse_protocol(HEAD + BODY, source="x.yaml"))
INFUSION = {"infusion": AnchorDate(date(2025, 1, 15))}


def _progressions(*days: date) -> list[Event]:
    return [Event(EventType.PROGRESSION, d) for d in days]


def _by_code(events: list[Event], records: dict[str, VisitRecord] | None = None
             ) -> dict[str, ExpandedVisit]:
    return {v.code: v for v in expand(PLAN, INFUSION, events, records).visits}


def _dates(visits: dict[str, ExpandedVisit], *codes: str) -> dict[str, tuple[object, ...]]:
    return {c: (visits[c].state, visits[c].target_date, visits[c].window_start,
                visits[c].window_end, visits[c].reason) for c in codes}


def test_each_occurrence_is_numbered_and_pending_until_its_progression() -> None:
    assert [(v.code, v.name, v.phase, v.anchor) for v in PLAN.visits] == [
        ("M1", "Month 1", "main", "infusion"),
        ("M3", "Month 3", "main", "infusion"),
        ("RT1-D1", "Retreatment infusion (occurrence 1)", "RT1", "progression 1"),
        ("RT1-M1", "Month 1 after retreatment (occurrence 1)", "RT1", "progression 1"),
        ("RT2-D1", "Retreatment infusion (occurrence 2)", "RT2", "progression 2"),
        ("RT2-M1", "Month 1 after retreatment (occurrence 2)", "RT2", "progression 2"),
    ]
    assert [(p.code, p.name, p.occurrence) for p in PLAN.phases] == [
        ("RT1", "Retreatment (occurrence 1)", 1), ("RT2", "Retreatment (occurrence 2)", 2)]
    waiting = expand(PLAN, INFUSION, [])
    assert waiting.phases == {"RT1": PhaseState.PENDING, "RT2": PhaseState.PENDING}
    assert {v.code: v.reason for v in waiting.visits if v.phase != "main"} == {
        "RT1-D1": "phase RT1 waiting for progression",
        "RT1-M1": "phase RT1 waiting for progression",
        "RT2-D1": "phase RT2 waiting for progression (occurrence 2)",
        "RT2-M1": "phase RT2 waiting for progression (occurrence 2)",
    }


def test_two_progressions_open_two_occurrences_the_second_closing_the_first() -> None:
    one = expand(PLAN, INFUSION, _progressions(date(2025, 3, 20)))
    assert one.phases == {"RT1": PhaseState.ACTIVE, "RT2": PhaseState.PENDING}
    two = _by_code(_progressions(date(2025, 3, 20), date(2025, 4, 10)))
    assert _dates(two, "RT1-D1", "RT1-M1", "RT2-D1", "RT2-M1") == {
        # 14 days after 20 March; its window (31 March - 6 April) closed before 10 April,
        # so it is still to do and counts as missed from the second progression.
        "RT1-D1": (State.PLANNED, date(2025, 4, 3), date(2025, 3, 31), date(2025, 4, 6), None),
        # Its window (13-27 April) was open on 10 April: the new occurrence cancels it.
        "RT1-M1": (State.CANCELLED, date(2025, 4, 20), date(2025, 4, 13), date(2025, 4, 27),
                   "progression on 2025-04-10 opens occurrence 2"),
        "RT2-D1": (State.PLANNED, date(2025, 4, 24), date(2025, 4, 21), date(2025, 4, 27), None),
        "RT2-M1": (State.PLANNED, date(2025, 5, 10), date(2025, 5, 3), date(2025, 5, 17), None),
    }
    assert two["RT1-D1"].missed_from == date(2025, 4, 10)
    assert two["RT2-M1"].missed_from is None
    assert (two["RT1-D1"].study_day, two["RT2-D1"].study_day) == (14, 14)  # own event: day 0
    assert (two["RT1-D1"].anchor, two["RT2-D1"].anchor) == ("progression 1", "progression 2")
    # The main schedule does not stop at progression.
    assert two["M3"].state is State.PLANNED


def test_an_occurrence_on_a_month_end_and_one_on_a_leap_day() -> None:
    visits = _by_code(_progressions(date(2024, 2, 29), date(2025, 1, 31)))
    assert _dates(visits, "RT1-D1", "RT1-M1", "RT2-D1", "RT2-M1") == {
        # 29 February 2024 + 14 days; + 1 month is 29 March.
        "RT1-D1": (State.PLANNED, date(2024, 3, 14), date(2024, 3, 11), date(2024, 3, 17),
                   None),
        "RT1-M1": (State.PLANNED, date(2024, 3, 29), date(2024, 3, 22), date(2024, 4, 5), None),
        # 31 January 2025 + 1 month is clamped to 28 February.
        "RT2-D1": (State.PLANNED, date(2025, 2, 14), date(2025, 2, 11), date(2025, 2, 17), None),
        "RT2-M1": (State.PLANNED, date(2025, 2, 28), date(2025, 2, 21), date(2025, 3, 7), None),
    }
    # Occurrence 1's windows had closed long before the second progression: missed from it.
    assert visits["RT1-M1"].missed_from == date(2025, 1, 31)


def test_a_visit_done_in_an_occurrence_stays_done_when_the_next_one_opens() -> None:
    done = {"RT1-M1": VisitRecord(State.COMPLETED, date(2025, 4, 14))}
    visits = _by_code(_progressions(date(2025, 3, 20), date(2025, 4, 10)), done)
    assert visits["RT1-M1"].state is State.COMPLETED
    assert visits["RT1-M1"].actual_date == date(2025, 4, 14)


def test_a_progression_beyond_max_opens_nothing_and_closes_nothing() -> None:
    visits = _by_code(_progressions(date(2025, 3, 20), date(2025, 4, 10), date(2025, 5, 5)))
    assert len(visits) == 6
    assert visits["RT2-M1"].state is State.PLANNED and visits["RT2-M1"].reason is None


def test_a_death_closes_the_occurrences_not_opened_and_cancels_the_open_one() -> None:
    events = [*_progressions(date(2025, 3, 20)), Event(EventType.DEATH, date(2025, 4, 1))]
    got = expand(PLAN, INFUSION, events)
    assert got.phases == {"RT1": PhaseState.ACTIVE, "RT2": PhaseState.NOT_APPLICABLE}
    visits = {v.code: (v.state, v.reason) for v in got.visits}
    assert visits["RT1-D1"] == (State.CANCELLED, "death on 2025-04-01")
    assert visits["RT2-D1"] == (State.NOT_APPLICABLE, "phase RT2 closed: death on 2025-04-01")


def test_the_date_the_next_occurrence_cancels_a_visit() -> None:
    events = _progressions(date(2025, 3, 20), date(2025, 4, 10))
    assert cancelled_on(PLAN, "RT1-M1", events) == date(2025, 4, 10)
    assert cancelled_on(PLAN, "RT2-M1", events) is None
    assert cancelled_on(PLAN, "RT1-M1", [*events, Event(EventType.DEATH, date(2025, 4, 1))]) \
        == date(2025, 4, 1)


def test_templates_visit_numbers_and_covering_by_the_declared_phase() -> None:
    text = HEAD + """\
visits:
  - {code: M1, name: Month 1, at: 1 month, window: 3 days, visitnum: 1}
  - code: LTFU
    name: Long-term follow-up
    at: 2 months
    window: 7 days
    skip_within: 20 days
    covered_by: {phases: [RT]}
phases:
  - code: RT
    name: Retreatment
    condition: {event: progression}
    closes_on: [death]
    repeats: {max: 2}
    visits:
      - {code: 'R{occurrence}-D1', name: 'Retreatment {occurrence}, day 1', at: 0 days,
         visitnum: 10}
      - code: 'R{occurrence}-M{n}'
        name: 'Retreatment {occurrence}, month {n}'
        series: {every: 1 month, from: 1 month, to: 2 months}
        window: 7 days
"""
    plan = build_plan(parse_protocol(text, source="x.yaml"))
    assert [(v.code, v.name, v.visitnum) for v in plan.visits] == [
        ("M1", "Month 1", 1), ("LTFU", "Long-term follow-up", None),
        ("R1-D1", "Retreatment 1, day 1", 10), ("R1-M1", "Retreatment 1, month 1", None),
        ("R1-M2", "Retreatment 1, month 2", None),
        # Occurrence 2 is numbered on from occurrence 1: 10 + 3 visits.
        ("R2-D1", "Retreatment 2, day 1", 13), ("R2-M1", "Retreatment 2, month 1", None),
        ("R2-M2", "Retreatment 2, month 2", None),
    ]
    assert [v.visitnum for v in trial_visits(plan)] == [1, 2, 10, 11, 12, 13, 14, 15]
    # LTFU (15 March) is covered by R1-D1, dated 1 March by the progression of that day.
    got = {v.code: v for v in expand(plan, INFUSION, _progressions(date(2025, 3, 1))).visits}
    assert (got["LTFU"].state, got["LTFU"].reason) == (
        State.NOT_APPLICABLE, "covered by visit R1-D1 (2025-03-01)")


def test_the_calendar_does_not_depend_on_the_order_of_the_events() -> None:
    events = _progressions(date(2025, 3, 20), date(2025, 4, 10))
    assert expand(PLAN, INFUSION, events) == expand(PLAN, INFUSION, events[::-1])


_day = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=60, deadline=None)
@given(infusion=_day, gaps=st.lists(st.integers(0, 400), min_size=1, max_size=4),
       order=st.randoms(use_true_random=False))
def test_occurrences_follow_their_own_events_in_any_order(
    infusion: date, gaps: list[int], order: random.Random
) -> None:
    days = [infusion + timedelta(days=sum(gaps[: i + 1])) for i in range(len(gaps))]
    events = _progressions(*days)
    shuffled = list(events)
    order.shuffle(shuffled)
    anchors = {"infusion": AnchorDate(infusion)}
    got = expand(PLAN, anchors, events)
    assert got == expand(PLAN, anchors, shuffled)
    by_phase: dict[str, list[ExpandedVisit]] = {}
    for v in got.visits:
        by_phase.setdefault(v.phase, []).append(v)
    for k in (1, 2):
        visits = by_phase[f"RT{k}"]
        if k > len(days):
            assert all(v.state is State.PENDING and v.target_date is None for v in visits)
            continue
        # No visit of occurrence k is dated before the progression that opened it.
        assert all(v.target_date is not None and v.target_date > days[k - 1] for v in visits)
    assert not {v.code for v in by_phase["RT1"]} & {v.code for v in by_phase["RT2"]}


# -- the loader ---------------------------------------------------------------------------


def test_loader_refuses_repeats_on_a_phase_timed_from_an_anchor() -> None:
    wrong = BODY.replace("    closes_on: [death]\n",
                         "    closes_on: [death]\n    anchor: transplant\n")
    assert problems(HEAD + wrong) == [
        "x.yaml:23:13: phases[0].anchor: a repeating phase counts each occurrence from the "
        "date of the event that opens it: leave out anchor",
    ]


def test_loader_refuses_repeats_on_an_event_that_happens_once() -> None:
    wrong = BODY.replace("{event: progression}", "{event: withdrawal}")
    assert problems(HEAD + wrong) == [
        "x.yaml:23:14: phases[0].repeats: a withdrawal happens once: only a phase opened by "
        "progression or response repeats",
    ]


def test_loader_refuses_a_bad_max() -> None:
    message = ("phases[0].repeats.max: max is how many times the phase may happen: a whole "
               "number from 2 to 9 (a phase that happens once needs no repeats)")
    for bad in ("1", "10", "three", "2.5"):
        wrong = BODY.replace("{max: 2}", f"{{max: {bad}}}")
        assert problems(HEAD + wrong) == [f"x.yaml:23:20: {message}"], bad
    assert problems(HEAD + BODY.replace("{max: 2}", "true")) == [
        "x.yaml:23:14: phases[0].repeats: must be a mapping of keys to values, not true"]


def test_loader_refuses_codes_that_collide_between_occurrences() -> None:
    wrong = BODY.replace("{code: D1, name: Retreatment infusion",
                         "{code: 'R{occurrence}2', name: Retreatment infusion").replace(
        "{code: M1, name: Month 1 after", "{code: 'R1{occurrence}', name: Month 1 after")
    assert problems(HEAD + wrong) == [
        'x.yaml:26:16: phases[0].visits[1].code: occurrence 2: the code "R12" made by '
        '"R1{occurrence}" is already made by "R{occurrence}2" at phases[0].visits[0] '
        "(line 25)",
    ]
    with_main = BODY.replace("{code: M3, name: Month 3", "{code: RT2-D1, name: Month 3")
    assert problems(HEAD + with_main) == [
        'x.yaml:25:16: phases[0].visits[0].code: occurrence 2: the code "RT2-D1" made by '
        '"D1" is already used by visits[1] (line 17)',
    ]


def test_loader_refuses_occurrence_outside_a_repeating_phase() -> None:
    message = ("{occurrence} numbers the occurrences of a repeating phase (repeats); this "
               "visit is not in one")
    wrong = BODY.replace("{code: M1, name: Month 1, at",
                         "{code: 'M1-{occurrence}', name: 'Month 1 ({occurrence})', at")
    assert problems(HEAD + wrong) == [f"x.yaml:16:12: visits[0].code: {message}",
                                      f"x.yaml:16:37: visits[0].name: {message}"]
    once = BODY.replace("    repeats: {max: 2}\n", "").replace(
        "{code: D1,", "{code: 'D1-{occurrence}',").replace("{code: M1, name: Month 1 after",
                                                           "{code: RM1, name: Month 1 after")
    assert problems(HEAD + once) == [f"x.yaml:24:16: phases[0].visits[0].code: {message}"]


def test_loader_refuses_what_an_occurrence_cannot_share() -> None:
    anchored = BODY.replace("at: 14 days, window: 3 days}",
                            "at: 14 days, window: 3 days, anchor: infusion}")
    assert problems(HEAD + anchored) == [
        "x.yaml:25:85: phases[0].visits[0].anchor: a visit of a repeating phase counts from "
        "the event that opens its occurrence: leave out anchor",
    ]
    chained = BODY.replace("{code: M1, name: Month 1 after retreatment, at",
                           "{code: M1, name: Month 1 after retreatment, after_visit: D1, at")
    assert problems(HEAD + chained) == [
        "x.yaml:26:66: phases[0].visits[1].after_visit: a visit of a repeating phase counts "
        "from the event that opens its occurrence, not from another visit: leave out "
        "after_visit",
    ]
    other = BODY + ("  - code: RT2\n    name: Other\n    condition: {event: response, values: "
                    "[CR]}\n    visits:\n      - {code: X1, name: X, at: 1 month}\n")
    assert problems(HEAD + other) == [
        'x.yaml:19:11: phases[0].code: occurrence 2 of phase RT is phase "RT2", the code of '
        "another phase: choose another code",
    ]
