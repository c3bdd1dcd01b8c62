"""The loader's checks of repeating phases (``repeats``, :mod:`app.schedule.repeats`).

A phase repeats only when each occurrence can count from its own event: it is opened by
an event that may happen again (progression, response) and declares no anchor, and its
visits declare none either, are not timed after another visit and record no anchor (an
anchor has one date). ``{occurrence}`` belongs to the visits of a repeating phase, the
occurrence phases (``RT1``, ``RT2``) must not be the code of another phase, and the codes
each occurrence makes are checked for duplicates with the rest (:mod:`app.schedule.checks`).
"""

from __future__ import annotations

from collections.abc import Iterator

from app.schedule.check_context import CheckContext, VisitEntry, as_text, entries
from app.schedule.repeats import OCCURRENCE, REPEATING_OPENERS, phase_key

NOT_REPEATING = (f"{OCCURRENCE} numbers the occurrences of a repeating phase (repeats); "
                 "this visit is not in one")
_IN_OCCURRENCE = {
    "anchor": "a visit of a repeating phase counts from the event that opens its "
              "occurrence: leave out anchor",
    "after_visit": "a visit of a repeating phase counts from the event that opens its "
                   "occurrence, not from another visit: leave out after_visit",
    "records": "a visit of a repeating phase cannot record an anchor: an anchor has one "
               "date, and the phase happens more than once",
}


def occurrences_of(phase: dict[str, object]) -> int:
    """How many occurrences a phase's raw data declares: 0 when it does not repeat, 1
    when its ``repeats`` is wrong (which the model reports), so that its visits are still
    checked as those of a repeating phase and nothing is reported twice."""
    if "repeats" not in phase:
        return 0
    repeats = phase.get("repeats")
    most = repeats.get("max") if isinstance(repeats, dict) else None
    valid = isinstance(most, int) and not isinstance(most, bool) and most >= 2
    return most if valid and isinstance(most, int) else 1


def check_repeats(ctx: CheckContext) -> None:
    """The phases that repeat can: see the module."""
    declared = {code for _, p in entries(ctx.root, "phases")
                if (code := as_text(p.get("code"))) is not None}
    for path, phase in entries(ctx.root, "phases"):
        if "repeats" not in phase:
            continue
        if "anchor" in phase:
            ctx.add(path + ("anchor",), "a repeating phase counts each occurrence from the "
                                        "date of the event that opens it: leave out anchor")
        condition = phase.get("condition")
        event = as_text(condition.get("event")) if isinstance(condition, dict) else None
        if event is not None and event not in REPEATING_OPENERS:
            ctx.add(path + ("repeats",), f"a {event.replace('_', ' ')} happens once: only a "
                                         "phase opened by progression or response repeats")
        code = as_text(phase.get("code"))
        for k in range(1, occurrences_of(phase) + 1):
            if code is not None and (key := phase_key(code, k)) in declared:
                ctx.add(path + ("code",), f'occurrence {k} of phase {code} is phase "{key}", '
                                          "the code of another phase: choose another code")
    for entry in ctx.visits:
        if entry.occurrences:
            for key, message in _IN_OCCURRENCE.items():
                if key in entry.raw:
                    ctx.add(entry.path + (key,), message)


def misplaced_occurrence(ctx: CheckContext, entry: VisitEntry) -> bool:
    """Report ``{occurrence}`` in the code or name of a visit outside a repeating phase
    (True when found)."""
    if entry.occurrences:
        return False
    found = False
    for key in ("code", "name"):
        text = as_text(entry.raw.get(key))
        if text is not None and OCCURRENCE in text:
            ctx.add(entry.path + (key,), NOT_REPEATING)
            found = True
    return found


def in_plan_order(visits: list[VisitEntry]) -> Iterator[tuple[VisitEntry, int]]:
    """Each visit the entries make, as (entry, what its declared VISITNUM is raised by), in
    the order of the calendar: a repeating phase's visits occurrence by occurrence
    (``RT1-D1``, ``RT1-D28``, ``RT2-D1``, ...), each occurrence numbered on from the one
    before, as the plan numbers them (:func:`app.schedule.plan.build_plan`)."""
    i = 0
    while i < len(visits):
        entry = visits[i]
        if not entry.occurrences:
            yield from ((entry, j) for j in range(len(entry.codes) or 1))
            i += 1
            continue
        run: list[VisitEntry] = []
        while i < len(visits) and visits[i].path[:2] == entry.path[:2]:
            run.append(visits[i])
            i += 1
        sizes = [len(e.codes) // entry.occurrences or 1 for e in run]
        for k in range(entry.occurrences):
            for e, each in zip(run, sizes, strict=True):
                yield from ((e, k * sum(sizes) + j) for j in range(each))
