"""Lifecycle events: response, progression, the ends of follow-up (screen failure,
completion, withdrawal, loss to follow-up, death), transfer and re-consent.

Each event carries its own date, and whether it may be recorded depends on the dates of
the facts already recorded, never on the order they arrived in
(:func:`app.schedule.lifecycle.event_conflict`): a withdrawal dated 18 January is refused
when a visit was done on 20 January, whichever was entered first, and a visit done on 17
January is accepted after it. The subject's lifecycle is derived from its events.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import (
    AlreadyRecorded,
    Conflict,
    InvalidDate,
    InvalidRequest,
    SubjectEnded,
    UnknownValue,
)
from app.models import AnchorDateRow, SubjectEvent, Visit
from app.schedule.lifecycle import (
    TERMINAL_EVENTS,
    VALUE_OF,
    Event,
    EventType,
    event_conflict,
    lifecycle_of,
)
from app.schedule.rules import check_date
from app.schedule.status import State
from app.schedule.vocabulary import refused_value
from app.services.subjects.loading import LoadedSubject, load_subject
from app.services.subjects.visit_rows import sync_subject


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


def _facts(session: Session, loaded: LoadedSubject) -> tuple[
        list[Event], list[tuple[str, date]], date | None]:
    """The subject's events, the visits done (code, actual date) and the actual date of
    its main anchor, read under the subject's lock."""
    subject = loaded.subject
    events = [
        Event(EventType(t), d, v)
        for t, d, v in session.execute(
            select(SubjectEvent.type, SubjectEvent.date, SubjectEvent.value)
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
    return events, [(code, day) for code, day in visits if day is not None], treated_on


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
    date), checked against every dated fact already recorded; the events recorded so far
    when it fits. Shared with the preview of an event, which must refuse what recording
    would."""
    subject, subject_id = loaded.subject, loaded.subject.subject_id
    _check_value(type, value, loaded.plan.protocol.allowed_values(type) or ())
    # Checked against the subject's own protocol version, which may predate vocabularies.
    if value is not None and (refused := refused_value(loaded.plan.protocol, type, value)):
        raise UnknownValue(refused.message, field="value", allowed=list(refused.allowed))
    if type is EventType.TRANSFER:
        raise InvalidRequest("a transfer to another site is recorded with the transfer route",
                             field="type")
    check_date(day, "date")
    if day > today:
        raise InvalidDate(f"event date {day.isoformat()} is in the future"
                          f" (site date {today.isoformat()})")
    if day < subject.consent_date:
        raise InvalidDate(f"event date {day.isoformat()} is before consent"
                          f" ({subject.consent_date.isoformat()})")
    events, visits_done, treated_on = _facts(session, loaded)
    new = Event(type, day, value)
    conflict = event_conflict(new, events, visits_done, treated_on)
    if conflict is not None:
        if conflict.already_recorded:
            raise AlreadyRecorded(f"subject {subject_id}: {conflict.message}")
        if type is EventType.SCREEN_FAILURE and treated_on is not None:
            raise Conflict(f"subject {subject_id}: {conflict.message}")
        raise SubjectEnded(f"subject {subject_id}: {conflict.message}")
    return events


def record_event(
    session: Session,
    *,
    study: str,
    subject_id: str,
    type: EventType,
    day: date,
    value: str | None = None,
    note: str | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[LoadedSubject, SubjectEvent]:
    """Record a lifecycle event dated ``day``.

    An end of follow-up cancels every visit not done whose window had not closed by then
    (a screen failure every visit not done); those whose window had closed count as
    missed from that day. A subject who left may still be reported dead later.
    """
    actor.require_write()
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    subject = loaded.subject
    events = check_event(session, loaded, type=type, day=day, value=value,
                         today=loaded.today(now))
    before = {"lifecycle": subject.lifecycle}
    event = SubjectEvent(subject_pk=subject.id, type=type.value, date=day, value=value, note=note)
    session.add(event)
    if type in TERMINAL_EVENTS:
        subject.lifecycle = lifecycle_of([*events, Event(type, day, value)]).value
    session.flush()
    result = sync_subject(session, subject, loaded.plan)
    after: dict[str, object] = {"type": type.value, "date": day.isoformat(), "value": value,
                                "note": note, "lifecycle": subject.lifecycle}
    loaded.audit(session, actor=actor, action="event.recorded", entity="event",
                 key=type.value, before=before, after=after | result.moved())
    return loaded, event
