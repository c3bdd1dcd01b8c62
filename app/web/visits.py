"""Forms that record a visit's outcome: record a visit, mark it missed.

Each form posts to the service the API uses, through :func:`app.web.forms.submit`: a
refused change is undone and shown on the form with the service's own message. A date
outside the visit's window is a protocol deviation: it is recorded, not refused, but the
coordinator sees it before saving (live in the browser, and as a confirmation step from
the server when scripts are off).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.access import Actor
from app.errors import NotFound
from app.schedule.status import State, deviation
from app.services.subjects.loading import LoadedSubject, get_subject, subject_calendar
from app.services.subjects.visit_rows import StoredVisit
from app.services.visits import complete_visit, mark_missed
from app.signatures import Meaning, Signature
from app.web.deps import CheckedForm, Code, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage, parse_date, submit
from app.web.rendering import WebRoute, redirect, render
from app.web.signing import signed_submit, signing_of
from app.web.subjects import SUBJECT, subject_url

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Back = Annotated[str | None, Query(max_length=20)]


def deviation_text(actual: date, start: date | None, end: date | None) -> str | None:
    """"3 days late: the window closed on ..." for a date outside the window, else None."""
    if start is None or end is None:
        return None
    early, late = deviation(actual, start, end)
    if early:
        return (f"{early} day{'s' if early != 1 else ''} early: the window opens on "
                f"{start:%a} {start.isoformat()}.")
    if late:
        return (f"{late} day{'s' if late != 1 else ''} late: the window closed on "
                f"{end:%a} {end.isoformat()}.")
    return None


def _visit(db: Session, loaded: LoadedSubject, code: str,
           now: datetime) -> tuple[StoredVisit, date]:
    today = loaded.today(now)
    stored = subject_calendar(db, loaded, today=today)
    found = next((v for v in stored.visits if v.row.code == code), None)
    if found is None:
        raise NotFound(f"visit {code} not found for subject {loaded.subject.subject_id}")
    return found, today


def _back_url(back: str | None, study: str, subject_id: str, code: str) -> str:
    if back == "worklist":
        return "/worklist"
    return subject_url(study, subject_id) + f"#visit-{code}"


def _assessments(form: FormData) -> list[str]:
    chosen = [v for v in form.getlist("assessment") if isinstance(v, str)]
    extra = field(form, "other_assessments", limit=400)
    chosen += [part.strip() for part in extra.split(",")]
    return [a[:40] for a in dict.fromkeys(a for a in chosen if a)]


def _record_context(actor: Actor, loaded: LoadedSubject, visit: StoredVisit, today: date,
                    back: str | None, **extra: Any) -> dict[str, Any]:
    row = visit.row
    done = row.state in (State.COMPLETED.value, State.MISSED.value)
    checked: Sequence[str] = (row.assessments or []) if done else visit.planned_assessments
    # Before the window opens, today is not the likely date of the visit: a date filled in
    # for the coordinator would record an early visit by a mere click on Save.
    not_open = row.window_start is not None and today < row.window_start
    return {
        "loaded": loaded, "visit": visit, "row": row, "today": today, "back": back or "",
        "correction": done, "planned": visit.planned_assessments, "checked": list(checked),
        "not_open": not_open,
        "values": {"actual_date": "" if not_open else today.isoformat(), "note": row.note or "",
                   "reason": "", "other_assessments": ""},
        "warning": None, "error": None, "confirmed_date": "",
        "signing": signing_of(actor, Meaning.CORRECTED) if done else None,
    } | extra


@router.get(SUBJECT + "/visits/{code}/record")
def record_form(request: Request, db: WebDb, actor: WebActor, study: Code, subject_id: Code,
                code: Code, now: NowDep, back: Back = None) -> Response:
    actor.require_write()
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    visit, today = _visit(db, loaded, code, now)
    return render(request, "record.html",
                  _record_context(actor, loaded, visit, today, back))


@router.post(SUBJECT + "/visits/{code}/record")
def record(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, study: Code,
           subject_id: Code, code: Code, now: NowDep) -> Response:
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    visit, today = _visit(db, loaded, code, now)
    back = field(form, "back", limit=20) or None
    values = {name: field(form, name) for name in
              ("actual_date", "note", "reason", "other_assessments")}
    chosen = _assessments(form)
    context = _record_context(actor, loaded, visit, today, back, values=values,
                              checked=chosen)

    def change(signature: Signature | None) -> Response:
        actual = parse_date(values["actual_date"], "Visit date")
        warning = (deviation_text(actual, visit.row.window_start, visit.row.window_end)
                   if visit.row.graded else None)  # a visit without a window is never late
        if warning and field(form, "confirmed_date") != actual.isoformat():
            # No script ran (or the date changed since): ask once, keeping what was typed.
            return render(request, "record.html", context | {
                "warning": warning, "confirmed_date": actual.isoformat(), "confirming": True,
            })
        complete_visit(
            db, study=study, subject_id=subject_id, code=code, actual_date=actual,
            assessments=chosen, note=values["note"] or None,
            correction=bool(context["correction"]), reason=values["reason"] or None,
            signature=signature, actor=actor, now=now,
        )
        return redirect(request, _back_url(back, study, subject_id, code).split("#")[0],
                        notice="recorded", visit=code)

    page = FormPage("record.html", context)
    if not context["correction"]:  # recording a visit the first time is not signed
        return submit(request, db, actor, page, lambda: change(None))
    return signed_submit(request, db, actor, page, form, Meaning.CORRECTED, now, change)


@router.get(SUBJECT + "/visits/{code}/missed")
def missed_form(request: Request, db: WebDb, actor: WebActor, study: Code, subject_id: Code,
                code: Code, now: NowDep, back: Back = None) -> Response:
    actor.require_write()
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    visit, today = _visit(db, loaded, code, now)
    return render(request, "missed.html", {"loaded": loaded, "row": visit.row, "today": today,
                                           "back": back or "", "reason": "", "error": None,
                                           "signing": signing_of(actor, Meaning.RECORDED)})


@router.post(SUBJECT + "/visits/{code}/missed")
def missed(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, study: Code,
           subject_id: Code, code: Code, now: NowDep) -> Response:
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    visit, today = _visit(db, loaded, code, now)
    reason, back = field(form, "reason", limit=1000), field(form, "back", limit=20) or None
    page = FormPage("missed.html", {"loaded": loaded, "row": visit.row, "today": today,
                                    "back": back or "", "reason": reason, "error": None,
                                    "signing": signing_of(actor, Meaning.RECORDED)})

    def change(signature: Signature | None) -> Response:
        mark_missed(db, study=study, subject_id=subject_id, code=code, reason=reason or None,
                    signature=signature, actor=actor, now=now)
        return redirect(request, _back_url(back, study, subject_id, code).split("#")[0],
                        notice="missed", visit=code)

    return signed_submit(request, db, actor, page, form, Meaning.RECORDED, now, change)
