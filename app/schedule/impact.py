"""What applying a new protocol version would do to one subject's calendar (pure).

The subject's facts (anchors, events, recorded visits) are expanded under both
versions; the difference, visit by visit and endpoint window by endpoint window, is
the impact. Applying never changes a recorded fact:

- a visit still to do moves with the new timing, or appears;
- a visit still to do that the new version no longer has is *cancelled* ("removed by
  amendment N"), never deleted;
- a done visit (completed, missed) keeps its outcome, actual date and assessments; its
  target and window follow the new version like any other visit's, so one completed
  inside its old window may now be outside its new one: reported, not changed;
- a done visit the new version no longer has is kept as recorded.

An amendment that requires re-consent applies only to a subject who has re-consented to
its consent version (a re-consent event carrying it), or whose follow-up has ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from app.schedule.calendar import EndpointStatus, EndpointWindow, endpoint_windows
from app.schedule.expand import AnchorDate, ExpandedVisit, VisitRecord, expand
from app.schedule.lifecycle import Event, EventType, end_of_follow_up
from app.schedule.plan import Plan
from app.schedule.status import DONE_STATES, State


class Effect(StrEnum):
    MOVED = "moved"  # target date or window changes
    APPEARS = "appears"  # a visit the old version did not have
    CANCELLED = "cancelled"  # removed by the amendment while still to do
    KEPT = "kept"  # removed by the amendment, but done: kept as recorded
    STATUS = "status"  # its state changes (planned, pending, cancelled, not applicable)
    OUT_OF_WINDOW = "out_of_window"  # done inside its old window, outside its new one


@dataclass(frozen=True, slots=True)
class Dates:
    target: date | None
    window_start: date | None
    window_end: date | None

    def contains(self, day: date) -> bool:
        return (self.window_start is not None and self.window_end is not None
                and self.window_start <= day <= self.window_end)

    def record(self) -> dict[str, str | None]:
        """As the audit trail and JSON output write it: ISO dates, null when unknown."""
        return {"target_date": iso_day(self.target), "window_start": iso_day(self.window_start),
                "window_end": iso_day(self.window_end)}


def iso_day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class VisitImpact:
    code: str
    effects: tuple[Effect, ...]
    before: Dates | None  # None: the visit appears
    after: Dates | None  # None: removed (cancelled or kept as recorded)
    state_before: State | None
    state_after: State | None
    actual_date: date | None = None


@dataclass(frozen=True, slots=True)
class EndpointImpact:
    code: str  # e.g. "DORIS@6 months"
    effects: tuple[Effect, ...]
    before: Dates | None
    after: Dates | None
    status_before: EndpointStatus | None
    status_after: EndpointStatus | None


@dataclass(frozen=True, slots=True)
class SubjectImpact:
    visits: tuple[VisitImpact, ...]
    endpoints: tuple[EndpointImpact, ...]
    blocked: str | None = None  # why the amendment may not apply yet (re-consent)

    @property
    def changes_anything(self) -> bool:
        return bool(self.visits or self.endpoints)


def removed_reason(plan: Plan) -> str:
    """The reason a visit the new version removed is cancelled with."""
    amendment = plan.protocol.amendment
    if amendment is None:
        return f"removed by protocol version {plan.protocol.study.version}"
    return f"removed by amendment {amendment.number}"


def required_consent(plan: Plan) -> str | None:
    """The consent version a subject must have re-consented to; None: none is needed."""
    amendment = plan.protocol.amendment
    if amendment is None or not amendment.reconsent:
        return None
    return amendment.consent_version or plan.protocol.study.version


def reconsent_missing(plan: Plan, events: Sequence[Event]) -> str | None:
    """Why the subject may not move to ``plan`` yet, or None when it may."""
    needed = required_consent(plan)
    if needed is None or end_of_follow_up(events) is not None:
        return None
    if any(e.type is EventType.RECONSENT and e.value == needed for e in events):
        return None
    amendment = plan.protocol.amendment
    assert amendment is not None  # required_consent said so
    return f"amendment {amendment.number} needs re-consent to consent version {needed}"


def _dates(v: ExpandedVisit | EndpointWindow) -> Dates:
    return Dates(v.target_date, v.window_start, v.window_end)


def _visit(old: ExpandedVisit | None, new: ExpandedVisit | None) -> VisitImpact | None:
    if old is None:
        assert new is not None
        return VisitImpact(new.code, (Effect.APPEARS,), None, _dates(new), None, new.state)
    if new is None:
        if old.state in DONE_STATES:
            return VisitImpact(old.code, (Effect.KEPT,), _dates(old), None, old.state,
                               old.state, old.actual_date)
        if old.state in (State.CANCELLED, State.NOT_APPLICABLE):
            return None  # nothing the subject would see changes
        return VisitImpact(old.code, (Effect.CANCELLED,), _dates(old), None, old.state,
                           State.CANCELLED)
    effects: list[Effect] = []
    before, after = _dates(old), _dates(new)
    if before != after:
        effects.append(Effect.MOVED)
    if old.state != new.state:
        effects.append(Effect.STATUS)
    actual = old.actual_date
    if (old.state is State.COMPLETED and actual is not None and before.contains(actual)
            and not after.contains(actual)):
        effects.append(Effect.OUT_OF_WINDOW)
    if not effects:
        return None
    return VisitImpact(old.code, tuple(effects), before, after, old.state, new.state, actual)


def _endpoint(old: EndpointWindow | None, new: EndpointWindow | None) -> EndpointImpact | None:
    if old is None:
        assert new is not None
        return EndpointImpact(new.code, (Effect.APPEARS,), None, _dates(new), None, new.status)
    if new is None:
        return EndpointImpact(old.code, (Effect.CANCELLED,), _dates(old), None, old.status,
                              None)
    effects = []
    if _dates(old) != _dates(new):
        effects.append(Effect.MOVED)
    if old.status is not new.status:
        effects.append(Effect.STATUS)
    if not effects:
        return None
    return EndpointImpact(old.code, tuple(effects), _dates(old), _dates(new), old.status,
                          new.status)


def subject_impact(
    old: Plan,
    new: Plan,
    anchors: Mapping[str, AnchorDate],
    events: Sequence[Event],
    records: Mapping[str, VisitRecord],
    *,
    today: date,
) -> SubjectImpact:
    """What moving one subject from ``old`` to ``new`` would change (see the module).

    Visits are listed in the new version's order, then those it removed; ``today`` (the
    site's local date) only decides the endpoint windows' statuses.
    """
    before = {v.code: v for v in expand(old, anchors, events, records).visits}
    after = {v.code: v for v in expand(new, anchors, events, records).visits}
    visits = [_visit(before.get(code), v) for code, v in after.items()]
    visits += [_visit(v, None) for code, v in before.items() if code not in after]
    old_eps = {e.code: e for e in endpoint_windows(old, anchors, events, list(before.values()),
                                                   today)}
    new_eps = {e.code: e for e in endpoint_windows(new, anchors, events, list(after.values()),
                                                   today)}
    endpoints = [_endpoint(old_eps.get(code), e) for code, e in new_eps.items()]
    endpoints += [_endpoint(e, None) for code, e in old_eps.items() if code not in new_eps]
    return SubjectImpact(
        visits=tuple(v for v in visits if v is not None),
        endpoints=tuple(e for e in endpoints if e is not None),
        blocked=reconsent_missing(new, events),
    )
