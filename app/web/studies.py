"""Study pages: the list, one protocol's schedule and enrolment, and the enrolment form."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.errors import InvalidRequest
from app.schedule.dates import local_today
from app.schedule.expand import AnchorDate
from app.schedule.names import CODE_PATTERN
from app.schedule.plan import VisitDef
from app.services import exports
from app.services.studies import StudyProtocol, describe_study, list_studies
from app.services.subjects.enrolment import enrol
from app.services.subjects.listing import list_subjects
from app.web.deps import CheckedForm, Code, NowDep, WebActor, WebDb, field
from app.web.forms import FormPage, parse_date, submit
from app.web.rendering import WebRoute, redirect, render
from app.web.subjects import subject_url

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_CODE = re.compile(CODE_PATTERN)
SUBJECTS_PAGE = 100


def window_text(visit: VisitDef) -> str:
    """"±2 days", "−1/+3 days" or "exact" (the window around the target date); "none"
    for a visit the protocol gives no window ("none, due 3 days" with a horizon)."""
    before, after = visit.before_days, visit.after_days
    if not visit.graded:
        if visit.due_until_next:
            return "none"
        return f"none, due {after} day{'s' if after != 1 else ''}"
    if before == after == 0:
        return "exact"
    if before == after:
        return f"±{before} day{'s' if before != 1 else ''}"
    return f"−{before}/+{after} days"


def percent(enrolled: int, target: int) -> int:
    return min(100, round(100 * enrolled / target)) if target else 0


@router.get("/studies")
def studies_page(request: Request, db: WebDb, actor: WebActor) -> Response:
    return render(request, "studies.html", {
        "nav": "studies", "studies": list_studies(db, actor=actor), "percent": percent,
    })


@router.get("/studies/{study}")
def study_page(
    request: Request, db: WebDb, actor: WebActor, study: Code,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    described = describe_study(db, code=study, actor=actor)
    subjects = list_subjects(db, study=study, actor=actor, limit=SUBJECTS_PAGE,
                             cursor=cursor or None)
    protocol = described.plan.protocol
    return render(request, "study.html", {
        "nav": "studies", "d": described, "protocol": protocol,
        "visits": described.plan.visits, "window_text": window_text,
        "progress": percent(described.enrolled, described.study.target_enrolment),
        "subjects": subjects, "paged": cursor is not None, "export_formats": EXPORT_LINKS,
    })


# The downloads the study page offers: (format, label), for the formats available.
EXPORT_LABELS = {exports.ExportFormat.CSV: "CSV (spreadsheet)",
                 exports.ExportFormat.ODM: "CDISC ODM 1.3.2 (XML)",
                 exports.ExportFormat.SDTM: "CDISC SDTM SV and TV (ZIP)",
                 exports.ExportFormat.FHIR: "HL7 FHIR R4 (JSON)"}
EXPORT_LINKS = [(f.value, EXPORT_LABELS.get(f, f.value)) for f in exports.AVAILABLE]


@router.get("/studies/{study}/exports/{format}")
def study_export(
    db: WebDb, actor: WebActor, study: Code, format: exports.ExportFormat, now: NowDep,
    site: Annotated[str | None, Query(pattern=CODE_PATTERN, max_length=40)] = None,
) -> Response:
    """The API's export, for a signed-in browser to download (audited the same way)."""
    export = exports.start_export(db, study=study, format=format, site=site, actor=actor,
                                  now=now)
    db.commit()  # the audit record stands before the download, which holds no write lock
    return StreamingResponse(export.body(db), media_type=export.media.media_type, headers={
        "Content-Disposition": f'attachment; filename="{export.filename}"',
        "Cache-Control": "no-store",
    })


def _enrol_context(described: StudyProtocol, now: datetime, **extra: Any) -> dict[str, Any]:
    anchors = [a for a in described.plan.protocol.anchors if a.name != "consent"]
    sites = described.sites
    zone = sites[0].time_zone if sites else described.plan.protocol.study.time_zone
    return {
        "nav": "studies", "d": described, "anchors": anchors, "sites": sites,
        "today": local_today(now, zone), "error": None,
        "values": {"subject_id": "", "site": sites[0].code if len(sites) == 1 else "",
                   "consent_date": "", "date_of_birth": ""},
    } | extra


@router.get("/studies/{study}/enrol")
def enrol_form(request: Request, db: WebDb, actor: WebActor, study: Code,
               now: NowDep) -> Response:
    actor.require_write()
    described = describe_study(db, code=study, actor=actor)
    return render(request, "enrol.html", _enrol_context(described, now))


@router.post("/studies/{study}/enrol")
def enrol_subject(request: Request, db: WebDb, actor: WebActor, form: CheckedForm,
                  study: Code, now: NowDep) -> Response:
    described = describe_study(db, code=study, actor=actor)
    names = [a.name for a in described.plan.protocol.anchors if a.name != "consent"]
    values = {k: field(form, k, limit=40) for k in
              ("subject_id", "site", "consent_date", "date_of_birth")}
    values |= {f"anchor_{n}": field(form, f"anchor_{n}", limit=10) for n in names}
    values |= {f"kind_{n}": field(form, f"kind_{n}", limit=10) for n in names}

    def change() -> Response:
        subject_id = values["subject_id"]
        if not _CODE.match(subject_id):
            raise InvalidRequest("Subject id: 1-40 letters, digits, _ . + - (no names)")
        anchors = {
            n: AnchorDate(parse_date(values[f"anchor_{n}"], f"{n} date"),
                          values[f"kind_{n}"] == "actual")
            for n in names if values[f"anchor_{n}"]
        }
        enrol(db, study=study, subject_id=subject_id, site=values["site"],
              consent_date=parse_date(values["consent_date"], "Consent date"),
              date_of_birth=parse_date(values["date_of_birth"], "Date of birth"),
              anchors=anchors, actor=actor, now=now)
        return redirect(request, subject_url(study, subject_id), notice="enrolled",
                        visit=subject_id)

    page = FormPage("enrol.html", _enrol_context(described, now, values=values))
    return submit(request, db, actor, page, change)
