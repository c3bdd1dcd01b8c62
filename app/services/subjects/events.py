"""Lifecycle events: response, progression, the ends of follow-up (screen failure,
completion, withdrawal, loss to follow-up, death), transfer and re-consent; and the
correction or removal of an event recorded wrong.

Each event carries its own date, and whether it may be recorded depends on the dates of
the facts already recorded, never on the order they arrived in
(:func:`app.schedule.lifecycle.event_conflict`): a withdrawal dated 18 January is refused
when a visit was done on 20 January, whichever was entered first, and a visit done on 17
January is accepted after it. A correction or a removal is checked the same way against
every other fact, and re-evaluates everything: the calendar, the lifecycle and the site
(each derived from the facts by the sync, :func:`.visit_rows.sync_subject`).

An event that would leave visits already recorded (completed or documented as missed) in
a conditional phase that has not opened, or can no longer open, is refused, recorded,
corrected or removed alike (a response removed, or corrected to a value that opens
nothing, after the transplant): such a visit could not have been recorded with those
events, so the same facts are refused whichever arrives last; the 409 names the visits.

A transfer's value is the code of a site taking part in the study; from the transfer's
date the subject, and every visit dated from then on, belong to that site. A removed
event's row is deleted: its audit record keeps the whole of it (type, date, value, note,
when it was recorded) with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import (
    AlreadyRecorded,
    Conflict,
    InvalidDate,
    InvalidRequest,
    NotFound,
    SubjectEnded,
    UnknownValue,
)
from app.models import AnchorDateRow, Site, StudySite, SubjectEvent, Visit
from app.schedule.lifecycle import (
    VALUE_OF,
    Event,
    EventType,
    event_conflict,
    transfer_conflict,
)
from app.schedule.rules import check_date, require_reason
from app.schedule.standing import RecordedVisit, phases_with_records
from app.schedule.status import DONE_STATES, State
from app.schedule.vocabulary import refused_value
from app.services.subjects.loading import LoadedSubject, load_subject, reloaded
from app.services.subjects.sync import sync_subject
from app.signatures import Signature


def _check_value(type: EventType, value: str | None, allowed: tuple[str, ...]) -> None:
    what = VALUE_OF.get(type)
    if allowed:
        what = f"one of {', '.join(allowed)}"
    if what is not None and not value:
        raise InvalidRequest(f"a {type.value.replace('_', ' ')} event needs a value: {what}",
                             field="value")
    if what is None and value is not None:
        carrying = ", ".join(t.value for t in VALUE_OF)
        raise InvalidRequest(f"only these events carry a value: {carrying}", field="value")


@dataclass(frozen=True, slots=True)
class Facts:
    """What a new or corrected event is checked against, read under the subject's lock."""

    events: list[tuple[int, Event]]  # (row id, event), by date
    visits_done: list[tuple[str, date]]  # code and actual date, latest first
    treated_on: date | None  # the actual date of the main anchor
    enrolled_site: str  # the code of the site the subject was enrolled at

    def without(self, event_id: int | None) -> list[Event]:
        """The events but the one of row ``event_id`` (None: every event)."""
        return [e for ident, e in self.events if ident != event_id]


def _facts(session: Session, loaded: LoadedSubject) -> Facts:
    subject = loaded.subject
    events = [
        (ident, Event(EventType(t), d, v))
        for ident, t, d, v in session.execute(
            select(SubjectEvent.id, SubjectEvent.type, SubjectEvent.date, SubjectEvent.value)
            .where(SubjectEvent.subject_pk == subject.id)
            .order_by(SubjectEvent.date, SubjectEvent.id)
        ).tuples()
    ]
    visits = list(session.execute(
        select(Visit.code, Visit.actual_date)
        .where(Visit.subject_pk == subject.id, Visit.state == State.COMPLETED.value,
               Visit.actual_date.is_not(None))
        .order_by(Visit.actual_date.desc(), Visit.code)
    ).tuples())
    treated_on = session.scalar(
        select(AnchorDateRow.date).where(
            AnchorDateRow.subject_pk == subject.id,
            AnchorDateRow.name == loaded.plan.protocol.main_anchor,
            AnchorDateRow.actual.is_(True),
        )
    )
    enrolled = session.scalar(select(Site.code).where(Site.id == subject.enrolled_site_id))
    assert enrolled is not None  # a foreign key
    return Facts(events, [(code, day) for code, day in visits if day is not None], treated_on,
                 enrolled)


def check_event(
    session: Session,
    loaded: LoadedSubject,
    *,
    type: EventType,
    day: date,
    value: str | None,
    today: date,
) -> list[Event]:
    """Refuse an event that may not be recorded for this subject on ``today`` (the site's
    date), checked as recording it checks it; the events recorded so far when it fits.
    The preview of an event uses it, so that it never shows what would be refused."""
    facts = _facts(session, loaded)
    others = facts.without(None)
    _check(session, loaded, Event(type, day, value), others, facts, today)
    return others


def _check_destination(session: Session, loaded: LoadedSubject, code: str) -> None:
    """A transfer goes to a site taking part in the study (a code that does not exist is
    reported the same way, so the answer reveals nothing more)."""
    linked = session.scalar(
        select(Site.id).join(StudySite, StudySite.site_id == Site.id)
        .where(Site.code == code, StudySite.study_id == loaded.study.id)
    )
    if linked is None:
        raise InvalidRequest(f"site {code} does not take part in study {loaded.study.code}",
                             field="value")


def _check(session: Session, loaded: LoadedSubject, new: Event, others: list[Event],
           facts: Facts, today: date) -> None:
    """Refuse ``new`` unless it fits every other fact (the same checks for an event
    recorded, and for one corrected)."""
    subject_id = loaded.subject.subject_id
    allowed = loaded.plan.protocol.allowed_values(new.type) or ()
    _check_value(new.type, new.value, allowed)
    # Checked against the subject's own protocol version, which may predate vocabularies.
    if new.value is not None and (
            refused := refused_value(loaded.plan.protocol, new.type, new.value)):
        raise UnknownValue(refused.message, field="value", allowed=list(refused.allowed))
    check_date(new.date, "date")
    if new.date > today:
        raise InvalidDate(f"event date {new.date.isoformat()} is in the future"
                          f" (site date {today.isoformat()})")
    consent = loaded.subject.consent_date
    if new.date < consent:
        raise InvalidDate(f"event date {new.date.isoformat()} is before consent"
                          f" ({consent.isoformat()})")
    if new.type is EventType.TRANSFER and new.value is not None:
        _check_destination(session, loaded, new.value)
    leaving = [v.code for v in loaded.plan.visits if v.after_leaving]
    conflict = event_conflict(new, others, facts.visits_done, facts.treated_on, leaving)
    if conflict is not None:
        if conflict.already_recorded:
            raise AlreadyRecorded(f"subject {subject_id}: {conflict.message}")
        if new.type is EventType.SCREEN_FAILURE and facts.treated_on is not None:
            raise Conflict(f"subject {subject_id}: {conflict.message}")
        raise SubjectEnded(f"subject {subject_id}: {conflict.message}")
    _check_transfers(facts.enrolled_site, [*others, new])
    _check_phases(session, loaded, [*others, new], "with this event")


def _check_phases(session: Session, loaded: LoadedSubject, events: list[Event],
                  change: str) -> None:
    """Refuse events that would leave recorded visits in a conditional phase not open
    (:func:`app.schedule.standing.phases_with_records`): 409 naming them."""
    plan = loaded.plan
    if not plan.phases:
        return
    recorded = [
        RecordedVisit(code, State(state), day)
        for code, state, day in session.execute(
            select(Visit.code, Visit.state, Visit.actual_date)
            .where(Visit.subject_pk == loaded.subject.id,
                   Visit.phase.in_([p.code for p in plan.phases]),
                   Visit.state.in_([s.value for s in DONE_STATES]))
        ).tuples()
    ]
    stranded = phases_with_records(plan, events, recorded)
    if stranded:
        raise Conflict(f"subject {loaded.subject.subject_id}: {change}, "
                       + "; ".join(str(p) for p in stranded),
                       recorded_visits=[v.code for p in stranded for v in p.visits])


def _check_transfers(enrolled: str, events: list[Event]) -> None:
    problem = transfer_conflict(enrolled, events)
    if problem is not None:
        raise InvalidRequest(problem, field="value")


def _state(session: Session, loaded: LoadedSubject) -> dict[str, Any]:
    """The subject's derived facts an event changes, for the trail."""
    subject = loaded.subject
    site = session.scalar(select(Site.code).where(Site.id == subject.site_id))
    return {"lifecycle": subject.lifecycle, "site": site}


def _changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[
        dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _event_fields(row: SubjectEvent) -> dict[str, Any]:
    return {"type": row.type, "date": row.date.isoformat(), "value": row.value,
            "note": row.note}


def record_event(
    session: Session,
    *,
    study: str,
    subject_id: str,
    type: EventType,
    day: date,
    value: str | None = None,
    note: str | None = None,
    reason: str | None = None,
    signature: Signature | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[LoadedSubject, SubjectEvent]:
    """Record a lifecycle event dated ``day``.

    An end of follow-up cancels every visit not done whose window had not closed by then
    (a screen failure every visit not done); those whose window had closed count as
    missed from that day. A subject who left may still be reported dead later. A
    transfer moves the subject, and its visits from ``day`` on, to the site ``value``.
    ``reason`` and ``signature`` (the pages' signed death, withdrawal or screen failure)
    go into the audit record.
    """
    actor.require_write()
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    facts = _facts(session, loaded)
    new = Event(type, day, value)
    _check(session, loaded, new, facts.without(None), facts, loaded.today(now))
    before = _state(session, loaded)
    event = SubjectEvent(subject_pk=loaded.subject.id, type=type.value, date=day, value=value,
                         note=note)
    session.add(event)
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    was, now_is = _changed(before, _state(session, loaded))
    after: dict[str, Any] = {"id": event.id, **_event_fields(event),
                             "lifecycle": loaded.subject.lifecycle, **now_is}
    loaded.audit(session, actor=actor, action="event.recorded", entity="event",
                 key=type.value, before={"lifecycle": before["lifecycle"], **was},
                 after=after | result.moved(), reason=reason, signature=signature)
    return reloaded(session, loaded), event


def _lock_event(session: Session, loaded: LoadedSubject, event_id: int) -> SubjectEvent:
    event = session.scalars(
        select(SubjectEvent)
        .where(SubjectEvent.id == event_id, SubjectEvent.subject_pk == loaded.subject.id)
        .execution_options(populate_existing=True)
    ).first()
    if event is None:
        raise NotFound(f"event {event_id} not found for subject {loaded.subject.subject_id}")
    return event


def correct_event(
    session: Session,
    *,
    study: str,
    subject_id: str,
    event_id: int,
    day: date | None = None,
    value: str | None = None,
    note: str | None = None,
    reason: str | None,
    signature: Signature | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[LoadedSubject, SubjectEvent]:
    """Change the date, value or note of an event (what is None stays as it is).

    The event as corrected must fit every other fact, as a new one would; then the
    calendar, lifecycle and site are derived again. A correction needs a reason; one
    that changes nothing writes nothing.
    """
    actor.require_write()
    why = require_reason(reason, "an event correction")
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    event = _lock_event(session, loaded, event_id)
    facts = _facts(session, loaded)
    new = Event(EventType(event.type), event.date if day is None else day,
                event.value if value is None else value)
    if (new.date, new.value, note if note is not None else event.note) == (
            event.date, event.value, event.note):
        return loaded, event
    _check(session, loaded, new, facts.without(event.id), facts, loaded.today(now))
    before = _state(session, loaded) | _event_fields(event)
    event.date, event.value = new.date, new.value
    if note is not None:
        event.note = note
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    was, now_is = _changed(before, _state(session, loaded) | _event_fields(event))
    loaded.audit(session, actor=actor, action="event.corrected", entity="event",
                 key=event.type, before={"id": event.id, **was},
                 after={"id": event.id, **now_is} | result.moved(), reason=why,
                 signature=signature)
    return reloaded(session, loaded), event


def remove_event(
    session: Session,
    *,
    study: str,
    subject_id: str,
    event_id: int,
    reason: str | None,
    signature: Signature | None = None,
    actor: Actor,
    now: datetime,
) -> LoadedSubject:
    """Remove an event recorded in error (with a reason): the row is deleted, the audit
    record keeps all of it, and the calendar, lifecycle and site are derived again."""
    actor.require_write()
    why = require_reason(reason, "removing an event")
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    event = _lock_event(session, loaded, event_id)
    facts = _facts(session, loaded)
    # Removing a fact never makes the others contradict each other, except a chain of
    # transfers (A to B, then B to A: without the first, the second goes nowhere) and the
    # event that opened a phase whose visits are recorded.
    _check_transfers(facts.enrolled_site, facts.without(event.id))
    _check_phases(session, loaded, facts.without(event.id), "without this event")
    before = _state(session, loaded) | _event_fields(event) | {
        "id": event.id, "recorded_at": event.recorded_at.isoformat()}
    session.delete(event)
    session.flush()
    result = sync_subject(session, loaded.subject, loaded.plan)
    after = {k: v for k, v in _state(session, loaded).items() if before[k] != v}
    loaded.audit(session, actor=actor, action="event.removed", entity="event",
                 key=before["type"], before=before, after=after | result.moved(), reason=why,
                 signature=signature)
    return reloaded(session, loaded)
