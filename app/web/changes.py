"""Forms that change a subject's calendar: set or correct an anchor date, record an
unscheduled visit.

Both post to the service the API uses, through :func:`app.web.forms.submit`. Moving an
anchor re-syncs the calendar (visits not done follow it, done visits keep their dates);
correcting a date already recorded needs a reason, which the service asks for and the form
shows. A read-only token gets the "Not allowed" page, as on the other forms' addresses.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.errors import InvalidRequest, NotFound
from app.schedule.language import Anchor
from app.schedule.names import CODE_PATTERN, NAME_PATTERN
from app.schedule.plan import Plan
from app.schedule.status import DONE_STATES, State
from app.services.subjects.anchors import set_anchor
from app.services.subjects.loading import LoadedSubject, get_subject, subject_calendar
from app.services.visits import VISIT_KINDS, record_unscheduled
from app.web.deps import CheckedForm, Code, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage, parse_date, submit
from app.web.rendering import WebRoute, redirect, render
from app.web.subjects import SUBJECT, subject_url

router = APIRouter(route_class=WebRoute, include_in_schema=False)

AnchorName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=40)]
KINDS = {"planned": False, "actual": True}
MAX_ASSESSMENTS = 50  # as many as the API takes
_ASSESSMENT = re.compile(CODE_PATTERN)
DONE = {s.value for s in DONE_STATES}
OPEN = (State.PLANNED.value, State.PENDING.value)  # these follow a moved anchor


# --- anchor dates ------------------------------------------------------------------------


def _anchor_definition(loaded: LoadedSubject, name: str) -> Anchor:
    # The consent date is not offered: it belongs to the enrolment record (shown apart on
    # the subject page) and is corrected through the API, which re-checks eligibility.
    definition = next((a for a in loaded.plan.protocol.anchors if a.name == name), None)
    if definition is None or name == "consent":
        raise NotFound(f"anchor {name} is not defined by the protocol of study "
                       f"{loaded.study.code}")
    return definition


def _anchor_context(db: Session, loaded: LoadedSubject, name: str, today: date,
                    **extra: Any) -> dict[str, Any]:
    definition = _anchor_definition(loaded, name)
    stored = subject_calendar(db, loaded, today=today)
    current = next((a for a in stored.anchors if a.name == name), None)
    timed = [v.row for v in stored.visits
             if not v.row.unscheduled
             and (planned := loaded.plan.by_code.get(v.row.code)) is not None
             and planned.anchor == name]
    return {
        "loaded": loaded, "today": today, "anchor": definition, "error": None,
        "current": None if current is None else {"date": current.date,
                                                 "actual": current.actual},
        "moving": [row.code for row in timed if row.state in OPEN],
        "staying": [row.code for row in timed if row.state in DONE],
        "values": {
            "date": current.date.isoformat() if current else "",
            "kind": "actual" if current is not None and current.actual else "planned",
            "reason": "",
        },
    } | extra


def _actual(kind: str) -> bool:
    if kind not in KINDS:
        raise InvalidRequest("choose whether the date is planned or has already happened")
    return KINDS[kind]


@router.get(SUBJECT + "/anchors/{anchor}")
def anchor_form(request: Request, db: WebDb, actor: WebActor, study: Code, subject_id: Code,
                anchor: AnchorName, now: NowDep) -> Response:
    actor.require_write()
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    return render(request, "anchor.html",
                  _anchor_context(db, loaded, anchor, loaded.today(now)))


@router.post(SUBJECT + "/anchors/{anchor}")
def save_anchor(request: Request, db: WebDb, actor: WebActor, form: CheckedForm, study: Code,
                subject_id: Code, anchor: AnchorName, now: NowDep) -> Response:
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    values = {"date": field(form, "date", limit=40), "kind": field(form, "kind", limit=20),
              "reason": field(form, "reason", limit=1000)}
    context = _anchor_context(db, loaded, anchor, loaded.today(now), values=values)

    def change() -> Response:
        day = parse_date(values["date"], "Date")
        _, changed = set_anchor(
            db, study=study, subject_id=subject_id, name=anchor, day=day,
            actual=_actual(values["kind"]), reason=values["reason"] or None, actor=actor,
            now=now,
        )
        return redirect(request, subject_url(study, subject_id),
                        notice="anchor" if changed else "anchor-unchanged", visit=anchor)

    return submit(request, db, actor, FormPage("anchor.html", context), change)


# --- unscheduled visits ------------------------------------------------------------------


def assessment_choices(plan: Plan) -> list[str]:
    """The assessment codes the protocol uses (visits, then endpoints), each once."""
    codes = [a for visit in plan.visits for a in visit.assessments]
    codes += [e.assessment_code for e in plan.protocol.endpoints]
    return list(dict.fromkeys(codes))


def _unscheduled_assessments(form: FormData) -> list[str]:
    chosen = [v.strip() for v in form.getlist("assessment") if isinstance(v, str)]
    chosen += [part.strip() for part in field(form, "other_assessments", limit=1000).split(",")]
    codes = list(dict.fromkeys(a for a in chosen if a))
    wrong = [a for a in codes if len(a) > 40 or not _ASSESSMENT.match(a)]
    if wrong:
        raise InvalidRequest(f"assessment {wrong[0][:40]!r} is not a code: use letters, digits"
                             " and _ . + - (up to 40), separated by commas")
    if len(codes) > MAX_ASSESSMENTS:
        raise InvalidRequest(f"at most {MAX_ASSESSMENTS} assessments per visit")
    return codes


def _unscheduled_context(loaded: LoadedSubject, today: date, **extra: Any) -> dict[str, Any]:
    return {
        "loaded": loaded, "today": today, "kinds": VISIT_KINDS, "error": None,
        "choices": assessment_choices(loaded.plan), "checked": [],
        "values": {"date": today.isoformat(), "name": "", "kind": "clinic",
                   "other_assessments": "", "note": ""},
    } | extra


@router.get(SUBJECT + "/visits/new")
def unscheduled_form(request: Request, db: WebDb, actor: WebActor, study: Code,
                     subject_id: Code, now: NowDep) -> Response:
    actor.require_write()
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    return render(request, "unscheduled.html",
                  _unscheduled_context(loaded, loaded.today(now)))


@router.post(SUBJECT + "/visits")
def save_unscheduled(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                     study: Code, subject_id: Code, now: NowDep) -> Response:
    loaded = get_subject(db, study=study, subject_id=subject_id, actor=actor)
    values = {"date": field(form, "date", limit=40), "name": field(form, "name", limit=200),
              "kind": field(form, "kind", limit=20),
              "other_assessments": field(form, "other_assessments", limit=1000),
              "note": field(form, "note", limit=2000)}
    checked = [v for v in form.getlist("assessment") if isinstance(v, str)]
    context = _unscheduled_context(loaded, loaded.today(now), values=values,
                                   checked=checked)

    def change() -> Response:
        day = parse_date(values["date"], "Visit date")
        outcome = record_unscheduled(
            db, study=study, subject_id=subject_id, day=day, name=values["name"] or None,
            kind=values["kind"], assessments=_unscheduled_assessments(form),
            note=values["note"] or None, actor=actor, now=now,
        )
        return redirect(request, subject_url(study, subject_id), notice="unscheduled",
                        visit=outcome.visit.code)

    return submit(request, db, actor, FormPage("unscheduled.html", context), change)
