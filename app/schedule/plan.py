"""Flatten a protocol into the list of visit definitions the engine expands.

Series become one definition per time point, durations become resolved offsets, and
each definition knows its phase. This is done once per protocol version (the result
is cached), so expanding a calendar is only date arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from app.schedule.dates import Offset
from app.schedule.language import Duration, Protocol, Unit, Visit

MAIN_PHASE = "main"


def resolve(duration: Duration, anchor_day: int) -> Offset:
    """Turn a written duration into an offset under the study's day convention."""
    if duration.unit is Unit.MONTHS:
        return Offset(months=duration.amount)
    return Offset(days=duration.offset_days_for(anchor_day))


@dataclass(frozen=True, slots=True)
class VisitDef:
    code: str
    name: str
    phase: str
    kind: str
    optional: bool
    stops_at_progression: bool
    assessments: tuple[str, ...]
    anchor: str | None  # None when timed from another visit
    after_visit: str | None
    offset: Offset
    before_days: int
    after_days: int
    timing: str  # how the protocol wrote it, e.g. "3 months after infusion"


@dataclass(frozen=True, slots=True)
class PhaseDef:
    code: str
    name: str
    anchor: str
    opens_on: tuple[str, ...]
    closes_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    protocol: Protocol
    visits: tuple[VisitDef, ...]
    phases: tuple[PhaseDef, ...]
    by_code: dict[str, VisitDef] = field(compare=False, hash=False)

    @property
    def anchor_day(self) -> int:
        return self.protocol.study.anchor_day


def _expand_visit(
    visit: Visit, phase: str, default_anchor: str, stops: bool, anchor_day: int
) -> list[VisitDef]:
    before = visit.window.before.offset_days_for(anchor_day)
    after = visit.window.after.offset_days_for(anchor_day)
    anchor = None if visit.after_visit else (visit.anchor or default_anchor)
    reference = visit.after_visit or anchor
    common = {
        "phase": phase,
        "kind": visit.kind,
        "optional": visit.optional,
        "stops_at_progression": visit.stops_at_progression or stops,
        "assessments": visit.assessments,
        "anchor": anchor,
        "after_visit": visit.after_visit,
        "before_days": before,
        "after_days": after,
    }
    if visit.at is not None:
        timing = f"{visit.at} {'after' if visit.after_visit else 'from'} {reference}"
        return [
            VisitDef(code=visit.code, name=visit.name, offset=resolve(visit.at, anchor_day),
                     timing=timing, **common)  # type: ignore[arg-type]
        ]
    series = visit.series
    assert series is not None  # the language guarantees one of at/series
    out: list[VisitDef] = []
    for i, n in enumerate(range(series.start.amount, series.end.amount + 1, series.every.amount), 1):
        point = Duration(n, series.every.unit)
        out.append(
            VisitDef(
                code=visit.code.format(n=n, i=i),
                name=visit.name.format(n=n, i=i),
                offset=resolve(point, anchor_day),
                timing=f"{point} from {reference}",
                **common,  # type: ignore[arg-type]
            )
        )
    return out


def expand_codes(visit: Visit) -> list[str]:
    """The visit codes a visit entry yields (one, or one per series time point)."""
    if visit.series is None:
        return [visit.code]
    s = visit.series
    points = range(s.start.amount, s.end.amount + 1, s.every.amount)
    return [visit.code.format(n=n, i=i) for i, n in enumerate(points, 1)]


@lru_cache(maxsize=64)
def build_plan(protocol: Protocol) -> Plan:
    day = protocol.study.anchor_day
    visits: list[VisitDef] = []
    for visit in protocol.visits:
        visits += _expand_visit(visit, MAIN_PHASE, protocol.main_anchor, False, day)
    phases: list[PhaseDef] = []
    for phase in protocol.phases:
        phases.append(
            PhaseDef(phase.code, phase.name, phase.anchor, phase.condition.values, phase.closes_on)
        )
        for visit in phase.visits:
            visits += _expand_visit(visit, phase.code, phase.anchor, phase.stops_at_progression, day)
    return Plan(protocol, tuple(visits), tuple(phases), {v.code: v for v in visits})
