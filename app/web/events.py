"""The event form: choose an event and its date, see what it changes, then record it.

Choosing is a GET form (``.../events/new?type=death&date=...``): the page answers with
the preview of :func:`app.services.subjects.preview.preview_event`, which lists the
visits the event would cancel and those that stay as they are, and only then offers the
form that records it (a POST with the CSRF token, which never goes into an address).
No script is needed. An event that would stop visits is recorded only once its preview
was shown for that very event and date: a POST without that confirmation gets the
preview instead, so no page can cancel visits the coordinator has not seen listed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from app.access import Actor
from app.errors import FollowupError, InvalidRequest
from app.schedule.lifecycle import EventType
from app.services.accounts.signatures import can_sign
from app.services.subjects.events import record_event
from app.services.subjects.loading import LoadedSubject, get_subject
from app.services.subjects.preview import EventPreview, preview_event
from app.signatures import Meaning, Signature
from app.web.deps import CheckedForm, Code, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage, parse_date, submit
from app.web.rendering import WebRoute, redirect, render
from app.web.signing import SIGNED_EVENTS, signature_of, signing_of
from app.web.subjects import SUBJECT, subject_url

router = APIRouter(route_class=WebRoute, include_in_schema=False)

EVENT_TYPES = [(t.value, t.value.replace("_", " ").capitalize()) for t in EventType]
ChosenType = Annotated[str | None, Query(alias="type", max_length=40)]
ChosenDate = Annotated[str | None, Query(alias="date", max_length=40)]
ChosenValue = Annotated[str | None, Query(alias="value", max_length=40)]
ChosenOther = Annotated[str | None, Query(alias="other", max_length=40)]
# The events whose value is typed (a site code, a consent version), not chosen from the
# protocol's declared responses.
TYPED_VALUE = frozenset({EventType.TRANSFER, EventType.RECONSENT})


def _value(kind: EventType, values: dict[str, str]) -> str | None:
    return (values["other"] if kind in TYPED_VALUE else values["value"])[:40] or None


def confirmation(kind: EventType, day: date, value: str | None) -> str:
    """What the record form carries to say which event's preview was shown."""
    return f"{kind.value}|{day.isoformat()}|{value or ''}"


def _event_type(value: str) -> EventType:
    try:
        return EventType(value)
    except ValueError as exc:
        raise InvalidRequest("choose the kind of event") from exc


def _context(loaded: LoadedSubject, today: date, **extra: Any) -> dict[str, Any]:
    # The subject's own protocol version says which responses may be recorded (none
    # declared: a free code, as before).
    terms = loaded.plan.protocol.event_values.terms(EventType.RESPONSE)
    return {"loaded": loaded, "today": today, "types": EVENT_TYPES, "error": None,
            "terms": terms or (),
            "preview": None, "confirming": False, "confirmed": "",
            "values": {"type": "", "date": today.isoformat(), "value": "", "other": "",
                       "note": "", "reason": ""}} | extra


def _preview_context(actor: Actor, preview: EventPreview, kind: EventType) -> dict[str, Any]:
    return {"preview": preview, "event_label": kind.value.replace("_", " "),
            "confirmed": confirmation(kind, preview.event.date, preview.event.value),
            "signing": signing_of(actor, Meaning.RECORDED) if kind in SIGNED_EVENTS else None}


@router.get(SUBJECT + "/events/new")
def event_form(request: Request, db: WebDb, actor: WebActor, study: Code, subject_id: Code,
               now: NowDep, chosen_type: ChosenType = None, chosen_date: ChosenDate = None,
               chosen_value: ChosenValue = None, chosen_other: ChosenOther = None) -> Response:
    """The form; with a chosen event and date, also what recording it would change."""
    actor.require_write()
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    today = loaded.today(now)
    if chosen_type is None and chosen_date is None:
        return render(request, "event.html", _context(loaded, today))
    values = {"type": (chosen_type or "").strip(), "date": (chosen_date or "").strip(),
              "value": (chosen_value or "").strip(), "other": (chosen_other or "").strip(),
              "note": "", "reason": ""}
    page = FormPage("event.html", _context(loaded, today, values=values))
    try:
        kind = _event_type(values["type"])
        day = parse_date(values["date"], "Event date")
        preview = preview_event(db, study=study, subject_id=subject_id, type=kind, day=day,
                                value=_value(kind, values), actor=actor, now=now)
    except FollowupError as exc:
        return page.refused(request, exc)
    return render(request, "event.html",
                  {**page.context, **_preview_context(actor, preview, kind)})


@router.post(SUBJECT + "/events")
def event(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, study: Code,
          subject_id: Code, now: NowDep) -> Response:
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    today = loaded.today(now)
    values = {name: field(form, name, limit=1000)
              for name in ("type", "date", "value", "other", "note", "reason")}
    page = FormPage("event.html", _context(loaded, today, values=values))

    def change(signature: Signature | None) -> Response:
        kind = _event_type(values["type"])
        day = parse_date(values["date"], "Event date")
        value = _value(kind, values)
        preview = preview_event(db, study=study, subject_id=subject_id, type=kind, day=day,
                                value=value, actor=actor, now=now)
        if preview.stops_visits and field(form, "confirmed") != confirmation(kind, day, value):
            # Not seen for this event and date (no preview, or the choice changed since).
            return render(request, "event.html", {
                **page.context, **_preview_context(actor, preview, kind), "confirming": True,
            })
        record_event(db, study=study, subject_id=subject_id, type=kind, day=day, value=value,
                     note=values["note"] or None, reason=values["reason"] or None,
                     signature=signature, actor=actor, now=now)
        return redirect(request, subject_url(study, subject_id), notice="event")

    if values["type"] not in SIGNED_EVENTS or not can_sign(actor):
        return submit(request, db, actor, page, lambda: change(None))
    actor.require_write()  # a read-only actor gets the "Not allowed" page, as from submit
    try:
        if not values["reason"]:
            raise InvalidRequest("give the reason you sign this event for", field="reason")
        signature = signature_of(request, db, actor, form, Meaning.RECORDED, now)
    except FollowupError as exc:
        # The preview again, with what was typed (never the password).
        return _previewed(request, db, actor, page, now).refused(request, exc)
    return submit(request, db, actor, page, lambda: change(signature))


def _previewed(request: Request, db: Session, actor: Actor, page: FormPage,
               now: datetime) -> FormPage:
    """The form with the preview of the event it records (the form alone when there is
    none to show)."""
    values, loaded = page.context["values"], page.context["loaded"]
    try:
        kind = _event_type(values["type"])
        preview = preview_event(db, study=loaded.study.code,
                                subject_id=loaded.subject.subject_id, type=kind,
                                day=parse_date(values["date"], "Event date"),
                                value=_value(kind, values), actor=actor, now=now)
    except FollowupError:
        return page
    return FormPage(page.template, {**page.context, **_preview_context(actor, preview, kind)})
