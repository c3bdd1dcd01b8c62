"""A subject's page: the whole calendar as a timeline, spans, events and the audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.services.feeds import subject_feed
from app.services.subjects.loading import get_subject, subject_calendar
from app.services.trail import subject_history
from app.web.deps import Code, NowDep, WebActor, WebDb
from app.web.notices import notice_text
from app.web.rendering import WebRoute, render
from app.web.timeline import axis, changes, timeline

router = APIRouter(route_class=WebRoute, include_in_schema=False)

SUBJECT = "/studies/{study}/subjects/{subject_id}"


def subject_url(study: str, subject_id: str) -> str:
    return SUBJECT.format(study=study, subject_id=subject_id)


@router.get(SUBJECT)
def subject_page(
    request: Request,
    db: WebDb,
    actor: WebActor,
    study: Code,
    subject_id: Code,
    now: NowDep,
    notice: Annotated[str | None, Query(max_length=40)] = None,
    visit: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    today = loaded.today(now)
    stored = subject_calendar(db, loaded, today=today)
    history = subject_history(db, actor=actor, study=study, subject_id=subject_id)
    labels = {a.name: a.label for a in loaded.plan.protocol.anchors}
    can_change = loaded.changeable_by(actor)
    # A site the subject was transferred away from still records the visits of its own.
    writable = {v.row.code for v in stored.visits if can_change or (
        actor.can_write and actor.sees(study=study, site=stored.sites[v.row.site_id]))}
    return render(request, "subject.html", {
        "loaded": loaded,
        "subject": loaded.subject,
        "study": loaded.study,
        "site": loaded.site,
        "today": today,
        "entries": timeline(stored.visits, today),
        "axis": axis(stored.calendar.periods, stored.calendar.endpoints, today),
        "phases": stored.calendar.phases,
        "opened": stored.calendar.opened,
        # Consent is shown on its own; the other anchors with the protocol's labels.
        "anchors": [(labels.get(a.name, a.name), a) for a in stored.anchors
                    if a.name != "consent"],
        "events": stored.events,
        "consent_version": stored.consent_version,
        "can_change": can_change,
        "writable": writable,
        "sites": stored.sites,
        "moved": len(stored.sites) > 1,
        "history": [(entry, changes(entry)) for entry in reversed(history.items)],
        "history_more": history.next_cursor is not None,
        "notice": notice_text(notice, visit),
    })


@router.get(SUBJECT + "/calendar.ics")
def subject_ics(request: Request, db: WebDb, actor: WebActor, study: Code,
                subject_id: Code, now: NowDep) -> Response:
    """The same document as the API's subject feed, for a signed-in browser to download."""
    body = subject_feed(db, study=study, subject_id=subject_id, actor=actor, now=now)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{study}-{subject_id}.ics"',
        "Cache-Control": "no-store",
    })
