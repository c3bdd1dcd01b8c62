"""USDM timelines of early termination -> a phase of our language opened by withdrawal.

A protocol's early-termination visits (the CDISC pilot's "Early Termination Timeline",
entry condition "Subject terminates the study early") are what the schedule language
calls a phase opened by a withdrawal (``condition: {event: withdrawal}``): they count
from the withdrawal's date, entered once as the event, and only a death closes them.

A timeline other than the imported one is read so when its name, label, description or
entry condition speaks of early termination, discontinuation or withdrawal. Its own
reference instance (its Fixed Reference, else its entry) is the day of the withdrawal,
``at: 0 days``; After and Before timings count from it as in the main timeline. Each
instance is a visit, coded and named after its encounter as in the main timeline, or,
without one (the pilot's "ET"), after the instance itself. USDM gives an entry condition
as free text: the mapping is said in a comment and a warning, to be checked by hand.
The other timelines (adverse events, a vital-signs profile) are not translated.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from app.schedule.timing import NO_WINDOW
from app.schedule.usdm_visits import (
    JsonPath,
    TimelineReader,
    VisitSpec,
    Warning,
    encounter_kind,
    json_path,
    make_code,
    text,
)

_EARLY_TERMINATION = re.compile(
    r"early[\s_-]*terminat|terminat\w*\b.*\bearly|discontinu|withdr", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    code: str
    name: str
    visits: tuple[VisitSpec, ...]
    comments: tuple[str, ...]


def is_early_termination(timeline: Mapping[str, Any]) -> bool:
    """Whether a timeline's own words say it is the early-termination processing."""
    words = " ".join(text(timeline.get(k)) for k in ("name", "label", "description",
                                                       "entryCondition"))
    return _EARLY_TERMINATION.search(words) is not None


def _phase_code(name: str, taken: Collection[str]) -> str:
    """The initials of the timeline's name without "timeline" ("ET"), unless another
    phase has it (a phase and a visit may share a code)."""
    initials = "".join(w[0] for w in re.findall(r"[A-Za-z]+", name)
                       if w.lower() != "timeline").upper()
    for candidate in (initials, make_code(name)):
        if candidate and candidate not in taken and candidate != "main" and (
                make_code(candidate) == candidate):
            return candidate
    return make_code(name, "ET-PHASE")


def _unique(code: str, taken: set[str]) -> str:
    out, n = code, 1
    while out in taken:
        n += 1
        out = f"{code[:37]}-{n}"
    taken.add(out)
    return out


def withdrawal_phase(
    timeline: Mapping[str, Any],
    path: JsonPath,
    encounters: Mapping[str, Mapping[str, Any]],
    taken: Collection[str],
    phase_codes: Collection[str],
    warnings: list[Warning],
) -> PhaseSpec | None:
    """The phase opened by withdrawal that an early-termination timeline says (None:
    no instance of it could be placed; each reason is in ``warnings``). ``taken``: the
    visit codes already used; ``phase_codes``: the phase codes."""
    reader = TimelineReader(timeline, path, encounters)
    reference = reader.anchor()
    codes = reader.codes()
    used = set(taken)
    visits: list[VisitSpec] = []
    for instance_id, (i, inst) in reader.instances.items():
        if inst.get("instanceType") == "ScheduledDecisionInstance":
            reader.warn(("instances", i), f"decision {instance_id}: not translated in an"
                        " early-termination phase")
            continue
        placed = reader.place(instance_id, reference)
        if placed is None or (placed.study_day is None and placed.offset.mixed):
            reader.warn(("instances", i), f"{instance_id} cannot be placed from the day of"
                        " the withdrawal: left out")
            continue
        encounter = encounters.get(text(inst.get("encounterId")))
        label = text(inst.get("label")) or text(inst.get("description"))
        if encounter is not None:
            code = codes[instance_id]
            name = text(encounter.get("label")) or label or code
            source = f'{instance_id} "{text(inst.get("name"))}", {text(encounter.get("id"))}' \
                     f' "{text(encounter.get("name"))}"'
        else:
            code = make_code(inst.get("name"), label, instance_id)
            name = label or code
            source = f'{instance_id} "{text(inst.get("name"))}" (no encounter: named after' \
                     " the instance)"
        story = list(placed.story)
        if placed.study_day is not None:
            story[-1] += ": the day of the withdrawal"
        window = reader.window(instance_id)
        if window == NO_WINDOW:
            reader.warn(("instances", i), f"{instance_id} has no window: it is due on its"
                        " day only; add the protocol's window by hand")
        visits.append(VisitSpec(
            code=_unique(code, used), name=name[:200], at=placed.offset.duration(),
            window=window, kind="clinic" if encounter is None else encounter_kind(encounter),
            comments=(source, *story)))
    warnings += reader.warnings
    if not visits:
        return None
    name = text(timeline.get("label")) or text(timeline.get("name"))
    condition = text(timeline.get("entryCondition"))
    warnings.append(Warning(json_path((*path, "entryCondition")), f'"{condition}" is read as'
                            " a withdrawal: its visits count from the withdrawal's date"))
    comments = (f'{text(timeline.get("id"))} "{text(timeline.get("name"))}": entry'
                f' condition "{condition}", read as a withdrawal; its visits count from the'
                " withdrawal's date and only a death closes them",)
    return PhaseSpec(_phase_code(name, phase_codes), name[:200], tuple(visits), comments)
