"""A subject's calendar as of a date: visits with statuses, periods, endpoint windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from app.schedule.expand import AnchorDate, ExpandedVisit, VisitRecord, expand
from app.schedule.lifecycle import TERMINAL_EVENTS, Event, EventType
from app.schedule.openings import PhaseState, opening_date
from app.schedule.plan import Plan, resolve
from app.schedule.status import State, StatusInfo, visit_status


@dataclass(frozen=True, slots=True)
class CalendarVisit:
    visit: ExpandedVisit
    info: StatusInfo


@dataclass(frozen=True, slots=True)
class PeriodSpan:
    code: str
    name: str
    anchor: str
    start: date | None
    end: date | None
    provisional: bool  # either end is dated from a planned anchor
    end_anchor: str | None = None  # when the end counts from another anchor


class EndpointStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    OPEN = "open"
    MET = "met"
    MISSED = "missed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class EndpointWindow:
    code: str  # e.g. "ORR@6 months"
    endpoint: str
    name: str
    time_point: str
    target_date: date | None
    window_start: date | None
    window_end: date | None
    status: EndpointStatus
    satisfied_by: str | None  # visit code
    provisional: bool = False  # dated from a planned, not yet confirmed, anchor


@dataclass(frozen=True, slots=True)
class PhaseOpening:
    """The event that opened a conditional phase, and its date: "opened by withdrawal on
    2024-02-29"."""

    event: EventType
    date: date


@dataclass(frozen=True, slots=True)
class Calendar:
    as_of: date
    visits: tuple[CalendarVisit, ...]
    phases: Mapping[str, PhaseState]
    periods: tuple[PeriodSpan, ...]
    endpoints: tuple[EndpointWindow, ...]
    opened: Mapping[str, PhaseOpening] = field(default_factory=dict)  # active phases only


def phase_openings(
    plan: Plan, events: Sequence[Event], phases: Mapping[str, PhaseState]
) -> dict[str, PhaseOpening]:
    """For each active phase, the event that opened it and its date."""
    out = {}
    for p in plan.phases:
        day = opening_date(p, events)
        if day is not None and phases.get(p.code) is PhaseState.ACTIVE:
            out[p.code] = PhaseOpening(EventType(p.opened_by), day)
    return out


def build_calendar(
    plan: Plan,
    anchors: Mapping[str, AnchorDate],
    events: Sequence[Event] = (),
    records: Mapping[str, VisitRecord] | None = None,
    *,
    today: date,
) -> Calendar:
    """Expand and add each visit's status as of ``today`` (the site's local date)."""
    expansion = expand(plan, anchors, events, records)
    upcoming = plan.protocol.study.upcoming_days
    visits = tuple(
        CalendarVisit(
            v,
            visit_status(
                state=v.state,
                window_start=v.window_start,
                window_end=v.window_end,
                actual_date=v.actual_date,
                optional=v.optional,
                today=today,
                upcoming_days=upcoming,
                target_date=v.target_date,
                missed_from=v.missed_from,
                graded=v.graded,
            ),
        )
        for v in expansion.visits
    )
    return Calendar(
        as_of=today,
        visits=visits,
        phases=expansion.phases,
        periods=periods(plan, anchors),
        endpoints=endpoint_windows(plan, anchors, events, expansion.visits, today),
        opened=phase_openings(plan, events, expansion.phases),
    )


def periods(plan: Plan, anchors: Mapping[str, AnchorDate]) -> tuple[PeriodSpan, ...]:
    out = []
    for p in plan.protocol.periods:
        first, last = anchors.get(p.anchor), anchors.get(p.to_anchor)
        start = end = None
        if first is not None and last is not None:
            start = resolve(p.start, plan.anchor_day).apply(first.date)
            end = resolve(p.end, plan.anchor_day).apply(last.date)
        provisional = any(a is not None and not a.actual for a in (first, last))
        out.append(PeriodSpan(p.code, p.name, p.anchor, start, end, provisional, p.end_anchor))
    return tuple(out)


def endpoint_windows(
    plan: Plan,
    anchors: Mapping[str, AnchorDate],
    events: Sequence[Event],
    visits: Sequence[ExpandedVisit],
    today: date,
) -> tuple[EndpointWindow, ...]:
    """Each endpoint time point is met by a completed visit inside its window that
    carries the endpoint's assessment (and is one of ``satisfied_by`` when given)."""
    ended = min((e.date for e in events if e.type in TERMINAL_EVENTS), default=None)
    completed = [v for v in visits if v.state is State.COMPLETED and v.actual_date]
    out: list[EndpointWindow] = []
    for ep in plan.protocol.endpoints:
        anchor = anchors.get(ep.anchor)
        before = ep.window.before.offset_days_for(plan.anchor_day)
        after = ep.window.after.offset_days_for(plan.anchor_day)
        for at in ep.time_points:
            label = f"{ep.code}@{at}"
            if anchor is None:
                out.append(
                    EndpointWindow(
                        code=label,
                        endpoint=ep.code,
                        name=ep.name,
                        time_point=str(at),
                        target_date=None,
                        window_start=None,
                        window_end=None,
                        status=EndpointStatus.PENDING,
                        satisfied_by=None,
                    )
                )
                continue
            target = resolve(at, plan.anchor_day).apply(anchor.date)
            start, end = target - timedelta(days=before), target + timedelta(days=after)
            hit = next(
                (
                    v.code
                    for v in completed
                    if v.actual_date is not None
                    and start <= v.actual_date <= end
                    and ep.assessment_code in v.assessments
                    and (ep.satisfied_by is None or v.code in ep.satisfied_by)
                ),
                None,
            )
            if hit is not None:
                status = EndpointStatus.MET
            elif ended is not None and ended <= end:
                status = EndpointStatus.CANCELLED
            elif today > end:
                status = EndpointStatus.MISSED
            elif today >= start:
                status = EndpointStatus.OPEN
            else:
                status = EndpointStatus.SCHEDULED
            out.append(
                EndpointWindow(
                    label,
                    ep.code,
                    ep.name,
                    str(at),
                    target,
                    start,
                    end,
                    status,
                    hit,
                    provisional=not anchor.actual,
                )
            )
    return tuple(out)
