"""Golden calendars of both seed trials, compared exactly with the JSON under tests/golden/.

When a change of the engine or of a seed schedule is meant to change a calendar,
regenerate the files and review the diff::

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_golden.py

A few values of each file are also checked by hand below, so that regenerating can
never silently accept a wrong date.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.schedule.calendar import Calendar, build_calendar
from app.schedule.expand import AnchorDate, VisitRecord
from app.schedule.lifecycle import Event, EventType
from app.schedule.loader import load_protocol
from app.schedule.plan import build_plan
from app.schedule.status import State
from tests.helpers_schedule import MM_FILE, ROOT, SLE_FILE

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not strftime: locale-free


@dataclass(frozen=True)
class Case:
    name: str
    schedule: Path
    anchors: dict[str, AnchorDate]
    as_of: date
    events: tuple[Event, ...] = ()
    records: dict[str, VisitRecord] = field(default_factory=dict)


def d(text: str) -> date:
    return date.fromisoformat(text)


def done(on: str, target: str, start: str, end: str, *assessments: str) -> VisitRecord:
    return VisitRecord(State.COMPLETED, d(on), frozenset(assessments))


CASES = [
    Case("ucart-sle", SLE_FILE, {"infusion": AnchorDate(d("2025-03-26"))}, d("2025-04-09")),
    Case(
        "ucart-sle-leap-year",
        SLE_FILE,
        {"infusion": AnchorDate(d("2023-11-30"))},
        d("2024-02-29"),
    ),
    Case(
        "ucart-sle-followed",
        SLE_FILE,
        {"infusion": AnchorDate(d("2025-03-26")), "consent": AnchorDate(d("2025-03-01"))},
        d("2025-06-20"),
        records={
            "D0": done("2025-03-26", "2025-03-26", "2025-03-26", "2025-03-26", "AE"),
            "D14": done("2025-04-13", "2025-04-09", "2025-04-07", "2025-04-11", "AE"),
            "D28": VisitRecord(State.MISSED),
        },
    ),
    Case(
        "cart-allo-hsct-rrmm",
        MM_FILE,
        {"infusion": AnchorDate(d("2025-03-26")), "transplant": AnchorDate(d("2025-07-01"))},
        d("2025-09-01"),
        events=(Event(EventType.RESPONSE, d("2025-05-20"), "CR"),),
    ),
    Case(
        "cart-allo-hsct-rrmm-pending",
        MM_FILE,
        {"infusion": AnchorDate(d("2025-03-26"))},
        d("2025-05-01"),
    ),
    Case(
        "cart-allo-hsct-rrmm-progression",
        MM_FILE,
        {"infusion": AnchorDate(d("2025-03-26"))},
        d("2025-06-01"),
        events=(Event(EventType.PROGRESSION, d("2025-05-10")),),
    ),
]


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def to_json(case: Case, cal: Calendar) -> dict[str, Any]:
    """Everything a calendar says, as plain JSON (inputs included, to read the file alone)."""
    return {
        "schedule": case.schedule.relative_to(ROOT).as_posix(),
        "anchors": {
            name: {"date": a.date.isoformat(), "actual": a.actual}
            for name, a in case.anchors.items()
        },
        "events": [
            {"type": e.type.value, "date": e.date.isoformat(), "value": e.value}
            for e in case.events
        ],
        "records": {
            code: {
                "state": r.state.value,
                "actual_date": _iso(r.actual_date),
                "assessments": sorted(r.assessments),
            }
            for code, r in case.records.items()
        },
        "as_of": cal.as_of.isoformat(),
        "phases": {code: state.value for code, state in cal.phases.items()},
        "visits": [
            {
                "code": v.code,
                "name": v.name,
                "phase": v.phase,
                "kind": v.kind,
                "optional": v.optional,
                "anchor": v.anchor,
                "target_date": _iso(v.target_date),
                "weekday": None if v.target_date is None else WEEKDAYS[v.target_date.weekday()],
                "window_start": _iso(v.window_start),
                "window_end": _iso(v.window_end),
                "study_day": v.study_day,
                "provisional": v.provisional,
                "state": v.state.value,
                "status": cv.info.status.value,
                "days_overdue": cv.info.days_overdue,
                "days_early": cv.info.days_early,
                "days_late": cv.info.days_late,
                "days_from_target": cv.info.days_from_target,
                "actual_date": _iso(v.actual_date),
                "missed_from": _iso(v.missed_from),
                "reason": v.reason,
            }
            for cv in cal.visits
            for v in (cv.visit,)
        ],
        "periods": [
            {
                "code": p.code,
                "anchor": p.anchor,
                "start": _iso(p.start),
                "end": _iso(p.end),
                "provisional": p.provisional,
            }
            for p in cal.periods
        ],
        "endpoints": [
            {
                "code": e.code,
                "target_date": _iso(e.target_date),
                "window_start": _iso(e.window_start),
                "window_end": _iso(e.window_end),
                "status": e.status.value,
                "satisfied_by": e.satisfied_by,
                "provisional": e.provisional,
            }
            for e in cal.endpoints
        ],
    }


def compute(case: Case) -> dict[str, Any]:
    plan = build_plan(load_protocol(case.schedule))
    cal = build_calendar(plan, case.anchors, case.events, case.records, today=case.as_of)
    return to_json(case, cal)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_calendar(case: Case) -> None:
    path = GOLDEN / f"{case.name}.json"
    actual = compute(case)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path.name} is missing: run UPDATE_GOLDEN=1 pytest {__file__}")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected


def golden(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def visits(name: str) -> dict[str, dict[str, Any]]:
    return {v["code"]: v for v in golden(name)["visits"]}


def test_golden_files_are_exactly_the_cases() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(c.name for c in CASES)


# Values checked by hand, independently of the engine.


def test_golden_sle_by_hand() -> None:
    v = visits("ucart-sle")
    assert " ".join(v) == "D-2 D-1 D0 D14 D28 M3 M6 M9 M12 M18 M24"
    assert v["D-2"]["target_date"] == "2025-03-24" and v["D-2"]["weekday"] == "Mon"
    assert v["D-2"]["study_day"] == -2
    assert v["D0"]["target_date"] == "2025-03-26" and v["D0"]["weekday"] == "Wed"
    assert v["D14"]["target_date"] == "2025-04-09"
    assert (v["D14"]["window_start"], v["D14"]["window_end"]) == ("2025-04-07", "2025-04-11")
    assert v["D14"]["status"] == "due"
    assert v["D28"]["target_date"] == "2025-04-23"  # 26 Mar + 28 days
    assert v["M3"]["target_date"] == "2025-06-26" and v["M3"]["study_day"] == 92
    assert (v["M6"]["window_start"], v["M6"]["window_end"]) == ("2025-09-12", "2025-10-10")
    assert v["M24"]["target_date"] == "2027-03-26" and v["M24"]["study_day"] == 730
    assert v["D0"]["status"] == "overdue" and v["D0"]["days_overdue"] == 14
    assert v["D-2"]["status"] == "not_applicable"  # optional, its day has passed
    periods = {p["code"]: (p["start"], p["end"]) for p in golden("ucart-sle")["periods"]}
    assert periods["INPATIENT"] == ("2025-03-26", "2025-04-02")
    assert periods["NEAR-SITE"] == ("2025-03-26", "2025-04-23")
    assert periods["AE-WINDOW"] == ("2025-03-26", "2025-06-26")


def test_golden_sle_leap_year_by_hand() -> None:
    v = visits("ucart-sle-leap-year")
    assert v["M3"]["target_date"] == "2024-02-29" and v["M3"]["weekday"] == "Thu"
    assert v["M3"]["status"] == "due"
    assert v["M6"]["target_date"] == "2024-05-30"
    assert v["M24"]["target_date"] == "2025-11-30"


def test_golden_sle_followed_by_hand() -> None:
    v = visits("ucart-sle-followed")
    assert v["D0"]["status"] == "completed"
    assert (v["D14"]["status"], v["D14"]["days_late"]) == ("completed_out_of_window", 2)
    assert v["D28"]["status"] == "missed"
    assert v["M3"]["status"] == "due"  # window 2025-06-19 .. 2025-07-03
    assert v["M6"]["status"] == "scheduled"


def test_golden_mm_by_hand() -> None:
    data = golden("cart-allo-hsct-rrmm")
    v = visits("cart-allo-hsct-rrmm")
    assert data["phases"] == {"HSCT": "active"}
    assert v["HSCT-D0"]["target_date"] == "2025-07-01" and v["HSCT-D0"]["anchor"] == "transplant"
    assert v["HSCT-D14"]["target_date"] == "2025-07-15"  # transplant + 14 days
    assert v["HSCT-D14"]["window_start"] == "2025-07-12"
    assert v["HSCT-D14"]["window_end"] == "2025-07-18"
    assert v["HSCT-D100"]["target_date"] == "2025-10-09"
    assert v["HSCT-M6"]["target_date"] == "2026-01-01"
    assert v["M2"]["target_date"] == "2025-05-26" and v["M6"]["target_date"] == "2025-09-26"
    assert v["M6"]["status"] == "scheduled"  # window opens 2025-09-12, upcoming from 09-05
    assert v["HSCT-D28"]["status"] == "overdue" and v["HSCT-D28"]["days_overdue"] == 31
    endpoints = {e["code"]: e for e in data["endpoints"]}
    assert endpoints["ORR@6 months"]["window_start"] == "2025-09-12"
    assert endpoints["OS@24 months"]["target_date"] == "2027-03-26"


def test_golden_mm_pending_and_progression_by_hand() -> None:
    pending = visits("cart-allo-hsct-rrmm-pending")
    assert golden("cart-allo-hsct-rrmm-pending")["phases"] == {"HSCT": "pending"}
    assert {pending[c]["status"] for c in pending if c.startswith("HSCT")} == {"pending"}
    assert pending["HSCT-D14"]["target_date"] is None
    progressed = visits("cart-allo-hsct-rrmm-progression")
    assert golden("cart-allo-hsct-rrmm-progression")["phases"] == {"HSCT": "not_applicable"}
    assert {progressed[c]["status"] for c in progressed if c.startswith("HSCT")} == {
        "not_applicable"
    }
    assert [progressed[c]["status"] for c in ("M2", "M3", "M9")] == ["cancelled"] * 3
    assert progressed["M6"]["status"] == "scheduled"
