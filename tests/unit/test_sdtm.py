"""SDTM conventions of the pure core: study days without Day 0, VISITNUM (declared,
counted on, unscheduled + .01), EPOCH defaults, USUBJID templates, and the checks of the
protocol fields that carry them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.errors import ScheduleError
from app.schedule.loader import parse_protocol
from app.schedule.plan import build_plan
from app.schedule.sdtm import (
    AttendedVisit,
    study_day,
    subject_visits,
    trial_visits,
    usubjid,
    visit_numbers,
)

REFERENCE = date(2026, 3, 10)

BASE = """
study:
  code: SDTM-T
  title: SDTM conventions
  version: "1"
  target_enrolment: 10
  time_zone: UTC
  anchor_day: {anchor_day}
{study_extra}
anchors:
  - {{name: dose, label: Dose, recorded: at_enrolment}}
visits:
{visits}
"""

VISITS = """\
  - {code: SCR, name: Screening, at: -14 days}
  - {code: D1, name: Dosing, at: day 1}
  - {code: W2, name: Week 2, at: 2 weeks}
  - {code: "M{n}", name: "Month {n}", series: {every: 3 months, from: 3 months, to: 9 months}}
"""


def protocol_text(visits: str = VISITS, study_extra: str = "", anchor_day: int = 1) -> str:
    return BASE.format(visits=visits, study_extra=study_extra, anchor_day=anchor_day)


@pytest.mark.parametrize(("offset", "day"), [
    (-2, -2), (-1, -1), (0, 1), (1, 2), (14, 15), (-365, -365),
])
def test_study_days_have_no_day_zero(offset: int, day: int) -> None:
    assert study_day(REFERENCE + timedelta(days=offset), REFERENCE) == day


def test_visit_numbers_count_on_from_the_previous_declared_one() -> None:
    assert visit_numbers([None, None, None]) == [1, 2, 3]
    assert visit_numbers([10, None, 20, 21, None]) == [10, 11, 20, 21, 22]


def test_trial_visits_numbered_in_protocol_order_with_planned_days_and_epochs() -> None:
    plan = build_plan(parse_protocol(protocol_text(), source="t.yaml"))
    assert [(t.code, t.visitnum, t.visitdy, t.epoch) for t in trial_visits(plan)] == [
        ("SCR", 1, -14, "SCREENING"), ("D1", 2, 1, "TREATMENT"), ("W2", 3, 15, "FOLLOW-UP"),
        # Months from the anchor have no fixed study day.
        ("M3", 4, None, "FOLLOW-UP"), ("M6", 5, None, "FOLLOW-UP"),
        ("M9", 6, None, "FOLLOW-UP"),
    ]


def test_a_declared_visitnum_and_epoch_win_and_a_series_counts_on_from_its_number() -> None:
    visits = """\
  - {code: SCR, name: Screening, at: -14 days, visitnum: 0.5, epoch: RUN-IN}
  - {code: D1, name: Dosing, at: day 1, visitnum: 10}
  - {code: "M{n}", name: "Month {n}", series: {every: 3 months, from: 3 months, to: 6 months},
     visitnum: 100, epoch: LONG-TERM FOLLOW-UP}
  - {code: END, name: End of study, at: 1 year}
"""
    plan = build_plan(parse_protocol(protocol_text(visits), source="t.yaml"))
    assert [(t.code, t.visitnum, t.epoch) for t in trial_visits(plan)] == [
        ("SCR", 0.5, "RUN-IN"), ("D1", 10, "TREATMENT"), ("M3", 100, "LONG-TERM FOLLOW-UP"),
        ("M6", 101, "LONG-TERM FOLLOW-UP"), ("END", 102, "FOLLOW-UP"),
    ]


def test_visitnums_that_collide_are_refused_with_where() -> None:
    visits = """\
  - {code: SCR, name: Screening, at: -14 days}
  - {code: D1, name: Dosing, at: day 1, visitnum: 1}
"""
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(protocol_text(visits), source="t.yaml")
    assert any("visits[1].visitnum: visit number 1 is already taken by the visit at visits[0]"
               in p for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(("field", "value"), [
    ("visitnum", "0"), ("visitnum", "-1"), ("epoch", "treatment"), ("epoch", '""'),
])
def test_bad_visitnum_and_epoch_are_refused(field: str, value: str) -> None:
    visits = f"  - {{code: D1, name: Dosing, at: day 1, {field}: {value}}}\n"
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(protocol_text(visits), source="t.yaml")
    assert any(f"visits[0].{field}" in p for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("template", ["{study}-{site}", "{study}-{patient}", "{subject"])
def test_a_usubjid_template_must_name_the_subject_and_nothing_unknown(template: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_protocol(protocol_text(study_extra=f'  usubjid: "{template}"'), source="t.yaml")
    assert any("study.usubjid" in p for p in caught.value.problems), caught.value.problems


def test_usubjid_from_the_template_or_the_subject_id() -> None:
    protocol = parse_protocol(protocol_text(study_extra='  usubjid: "{study}-{site}-{subject}"'),
                              source="t.yaml")
    assert usubjid(protocol.study.usubjid, study="SDTM-T", site="S01", subject="007") == (
        "SDTM-T-S01-007")
    assert usubjid(None, study="SDTM-T", site="S01", subject="007") == "007"


def test_unscheduled_visits_follow_the_planned_visit_before_them() -> None:
    plan = build_plan(parse_protocol(protocol_text(), source="t.yaml"))
    attended = [
        AttendedVisit("UNS-1", "Before anything", True, REFERENCE - timedelta(days=20)),
        AttendedVisit("D1", "Dosing", False, REFERENCE),
        AttendedVisit("UNS-2", "Fever", True, REFERENCE + timedelta(days=3)),
        AttendedVisit("UNS-3", "Rash", True, REFERENCE + timedelta(days=5), note="rash check"),
        AttendedVisit("W2", "Week 2", False, REFERENCE + timedelta(days=16)),
    ]
    out = subject_visits(attended, trial_visits(plan), REFERENCE)
    assert [(v.visitnum, v.visit, v.epoch, v.study_day, v.description) for v in out] == [
        (0.01, "UNSCHEDULED UNS-1", "SCREENING", -20, "Before anything"),
        (2, "Dosing", "TREATMENT", 1, None),
        (2.01, "UNSCHEDULED UNS-2", "TREATMENT", 4, "Fever"),
        (2.02, "UNSCHEDULED UNS-3", "TREATMENT", 6, "rash check"),
        (3, "Week 2", "FOLLOW-UP", 17, None),
    ]
    # Without a reference start date there are no study days.
    assert {v.study_day for v in subject_visits(attended, trial_visits(plan), None)} == {None}


def test_a_day_zero_protocol_still_exports_sdtm_days() -> None:
    """A CAR-T protocol counts the anchor as Day 0; SDTM's VISITDY of the same visits
    starts at 1."""
    visits = """\
  - {code: D-1, name: Rest, at: day -1}
  - {code: D0, name: Infusion, at: day 0}
  - {code: D14, name: Day 14, at: day 14}
"""
    plan = build_plan(parse_protocol(protocol_text(visits, anchor_day=0), source="t.yaml"))
    assert [(t.code, t.visitdy) for t in trial_visits(plan)] == [
        ("D-1", -1), ("D0", 1), ("D14", 15)]
