"""What recording a lifecycle event would change, said before it is recorded.

Nothing is written. The subject's calendar is expanded twice by the engine
(:func:`app.schedule.expand.expand`), without and with the event, and each visit's state
is compared: whatever rules decide what an event cancels, the preview says what they
decide, since it asks them rather than restating them. The event is checked first as
recording it would check it (:func:`app.services.subjects.events.check_event`), so a
preview never shows the consequences of an event that would be refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from app.access import Actor
from app.schedule.expand import ExpandedVisit, expand
from app.schedule.lifecycle import Event, EventType
from app.schedule.status import DONE_STATES, State, Status, visit_status
from app.services.subjects.events import check_event
from app.services.subjects.loading import get_subject
from app.services.subjects.visit_rows import load_state

# States in which a visit stops: no one is to do it any more.
STOPPED_STATES = frozenset({State.CANCELLED, State.NOT_APPLICABLE})


@dataclass(frozen=True, slots=True)
class PreviewVisit:
    """One visit as the event would leave it, beside the state it has now."""

    code: str
    name: str
    target_date: date | None
    window_start: date | None
    window_end: date | None
    before: State
    after: State
    status: Status  # as of the site's today, as things stand (before the event)
    reason: str | None  # why, when the event changes the visit

    @property
    def changed(self) -> bool:
        return self.before is not self.after


@dataclass(frozen=True, slots=True)
class EventPreview:
    """What recording ``event`` changes, visit by visit."""

    event: Event
    today: date
    cancelled: tuple[PreviewVisit, ...]  # not done, cancelled by the event
    changed: tuple[PreviewVisit, ...]  # any other change of state (a phase opening or closing)
    unchanged: tuple[PreviewVisit, ...]  # not done and left as they are
    done: int  # completed or missed: an event never changes them

    @property
    def stops_visits(self) -> bool:
        """Whether some visit still to do would no longer be done."""
        return bool(self.cancelled) or any(v.after in STOPPED_STATES for v in self.changed)


def preview_event(
    session: Session,
    *,
    study: str,
    subject_id: str,
    type: EventType,
    day: date,
    value: str | None = None,
    actor: Actor,
    now: datetime,
) -> EventPreview:
    """What recording the event would change, refused exactly as recording it would be."""
    loaded = get_subject(session, study=study, subject_id=subject_id, actor=actor)
    today = loaded.today(now)
    check_event(session, loaded, type=type, day=day, value=value, today=today)
    state = load_state(session, loaded.subject.id)
    plan = loaded.plan
    event = Event(type, day, value)
    before = expand(plan, state.anchors, state.events, state.records)
    after = expand(plan, state.anchors, [*state.events, event], state.records)
    upcoming = plan.protocol.study.upcoming_days
    was = {v.code: v for v in before.visits}
    cancelled: list[PreviewVisit] = []
    changed: list[PreviewVisit] = []
    unchanged: list[PreviewVisit] = []
    done = 0
    for visit in sorted(after.visits, key=_chronological):
        if visit.state in DONE_STATES:
            done += 1
            continue
        shown = _shown(was.get(visit.code, visit), visit, today, upcoming)
        old = shown.before
        if old is visit.state:
            if old not in STOPPED_STATES:  # what had stopped already is not news
                unchanged.append(shown)
        elif visit.state is State.CANCELLED:
            cancelled.append(shown)
        else:
            changed.append(shown)
    return EventPreview(event, today, tuple(cancelled), tuple(changed), tuple(unchanged), done)


def _chronological(visit: ExpandedVisit) -> tuple[bool, date]:
    return visit.target_date is None, visit.target_date or date.min


def _shown(now: ExpandedVisit, then: ExpandedVisit, today: date, upcoming: int) -> PreviewVisit:
    """The visit as it is (``now``) and as the event would leave it (``then``)."""
    info = visit_status(
        state=now.state, window_start=now.window_start, window_end=now.window_end,
        actual_date=now.actual_date, optional=now.optional, today=today,
        upcoming_days=upcoming,
    )
    moved = now.state is not then.state
    return PreviewVisit(
        then.code, then.name, then.target_date, then.window_start, then.window_end,
        now.state, then.state, info.status, then.reason if moved else None,
    )
