"""How a subject's calendar is laid out on its page: a timeline and spans on one axis.

Presentation only: the dates and statuses come from the services unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.schedule.calendar import EndpointWindow, PeriodSpan
from app.services.subjects.visit_rows import StoredVisit
from app.services.trail import AuditEntry

MIN_BAR_PERCENT = 0.8  # a one-day span on a two-year axis must still be visible


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline: a visit, or the marker of the site's today."""

    visit: StoredVisit | None
    past: bool
    today: bool = False


def timeline(visits: Sequence[StoredVisit], today: date) -> list[Entry]:
    """Visits in date order with a "today" marker before the first one not yet past.

    A visit is past when its target date is before today; undated (pending) visits come
    last, after the marker.
    """
    out: list[Entry] = []
    marked = False
    for v in visits:
        target = v.row.target_date
        past = target is not None and target < today
        if not past and not marked:
            out.append(Entry(None, past=False, today=True))
            marked = True
        out.append(Entry(v, past=past))
    if not marked:
        out.append(Entry(None, past=False, today=True))
    return out


@dataclass(frozen=True, slots=True)
class Bar:
    code: str
    name: str
    kind: str  # "period" or "endpoint"
    start: date | None
    end: date | None
    status: str | None
    note: str | None
    left: float  # percent of the axis
    width: float


@dataclass(frozen=True, slots=True)
class Axis:
    start: date
    end: date
    today: float | None  # percent, None when today is off the axis
    bars: list[Bar]


def axis(periods: Iterable[PeriodSpan], endpoints: Iterable[EndpointWindow],
         today: date) -> Axis | None:
    """Periods and endpoint windows on one shared date axis (None when none is dated)."""
    spans: list[tuple[str, str, str, date | None, date | None, str | None, str | None]] = []
    for p in periods:
        spans.append((p.code, p.name, "period", p.start, p.end, None,
                      "provisional" if p.provisional else None))
    for e in endpoints:
        note = f"met by {e.satisfied_by}" if e.satisfied_by else None
        spans.append((e.code, e.name, "endpoint", e.window_start, e.window_end, e.status.value,
                      note))
    dated = [(s[3], s[4]) for s in spans if s[3] is not None and s[4] is not None]
    if not dated:
        return None
    first = min(start for start, _ in dated if start is not None)
    last = max(end for _, end in dated if end is not None)
    total = (last - first).days + 1

    def percent(day: date) -> float:
        return round(100.0 * (day - first).days / total, 2)

    bars = []
    for code, name, kind, start, end, status, note in spans:
        if start is None or end is None:
            bars.append(Bar(code, name, kind, None, None, status, note, 0.0, 0.0))
            continue
        width = max(MIN_BAR_PERCENT, round(100.0 * ((end - start).days + 1) / total, 2))
        bars.append(Bar(code, name, kind, start, end, status, note,
                        min(percent(start), 100.0 - width), width))
    marker = percent(today) if first <= today <= last else None
    return Axis(first, last, marker, bars)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_short(v)}" for k, v in value.items())
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return f"{len(value)} item{'s' if len(value) != 1 else ''}"
        return ", ".join(str(v) for v in value) or "none"
    return "—" if value is None else str(value)


def changes(entry: AuditEntry) -> list[str]:
    """An audit entry's before/after values as short readable lines."""
    before, after = entry.before or {}, entry.after or {}
    lines = []
    for key in list(dict.fromkeys([*before, *after])):
        if key == "visits_changed":
            lines.append(f"visits moved: {_short(after.get(key))}")
            continue
        old, new = before.get(key), after.get(key)
        if key in before and old != new:
            lines.append(f"{key.replace('_', ' ')}: {_short(old)} → {_short(new)}")
        elif key not in before and new is not None:
            lines.append(f"{key.replace('_', ' ')}: {_short(new)}")
    return lines
