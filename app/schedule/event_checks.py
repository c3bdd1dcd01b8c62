"""Checks of what events carry and record: declared event values, phase conditions on
them, and visits that record an anchor (one fact, one entry).
"""

from __future__ import annotations

from typing import Any

from app.schedule.check_context import (
    CODE,
    CheckContext,
    Path,
    VisitEntry,
    as_duration,
    as_text,
    entries,
    format_path,
)
from app.schedule.dates import Offset
from app.schedule.event_terms import Condition, EventValues
from app.schedule.plan import resolve
from app.schedule.vocabulary import unknown_value_message


def check_event_values(ctx: CheckContext) -> None:
    """Each declared value once. Values are case-sensitive codes, but two that differ
    only in case (CR, cr) would be told apart by nobody recording them."""
    section = ctx.root.get("event_values")
    if not isinstance(section, dict):
        return
    # Other keys are reported as unknown by the models.
    for event in (e for e in section if e in EventValues.model_fields):
        seen: dict[str, tuple[str, Path]] = {}  # casefolded -> (as written, where)
        for path, term in entries(section, event, ("event_values",)):
            value = as_text(term.get("value"))
            if value is None or not CODE.match(value):
                continue
            first = seen.get(value.casefold())
            if first is None:
                seen[value.casefold()] = (value, path)
            elif first[0] == value:
                ctx.add(path + ("value",), f'duplicate {event} value "{value}" (first at '
                                            f"{format_path(first[1])})")
            else:
                ctx.add(path + ("value",), f'"{value}" differs from "{first[0]}" (first at '
                                            f"{format_path(first[1])}) only in case: "
                                            "declare one of them")
        ctx.vocabularies[event] = [value for value, _ in seen.values()]


def check_condition(ctx: CheckContext, path: Path, condition: dict[str, Any]) -> None:
    """A condition names only values its event declares (when it declares any)."""
    event = as_text(condition.get("event", Condition.model_fields["event"].default))
    declared = ctx.vocabularies.get(event) if event is not None else None
    values = condition.get("values")
    if event is None or not declared or not isinstance(values, list):
        return
    for i, value in enumerate(values):
        if isinstance(value, str) and value not in declared:
            ctx.add(path + ("values", i), unknown_value_message(event, value, declared))


def check_recording(ctx: CheckContext) -> None:
    """A visit that records an anchor is the anchor's own entry: it happens on the
    anchor's day (day 0, or day 1 under the Day 1 convention), with no window, timed
    from that very anchor, which is recorded after enrolment; a series cannot record
    one (an anchor has one date), and an anchor is recorded by one visit at most."""
    recorders: dict[str, VisitEntry] = {}
    for entry in ctx.visits:
        name = as_text(entry.raw.get("records"))
        if name is None:
            continue
        path = entry.path + ("records",)
        if ctx.anchors and name not in ctx.anchors:
            ctx.anchor_ref(path, name)
            continue
        if name in recorders:
            first = recorders[name]
            ctx.add(path, f"anchor {name} is already recorded by visit "
                           f"{as_text(first.raw.get('code'))} (at {format_path(first.path)})")
            continue
        recorders[name] = entry
        if ctx.anchors and name not in ctx.recorded_later:
            ctx.add(path, f"anchor {name} is recorded at enrolment; a visit can only "
                           "record an anchor recorded later")
        if "series" in entry.raw or isinstance(entry.raw.get("at"), list):
            ctx.add(path, "a series or a list of time points cannot record an anchor: the "
                          "anchor has one date")
            continue
        after = as_text(entry.raw.get("after_visit"))
        timed_from = as_text(entry.raw.get("anchor")) or entry.default_anchor
        if after is not None:
            ctx.add(path, f"a visit that records anchor {name} is timed from it, not "
                           f"after visit {after}")
        elif timed_from is not None and timed_from != name:
            ctx.add(path, f"a visit that records anchor {name} must be timed from it, "
                           f"not from {timed_from} (add anchor: {name})")
        at = as_duration(entry.raw.get("at"))
        if at is not None and ctx.anchor_day is not None and not (
                at.study_day and at.amount == 0 and ctx.anchor_day == 1) and resolve(
                at, ctx.anchor_day) != Offset():
            day = f"day {ctx.anchor_day}"
            ctx.add(entry.path + ("at",), f'a visit that records anchor {name} is on '
                                           f'the anchor\'s day: write "{day}"')
        check_no_window(ctx, entry, name)


def check_no_window(ctx: CheckContext, entry: VisitEntry, name: str) -> None:
    window = entry.raw.get("window")
    sides = [window] if not isinstance(window, dict) else [
        window.get("before"), window.get("after")]
    if any(d is not None and d.amount != 0 for d in map(as_duration, sides)):
        ctx.add(entry.path + ("window",), f"a visit that records anchor {name} has no "
                                           "window: it is done on the anchor's day")
