"""Flatten a protocol into the list of visit definitions the engine expands.

Series become one definition per time point, durations become resolved offsets, and
each definition knows its phase. This is done once per protocol version (the result
is cached), so expanding a calendar is only date arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from app.schedule.covering import MAIN_PHASE as MAIN_PHASE  # the phase code of the main schedule
from app.schedule.covering import CoveredBy
from app.schedule.dates import Offset
from app.schedule.durations import Duration
from app.schedule.event_terms import ENDING_OPENERS
from app.schedule.language import Phase, Protocol, Visit
from app.schedule.repeats import occurrence_code, occurrence_name, phase_key
from app.schedule.timing import Window


def resolve(duration: Duration, anchor_day: int) -> Offset:
    """Turn a written duration into an offset under the study's day convention."""
    if duration.calendar_months is not None:
        return Offset(months=duration.calendar_months)
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
    # Days after the window closes from which a visit not done counts as missed (None:
    # never by the passing of time alone); the visit's own, else the study's.
    missed_after_days: int | None = None
    # Not applicable when a visit without it is dated within this many days (None: never).
    skip_within_days: int | None = None
    # Which visits cover it (None: any visit without skip_within).
    covered_by: CoveredBy | None = None
    # The anchor whose actual date this visit is (one fact, one entry), if any.
    records_anchor: str | None = None
    # Timed from the target of after_visit even once that visit is done.
    from_target: bool = False
    # SDTM: the declared VISITNUM (a series' first number + its position - 1) and EPOCH
    # (the visit's, else its phase's); None when the protocol declares none. Occurrence k
    # of a repeating phase is numbered on from occurrence k-1: the declared number + k-1
    # times the number of visits of an occurrence.
    visitnum: float | None = None
    epoch: str | None = None
    # False for a visit without a window ("window: none"): never early or late; it is due
    # for after_days from its target, or (due_until_next) until the next visit.
    graded: bool = True
    due_until_next: bool = False
    # In a phase opened by the end of follow-up (early termination): the event that opens
    # it does not cancel it, only a death does.
    after_leaving: bool = False
    # For a visit of an occurrence of a repeating phase (whose phase is ``RT2``): the
    # phase's code as declared (``RT``), which ``covered_by`` names.
    declared_phase: str | None = None
    # Derived once per plan, so that expanding a calendar builds no objects per visit.
    before: timedelta = field(init=False, repr=False, compare=False)
    after: timedelta = field(init=False, repr=False, compare=False)
    waiting: str = field(init=False, repr=False, compare=False)  # why pending when undated

    def __post_init__(self) -> None:
        object.__setattr__(self, "before", timedelta(days=self.before_days))
        object.__setattr__(self, "after", timedelta(days=self.after_days))
        waiting = (
            f"waiting for visit {self.after_visit}"
            if self.after_visit is not None
            else f"waiting for anchor {self.anchor}"
        )
        object.__setattr__(self, "waiting", waiting)


@dataclass(frozen=True, slots=True)
class PhaseDef:
    code: str
    name: str
    anchor: str  # a declared anchor, or the opening event's type when anchored on it
    opens_on: tuple[str, ...]  # the response values that open it (none for progression)
    closes_on: tuple[str, ...]
    opened_by: str = "response"  # the event type that opens it
    on_event: bool = False  # its visits count from the date of the opening event
    # Of a repeating phase: which occurrence (1, 2, ...) and how many there may be; 0: the
    # phase happens once.
    occurrence: int = 0
    occurrences: int = 0

    @property
    def after_leaving(self) -> bool:
        """Whether the event that opens it ends the follow-up (early termination)."""
        return self.opened_by in ENDING_OPENERS


@dataclass(frozen=True, slots=True)
class Plan:
    protocol: Protocol
    visits: tuple[VisitDef, ...]
    phases: tuple[PhaseDef, ...]
    by_code: dict[str, VisitDef] = field(compare=False, hash=False)
    # The visits again, each after the visit it is timed from (expansion order).
    order: tuple[VisitDef, ...] = field(compare=False, hash=False, repr=False)
    # Anchor name -> the visit that records it (``records:``), looked up per enrolment.
    recorded_by: dict[str, VisitDef] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    # The positions (in ``visits``) of the visits without a window due until the next
    # visit (no ``due_for``): their window ends only once the whole calendar is dated.
    until_next: tuple[int, ...] = field(default=(), compare=False, hash=False, repr=False)

    @property
    def anchor_day(self) -> int:
        return self.protocol.study.anchor_day

    @property
    def repeating(self) -> bool:
        """Whether some phase happens more than once (``repeats``)."""
        return any(p.occurrence for p in self.phases)

    @property
    def skips(self) -> bool:
        """Whether some visit is skipped when another covers it (``skip_within``)."""
        return any(v.skip_within_days is not None for v in self.visits)


def _expand_visit(
    visit: Visit,
    phase: str,
    default_anchor: str,
    stops: bool,
    anchor_day: int,
    study_grace: Duration | None,
    phase_epoch: str | None = None,
    after_leaving: bool = False,
    occurrence: tuple[str, int, int] | None = None,
) -> list[VisitDef]:
    anchor = None if visit.after_visit else (visit.anchor or default_anchor)
    reference = visit.after_visit or anchor
    joiner = "after" if visit.after_visit else "from"
    if visit.after_visit and visit.timed_from == "target":
        reference = f"the target of {reference}"
    code, name, declared, first = visit.code, visit.name, None, 0
    if occurrence is not None:  # occurrence k of a repeating phase: k in code and name
        declared, k, _ = occurrence
        code, name = occurrence_code(code, declared, k), occurrence_name(name, k)
    points = [
        (code.format(**names), name.format(**names), point) if visit.repeated
        else (code, name, point)
        for names, point in _time_points(visit)
    ]
    if occurrence is not None:  # VISITNUMs follow on from the occurrence before
        first = (occurrence[1] - 1) * occurrence[2]
    if isinstance(visit.window, Window):
        before = visit.window.before.offset_days_for(anchor_day)
        after = visit.window.after.offset_days_for(anchor_day)
    else:  # window: none, due for due_for (else until the next visit, set by expand)
        before = 0
        after = 0 if visit.due_for is None else visit.due_for.offset_days_for(anchor_day)
    grace = study_grace if visit.missed_after is None else visit.missed_after
    missed_after = None if grace is None else grace.offset_days_for(anchor_day)
    return [
        VisitDef(
            code=code,
            name=name,
            phase=phase,
            kind=visit.kind,
            optional=visit.optional,
            stops_at_progression=visit.stops_at_progression or stops,
            assessments=visit.assessments,
            anchor=anchor,
            after_visit=visit.after_visit,
            offset=resolve(point, anchor_day),
            before_days=before,
            after_days=after,
            timing=_timing(point, joiner, reference),
            missed_after_days=missed_after,
            skip_within_days=None if visit.skip_within is None
            else visit.skip_within.offset_days_for(anchor_day),
            covered_by=visit.covered_by,
            records_anchor=visit.records,
            from_target=visit.timed_from == "target",
            visitnum=None if visit.visitnum is None else visit.visitnum + first + i,
            epoch=visit.epoch or phase_epoch,
            graded=visit.graded,
            due_until_next=not visit.graded and visit.due_for is None,
            after_leaving=after_leaving,
            declared_phase=declared,
        )
        for i, (code, name, point) in enumerate(points)
    ]


def _timing(point: Duration, joiner: str, reference: str | None) -> str:
    """How the protocol times a visit: "3 months from infusion", "1 day before W2"."""
    if joiner == "after" and point.amount < 0:
        return f"{Duration(-point.amount, point.unit)} before {reference}"
    return f"{point} {joiner} {reference}"


def _time_points(visit: Visit) -> list[tuple[dict[str, int], Duration]]:
    """Each time point of a visit entry, with the names its templates may use."""
    if visit.series is not None:
        return [({"n": d.amount, "i": i}, d) for i, d in enumerate(visit.series.points(), 1)]
    assert visit.at is not None  # the language guarantees one of at/series
    points = visit.at if isinstance(visit.at, tuple) else (visit.at,)
    return [({"n": d.amount, "i": i, "day": d.amount}, d) for i, d in enumerate(points, 1)]


def expand_codes(visit: Visit) -> list[str]:
    """The visit codes a visit entry yields (one, or one per time point)."""
    if not visit.repeated:
        return [visit.code]
    return [visit.code.format(**names) for names, _ in _time_points(visit)]


@lru_cache(maxsize=64)
def build_plan(protocol: Protocol) -> Plan:
    day = protocol.study.anchor_day
    grace = protocol.study.missed_after
    visits: list[VisitDef] = []
    for visit in protocol.visits:
        visits += _expand_visit(visit, MAIN_PHASE, protocol.main_anchor, False, day, grace)
    phases: list[PhaseDef] = []
    for phase in protocol.phases:
        size = sum(len(_time_points(v)) for v in phase.visits)  # visits per occurrence
        for p in _occurrences(phase):
            phases.append(p)
            occurrence = (phase.code, p.occurrence, size) if p.occurrence else None
            for visit in phase.visits:
                visits += _expand_visit(
                    visit, p.code, p.anchor, phase.stops_at_progression, day, grace,
                    phase.epoch, phase.condition.ends_follow_up, occurrence,
                )
    flat = tuple(visits)
    by_code = {v.code: v for v in flat}
    order = _in_dependency_order(visits, by_code)
    # The same tuple when nothing is reordered, which expand() checks by identity.
    recorded_by = {v.records_anchor: v for v in flat if v.records_anchor}
    return Plan(protocol, flat, tuple(phases), by_code, flat if order == flat else order,
                recorded_by, tuple(i for i, v in enumerate(flat) if v.due_until_next))


def _occurrences(phase: Phase) -> list[PhaseDef]:
    """The phase, or each occurrence of a repeating one: ``RT1``, ``RT2``, ..., each timed
    from its own opening event (the anchor ``progression 2`` is the second progression's
    date; a space keeps it apart from any declared anchor name)."""
    condition = phase.condition
    if phase.repeats is None:
        return [PhaseDef(phase.code, phase.name, phase.timed_from, condition.values,
                         phase.closes_on, condition.event, phase.anchor is None)]
    most = phase.repeats.max
    return [
        PhaseDef(phase_key(phase.code, k), occurrence_name(phase.name, k),
                 f"{phase.timed_from} {k}", condition.values, phase.closes_on,
                 condition.event, True, k, most)
        for k in range(1, most + 1)
    ]


def _in_dependency_order(
    visits: list[VisitDef], by_code: dict[str, VisitDef]
) -> tuple[VisitDef, ...]:
    """Visits timed from another visit come after it (the loader refuses cycles)."""
    placed: set[str] = set()
    ordered: list[VisitDef] = []

    def place(v: VisitDef) -> None:
        if v.code in placed:
            return
        placed.add(v.code)
        if v.after_visit is not None:
            if v.after_visit not in by_code:
                raise ValueError(f"visit {v.code} is timed after unknown visit {v.after_visit}")
            place(by_code[v.after_visit])
        ordered.append(v)

    for v in visits:
        place(v)
    return tuple(ordered)
