"""Phases opened by the end of follow-up: an early-termination visit within 14 days of a
withdrawal, a safety call 30 days after it, an end-of-study visit at completion. Their
visits count from the event's date (no second entry), the event that opens them never
cancels them, and only a death does."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.schedule.calendar import build_calendar
from app.schedule.expand import AnchorDate, ExpandedVisit, PhaseState, VisitRecord, expand
from app.schedule.lifecycle import Event, EventType, event_conflict, visit_date_conflict
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from app.schedule.standing import cancelled_on
from app.schedule.status import State, Status
from tests.unit.test_loader import HEAD, problems

BODY = """\
visits:
  - {code: M1, name: Month 1, at: 1 month, window: 3 days}
  - {code: M3, name: Month 3, at: 3 months, window: 7 days}
  - {code: M6, name: Month 6, at: 6 months, window: 14 days}
phases:
  - code: ET
    name: Early termination
    condition: {event: withdrawal}
    visits:
      - code: ET
        name: Early-termination visit
        at: 0 days
        window: {before: 0 days, after: 14 days}
      - code: SFU
        name: Safety follow-up call
        at: 30 days
        window: {before: 0 days, after: 7 days}
        kind: phone
"""  # phases[0] is at line 20 of the file, its condition at line 22
PLAN = build_plan(parse_protocol(HEAD + BODY, source="x.yaml"))
INFUSION = {"infusion": AnchorDate(date(2025, 1, 15))}


def _by_code(events: list[Event], records: dict[str, VisitRecord] | None = None
             ) -> dict[str, ExpandedVisit]:
    return {v.code: v for v in expand(PLAN, INFUSION, events, records).visits}


def test_withdrawal_on_a_month_end_opens_the_phase_on_its_own_date() -> None:
    waiting = expand(PLAN, INFUSION, [])
    assert waiting.phases["ET"] is PhaseState.PENDING
    assert {v.code: v.reason for v in waiting.visits if v.phase == "ET"} == {
        "ET": "phase ET waiting for withdrawal", "SFU": "phase ET waiting for withdrawal"}
    withdrawn = expand(PLAN, INFUSION, [Event(EventType.WITHDRAWAL, date(2025, 1, 31))])
    assert withdrawn.phases["ET"] is PhaseState.ACTIVE
    got = {v.code: (v.state, v.target_date, v.window_start, v.window_end, v.anchor, v.reason)
           for v in withdrawn.visits}
    assert got == {
        # M1's window (14-18 February) was still open: cancelled by the withdrawal.
        "M1": (State.CANCELLED, date(2025, 2, 15), date(2025, 2, 12), date(2025, 2, 18),
               "infusion", "withdrawal on 2025-01-31"),
        "M3": (State.CANCELLED, date(2025, 4, 15), date(2025, 4, 8), date(2025, 4, 22),
               "infusion", "withdrawal on 2025-01-31"),
        "M6": (State.CANCELLED, date(2025, 7, 15), date(2025, 7, 1), date(2025, 7, 29),
               "infusion", "withdrawal on 2025-01-31"),
        # Within 14 days of the withdrawal: 31 January to 14 February.
        "ET": (State.PLANNED, date(2025, 1, 31), date(2025, 1, 31), date(2025, 2, 14),
               "withdrawal", None),
        # 30 days after it: 2 March (February 2025 has 28 days), window to 9 March.
        "SFU": (State.PLANNED, date(2025, 3, 2), date(2025, 3, 2), date(2025, 3, 9),
                "withdrawal", None),
    }
    et = next(v for v in withdrawn.visits if v.code == "ET")
    assert et.after_leaving and not et.provisional and et.study_day == 0
    assert et.missed_from is None  # the withdrawal that opened it is no reason to miss it


def test_withdrawal_on_a_leap_day() -> None:
    by_code = _by_code([Event(EventType.WITHDRAWAL, date(2028, 2, 29))])
    et, sfu = by_code["ET"], by_code["SFU"]
    assert (et.target_date, et.window_end) == (date(2028, 2, 29), date(2028, 3, 14))
    assert (sfu.target_date, sfu.window_end) == (date(2028, 3, 30), date(2028, 4, 6))


def test_statuses_follow_the_usual_rules_and_the_left_study_rule_spares_it() -> None:
    events = [Event(EventType.WITHDRAWAL, date(2025, 1, 31))]

    def status(code: str, today: date) -> Status:
        calendar = build_calendar(PLAN, INFUSION, events, today=today)
        return next(v.info.status for v in calendar.visits if v.visit.code == code)

    assert status("ET", date(2025, 1, 31)) is Status.DUE
    assert status("ET", date(2025, 2, 14)) is Status.DUE
    assert status("ET", date(2025, 2, 15)) is Status.OVERDUE  # not missed: no rule says so
    assert status("ET", date(2026, 2, 15)) is Status.OVERDUE
    assert status("SFU", date(2025, 2, 24)) is Status.UPCOMING  # 7 days before 2 March
    # The safety call done: the early-termination visit before it counts as missed.
    done = {"SFU": VisitRecord(State.COMPLETED, date(2025, 3, 3))}
    et = _by_code(events, done)["ET"]
    assert et.missed_from == date(2025, 3, 3)


def test_the_study_grace_period_applies_as_to_any_visit() -> None:
    graced = HEAD.replace("  anchor_day: 0\n", "  anchor_day: 0\n  missed_after: 30 days\n")
    plan = build_plan(parse_protocol(graced + BODY, source="x.yaml"))
    expansion = expand(plan, INFUSION, [Event(EventType.WITHDRAWAL, date(2025, 1, 31))])
    et = next(v for v in expansion.visits if v.code == "ET")
    assert et.missed_from == date(2025, 3, 17)  # window closed 14 February, + 1 + 30 days


def test_only_a_death_closes_it() -> None:
    events = [Event(EventType.WITHDRAWAL, date(2025, 1, 31)),
              Event(EventType.DEATH, date(2025, 2, 20))]
    by_code = _by_code(events)
    # ET's window closed on 14 February, before the death: missed from the death.
    assert (by_code["ET"].state, by_code["ET"].missed_from) == (
        State.PLANNED, date(2025, 2, 20))
    assert (by_code["SFU"].state, by_code["SFU"].reason) == (
        State.CANCELLED, "death on 2025-02-20")
    assert cancelled_on(PLAN, "ET", events) == date(2025, 2, 20)
    assert cancelled_on(PLAN, "M3", events) == date(2025, 1, 31)


def test_other_ways_of_leaving_never_open_it() -> None:
    for ending in (EventType.DEATH, EventType.LOST_TO_FOLLOW_UP, EventType.STUDY_COMPLETED):
        expansion = expand(PLAN, INFUSION, [Event(ending, date(2025, 3, 1))])
        assert expansion.phases["ET"] is PhaseState.NOT_APPLICABLE, ending
        assert {v.state for v in expansion.visits if v.phase == "ET"} == {State.NOT_APPLICABLE}


def test_a_progression_before_the_withdrawal_does_not_close_it() -> None:
    events = [Event(EventType.PROGRESSION, date(2025, 1, 20)),
              Event(EventType.WITHDRAWAL, date(2025, 1, 31))]
    assert expand(PLAN, INFUSION, events).phases["ET"] is PhaseState.ACTIVE
    assert PLAN.phases[0].closes_on == ()


def test_its_visits_may_be_dated_after_the_withdrawal_never_after_a_death() -> None:
    withdrawal = Event(EventType.WITHDRAWAL, date(2025, 1, 31))
    assert visit_date_conflict(date(2025, 2, 5), [withdrawal], after_leaving=True) is None
    assert visit_date_conflict(date(2025, 2, 5), [withdrawal]) == (
        "visit date 2025-02-05 is after the withdrawal (2025-01-31)")
    died = [withdrawal, Event(EventType.DEATH, date(2025, 2, 3))]
    assert visit_date_conflict(date(2025, 2, 5), died, after_leaving=True) == (
        "visit date 2025-02-05 is after death (2025-02-03)")
    done = [("ET", date(2025, 2, 5))]
    assert event_conflict(withdrawal, [], done, None, ["ET", "SFU"]) is None
    refused = event_conflict(withdrawal, [], done, None, [])
    assert refused is not None and refused.message == (
        "visit ET was done on 2025-02-05, after the withdrawal (2025-01-31)")


def test_study_completed_opens_an_end_of_study_visit() -> None:
    body = BODY.replace("condition: {event: withdrawal}", "condition: {event: study_completed}")
    plan = build_plan(parse_protocol(HEAD + body, source="x.yaml"))
    expansion = expand(plan, INFUSION, [Event(EventType.STUDY_COMPLETED, date(2025, 12, 31))])
    et = next(v for v in expansion.visits if v.code == "ET")
    assert (et.state, et.target_date, et.window_end) == (
        State.PLANNED, date(2025, 12, 31), date(2026, 1, 14))
    assert expand(plan, INFUSION, [Event(EventType.WITHDRAWAL, date(2025, 3, 1))]
                  ).phases["ET"] is PhaseState.NOT_APPLICABLE


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=0, max_value=2500), st.one_of(st.none(), st.integers(0, 400)))
def test_no_visit_of_the_phase_before_its_event_nor_cancelled_by_it(
        days: int, death_after: int | None) -> None:
    withdrawal = date(2025, 1, 15) + timedelta(days=days)
    events = [Event(EventType.WITHDRAWAL, withdrawal)]
    if death_after is not None:
        events.append(Event(EventType.DEATH, withdrawal + timedelta(days=death_after)))
    expansion = expand(PLAN, INFUSION, events)
    assert expansion.phases["ET"] is PhaseState.ACTIVE
    for v in expansion.visits:
        if v.phase != "ET":
            continue
        assert v.target_date is not None and v.window_start is not None
        assert v.window_start >= withdrawal and v.target_date >= withdrawal
        assert v.reason is None or not v.reason.startswith("withdrawal")
        if death_after is None:
            assert v.state is State.PLANNED and v.missed_from is None
        elif v.state is State.CANCELLED:
            assert v.reason == f"death on {events[1].date.isoformat()}"
            assert v.window_end is not None and v.window_end >= events[1].date


def test_loader_names_the_events_that_may_open_a_phase() -> None:
    for event in ("death", "lost_to_follow_up", "screen_failure", "withdrawl"):
        wrong = BODY.replace("condition: {event: withdrawal}", f"condition: {{event: {event}}}")
        assert problems(HEAD + wrong) == [
            f'x.yaml:22:24: phases[0].condition.event: "{event}" cannot open a phase; a '
            "phase opens on response, progression, withdrawal or study_completed (after a "
            "death, a loss to follow-up or a screen failure no visit can take place)",
        ]


def test_loader_refuses_values_on_a_withdrawal() -> None:
    wrong = BODY.replace("condition: {event: withdrawal}",
                         "condition: {event: withdrawal, values: [AE]}")
    assert problems(HEAD + wrong) == [
        "x.yaml:22:16: phases[0].condition: a withdrawal carries no value: leave out values",
    ]


def test_loader_refuses_a_phase_closed_by_the_event_that_opens_it() -> None:
    wrong = BODY.replace("    condition: {event: withdrawal}\n",
                         "    condition: {event: withdrawal}\n"
                         "    closes_on: [death, withdrawal]\n")
    assert problems(HEAD + wrong) == [
        "x.yaml:23:16: phases[0].closes_on: a phase opened by withdrawal cannot close on "
        "withdrawal: the event that opens it never closes it (a death does)",
    ]


def test_loader_refuses_progression_stops_after_the_end() -> None:
    phase = BODY.replace("    condition: {event: withdrawal}\n",
                         "    condition: {event: withdrawal}\n    stops_at_progression: true\n")
    visit = BODY.replace("        kind: phone\n",
                         "        kind: phone\n        stops_at_progression: true\n")
    message = ("phases[0]: a phase opened by withdrawal cannot stop at progression: no "
               "progression is recorded after the end of follow-up")
    assert problems(HEAD + phase) == [f"x.yaml:20:5: {message}"]
    assert problems(HEAD + visit) == [f"x.yaml:20:5: {message}"]
