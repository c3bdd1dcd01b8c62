"""The check of visits without a window (``window: none``): each needs a horizon, the
span it is due for (``due_for``), or a later visit of its schedule that is always dated
when it is, so that the day before that visit can end it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import ValidationError

from app.schedule.check_context import CheckContext, VisitEntry, as_duration, as_text
from app.schedule.durations import Duration
from app.schedule.plan import resolve
from app.schedule.timing import UNGRADED, Series

# Any date shows the order of two offsets from one anchor; a 31st shows month clamping
# at its worst (as the period check does).
_REFERENCE = date(2001, 1, 31)

NO_HORIZON = (
    "a visit without a window is due until due_for or the day before the next visit of "
    "its schedule: give due_for, or a later visit timed from the same anchor (or after "
    "this one)"
)


def _points(raw: dict[str, Any]) -> list[Duration] | None:
    """The entry's time points; None when they do not parse (reported elsewhere)."""
    if "series" in raw:
        try:
            return Series.model_validate(raw["series"]).points()
        except ValidationError:
            return None
    at = raw.get("at")
    parsed = [as_duration(p) for p in (at if isinstance(at, list) else [at])]
    return None if not parsed or any(d is None for d in parsed) else [
        d for d in parsed if d is not None]


def _anchor(entry: VisitEntry) -> str | None:
    return as_text(entry.raw.get("anchor")) or entry.default_anchor


def check_horizons(ctx: CheckContext) -> None:
    """Every visit without a window and without ``due_for`` has a later visit."""
    day = ctx.anchor_day or 0

    def when(d: Duration) -> date:
        return resolve(d, day).apply(_REFERENCE)

    for entry in ctx.visits:
        raw = entry.raw
        if raw.get("window") != UNGRADED or "due_for" in raw:
            continue
        points = _points(raw)
        if points is None:
            continue
        last = max(map(when, points))
        if not any(_later(other, entry, last, when) for other in ctx.visits):
            ctx.add(entry.path + ("window",), NO_HORIZON)


def _later(other: VisitEntry, entry: VisitEntry, last: date,
           when: Callable[[Duration], date]) -> bool:
    """Whether ``other`` is a visit of the same schedule always dated after ``entry``'s
    last time point: after one of its visits, or later from the same reference (the same
    anchor, or the same visit timed the same way)."""
    if other.phase != entry.phase:
        return False
    points = _points(other.raw)
    if points is None:
        return False
    after = as_text(other.raw.get("after_visit"))
    if after is not None and after in entry.codes:
        return all(d.amount > 0 for d in points)
    if after != as_text(entry.raw.get("after_visit")):
        return False
    if after is None and _anchor(other) != _anchor(entry):
        return False
    if after is not None and other.raw.get("timed_from") != entry.raw.get("timed_from"):
        return False
    return any(when(d) > last for d in points)
