"""The CDISC ODM 1.3.2 export: a Snapshot document of the study and its data.

``Study`` holds one ``MetaDataVersion`` per protocol version (:mod:`.odm_meta`),
``AdminData`` the users and sites the data cites, then one ``ClinicalData`` per protocol
version with the subjects enrolled on it: ``SubjectData`` (its enrolment as an
``AuditRecord``, its current site as ``SiteRef``), one ``StudyEventData`` per visit
(the latest change of the visit as an ``AuditRecord``: who, when, where, and the reason
of a correction), and the visit's dates and status as ``ItemData`` of the visit form;
then one ``StudyEventData`` of ``SE.LIFECYCLE`` per lifecycle event (type, date, value).
Written piece by piece, a chunk of subjects at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from itertools import chain

from sqlalchemy.orm import Session

from app.services.exports.odm_meta import (
    EVENT_FORM,
    EVENT_GROUP,
    FORM,
    GROUP,
    LIFECYCLE,
    NAMESPACE,
    ODM_VERSION,
    UNSCHEDULED,
    EventItem,
    Item,
    admin_data,
    event_oid,
    global_variables,
    location_oid,
    metadata_version,
    study_oid,
    user_oid,
    version_oid,
)
from app.services.exports.rows import (
    Change,
    ExportEvent,
    ExportScope,
    ExportSubject,
    ExportVisit,
    export_sites,
    export_users,
    export_versions,
    subject_chunks,
)
from app.services.exports.xml_text import attr, open_tag, tag, text

SOURCE_SYSTEM = "followup"
SOURCE_VERSION = "0.1.0"


def stamp(at: datetime) -> str:
    """An ISO 8601 instant in UTC (ODM's datetime)."""
    return at.astimezone(UTC).isoformat(timespec="seconds")


def audit_record(change: Change, fallback_site: str, sites: frozenset[str]) -> str:
    site = change.site if change.site in sites else fallback_site
    reason = text("ReasonForChange", change.reason) if change.reason else ""
    return tag("AuditRecord", content=(
        tag("UserRef", {"UserOID": user_oid(change.actor)})
        + tag("LocationRef", {"LocationOID": location_oid(site)})
        + text("DateTimeStamp", stamp(change.at)) + reason
    ))


def _item(oid: Item | EventItem, value: str | date | None) -> str:
    """One ItemData (the hot path of a big export: written as a plain string)."""
    if value is None:
        return ""
    shown = value.isoformat() if isinstance(value, date) else attr(value)
    return f'<ItemData ItemOID="{oid.value}" Value="{shown}"/>'


def visit_data(visit: ExportVisit, *, scheduled: frozenset[str], subject_site: str,
               sites: frozenset[str]) -> str:
    if visit.unscheduled or visit.code not in scheduled:
        attrs = {"StudyEventOID": UNSCHEDULED, "StudyEventRepeatKey": visit.code}
    else:
        attrs = {"StudyEventOID": event_oid(visit.code)}
    items = (
        _item(Item.DATE, visit.actual_date) + _item(Item.TARGET, visit.target_date)
        + _item(Item.WINDOW_START, visit.window_start) + _item(Item.WINDOW_END, visit.window_end)
        + _item(Item.STATUS, visit.status.value) + _item(Item.REASON, visit.reason)
    )
    audit = "" if visit.change is None else audit_record(
        visit.change, visit.site if visit.site in sites else subject_site, sites)
    return tag("StudyEventData", attrs, audit + tag(
        "FormData", {"FormOID": FORM}, tag("ItemGroupData", {"ItemGroupOID": GROUP}, items)
    ))


def event_data(event: ExportEvent) -> str:
    items = (
        tag("ItemData", {"ItemOID": EventItem.TYPE.value, "Value": event.type.value})
        + _item(EventItem.DATE, event.date) + _item(EventItem.VALUE, event.value)
    )
    return tag("StudyEventData", {"StudyEventOID": LIFECYCLE,
                                  "StudyEventRepeatKey": str(event.id)},
               tag("FormData", {"FormOID": EVENT_FORM},
                   tag("ItemGroupData", {"ItemGroupOID": EVENT_GROUP}, items)))


def subject_data(subject: ExportSubject, *, scheduled: frozenset[str],
                 sites: frozenset[str]) -> str:
    audit = "" if subject.enrolment is None else audit_record(
        subject.enrolment, subject.site, sites)
    return tag("SubjectData", {"SubjectKey": subject.subject_id}, (
        audit + tag("SiteRef", {"LocationOID": location_oid(subject.site)})
        + "".join(visit_data(v, scheduled=scheduled, subject_site=subject.site, sites=sites)
                  for v in subject.visits)
        + "".join(event_data(e) for e in subject.events)
    ))


def odm_lines(session: Session, scope: ExportScope) -> Iterator[str]:
    """The document, a piece at a time: the header and metadata, then a chunk of subjects
    per piece."""
    versions = export_versions(session, scope)
    sites = export_sites(session, scope)
    users = export_users(session, scope)
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + open_tag("ODM", {
            "xmlns": NAMESPACE, "FileType": "Snapshot", "Granularity": "All",
            "FileOID": f"{SOURCE_SYSTEM}.{scope.study}.{scope.now.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            "CreationDateTime": stamp(scope.now), "AsOfDateTime": stamp(scope.now),
            "ODMVersion": ODM_VERSION, "SourceSystem": SOURCE_SYSTEM,
            "SourceSystemVersion": SOURCE_VERSION,
        })
        + "\n"
        + tag("Study", {"OID": study_oid(scope.study)},
              global_variables(scope) + "".join(metadata_version(v) for v in versions))
        + "\n" + admin_data(scope, users, sites, versions) + "\n"
    )
    codes = frozenset(s.code for s in sites)
    for version in versions:
        chunks = subject_chunks(session, scope, version_id=version.id, with_audit=True)
        first = next(chunks, None)
        if first is None:
            continue
        scheduled = frozenset(v.code for v in version.plan.visits)
        yield open_tag("ClinicalData", {"StudyOID": study_oid(scope.study),
                                        "MetaDataVersionOID": version_oid(version.version)}) + "\n"
        for subjects in chain([first], chunks):
            yield "".join(subject_data(s, scheduled=scheduled, sites=codes) + "\n"
                          for s in subjects)
        yield "</ClinicalData>\n"
    yield "</ODM>\n"


def write_odm(session: Session, scope: ExportScope) -> Iterator[bytes]:
    for piece in odm_lines(session, scope):
        yield piece.encode("utf-8")
