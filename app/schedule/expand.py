"""Expand a protocol into one subject's calendar.

:func:`expand` is pure: the protocol plan, the subject's anchor dates, lifecycle
events and recorded visits go in; every visit's dates and state come out. Statuses
as of a date are added by :func:`app.schedule.calendar.build_calendar`. The result
depends on the facts only, never on the order they were recorded in.

Rules (the brief's domain rules, in code):

- a visit is timed from an anchor, or from the actual date of an earlier visit (its
  target date until that visit is completed, which makes the date provisional);
- a visit whose anchor has no date yet is *pending*; a planned (not yet confirmed)
  anchor gives *provisional* dates;
- a done visit (completed or missed) is re-evaluated, never moved: its actual date is
  what was recorded, while its target and window always follow the current anchors
  (so whether it was early or late follows a corrected anchor too);
- a conditional phase opens when its response event is recorded before any of its
  closing events (a response and a closing event on the same day: the response
  counts); until then its visits are pending, once closed not applicable;
- a screen failure cancels every visit not done; the other ends of follow-up (death,
  withdrawal, loss to follow-up, completion of the study) cancel every visit not done
  whose window had not closed by the event date; progression does the same for the
  visits the protocol stops at progression;
- a phase opened by a withdrawal or a completion of the study (early termination,
  end of study) is the subject's last schedule: its visits count from that event's date,
  the event does not cancel them and only a death does (see :meth:`app.schedule.openings.Stops.of`);
- the opening of a repeating phase's next occurrence stops the one before as progression
  stops a visit (see :mod:`app.schedule.openings`);
- a visit still to do whose window has closed is overdue until it counts as *missed*
  (derived, not documented; see :func:`_missed_from`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from app.schedule.dates import study_day
from app.schedule.lifecycle import Event, EventType, end_of_follow_up
from app.schedule.openings import (
    DEATH,
    STOPS_AT_PROGRESSION,
    Stops,
    first_event,
    opening_date,
    phase_state,
    superseded,
)
from app.schedule.openings import PhaseState as PhaseState  # where the services take it from
from app.schedule.plan import Plan, VisitDef
from app.schedule.status import State


@dataclass(frozen=True, slots=True)
class AnchorDate:
    date: date
    actual: bool = True  # False: planned, not yet confirmed


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """What was recorded for a visit: its outcome, never its planned dates."""

    state: State  # COMPLETED or MISSED
    actual_date: date | None = None
    assessments: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ExpandedVisit:
    code: str
    name: str
    phase: str
    kind: str
    optional: bool
    state: State
    anchor: str | None
    target_date: date | None
    window_start: date | None
    window_end: date | None
    study_day: int | None
    provisional: bool
    actual_date: date | None = None
    assessments: frozenset[str] = frozenset()
    reason: str | None = None  # why cancelled, pending or not applicable
    # From this date a visit still to do counts as missed (derived); None: it does not.
    missed_from: date | None = None
    # False: the protocol gives it no window (never early or late; window_end is its horizon).
    graded: bool = True
    # In a phase opened by the end of follow-up (early termination): due after it.
    after_leaving: bool = False


@dataclass(frozen=True, slots=True)
class Expansion:
    visits: tuple[ExpandedVisit, ...]
    phases: Mapping[str, PhaseState] = field(default_factory=dict)


_NOTHING: frozenset[str] = frozenset()
_DAY = timedelta(days=1)

# (date visits timed after a visit are counted from, root anchor name, root anchor date,
# whether that date may still move)
_Base = tuple[date, str, date, bool]


def expand(
    plan: Plan,
    anchors: Mapping[str, AnchorDate],
    events: Sequence[Event] = (),
    records: Mapping[str, VisitRecord] | None = None,
) -> Expansion:
    """Dates and state of every visit of one subject (see the module's rules).

    Runs once per subject and change, in bulk too: everything that does not depend on
    the visit is worked out before the loop, which builds one object per visit.
    """
    records = records or {}
    anchor_day = plan.anchor_day
    phases = {p.code: phase_state(p, events) for p in plan.phases}
    blocked: dict[str, tuple[State, str]] = {}  # state and reason of an inactive phase's visits
    for code, (phase, why) in phases.items():
        if phase is PhaseState.NOT_APPLICABLE:
            blocked[code] = (State.NOT_APPLICABLE, f"phase {code} closed: {why}")
        elif phase is PhaseState.PENDING:
            blocked[code] = (State.PENDING, f"phase {code} {why}")
    end = end_of_follow_up(events)
    ended = None if end is None else (end.date, f"{end.type.value} on {end.date}")
    screen_failed = end is not None and end.type is EventType.SCREEN_FAILURE
    stops = Stops(ended, first_event(events, STOPS_AT_PROGRESSION), first_event(events, DEATH),
                  superseded(plan, events) if plan.repeating else {})
    roots: dict[str, _Base] = {
        name: (a.date, name, a.date, not a.actual) for name, a in anchors.items()
    }
    for p in plan.phases:  # a phase anchored on its opening event: the event's date
        opened = opening_date(p, events) if p.on_event else None
        if opened is not None and phases[p.code][0] is PhaseState.ACTIVE:
            roots[p.anchor] = (opened, p.anchor, opened, False)
    # One study-day reference for the whole calendar when the protocol declares one.
    reference = plan.protocol.study.study_day_from
    reference_date = None if reference is None else (
        anchors[reference].date if reference in anchors else None)
    bases: dict[str, _Base | None] = {}
    targets: dict[str, _Base | None] = {}  # for visits timed from another's target
    out: list[ExpandedVisit] = []
    for visit in plan.order:
        # Where the visit is timed from: an anchor, or the date of an earlier visit.
        if visit.after_visit is not None:
            base = (targets if visit.from_target else bases).get(visit.after_visit)
        else:
            base = roots.get(visit.anchor or "")  # a visit not timed after a visit has one
        record = records.get(visit.code) if records else None

        target: date | None
        start: date | None
        end_date: date | None
        day: int | None
        provisional = False
        root = visit.anchor
        if base is not None:
            base_date, root, root_date, provisional = base
            target = visit.offset.apply(base_date)
            start, end_date = target - visit.before, target + visit.after
            if reference is None:
                day = study_day(root_date, target, anchor_day)
            else:
                day = None if reference_date is None else study_day(
                    reference_date, target, anchor_day)
            # Visits timed after this one count from its actual date once it is completed
            # (no later change moves that), else from its target: final once it is
            # missed, moving with the visit until it is done.
            targets[visit.code] = (target, base[1], base[2], provisional)
            if record is None:
                bases[visit.code] = (target, base[1], base[2], True)
            elif record.state is State.COMPLETED and record.actual_date:
                bases[visit.code] = (record.actual_date, base[1], base[2], False)
            else:
                bases[visit.code] = (target, base[1], base[2], provisional)
        else:
            target = start = end_date = day = None
            bases[visit.code] = targets[visit.code] = None

        reason: str | None = None
        if record is not None:
            state = record.state
        elif visit.phase in blocked:
            state, reason = blocked[visit.phase]
        else:
            stop = stops.of(visit)
            if screen_failed and ended is not None:
                state, reason = State.CANCELLED, ended[1]
            elif stop is not None and (end_date is None or end_date >= stop[0]):
                state, reason = State.CANCELLED, stop[1]
            elif target is None:
                state, reason = State.PENDING, visit.waiting
            else:
                state = State.PLANNED

        out.append(
            ExpandedVisit(  # positional: this runs for every visit of every subject
                visit.code,
                visit.name,
                visit.phase,
                visit.kind,
                visit.optional,
                state,
                root,
                target,
                start,
                end_date,
                day,
                provisional,
                None if record is None else record.actual_date,
                _NOTHING if record is None else record.assessments,
                reason,
                None,
                visit.graded,
                visit.after_leaving,
            )
        )
    if plan.order is not plan.visits:  # some visit is timed after a later one
        by_code = {v.code: v for v in out}
        out = [by_code[v.code] for v in plan.visits]
    if plan.skips:
        out = _without_covered(plan, out)
    if plan.until_next:
        out = _with_horizons(plan, out, stops)
    if any(v.state is State.PLANNED for v in out):
        out = _with_missed_from(plan, out, stops)
    return Expansion(visits=tuple(out), phases={k: s for k, (s, _) in phases.items()})


def _with_horizons(
    plan: Plan,
    visits: list[ExpandedVisit],
    stops: Stops,
) -> list[ExpandedVisit]:
    """The visits (in the plan's order) with each one without a window nor ``due_for``
    due until the day before the next dated visit of its schedule (the main one, or its
    phase), else on its target only. A window so widened may be open on the day the
    subject left: such a visit not done is cancelled, as any other whose window was open
    then. Changes ``visits`` in place: only the visits of :attr:`Plan.until_next`."""
    for i in plan.until_next:
        v = visits[i]
        target = v.target_date
        if target is None:
            continue
        later = min((w.target_date for w in visits if w.phase == v.phase
                     and w.target_date is not None and w.target_date > target), default=None)
        end = target if later is None else later - _DAY
        state, reason = v.state, v.reason
        stop = stops.of(plan.visits[i])
        if state is State.PLANNED and stop is not None and end >= stop[0]:
            state, reason = State.CANCELLED, stop[1]
        visits[i] = ExpandedVisit(  # positional: this runs for every subject
            v.code, v.name, v.phase, v.kind, v.optional, state, v.anchor, target,
            v.window_start, end, v.study_day, v.provisional, v.actual_date, v.assessments,
            reason, v.missed_from, v.graded, v.after_leaving,
        )
    return visits


def _with_missed_from(
    plan: Plan,
    visits: list[ExpandedVisit],
    stops: Stops,
) -> list[ExpandedVisit]:
    """The visits again, each still to do with the date it counts as missed from."""
    # The completed visits of each schedule (the main one, or one phase): target, actual.
    completed: dict[str, list[tuple[date, date]]] = {}
    for v in visits:
        if v.state is State.COMPLETED and v.target_date and v.actual_date:
            completed.setdefault(v.phase, []).append((v.target_date, v.actual_date))
    out = []
    for v in visits:
        if v.state is State.PLANNED and not v.optional and v.window_end is not None:
            definition = plan.by_code[v.code]
            stop = stops.of(definition)
            since = _missed_from(definition, v, completed.get(v.phase, ()), stop)
            if since is not None:
                v = replace(v, missed_from=since)
        out.append(v)
    return out



def _missed_from(
    definition: VisitDef,
    visit: ExpandedVisit,
    completed: Sequence[tuple[date, date]],
    stop: tuple[date, str] | None,
) -> date | None:
    """From when a visit still to do counts as missed, the earliest of:

    - the protocol's grace period (``missed_after``) after its window closed;
    - the day a later visit of the same schedule (the main one, or its phase) was done,
      once its own window has closed: the subject has moved on;
    - the day the subject left (or, for a visit that stops at progression, progressed),
      when its window closed before that (a window still open then was cancelled).
    """
    assert visit.window_end is not None and visit.target_date is not None
    closed = visit.window_end + _DAY
    since: list[date] = []
    if definition.missed_after_days is not None:
        since.append(closed + timedelta(days=definition.missed_after_days))
    later = [actual for target, actual in completed if target > visit.target_date]
    if later:
        since.append(max(closed, min(later)))
    if stop is not None:
        since.append(max(closed, stop[0]))
    return min(since, default=None)


def _without_covered(plan: Plan, visits: list[ExpandedVisit]) -> list[ExpandedVisit]:
    """The visits again, a visit with ``skip_within`` not applicable while another visit
    (one without it, planned or completed, and one its ``covered_by`` names) is dated that
    close to its target; the earliest such visit is named. Covering is decided afresh each
    time: if the covering visit is cancelled, the skipped one is back."""
    dated: list[tuple[date, str]] = sorted(
        (day, v.code) for v in visits
        if plan.by_code[v.code].skip_within_days is None
        and v.state in (State.PLANNED, State.COMPLETED)
        and (day := v.actual_date or v.target_date) is not None
    )
    out = []
    for v in visits:
        definition = plan.by_code[v.code]
        within = definition.skip_within_days
        if within is not None and v.state is State.PLANNED and v.target_date is not None:
            rule = definition.covered_by
            high = v.target_date + timedelta(days=within)
            i = bisect_left(dated, (v.target_date - timedelta(days=within), ""))
            while i < len(dated) and dated[i][0] <= high:
                day, code = dated[i]
                other = plan.by_code[code]
                if rule is None or rule.covers(other.declared_phase or other.phase,
                                                  other.kind, code):
                    v = replace(v, state=State.NOT_APPLICABLE,
                                reason=f"covered by visit {code} ({day.isoformat()})")
                    break
                i += 1
        out.append(v)
    return out
