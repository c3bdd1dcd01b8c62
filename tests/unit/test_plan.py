"""Flattening a protocol into visit definitions: series, offsets, windows, phases."""

from __future__ import annotations

import pytest

from app.schedule.dates import Offset
from app.schedule.plan import MAIN_PHASE, build_plan
from tests.helpers_schedule import mm_plan, plan_of, protocol, sle_plan


def test_sle_plan_has_the_visit_codes_of_the_issue_in_protocol_order() -> None:
    codes = [v.code for v in sle_plan().visits]
    assert codes == ["D-2", "D-1", "D0", "D14", "D28", "M3", "M6", "M9", "M12", "M18", "M24"]
    assert set(sle_plan().by_code) == set(codes)


def test_sle_offsets_and_windows() -> None:
    by = sle_plan().by_code
    assert by["D-2"].offset == Offset(days=-2)
    assert by["D0"].offset == Offset()
    assert by["D14"].offset == Offset(days=14)
    assert (by["D14"].before_days, by["D14"].after_days) == (2, 2)
    assert (by["D28"].before_days, by["D28"].after_days) == (3, 3)
    assert by["M3"].offset == Offset(months=3)
    assert (by["M3"].before_days, by["M3"].after_days) == (7, 7)
    assert [by[f"M{n}"].offset for n in (6, 9, 12, 18, 24)] == [
        Offset(months=n) for n in (6, 9, 12, 18, 24)
    ]
    assert {(by[f"M{n}"].before_days, by[f"M{n}"].after_days) for n in (6, 9, 12, 18, 24)} == {
        (14, 14)
    }
    assert by["D-2"].optional and by["D-1"].optional and not by["D0"].optional
    assert by["D-2"].kind == "inpatient" and by["D0"].kind == "procedure"
    assert by["M6"].name == "Month 6 clinic visit"
    assert by["M6"].timing == "6 months from infusion"
    assert by["D-2"].timing == "day -2 from infusion"
    assert all(v.anchor == "infusion" and v.phase == MAIN_PHASE for v in sle_plan().visits)


def test_mm_plan_phases_and_progression() -> None:
    plan = mm_plan()
    by = plan.by_code
    hsct = [v.code for v in plan.visits if v.phase == "HSCT"]
    assert hsct == ["HSCT-D0", "HSCT-D14", "HSCT-D28", "HSCT-D100", "HSCT-M6", "HSCT-M12"]
    assert all(by[c].anchor == "transplant" for c in hsct)
    assert by["HSCT-D14"].offset == Offset(days=14)
    assert by["HSCT-M12"].offset == Offset(months=12)
    stopping = {v.code for v in plan.visits if v.stops_at_progression}
    assert stopping == {"M2", "M3", "M9"}
    (phase,) = plan.phases
    assert (phase.code, phase.anchor) == ("HSCT", "transplant")
    assert phase.opens_on == ("CR", "sCR")
    assert phase.closes_on == ("progression",)
    assert by["M6"].assessments == ("ORR", "PFS", "OS")


def test_day_n_is_resolved_under_the_study_convention() -> None:
    visits = [
        {"code": "A", "name": "a", "at": "day 15"},
        {"code": "B", "name": "b", "at": "day -1"},
        {"code": "C", "name": "c", "at": "15 days"},
        {"code": "D", "name": "d", "at": "day 1"},
    ]
    day0 = plan_of(visits, anchor_day=0).by_code
    day1 = plan_of(visits, anchor_day=1).by_code
    assert [day0[c].offset.days for c in "ABCD"] == [15, -1, 15, 1]
    assert [day1[c].offset.days for c in "ABCD"] == [14, -1, 15, 0]


def test_series_in_weeks_with_position_and_asymmetric_window() -> None:
    plan = plan_of(
        [
            {
                "code": "W{n}",
                "name": "Week {n} (visit {i})",
                "series": {"every": "2 weeks", "from": "2 weeks", "to": "8 weeks"},
                "window": {"before": "3 days", "after": "1 week"},
            }
        ]
    )
    assert [v.code for v in plan.visits] == ["W2", "W4", "W6", "W8"]
    assert [v.name for v in plan.visits][-1] == "Week 8 (visit 4)"
    assert [v.offset for v in plan.visits] == [Offset(days=d) for d in (14, 28, 42, 56)]
    assert {(v.before_days, v.after_days) for v in plan.visits} == {(3, 7)}


def test_a_series_stops_at_its_last_point_even_when_the_step_overshoots() -> None:
    plan = plan_of(
        [
            {
                "code": "M{n}",
                "name": "m",
                "series": {"every": "5 months", "from": "3 months", "to": "14 months"},
            }
        ]
    )
    assert [v.code for v in plan.visits] == ["M3", "M8", "M13"]


def test_visit_timed_after_another_visit() -> None:
    plan = plan_of(
        [
            {"code": "BM", "name": "Bone marrow", "at": "2 months"},
            {
                "code": "BM+7",
                "name": "Result review",
                "after_visit": "BM",
                "at": "7 days",
                "window": "1 day",
            },
        ]
    )
    follow = plan.by_code["BM+7"]
    assert follow.anchor is None and follow.after_visit == "BM"
    assert follow.offset == Offset(days=7)
    assert follow.timing == "7 days after BM"


def test_phase_stops_at_progression_applies_to_its_visits() -> None:
    plan = plan_of(
        [{"code": "V1", "name": "v", "at": "day 1"}],
        phases=[
            {
                "code": "P",
                "name": "phase",
                "anchor": "transplant",
                "condition": {"values": ["CR"]},
                "stops_at_progression": True,
                "visits": [{"code": "P1", "name": "p", "at": "day 7"}],
            }
        ],
    )
    assert plan.by_code["P1"].stops_at_progression
    assert plan.by_code["P1"].phase == "P"
    assert not plan.by_code["V1"].stops_at_progression


def test_build_plan_is_cached_per_protocol() -> None:
    visits = [{"code": "A", "name": "a", "at": "day 1"}]
    assert build_plan(protocol(visits)) is build_plan(protocol(visits))
    assert build_plan(protocol(visits)).anchor_day == 0
    assert build_plan(protocol(visits, anchor_day=1)).anchor_day == 1


def test_plan_order_puts_each_visit_after_the_visit_it_is_timed_from() -> None:
    visits = [
        {"code": "C", "name": "c", "after_visit": "B", "at": "1 days"},
        {"code": "A", "name": "a", "at": "day 1"},
        {"code": "B", "name": "b", "after_visit": "A", "at": "7 days"},
    ]
    plan = plan_of(visits)
    assert [v.code for v in plan.visits] == ["C", "A", "B"]
    assert [v.code for v in plan.order] == ["A", "B", "C"]
    assert plan_of(visits[1:2]).order == plan_of(visits[1:2]).visits
    assert plan.by_code["C"].waiting == "waiting for visit B"
    assert plan.by_code["A"].waiting == "waiting for anchor infusion"


def test_plan_refuses_a_visit_timed_after_an_unknown_visit() -> None:
    # The loader reports this with its line; a protocol built by hand gets a clear error.
    with pytest.raises(ValueError, match="timed after unknown visit X"):
        plan_of([{"code": "A", "name": "a", "after_visit": "X", "at": "1 days"}])


def test_plan_order_is_the_visits_themselves_when_nothing_moves() -> None:
    assert sle_plan().order is sle_plan().visits
    assert mm_plan().order is mm_plan().visits
