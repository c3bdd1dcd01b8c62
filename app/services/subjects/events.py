"""Lifecycle events: response, progression, death, withdrawal, loss to follow-up.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import (
    AlreadyRecorded,
    InvalidDate,
    InvalidRequest,
    SubjectEnded,
)
from app.models import SubjectEvent
from app.schedule.expand import ENDS_AS, TERMINAL_EVENTS, EventType, Lifecycle
from app.schedule.rules import check_date
from app.services.subjects.loading import LoadedSubject, load_subject
from app.services.subjects.visit_rows import (
    sync_subject,
)


def check_event(
    loaded: LoadedSubject, *, type: EventType, day: date, value: str | None, today: date
) -> None:
    """Refuse an event that may not be recorded for this subject on ``today`` (the site's
    date). Shared with the preview of an event, which must refuse what recording would."""
    subject, subject_id = loaded.subject, loaded.subject.subject_id
    if type is EventType.RESPONSE and not value:
        raise InvalidRequest("a response event needs a value such as CR or PR", field="value")
    if type is not EventType.RESPONSE and value is not None:
        raise InvalidRequest("only a response event carries a value", field="value")
    check_date(day, "date")
    if day > today:
        raise InvalidDate(f"event date {day.isoformat()} is in the future"
                          f" (site date {today.isoformat()})")
    if day < subject.consent_date:
        raise InvalidDate(f"event date {day.isoformat()} is before consent"
                          f" ({subject.consent_date.isoformat()})")
    if subject.lifecycle == Lifecycle.DIED:
        if type is EventType.DEATH:
            raise AlreadyRecorded(f"the death of subject {subject_id} is already recorded")
        raise SubjectEnded(f"subject {subject_id} has died; no further events")
    if subject.lifecycle != Lifecycle.ACTIVE and type is not EventType.DEATH:
        raise SubjectEnded(f"subject {subject_id} is {subject.lifecycle.replace('_', ' ')};"
                           " only a death may still be recorded")


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
    """Record a response, progression, death, withdrawal or loss to follow-up.

    Death, withdrawal and loss end the subject's follow-up: every visit not done whose
    window had not closed by then is cancelled (kept, with the reason). A withdrawn or
    lost subject may still be reported dead later (overall survival needs it).
    """
    actor.require_write()
    loaded = load_subject(session, study=study, subject_id=subject_id, actor=actor, lock=True)
    subject = loaded.subject
    check_event(loaded, type=type, day=day, value=value, today=loaded.today(now))
    before = {"lifecycle": subject.lifecycle}
    event = SubjectEvent(subject_pk=subject.id, type=type.value, date=day, value=value, note=note)
    session.add(event)
    if type in TERMINAL_EVENTS:
        subject.lifecycle = ENDS_AS[type].value
    session.flush()
    result = sync_subject(session, subject, loaded.plan)
    after: dict[str, object] = {"type": type.value, "date": day.isoformat(), "value": value,
                                "note": note, "lifecycle": subject.lifecycle}
    loaded.audit(session, actor=actor, action="event.recorded", entity="event",
                 key=type.value, before=before, after=after | result.moved())
    return loaded, event
