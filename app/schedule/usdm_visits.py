"""One USDM ScheduleTimeline -> the visits of our schedule language, with what was dropped.

Each ScheduledActivityInstance with an encounter is a visit. Its Timing (the one whose
``relativeFromScheduledInstanceId`` is the instance) places it: a Fixed Reference is a
study day (P1D: "this is Day 1"), After and Before count from the instance named by
``relativeToScheduledInstanceId``, which may itself be timed from another one. Chains
are summed down to the anchor; only a sum of calendar months and days, which no single
duration of the language says, keeps its last link as ``after_visit``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.schedule.durations import Duration, Unit
from app.schedule.names import CODE_PATTERN
from app.schedule.timing import NO_WINDOW, Window
from app.schedule.usdm_timing import IsoDuration, Offset, TimingType, parse_iso, window_side

JsonPath = tuple[str | int, ...]
_CODE = re.compile(CODE_PATTERN)


def json_path(path: JsonPath) -> str:
    """``$.study.versions[0].studyDesigns[0]`` (JSONPath, as the warnings give it)."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


@dataclass(frozen=True, slots=True)
class Warning:
    """Something of the USDM file that the schedule does not say, at its JSON path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class AnchorSpec:
    name: str
    label: str
    anchor_day: int  # 0 or 1
    instance: str


@dataclass(frozen=True, slots=True)
class VisitSpec:
    code: str
    name: str
    at: Duration
    window: Window
    kind: str
    after_visit: str | None = None
    optional: bool = False
    records: str | None = None
    comments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Placed:
    """Where an instance falls: its offset from the anchor and the last link of its chain."""

    offset: Offset
    study_day: int | None  # a Fixed Reference: the day it names
    via: str | None  # the instance it is timed from
    step: Offset | None
    story: tuple[str, ...]


def text(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def decode(code: object) -> str:
    return text(code.get("decode")) if isinstance(code, Mapping) else ""


def objects(value: object) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def make_code(*candidates: object) -> str:
    for candidate in candidates:
        written = text(candidate)
        if _CODE.match(written):
            return written
        cleaned = re.sub(r"[^A-Za-z0-9_.+\-]+", "-", written).strip("-.+_")[:40]
        if cleaned and _CODE.match(cleaned):
            return cleaned
    return "V"


def encounter_kind(encounter: Mapping[str, Any]) -> str:
    modes = {decode(c).lower() for _, c in objects(encounter.get("contactModes"))}
    settings = {decode(c).lower() for _, c in objects(encounter.get("environmentalSettings"))}
    if modes and all("phone" in m for m in modes):  # only by telephone
        return "phone"
    if "home" in settings:
        return "home"
    if any("hospital" in s or "inpatient" in s for s in settings):
        return "inpatient"
    return "clinic"


@dataclass
class TimelineReader:
    """Reads one timeline; ``warnings`` collects everything left out or changed."""

    timeline: Mapping[str, Any]
    path: JsonPath
    encounters: Mapping[str, Mapping[str, Any]]
    warnings: list[Warning] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.instances = {
            text(inst.get("id")): (i, inst)
            for i, inst in objects(self.timeline.get("instances"))
        }
        self.timings: dict[str, tuple[int, Mapping[str, Any]]] = {}
        for i, timing in objects(self.timeline.get("timings")):
            subject = text(timing.get("relativeFromScheduledInstanceId"))
            if subject in self.timings:
                self.warn(("timings", i), f"a second timing of {subject}: only the first is used")
                continue
            self.timings[subject] = (i, timing)
        self.placed: dict[str, _Placed | None] = {}

    def warn(self, where: JsonPath, message: str) -> None:
        self.warnings.append(Warning(json_path(self.path + where), message))

    def _label(self, instance_id: str) -> str:
        _, inst = self.instances.get(instance_id, (0, {}))
        name = text(inst.get("name"))
        return f'{instance_id} "{name}"' if name else instance_id

    # -- the anchor ---------------------------------------------------------------

    def anchor(self) -> AnchorSpec:
        """The first Fixed Reference; without one, the entry instance as Day 1."""
        for subject, (i, timing) in self.timings.items():
            if decode(timing.get("type")) == TimingType.FIXED and subject in self.instances:
                value = parse_iso(timing.get("value"))
                day = value.days if value and not value.months else 1
                if value is None or value.months:
                    self.warn(("timings", i, "value"), f'"{timing.get("value")}" is not a '
                              "study day in days: taken as Day 1")
                return self._anchor_of(subject, 1 if day >= 1 else 0)
        entry = text(self.timeline.get("entryId"))
        if entry not in self.instances:
            entry = next(iter(self.instances), "")
        self.warn(("timings",), f"no Fixed Reference timing: {self._label(entry)}, the first "
                  "instance, is taken as Day 1")
        return self._anchor_of(entry, 1)

    def _anchor_of(self, instance_id: str, anchor_day: int) -> AnchorSpec:
        _, inst = self.instances.get(instance_id, (0, {}))
        raw = text(inst.get("name")) or text(inst.get("label")) or "reference"
        name = re.sub(r"[^a-z0-9_]+", "_", raw.lower()).strip("_")[:40]
        if not re.match(r"^[a-z]", name):
            name = ("day_" + name)[:40].rstrip("_")
        label = text(inst.get("label")) or raw
        return AnchorSpec(name, f"{label[:190]} (Day {anchor_day})", anchor_day, instance_id)

    # -- placing instances --------------------------------------------------------

    def place(self, instance_id: str, anchor: AnchorSpec, seen: tuple[str, ...] = ()) -> (
        _Placed | None
    ):
        """The instance's offset from the anchor, following its chain (None: unknown)."""
        if instance_id in self.placed:
            return self.placed[instance_id]
        if instance_id in seen:
            i, _ = self.timings[instance_id]
            self.warn(("timings", i), "the timings chain in a circle: "
                      + " -> ".join((*seen, instance_id)))
            return None
        result = self._place(instance_id, anchor, (*seen, instance_id))
        self.placed[instance_id] = result
        return result

    def _place(self, instance_id: str, anchor: AnchorSpec, seen: tuple[str, ...]) -> (
        _Placed | None
    ):
        if instance_id not in self.timings:
            if instance_id == anchor.instance:  # the entry taken as Day 1
                return _Placed(Offset(), anchor.anchor_day, None, None, ("Day 1 (assumed)",))
            return None
        i, timing = self.timings[instance_id]
        where = ("timings", i)
        kind, raw = decode(timing.get("type")), timing.get("value")
        value = parse_iso(raw)
        tag = f'{text(timing.get("id"))} "{text(timing.get("name"))}"'
        if value is None:
            self.warn((*where, "value"), f'"{raw}" is not an ISO 8601 duration: '
                      f"{self._label(instance_id)} is left out")
            return None
        if value.sub_day:
            self.warn((*where, "value"), f"{raw} is shorter than a day or not whole days: "
                      f"counted as {value.days} day(s), the hours and minutes are dropped")
        if kind == TimingType.FIXED:
            day = value.days
            offset = day - 1 if anchor.anchor_day == 1 and day >= 1 else day
            return _Placed(Offset(0, offset, offset == 0), day, None, None,
                           (f"{tag}: Fixed Reference {raw}, Day {day}",))
        if kind not in (TimingType.AFTER, TimingType.BEFORE):
            self.warn((*where, "type"), f'timing type "{kind}" is not After, Before or '
                      f"Fixed Reference: {self._label(instance_id)} is left out")
            return None
        ref = text(timing.get("relativeToScheduledInstanceId"))
        if ref not in self.instances:
            self.warn((*where, "relativeToScheduledInstanceId"),
                      f'"{ref}" is not an instance of this timeline: '
                      f"{self._label(instance_id)} is left out")
            return None
        base = self.place(ref, anchor, seen)
        if base is None:
            self.warn(where, f"{self._label(instance_id)} is timed from {self._label(ref)}, "
                      "which has no time: left out")
            return None
        step = Offset.of(value, -1 if kind == TimingType.BEFORE else 1)
        link = f"{tag}: {kind} {raw} from {self._label(ref)}"
        story = (link,) if base.study_day is not None else (*base.story, link)
        return _Placed(base.offset.plus(step), None, ref, step, story)

    # -- windows and decisions --------------------------------------------------------

    def window(self, instance_id: str) -> Window:
        if instance_id not in self.timings:
            return NO_WINDOW
        i, timing = self.timings[instance_id]
        sides: list[Duration] = []
        for key in ("windowLower", "windowUpper"):
            raw = timing.get(key)
            if raw is None or raw == "":
                sides.append(Duration(0, Unit.DAYS))
                continue
            value: IsoDuration | None = parse_iso(raw)
            if value is None or value.months:
                why = "is in months" if value else "is not an ISO 8601 duration"
                self.warn(("timings", i, key), f'"{raw}" {why}: the visit is given no window')
                return NO_WINDOW
            if value.sub_day:
                self.warn(("timings", i, key), f"{raw} is shorter than a day or not whole "
                          f"days: {value.days} day(s) on that side")
            sides.append(window_side(value))
        return Window(before=sides[0], after=sides[1])

    def skippable(self) -> dict[str, str]:
        """Instances a decision's condition can jump over, with the reason (optional)."""
        out: dict[str, str] = {}
        for i, inst in objects(self.timeline.get("instances")):
            if inst.get("instanceType") != "ScheduledDecisionInstance":
                continue
            targets = {}
            for j, assignment in objects(inst.get("conditionAssignments")):
                target = text(assignment.get("conditionTargetId"))
                condition = text(assignment.get("condition"))
                targets[target] = condition
                self.warn(("instances", i, "conditionAssignments", j, "condition"),
                          f'decision {self._label(text(inst.get("id")))}: the free-text '
                          f'condition "{condition}" (go to {self._label(target)}) is not '
                          "translated; the visits it skips are made optional")
            step, walked = text(inst.get("defaultConditionId")), set()
            while step and step not in targets and step not in walked and step in self.instances:
                walked.add(step)
                condition = "; ".join(f'"{c}"' for c in targets.values())
                out[step] = f"decision {self._label(text(inst.get('id')))} skips it if {condition}"
                step = text(self.instances[step][1].get("defaultConditionId"))
        return out

    # -- visits ---------------------------------------------------------------------

    def codes(self) -> dict[str, str]:
        """A unique visit code per instance with an encounter (the encounter's name)."""
        out: dict[str, str] = {}
        used: set[str] = set()
        for instance_id, (_, inst) in self.instances.items():
            encounter = self.encounters.get(text(inst.get("encounterId")))
            if encounter is None:
                continue
            code = base = make_code(encounter.get("name"), encounter.get("label"), inst.get("name"))
            n = 1
            while code in used:
                n += 1
                code = f"{base[:37]}-{n}"
            used.add(code)
            out[instance_id] = code
        return out

    def visits(self, anchor: AnchorSpec) -> list[VisitSpec]:
        codes = self.codes()
        optional = self.skippable()
        shared: dict[str, int] = {}
        for _, inst in self.instances.values():
            enc = text(inst.get("encounterId"))
            shared[enc] = shared.get(enc, 0) + 1
        out: list[VisitSpec] = []
        for instance_id, (i, inst) in self.instances.items():
            where = ("instances", i)
            if inst.get("instanceType") == "ScheduledDecisionInstance":
                continue
            if sub := text(inst.get("timelineId")):
                self.warn((*where, "timelineId"), f"{self._label(instance_id)} runs the "
                          f"timeline {sub}: its instances are not imported")
            encounter_id = text(inst.get("encounterId"))
            if instance_id not in codes:
                why = (f'encounter "{encounter_id}" is not in the study design' if encounter_id
                       else "no encounter")
                self.warn(where, f"{self._label(instance_id)} has {why}: not a visit")
                continue
            encounter = self.encounters[encounter_id]
            placed = self.place(instance_id, anchor)
            if placed is None:
                if instance_id not in self.timings:
                    self.warn(where, f"{self._label(instance_id)} has no timing: left out")
                continue
            visit = self._visit(instance_id, inst, encounter, placed, anchor, codes,
                                shared[encounter_id] > 1, optional.get(instance_id))
            if visit is not None:
                out.append(visit)
        return out

    def _visit(
        self, instance_id: str, inst: Mapping[str, Any], encounter: Mapping[str, Any],
        placed: _Placed, anchor: AnchorSpec, codes: Mapping[str, str], shared: bool,
        skipped_by: str | None,
    ) -> VisitSpec | None:
        i = self.instances[instance_id][0]
        name = (text(encounter.get("label")) or text(encounter.get("description"))
                or codes[instance_id])
        inst_label = text(inst.get("label")) or text(inst.get("description"))
        if shared and inst_label and inst_label != name:
            name = f"{name}: {inst_label}"
        window = self.window(instance_id)
        comments = [f'{instance_id} "{text(inst.get("name"))}", {text(encounter.get("id"))} '
                    f'"{text(encounter.get("name"))}"', *placed.story]
        after: str | None = None
        records: str | None = None
        if placed.study_day is not None:
            at = Duration(placed.study_day, Unit.DAYS, study_day=True)
            if instance_id == anchor.instance and window == NO_WINDOW:
                records = anchor.name
        elif not placed.offset.mixed:
            at = placed.offset.duration()
            if len(placed.story) > 1:
                comments.append(f"chained: summed to {placed.offset} from the anchor")
        else:
            step, via = placed.step, placed.via
            if (step is None or via is None or via not in codes or step.mixed
                    or step.months < 0 or step.days < 0):
                self.warn(("instances", i), f"{self._label(instance_id)} falls {placed.offset} "
                          "from the anchor, which no duration of the schedule language says "
                          "and no after_visit can chain: left out")
                return None
            after, at = codes[via], step.duration()
            comments.append(f"chained: {placed.offset} from the anchor mixes months and days, "
                            f"so it is timed after_visit {after} (from its actual date once "
                            "done) to keep calendar months")
        if skipped_by:
            comments.append(f"optional: {skipped_by}")
        return VisitSpec(code=codes[instance_id], name=name[:200], at=at, window=window,
                         kind=encounter_kind(encounter), after_visit=after,
                         optional=skipped_by is not None, records=records,
                         comments=tuple(comments))


def encounters_of(design: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {text(e.get("id")): e for _, e in objects(design.get("encounters"))}
