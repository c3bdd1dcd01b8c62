"""Forms that correct or remove a lifecycle event recorded wrong.

Both post to the services the API uses (``PATCH`` and ``DELETE .../events/{id}``) through
:func:`app.web.forms.submit`: the corrected event is checked against every other fact,
the calendar, lifecycle and site are derived again, and a reason is required and
audited. Only the subject's current site may do it (the services say so).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.access import Actor
from app.errors import NotFound
from app.models import SubjectEvent
from app.services.subjects.events import correct_event, remove_event
from app.services.subjects.loading import LoadedSubject, get_subject, subject_calendar
from app.signatures import Meaning, Signature
from app.web.deps import CheckedForm, Code, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage, parse_date, submit
from app.web.rendering import WebRoute, redirect, render
from app.web.signing import SIGNED_EVENTS, signed_submit, signing_of
from app.web.subjects import SUBJECT, subject_url

router = APIRouter(route_class=WebRoute, include_in_schema=False)

EventId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# ":int": "events/new" (the form to record one) is never taken for an event id.
EVENT = SUBJECT + "/events/{event_id:int}"


def _event(db: Session, loaded: LoadedSubject, event_id: int, today: date) -> SubjectEvent:
    stored = subject_calendar(db, loaded, today=today)
    found = next((e for e in stored.events if e.id == event_id), None)
    if found is None:
        raise NotFound(f"event {event_id} not found for subject {loaded.subject.subject_id}")
    return found


def _context(actor: Actor, loaded: LoadedSubject, event: SubjectEvent, today: date,
             **extra: Any) -> dict[str, Any]:
    return {
        "loaded": loaded, "event": event, "today": today, "error": None,
        "values": {"date": event.date.isoformat(), "value": event.value or "",
                   "note": event.note or "", "reason": ""},
        "removal_reason": "",
        # A death, withdrawal or screen failure was signed: so are its correction and removal.
        "signing": (signing_of(actor, Meaning.CORRECTED) if event.type in SIGNED_EVENTS
                    else None),
    } | extra


@router.get(EVENT)
def event_correction_form(request: Request, db: WebDb, actor: WebActor, study: Code,
                          subject_id: Code, event_id: EventId, now: NowDep) -> Response:
    actor.require_write()
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    today = loaded.today(now)
    return render(request, "event_correction.html",
                  _context(actor, loaded, _event(db, loaded, event_id, today), today))


@router.post(EVENT)
def correct(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, study: Code,
            subject_id: Code, event_id: EventId, now: NowDep) -> Response:
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    today = loaded.today(now)
    event = _event(db, loaded, event_id, today)
    values = {"date": field(form, "date", limit=40), "value": field(form, "value", limit=40),
              "note": field(form, "note", limit=1000), "reason": field(form, "reason", limit=1000)}
    was = (event.date, event.value, event.note)

    def change(signature: Signature | None) -> Response:
        day = parse_date(values["date"], "Event date")
        _, corrected = correct_event(
            db, study=study, subject_id=subject_id, event_id=event_id, day=day,
            value=values["value"] or None, note=values["note"] or None,
            reason=values["reason"] or None, signature=signature, actor=actor, now=now,
        )
        unchanged = (corrected.date, corrected.value, corrected.note) == was
        return redirect(request, subject_url(study, subject_id),
                        notice="event-unchanged" if unchanged else "event-corrected")

    page = FormPage("event_correction.html",
                    _context(actor, loaded, event, today, values=values))
    return _submit(request, db, actor, page, form, event, now, change)


@router.post(EVENT + "/removal")
def remove(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, study: Code,
           subject_id: Code, event_id: EventId, now: NowDep) -> Response:
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    today = loaded.today(now)
    event = _event(db, loaded, event_id, today)
    reason = field(form, "reason", limit=1000)

    def change(signature: Signature | None) -> Response:
        remove_event(db, study=study, subject_id=subject_id, event_id=event_id,
                     reason=reason or None, signature=signature, actor=actor, now=now)
        return redirect(request, subject_url(study, subject_id), notice="event-removed")

    page = FormPage("event_correction.html",
                    _context(actor, loaded, event, today, removal_reason=reason))
    return _submit(request, db, actor, page, form, event, now, change)


def _submit(request: Request, db: Session, actor: Actor, page: FormPage, form: FormData,
            event: SubjectEvent, now: datetime,
            change: Callable[[Signature | None], Response]) -> Response:
    """Signed for the events recorded with a signature, else as any form."""
    if event.type in SIGNED_EVENTS:
        return signed_submit(request, db, actor, page, form, Meaning.CORRECTED, now, change)
    return submit(request, db, actor, page, lambda: change(None))
