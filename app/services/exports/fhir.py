"""The HL7 FHIR R4 export: a Bundle (type ``collection``) of the study and its subjects.

First the ResearchStudy, a Location per site in the export and a PlanDefinition per
protocol version (:mod:`.fhir_plan`); then, for each subject, a Patient that holds
nothing but the subject id (and the date of death), its ResearchSubject, and one resource
per visit of its calendar: an Encounter for a visit that happened, an Appointment for
every other one (proposed, no-show or cancelled: :data:`.fhir_base.VISIT_MAPPING`).

The JSON is written with the standard library, one ``json.dumps`` per resource, a chunk
of subjects at a time: never the whole study in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Site
from app.schedule.lifecycle import Event, EventType, end_of_follow_up
from app.services.exports.fhir_base import (
    ACT_CODE,
    ENCOUNTER_CLASS,
    JSON,
    RESEARCH_SUBJECT_STATUS,
    TARGET_EXT,
    VERSION_EXT,
    VISIT_MAPPING,
    VISIT_STATUS_EXT,
    VISIT_STATUS_SYSTEM,
    Ref,
    Resource,
    day,
    entry,
    fhir_id,
    instant,
    subject_system,
    visit_system,
)
from app.services.exports.fhir_plan import (
    location,
    location_ref,
    plan_definition,
    plan_ref,
    research_study,
    site_identifier,
    study_ref,
)
from app.services.exports.rows import (
    CHUNK_SUBJECTS,
    ExportScope,
    ExportSubject,
    ExportVisit,
    export_sites,
    export_versions,
    subject_chunks,
)


class SiteRefs:
    """References to the sites: a Location of the Bundle when the site is in the export,
    else its identifier (a subject transferred in has visits at its former site)."""

    def __init__(self, in_bundle: frozenset[str], zones: Mapping[str, str]) -> None:
        self.in_bundle = in_bundle
        self.zones = zones
        self._references: dict[str, JSON] = {}

    def reference(self, site: str) -> JSON:
        found = self._references.get(site)
        if found is None:
            found = (location_ref(site).reference(site) if site in self.in_bundle
                     else {"identifier": site_identifier(site), "display": site})
            self._references[site] = found
        return found

    def local_instant(self, site: str, on: date) -> str:
        """The start of a day at a site, as an instant."""
        zone = ZoneInfo(self.zones.get(site, "UTC"))
        return instant(datetime.combine(on, time(), tzinfo=zone))


def _dumps(resource: JSON) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def _status_extensions(visit: ExportVisit) -> list[JSON]:
    out: list[JSON] = [{"url": VISIT_STATUS_EXT, "valueCoding": {
        "system": VISIT_STATUS_SYSTEM, "code": visit.status.value}}]
    if visit.target_date is not None:
        out.append({"url": TARGET_EXT, "valueDate": day(visit.target_date)})
    return out


def _visit_code(study: str, visit: ExportVisit) -> JSON:
    return {"coding": [{"system": visit_system(study), "code": visit.code,
                        "display": visit.name}]}


def encounter(scope: ExportScope, subject: ExportSubject, visit: ExportVisit,
              sites: SiteRefs, patient: JSON) -> JSON:
    """A visit that happened, on its actual date."""
    code, display = ENCOUNTER_CLASS.get(visit.kind, ENCOUNTER_CLASS["clinic"])
    on = day(visit.actual_date) if visit.actual_date is not None else None
    resource: JSON = {
        "extension": _status_extensions(visit),
        "status": VISIT_MAPPING[visit.status].status,
        "class": {"system": ACT_CODE, "code": code, "display": display},
        "type": [_visit_code(scope.study, visit)],
        "subject": patient,
        "location": [{"location": sites.reference(visit.site)}],
    }
    if on is not None:
        resource["period"] = {"start": on, "end": on}
    return entry(Ref(Resource.ENCOUNTER.value,
                     fhir_id(scope.study, subject.subject_id, visit.code)), resource)


def appointment(scope: ExportScope, subject: ExportSubject, visit: ExportVisit,
                sites: SiteRefs, patient: JSON) -> JSON:
    """A visit that has not happened: proposed (its window as the requested period),
    a no-show (the window as its start and end), or cancelled."""
    status = VISIT_MAPPING[visit.status].status
    start = visit.window_start or visit.target_date
    end = visit.window_end or visit.target_date
    resource: JSON = {
        "extension": _status_extensions(visit),
        "status": status,
        "serviceType": [_visit_code(scope.study, visit)],
        "description": visit.name,
        "participant": [
            {"actor": patient, "status": "needs-action"},
            {"actor": sites.reference(visit.site), "status": "accepted"},
        ],
    }
    if status == "cancelled":
        resource["cancelationReason"] = {"text": visit.status.value.replace("_", " ")}
    if visit.reason:
        resource["comment"] = visit.reason
    if start is not None and end is not None:
        resource["requestedPeriod"] = [{"start": day(start), "end": day(end)}]
        if status == "noshow":  # a no-show has its slot: the window, at the site
            resource["start"] = sites.local_instant(visit.site, start)
            resource["end"] = sites.local_instant(visit.site, end + timedelta(days=1))
    elif status == "noshow":  # no date to have missed: it never had a slot
        resource["status"] = "cancelled"
        resource["cancelationReason"] = {"text": visit.status.value.replace("_", " ")}
    return entry(Ref(Resource.APPOINTMENT.value,
                     fhir_id(scope.study, subject.subject_id, visit.code)), resource)


def patient_ref(scope: ExportScope, subject: ExportSubject) -> Ref:
    return Ref("Patient", fhir_id(scope.study, subject.subject_id))


def subject_entries(scope: ExportScope, subject: ExportSubject, sites: SiteRefs) -> list[JSON]:
    """The subject's Patient, ResearchSubject, and a resource per visit."""
    identifier = {"system": subject_system(scope.study), "value": subject.subject_id}
    events = [Event(e.type, e.date, e.value) for e in subject.events]
    death = next((e.date for e in events if e.type is EventType.DEATH), None)
    patient: JSON = {"identifier": [identifier]}
    if death is not None:
        patient["deceasedDateTime"] = day(death)
    period = {"start": day(subject.consent_date)}
    ended = end_of_follow_up(events)
    if ended is not None:
        period["end"] = day(ended.date)
    research_subject = {
        "extension": [{"url": VERSION_EXT, "valueReference": plan_ref(
            scope, subject.protocol_version).reference(subject.protocol_version)}],
        "identifier": [identifier],
        "status": RESEARCH_SUBJECT_STATUS[subject.lifecycle],
        "period": period,
        "study": study_ref(scope).reference(scope.study),
        "individual": patient_ref(scope, subject).reference(subject.subject_id),
    }
    out = [
        entry(patient_ref(scope, subject), patient),
        entry(Ref("ResearchSubject", fhir_id(scope.study, subject.subject_id)),
              research_subject),
    ]
    reference = patient_ref(scope, subject).reference()
    for visit in subject.visits:
        if VISIT_MAPPING[visit.status].resource is Resource.ENCOUNTER:
            out.append(encounter(scope, subject, visit, sites, reference))
        else:
            out.append(appointment(scope, subject, visit, sites, reference))
    return out


def fhir_pieces(
    session: Session, scope: ExportScope, *, chunk: int = CHUNK_SUBJECTS
) -> Iterator[str]:
    """The Bundle, a piece at a time: its head and the study's resources, then a chunk of
    ``chunk`` subjects per piece."""
    versions = export_versions(session, scope)
    sites = export_sites(session, scope)
    zones = dict(session.execute(select(Site.code, Site.time_zone)).tuples().all())
    refs = SiteRefs(frozenset(s.code for s in sites), zones)
    stamp = scope.now.astimezone(UTC)
    head = {
        "resourceType": "Bundle",
        "id": fhir_id(scope.study, scope.site or "all", f"{stamp:%Y%m%dT%H%M%SZ}"),
        "meta": {"lastUpdated": instant(scope.now)},
        "type": "collection",
        "timestamp": instant(scope.now),
    }
    study = [research_study(scope, versions, sites), *(location(s) for s in sites),
             *(plan_definition(scope, v) for v in versions)]
    yield (_dumps(head)[:-1] + ',"entry":[\n'
           + ",\n".join(_dumps(e) for e in study))
    for subjects in subject_chunks(session, scope, with_events=True, chunk=chunk):
        yield "".join(",\n" + _dumps(e) for s in subjects
                      for e in subject_entries(scope, s, refs))
    yield "\n]}\n"


def write_fhir(session: Session, scope: ExportScope) -> Iterator[bytes]:
    for piece in fhir_pieces(session, scope):
        yield piece.encode("utf-8")
