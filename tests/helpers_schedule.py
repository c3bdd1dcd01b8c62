"""Builders for tests of the pure calendar engine: protocols from dicts, calendars by code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from app.schedule.calendar import Calendar, CalendarVisit, build_calendar
from app.schedule.expand import (
    AnchorDate,
    ExpandedVisit,
    VisitRecord,
    expand,
)
from app.schedule.language import Protocol
from app.schedule.lifecycle import Event
from app.schedule.loader import load_protocol
from app.schedule.plan import Plan, build_plan

ROOT = Path(__file__).resolve().parent.parent
SLE_FILE = ROOT / "schedules" / "ucart-sle.yaml"
MM_FILE = ROOT / "schedules" / "cart-allo-hsct-rrmm.yaml"


@cache
def sle_plan() -> Plan:
    return build_plan(load_protocol(SLE_FILE))


@cache
def mm_plan() -> Plan:
    return build_plan(load_protocol(MM_FILE))


def protocol(
    visits: Sequence[Mapping[str, Any]],
    *,
    anchor_day: int = 0,
    upcoming_days: int = 7,
    anchors: Sequence[str] = ("infusion", "transplant"),
    phases: Sequence[Mapping[str, Any]] = (),
    endpoints: Sequence[Mapping[str, Any]] = (),
    periods: Sequence[Mapping[str, Any]] = (),
    missed_after: str | None = None,
) -> Protocol:
    """A minimal valid protocol around the given visits (the first anchor is the default)."""
    return Protocol.model_validate(
        {
            "study": {
                "code": "T-1",
                "title": "Test study",
                "version": "1",
                "target_enrolment": 10,
                "time_zone": "Asia/Shanghai",
                "anchor_day": anchor_day,
                "upcoming_days": upcoming_days,
                **({"missed_after": missed_after} if missed_after else {}),
            },
            "anchors": [{"name": a, "label": a, "recorded": "later"} for a in anchors],
            "visits": list(visits),
            "phases": list(phases),
            "endpoints": list(endpoints),
            "periods": list(periods),
        }
    )


def plan_of(visits: Sequence[Mapping[str, Any]], **kwargs: Any) -> Plan:
    return build_plan(protocol(visits, **kwargs))


def actual(**anchors: date) -> dict[str, AnchorDate]:
    return {name: AnchorDate(d) for name, d in anchors.items()}


def expanded(
    plan: Plan,
    anchors: Mapping[str, AnchorDate],
    events: Sequence[Event] = (),
    records: Mapping[str, VisitRecord] | None = None,
) -> dict[str, ExpandedVisit]:
    return {v.code: v for v in expand(plan, anchors, events, records).visits}


def calendar(
    plan: Plan,
    anchors: Mapping[str, AnchorDate],
    events: Sequence[Event] = (),
    records: Mapping[str, VisitRecord] | None = None,
    *,
    today: date,
) -> tuple[Calendar, dict[str, CalendarVisit]]:
    cal = build_calendar(plan, anchors, events, records, today=today)
    return cal, {v.visit.code: v for v in cal.visits}
