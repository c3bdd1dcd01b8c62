"""Properties of the calendar engine, checked with Hypothesis on generated protocols.

Anchor dates are bounded (1990..2090) so that every offset stays inside the calendar;
the example counts are modest so that the file runs in a few seconds.
"""

from __future__ import annotations

import calendar as cal
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.schedule.dates import add_months, study_day
from app.schedule.durations import Duration, Unit
from app.schedule.expand import AnchorDate, VisitRecord, expand
from app.schedule.plan import Plan
from app.schedule.status import State, Status, StatusInfo, visit_status
from tests.helpers_schedule import actual, expanded, mm_plan, plan_of, sle_plan

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

anchor_dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
conventions = st.sampled_from([0, 1])
window_days = st.integers(min_value=0, max_value=30)


@st.composite
def timings(draw: st.DrawFn) -> tuple[str, Unit, int]:
    """A visit's timing as written: "day N", "N days", "N weeks" or "N months"."""
    unit = draw(st.sampled_from(["study_day", "days", "weeks", "months"]))
    if unit == "study_day":
        n = draw(st.integers(min_value=-60, max_value=800))
        return f"day {n}", Unit.DAYS, n
    if unit == "days":
        n = draw(st.integers(min_value=-60, max_value=800))
        return f"{n} days", Unit.DAYS, n
    if unit == "weeks":
        n = draw(st.integers(min_value=-8, max_value=110))
        return f"{n} weeks", Unit.WEEKS, n
    n = draw(st.integers(min_value=0, max_value=60))
    return f"{n} months", Unit.MONTHS, n


@dataclass(frozen=True)
class Generated:
    plan: Plan
    units: dict[str, Unit]  # code -> unit of its offset
    amounts: dict[str, int]


@st.composite
def protocols(draw: st.DrawFn, *, chained: bool = True) -> Generated:
    """A protocol of 1..12 visits with random timings and asymmetric windows; some
    visits (when ``chained``) are timed after an earlier visit."""
    convention = draw(conventions)
    count = draw(st.integers(min_value=1, max_value=12))
    visits: list[dict[str, Any]] = []
    units: dict[str, Unit] = {}
    amounts: dict[str, int] = {}
    for i in range(count):
        text, unit, amount = draw(timings())
        if convention == 1 and text == "day 0":
            text = "day 1"  # there is no Day 0 under the Day 1 convention
        code = f"V{i}"
        visit: dict[str, Any] = {
            "code": code,
            "name": f"visit {i}",
            "at": text,
            "window": {"before": f"{draw(window_days)} days", "after": f"{draw(window_days)} days"},
            "optional": draw(st.booleans()),
        }
        if chained and i > 0 and unit is not Unit.MONTHS and draw(st.booleans()):
            visit["after_visit"] = f"V{draw(st.integers(min_value=0, max_value=i - 1))}"
        visits.append(visit)
        units[code], amounts[code] = unit, amount
    return Generated(plan_of(visits, anchor_day=convention), units, amounts)


def _dated(plan: Plan, anchor: date) -> dict[str, Any]:
    return expanded(plan, actual(infusion=anchor))


@FAST
@given(protocols(), anchor_dates, st.booleans())
def test_every_target_lies_in_its_window(gen: Generated, anchor: date, planned: bool) -> None:
    anchors = {"infusion": AnchorDate(anchor, actual=not planned)}
    for v in expand(gen.plan, anchors).visits:
        assert v.target_date is not None and v.window_start is not None
        assert v.window_end is not None
        assert v.window_start <= v.target_date <= v.window_end
        assert v.provisional == (planned or v.code in _timed_after_visits(gen.plan))


def _timed_after_visits(plan: Plan) -> set[str]:
    return {v.code for v in plan.visits if v.after_visit is not None}


@FAST
@given(anchor_dates, anchor_dates)
def test_every_target_of_the_seed_trials_lies_in_its_window(infusion: date, hsct: date) -> None:
    for plan in (sle_plan(), mm_plan()):
        v = expanded(plan, actual(infusion=infusion, transplant=hsct))
        for x in v.values():
            assert x.target_date is not None and x.window_start and x.window_end
            assert x.window_start <= x.target_date <= x.window_end


@FAST
@given(
    protocols(chained=False), anchor_dates, st.integers(min_value=-400, max_value=400), st.data()
)
def test_shifting_the_anchor_shifts_day_visits_and_leaves_done_visits(
    gen: Generated, anchor: date, shift: int, data: st.DataObject
) -> None:
    before = _dated(gen.plan, anchor)
    # Some visits are done: their outcome is recorded, never their planned dates.
    done_codes = data.draw(st.sets(st.sampled_from(sorted(before))), label="done")
    records: dict[str, VisitRecord] = {}
    for code in sorted(done_codes):
        v = before[code]
        lateness = data.draw(st.integers(min_value=-40, max_value=40), label=f"{code} lateness")
        missed = data.draw(st.booleans(), label=f"{code} missed")
        assert v.target_date is not None
        records[code] = VisitRecord(
            State.MISSED if missed else State.COMPLETED,
            None if missed else v.target_date + timedelta(days=lateness),
        )
    moved = anchor + timedelta(days=shift)
    old = expanded(gen.plan, actual(infusion=anchor), records=records)
    new = expanded(gen.plan, actual(infusion=moved), records=records)
    step = timedelta(days=shift)
    for code, a in new.items():
        b = old[code]
        if code in records:  # done: the outcome stays, the dates are re-evaluated
            assert (a.actual_date, a.state) == (b.actual_date, b.state)
        assert a.target_date and b.target_date and a.window_start and b.window_start
        assert a.window_end and b.window_end
        if gen.units[code] is Unit.MONTHS:
            assert a.target_date == add_months(moved, gen.amounts[code])
        else:
            assert a.target_date - b.target_date == step
            assert a.window_start - b.window_start == step
            assert a.window_end - b.window_end == step
            assert a.study_day == b.study_day


@FAST
@given(protocols(), anchor_dates, st.integers(min_value=-400, max_value=400), st.data())
def test_what_hangs_on_a_done_visit_does_not_move_with_the_anchor(
    gen: Generated, anchor: date, shift: int, data: st.DataObject
) -> None:
    before = _dated(gen.plan, anchor)
    done_codes = data.draw(st.sets(st.sampled_from(sorted(before))), label="done")
    records = {
        code: VisitRecord(State.COMPLETED, before[code].target_date) for code in done_codes
    }
    old = expanded(gen.plan, actual(infusion=anchor), records=records)
    new = expanded(gen.plan, actual(infusion=anchor + timedelta(days=shift)), records=records)
    for code in old:
        if any(a in records for a in _ancestors(gen.plan, code)):
            # Timed from the actual date of a completed visit, which the anchor never moves.
            assert new[code].target_date == old[code].target_date
            assert new[code].window_end == old[code].window_end
            if gen.plan.by_code[code].after_visit in records:
                # Timed straight from a completed visit: nothing left to move.
                assert not new[code].provisional
        if code in records and not _ancestors(gen.plan, code) \
                and gen.units[code] is not Unit.MONTHS:
            # The completed visit itself is re-evaluated: its target follows the anchor.
            assert new[code].actual_date == old[code].actual_date
            assert new[code].target_date - old[code].target_date == timedelta(days=shift)


def _ancestors(plan: Plan, code: str) -> list[str]:
    """The visits a visit is timed after, nearest first."""
    out = []
    after = plan.by_code[code].after_visit
    while after is not None:
        out.append(after)
        after = plan.by_code[after].after_visit
    return out


@FAST
@given(anchor_dates, conventions)
def test_month_visits_never_drift(anchor: date, convention: int) -> None:
    plan = _monthly(convention)
    visits = _dated(plan, anchor)
    for n in range(1, 61):
        target = visits[f"M{n}"].target_date
        assert target == add_months(anchor, n)
        months = anchor.year * 12 + anchor.month - 1 + n
        year, month = divmod(months, 12)
        assert (target.year, target.month) == (year, month + 1)
        assert target.day == min(anchor.day, cal.monthrange(year, month + 1)[1])
        assert visits[f"M{n}"].study_day == study_day(anchor, target, convention)


def _monthly(convention: int) -> Plan:
    series = {"every": "1 months", "from": "1 months", "to": "60 months"}
    return plan_of([{"code": "M{n}", "name": "m", "series": series}], anchor_day=convention)


months = st.integers(min_value=-240, max_value=240)


@settings(max_examples=150, deadline=None)
@given(anchor_dates, months, months)
def test_chained_months_differ_from_direct_months_only_by_clamping(
    start: date, a: int, b: int
) -> None:
    middle = add_months(start, a)
    chained = add_months(middle, b)
    direct = add_months(start, a + b)
    assert (chained.year, chained.month) == (direct.year, direct.month)
    # Chaining can only lose days, at the end of a short intermediate month.
    last_of_middle = cal.monthrange(middle.year, middle.month)[1]
    assert chained.day == min(direct.day, last_of_middle)
    if start.day <= 28:
        assert chained == direct
    assert add_months(start, 0) == start


@settings(max_examples=150, deadline=None)
@given(anchor_dates, st.integers(min_value=-1000, max_value=1000), conventions)
def test_study_day_round_trips_with_day_offsets(anchor: date, n: int, convention: int) -> None:
    assume(not (convention == 1 and n == 0))
    offset = Duration(n, Unit.DAYS, study_day=True).offset_days_for(convention)
    assert study_day(anchor, anchor + timedelta(days=offset), convention) == n


@settings(max_examples=150, deadline=None)
@given(anchor_dates, st.integers(min_value=-1000, max_value=1000), conventions)
def test_every_date_has_a_study_day_that_leads_back_to_it(
    anchor: date, delta: int, convention: int
) -> None:
    day = anchor + timedelta(days=delta)
    number = study_day(anchor, day, convention)
    assert number != 0 or convention == 0
    back = Duration(number, Unit.DAYS, study_day=True).offset_days_for(convention)
    assert anchor + timedelta(days=back) == day


RANK = {Status.SCHEDULED: 0, Status.UPCOMING: 1, Status.DUE: 2, Status.OVERDUE: 3}


def _planned_status(start: date, end: date, today: date, upcoming: int) -> StatusInfo:
    return visit_status(
        state=State.PLANNED,
        window_start=start,
        window_end=end,
        actual_date=None,
        optional=False,
        today=today,
        upcoming_days=upcoming,
    )


@settings(max_examples=200, deadline=None)
@given(
    anchor_dates,
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=90),
    st.lists(st.integers(min_value=-200, max_value=200), min_size=2, max_size=30),
)
def test_status_only_moves_forward_as_today_increases(
    start: date, length: int, upcoming: int, offsets: list[int]
) -> None:
    end = start + timedelta(days=length)
    previous = -1
    for offset in sorted(offsets):
        today = start + timedelta(days=offset)
        info = _planned_status(start, end, today, upcoming)
        assert info == _planned_status(start, end, today, upcoming)  # a function of the date
        rank = RANK[info.status]
        assert rank >= previous
        previous = rank
        assert (info.status is Status.DUE) == (start <= today <= end)
        assert (info.status is Status.OVERDUE) == (today > end)
        assert (info.status is Status.UPCOMING) == (
            start - timedelta(days=upcoming) <= today < start
        )
        if info.status is Status.OVERDUE:
            assert info.days_overdue == (today - end).days >= 1
        else:
            assert info.days_overdue is None


@FAST
@given(anchor_dates, st.integers(min_value=-60, max_value=400))
def test_completed_status_does_not_depend_on_today(start: date, later: int) -> None:
    done_on = start + timedelta(days=later % 40)
    end = start + timedelta(days=20)
    statuses = {
        visit_status(
            state=State.COMPLETED,
            window_start=start,
            window_end=end,
            actual_date=done_on,
            optional=False,
            today=start + timedelta(days=d),
            upcoming_days=7,
        )
        for d in (later, later + 1, later + 365)
    }
    assert len(statuses) == 1
    (info,) = statuses
    assert info.status in (Status.COMPLETED, Status.COMPLETED_OUT_OF_WINDOW)
    assert (info.days_late is not None) == (done_on > end)
