"""Which visits cover a visit that ``skip_within`` skips (``covered_by``): a survival
phone call does not stand in for a yearly clinic visit."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.schedule.covering import WITHOUT_SKIP, CoveredBy
from app.schedule.lifecycle import Event, EventType
from app.schedule.loader import parse_protocol
from app.schedule.plan import Plan
from app.schedule.status import State
from tests.helpers_schedule import actual, expanded, plan_of
from tests.unit.test_loader import HEAD, problems

INFUSION = date(2025, 3, 10)  # Day 0
PROGRESSION = Event(EventType.PROGRESSION, date(2025, 12, 20))
MAIN_CLINIC = {"phases": ["main"], "kinds": ["clinic"]}


def visits(covered_by: dict[str, Any] | None) -> list[dict[str, Any]]:
    yearly = {"code": "LTFU-Y{n}", "name": "Long-term follow-up, year {n}",
              "series": {"every": "1 year", "from": "1 year", "to": "4 years"},
              "window": "30 days", "skip_within": "30 days"}
    return [
        {"code": "CALL", "name": "Call before month 12", "at": "51 weeks", "kind": "phone"},
        {"code": "M{n}", "name": "Month {n}", "window": "14 days", "stops_at_progression": True,
         "series": {"every": "12 months", "from": "12 months", "to": "24 months"}},
        {"code": "T36", "name": "Month 36 call", "at": "36 months", "kind": "phone"},
        yearly | ({} if covered_by is None else {"covered_by": covered_by}),
    ]


SURV = {"code": "SURV", "name": "Survival follow-up", "condition": {"event": "progression"},
        "visits": [{"code": "SURV{n}", "name": "Survival call {n}", "kind": "phone",
                    "window": "14 days",
                    "series": {"every": "3 months", "from": "3 months", "to": "24 months"}}]}


@cache
def plan(rule: tuple[tuple[str, tuple[str, ...]], ...] | None) -> Plan:
    covered_by = None if rule is None else {key: list(values) for key, values in rule}
    return plan_of(visits(covered_by), phases=[SURV])


def rule_of(covered_by: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((key, tuple(values)) for key, values in sorted(covered_by.items()))


def reasons(p: Plan, *events: Event) -> dict[str, str | None]:
    got = expanded(p, actual(infusion=INFUSION), events=list(events))
    return {code: v.reason if v.state is State.NOT_APPLICABLE else None
            for code, v in got.items() if code.startswith("LTFU")}


# -- the engine ---------------------------------------------------------------------------

def test_without_covered_by_any_visit_covers_as_before() -> None:
    # The call of 2026-03-02 (51 weeks) is 8 days before year 1 (2026-03-10); the phone
    # visit T36 falls on year 3's day (2028-03-10).
    assert reasons(plan(None)) == {
        "LTFU-Y1": "covered by visit CALL (2026-03-02)",
        "LTFU-Y2": "covered by visit M24 (2027-03-10)",
        "LTFU-Y3": "covered by visit T36 (2028-03-10)",
        "LTFU-Y4": None,
    }


def test_only_a_main_clinic_visit_covers() -> None:
    assert reasons(plan(rule_of(MAIN_CLINIC))) == {
        "LTFU-Y1": "covered by visit M12 (2026-03-10)",  # not the earlier call
        "LTFU-Y2": "covered by visit M24 (2027-03-10)",
        "LTFU-Y3": None,  # T36 is a phone call
        "LTFU-Y4": None,
    }


def test_a_survival_call_after_progression_covers_nothing() -> None:
    # Progression on 2025-12-20 cancels M12 and M24; the survival calls of 2026-03-20
    # and 2027-03-20 fall 10 days after years 1 and 2.
    assert reasons(plan(None), PROGRESSION) == {
        "LTFU-Y1": "covered by visit CALL (2026-03-02)",
        "LTFU-Y2": "covered by visit SURV15 (2027-03-20)",
        "LTFU-Y3": "covered by visit T36 (2028-03-10)",
        "LTFU-Y4": None,
    }
    assert reasons(plan(rule_of(MAIN_CLINIC)), PROGRESSION) == dict.fromkeys(
        ["LTFU-Y1", "LTFU-Y2", "LTFU-Y3", "LTFU-Y4"])


def test_named_visits_and_phases_cover() -> None:
    assert reasons(plan(rule_of({"visits": ["M24"]}))) == {
        "LTFU-Y1": None, "LTFU-Y2": "covered by visit M24 (2027-03-10)",
        "LTFU-Y3": None, "LTFU-Y4": None,
    }
    assert reasons(plan(rule_of({"phases": ["SURV"]})), PROGRESSION) == {
        "LTFU-Y1": "covered by visit SURV3 (2026-03-20)",
        "LTFU-Y2": "covered by visit SURV15 (2027-03-20)",
        "LTFU-Y3": None, "LTFU-Y4": None,  # the calls of 2027-12-20 and 2028-06-20
    }


RULES = [
    {"phases": list(phases), "kinds": list(kinds)} if phases and kinds
    else {"phases": list(phases)} if phases else {"kinds": list(kinds)}
    for phases in ((), ("main",), ("SURV",), ("main", "SURV"))
    for kinds in ((), ("clinic",), ("phone",), ("clinic", "phone"))
    if phases or kinds
]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(RULES), st.integers(min_value=0, max_value=2000),
       st.none() | st.integers(min_value=1, max_value=1500))
def test_a_visit_is_covered_exactly_by_the_visits_its_rule_names(
    covered_by: dict[str, list[str]], days: int, progressed: int | None,
) -> None:
    """Never made not applicable by a visit outside covered_by, and always by one inside
    it that is dated within 30 days."""
    p = plan(rule_of(covered_by))
    rule = CoveredBy.model_validate(covered_by)
    infusion = date(2020, 1, 1) + timedelta(days=days)
    events = [] if progressed is None else [
        Event(EventType.PROGRESSION, infusion + timedelta(days=progressed))]
    got = expanded(p, actual(infusion=infusion), events=events)
    dated = [(v.actual_date or v.target_date, v) for v in got.values()
             if v.state is State.PLANNED and not v.code.startswith("LTFU")
             and v.target_date is not None]
    for v in got.values():
        if not v.code.startswith("LTFU") or v.target_date is None:
            continue
        near = [(day, o) for day, o in dated if abs((day - v.target_date).days) <= 30
                and rule.covers(p.by_code[o.code].phase, p.by_code[o.code].kind, o.code)]
        if v.state is State.NOT_APPLICABLE:
            assert v.reason is not None
            code = v.reason.split()[3]
            assert (got[code].target_date, got[code]) in near
        else:
            assert not near


# -- the loader -----------------------------------------------------------------------------

FILE = HEAD + """\
visits:
  - {code: "M{n}", name: Month, series: {every: 12 months, from: 12 months, to: 24 months}}
  - code: LTFU-Y{n}
    name: Year {n}
    series: {every: 1 year, from: 1 year, to: 3 years}
    skip_within: 30 days
    covered_by: {phases: [main], kinds: [clinic]}
phases:
  - code: SURV
    name: Survival
    condition: {event: progression}
    visits:
      - {code: S1, name: Call, at: 3 months, kind: phone}
"""


def test_a_file_with_covered_by_loads() -> None:
    p = parse_protocol(FILE, source="x.yaml")
    assert p.visits[1].covered_by == CoveredBy(phases=("main",), kinds=("clinic",))


def test_covered_by_names_phases_kinds_and_visits_that_exist() -> None:
    text = FILE.replace("{phases: [main], kinds: [clinic]}", "{phases: [main, SRUV], "
                        "kinds: [clinic, call], visits: [M12, M13, LTFU-Y2]}")
    assert problems(text) == [
        'x.yaml:21:33: visits[1].covered_by.phases[1]: unknown phase "SRUV" (did you mean'
        ' "SURV"?); phases: SURV, main',
        "x.yaml:21:56: visits[1].covered_by.kinds[1]: must be 'clinic', 'phone', 'procedure',"
        """ 'inpatient' or 'home', not "call\"""",
        'x.yaml:21:77: visits[1].covered_by.visits[1]: unknown visit "M13" (did you mean "M12"?)',
        "x.yaml:21:82: visits[1].covered_by.visits[2]: visit LTFU-Y2 has skip_within itself,"
        " so it never covers",
    ]


def test_covered_by_without_skip_within() -> None:
    text = FILE.replace("    skip_within: 30 days\n", "")
    assert problems(text) == [f"x.yaml:20:17: visits[1].covered_by: {WITHOUT_SKIP}"]


def test_covered_by_names_something() -> None:
    assert problems(FILE.replace("{phases: [main], kinds: [clinic]}", "{}")) == [
        "x.yaml:21:17: visits[1].covered_by: give at least one of phases, kinds or visits"]
    assert problems(FILE.replace("[main], kinds: [clinic]", "[main], kinds: []")) == [
        "x.yaml:21:17: visits[1].covered_by: an empty list lets no visit cover (leave the key"
        " out to let any)"]
