"""CDISC ODM 1.3.2: the study's metadata (one MetaDataVersion per protocol version) and
its administrative data (the users and sites the clinical data cites).

Every visit of the protocol is a StudyEventDef ``SE.<code>`` (Type Scheduled, Category
the visit's kind: clinic, phone, inpatient ...), listed in the protocol's order in
``Protocol``; visits recorded outside the schedule share ``SE.UNSCHEDULED`` (Type
Unscheduled, repeating, keyed by their code). Each event carries the one visit form
``F.VISIT`` whose item group ``IG.VISIT`` holds the visit's dates and status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.schedule.plan import MAIN_PHASE, VisitDef
from app.schedule.status import Status
from app.services.exports.rows import ExportScope, ExportSite, ExportVersion
from app.services.exports.xml_text import tag, text

NAMESPACE = "http://www.cdisc.org/ns/odm/v1.3"
ODM_VERSION = "1.3.2"
FORM = "F.VISIT"
GROUP = "IG.VISIT"
UNSCHEDULED = "SE.UNSCHEDULED"
STATUS_LIST = "CL.VISIT.STATUS"


class DataType(StrEnum):
    DATE = "date"
    TEXT = "text"


class Item(StrEnum):
    """The items of the visit form, in the order they are written."""

    DATE = "IT.VISIT.DATE"
    TARGET = "IT.VISIT.TARGET"
    WINDOW_START = "IT.VISIT.WINDOW_START"
    WINDOW_END = "IT.VISIT.WINDOW_END"
    STATUS = "IT.VISIT.STATUS"
    REASON = "IT.VISIT.REASON"


@dataclass(frozen=True, slots=True)
class ItemSpec:
    name: str
    data_type: DataType
    description: str


ITEMS = {
    Item.DATE: ItemSpec("Visit date", DataType.DATE, "The date the visit was done"),
    Item.TARGET: ItemSpec("Target date", DataType.DATE, "The protocol's target date"),
    Item.WINDOW_START: ItemSpec("Window start", DataType.DATE,
                                "The first acceptable day of the visit's window"),
    Item.WINDOW_END: ItemSpec("Window end", DataType.DATE,
                              "The last acceptable day of the visit's window"),
    Item.STATUS: ItemSpec("Visit status", DataType.TEXT,
                          "The visit's status as of the export, at its site's local date"),
    Item.REASON: ItemSpec("Reason", DataType.TEXT,
                          "Why the visit was missed, or the reason of its last correction"),
}


def event_oid(code: str) -> str:
    return f"SE.{code}"


def version_oid(version: str) -> str:
    return f"MDV.{version}"


def study_oid(study: str) -> str:
    return f"ST.{study}"


def user_oid(name: str) -> str:
    return f"USR.{name}"


def location_oid(site: str) -> str:
    return f"LOC.{site}"


def _translated(value: str) -> str:
    return text("TranslatedText", value, {"xml:lang": "en"})


def _description(value: str) -> str:
    return tag("Description", content=_translated(value))


def global_variables(scope: ExportScope) -> str:
    return tag("GlobalVariables", content=(
        text("StudyName", scope.study) + text("StudyDescription", scope.title)
        + text("ProtocolName", scope.registry_id or scope.study)
    ))


def _event_def(visit: VisitDef) -> str:
    window = (f"window {visit.before_days} day(s) before to {visit.after_days} day(s) after"
              if visit.before_days or visit.after_days else "no window")
    phase = "" if visit.phase == MAIN_PHASE else f"; phase {visit.phase}"
    optional = "; optional" if visit.optional else ""
    return tag(
        "StudyEventDef",
        {"OID": event_oid(visit.code), "Name": visit.name, "Repeating": "No",
         "Type": "Scheduled", "Category": visit.kind},
        _description(f"{visit.timing}, {window}{phase}{optional}")
        + tag("FormRef", {"FormOID": FORM, "Mandatory": "Yes"}),
    )


def metadata_version(version: ExportVersion) -> str:
    """One protocol version as a MetaDataVersion."""
    visits = version.plan.visits
    refs = "".join(
        tag("StudyEventRef", {
            "StudyEventOID": event_oid(v.code), "OrderNumber": str(n),
            "Mandatory": "Yes" if v.phase == MAIN_PHASE and not v.optional else "No",
        })
        for n, v in enumerate(visits, 1)
    ) + tag("StudyEventRef", {"StudyEventOID": UNSCHEDULED, "OrderNumber": str(len(visits) + 1),
                              "Mandatory": "No"})
    unscheduled = tag(
        "StudyEventDef",
        {"OID": UNSCHEDULED, "Name": "Unscheduled visit", "Repeating": "Yes",
         "Type": "Unscheduled"},
        _description("A visit recorded outside the schedule (StudyEventRepeatKey: its code)")
        + tag("FormRef", {"FormOID": FORM, "Mandatory": "Yes"}),
    )
    form = tag("FormDef", {"OID": FORM, "Name": "Visit", "Repeating": "No"},
               tag("ItemGroupRef", {"ItemGroupOID": GROUP, "Mandatory": "Yes"}))
    group = tag("ItemGroupDef", {"OID": GROUP, "Name": "Visit", "Repeating": "No"}, "".join(
        tag("ItemRef", {"ItemOID": item.value, "OrderNumber": str(n), "Mandatory": "No"})
        for n, item in enumerate(Item, 1)
    ))
    items = "".join(
        tag("ItemDef", {"OID": item.value, "Name": spec.name, "DataType": spec.data_type.value},
            _description(spec.description)
            + (tag("CodeListRef", {"CodeListOID": STATUS_LIST}) if item is Item.STATUS else ""))
        for item, spec in ITEMS.items()
    )
    codes = tag("CodeList", {"OID": STATUS_LIST, "Name": "Visit status", "DataType": "text"},
                "".join(
                    tag("CodeListItem", {"CodedValue": s.value},
                        tag("Decode", content=_translated(s.value.replace("_", " "))))
                    for s in Status
                ))
    return tag(
        "MetaDataVersion",
        {"OID": version_oid(version.version), "Name": f"Protocol version {version.version}"},
        tag("Protocol", content=refs) + "".join(_event_def(v) for v in visits) + unscheduled
        + form + group + items + codes,
    )


def admin_data(
    scope: ExportScope, users: Iterable[str], sites: Iterable[ExportSite],
    versions: Iterable[ExportVersion],
) -> str:
    versions = list(versions)
    people = "".join(
        tag("User", {"OID": user_oid(name)}, text("LoginName", name)) for name in users
    )
    places = "".join(
        tag("Location", {"OID": location_oid(site.code), "Name": site.name,
                         "LocationType": "Site"},
            "".join(tag("MetaDataVersionRef", {
                "StudyOID": study_oid(scope.study), "MetaDataVersionOID": version_oid(v.version),
                "EffectiveDate": v.loaded_at.date().isoformat(),
            }) for v in versions))
        for site in sites
    )
    return tag("AdminData", {"StudyOID": study_oid(scope.study)}, people + places)
