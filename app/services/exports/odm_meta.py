"""CDISC ODM 1.3.2: the study's metadata (one MetaDataVersion per protocol version) and
its administrative data (the users and sites the clinical data cites).

Every visit of the protocol is a StudyEventDef ``SE.<code>`` (Type Scheduled, Category
the visit's kind: clinic, phone, inpatient ...), listed in the protocol's order in
``Protocol``; visits recorded outside the schedule share ``SE.UNSCHEDULED`` (Type
Unscheduled, repeating, keyed by their code). Each event carries the one visit form
``F.VISIT`` whose item group ``IG.VISIT`` holds the visit's dates and status. The
subject's lifecycle events share ``SE.LIFECYCLE`` (Type Common, repeating, keyed by the
event's number) with the form ``F.EVENT``: type, date, value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.schedule.lifecycle import EventType
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
LIFECYCLE = "SE.LIFECYCLE"
EVENT_FORM = "F.EVENT"
EVENT_GROUP = "IG.EVENT"
EVENT_LIST = "CL.EVENT.TYPE"


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


class EventItem(StrEnum):
    """The items of the lifecycle event form, in the order they are written."""

    TYPE = "IT.EVENT.TYPE"
    DATE = "IT.EVENT.DATE"
    VALUE = "IT.EVENT.VALUE"


@dataclass(frozen=True, slots=True)
class ItemSpec:
    name: str
    data_type: DataType
    description: str
    codes: str | None = None  # the OID of its code list


ITEMS = {
    Item.DATE: ItemSpec("Visit date", DataType.DATE, "The date the visit was done"),
    Item.TARGET: ItemSpec("Target date", DataType.DATE, "The protocol's target date"),
    Item.WINDOW_START: ItemSpec("Window start", DataType.DATE,
                                "The first acceptable day of the visit's window"),
    Item.WINDOW_END: ItemSpec("Window end", DataType.DATE,
                              "The last acceptable day of the visit's window"),
    Item.STATUS: ItemSpec("Visit status", DataType.TEXT,
                          "The visit's status as of the export, at its site's local date",
                          STATUS_LIST),
    Item.REASON: ItemSpec("Reason", DataType.TEXT,
                          "Why the visit was missed, or the reason of its last correction"),
}
EVENT_ITEMS = {
    EventItem.TYPE: ItemSpec("Event type", DataType.TEXT, "What happened", EVENT_LIST),
    EventItem.DATE: ItemSpec("Event date", DataType.DATE, "The date it happened"),
    EventItem.VALUE: ItemSpec("Event value", DataType.TEXT,
                              "The response (CR ...), the destination site of a transfer,"
                              " or the version of the consent signed again"),
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
    if not visit.graded:  # window: none, never graded
        window = ("no window, due until the next visit" if visit.due_until_next
                  else f"no window, due for {visit.after_days} day(s)")
    phase = "" if visit.phase == MAIN_PHASE else f"; phase {visit.phase}"
    optional = "; optional" if visit.optional else ""
    return tag(
        "StudyEventDef",
        {"OID": event_oid(visit.code), "Name": visit.name, "Repeating": "No",
         "Type": "Scheduled", "Category": visit.kind},
        _description(f"{visit.timing}, {window}{phase}{optional}")
        + tag("FormRef", {"FormOID": FORM, "Mandatory": "Yes"}),
    )


def _codes(oid: str, name: str, values: Iterable[str]) -> str:
    return tag("CodeList", {"OID": oid, "Name": name, "DataType": "text"}, "".join(
        tag("CodeListItem", {"CodedValue": value},
            tag("Decode", content=_translated(value.replace("_", " "))))
        for value in values
    ))


def _item_defs(items: Iterable[tuple[str, ItemSpec]]) -> str:
    return "".join(
        tag("ItemDef", {"OID": oid, "Name": spec.name, "DataType": spec.data_type.value},
            _description(spec.description)
            + (tag("CodeListRef", {"CodeListOID": spec.codes}) if spec.codes else ""))
        for oid, spec in items
    )


def _group(oid: str, name: str, items: Iterable[str]) -> str:
    return tag("ItemGroupDef", {"OID": oid, "Name": name, "Repeating": "No"}, "".join(
        tag("ItemRef", {"ItemOID": item, "OrderNumber": str(n), "Mandatory": "No"})
        for n, item in enumerate(items, 1)
    ))


def metadata_version(version: ExportVersion) -> str:
    """One protocol version as a MetaDataVersion."""
    visits = version.plan.visits
    refs = "".join(
        tag("StudyEventRef", {
            "StudyEventOID": event_oid(v.code), "OrderNumber": str(n),
            "Mandatory": "Yes" if v.phase == MAIN_PHASE and not v.optional else "No",
        })
        for n, v in enumerate(visits, 1)
    ) + "".join(
        tag("StudyEventRef", {"StudyEventOID": oid, "OrderNumber": str(len(visits) + n),
                              "Mandatory": "No"})
        for n, oid in enumerate((UNSCHEDULED, LIFECYCLE), 1)
    )
    unscheduled = tag(
        "StudyEventDef",
        {"OID": UNSCHEDULED, "Name": "Unscheduled visit", "Repeating": "Yes",
         "Type": "Unscheduled"},
        _description("A visit recorded outside the schedule (StudyEventRepeatKey: its code)")
        + tag("FormRef", {"FormOID": FORM, "Mandatory": "Yes"}),
    )
    lifecycle = tag(
        "StudyEventDef",
        {"OID": LIFECYCLE, "Name": "Lifecycle event", "Repeating": "Yes", "Type": "Common"},
        _description("A fact of the subject's follow-up: response, progression, transfer,"
                     " re-consent, death, withdrawal ... (StudyEventRepeatKey: its number)")
        + tag("FormRef", {"FormOID": EVENT_FORM, "Mandatory": "Yes"}),
    )
    forms = (
        tag("FormDef", {"OID": FORM, "Name": "Visit", "Repeating": "No"},
            tag("ItemGroupRef", {"ItemGroupOID": GROUP, "Mandatory": "Yes"}))
        + tag("FormDef", {"OID": EVENT_FORM, "Name": "Lifecycle event", "Repeating": "No"},
              tag("ItemGroupRef", {"ItemGroupOID": EVENT_GROUP, "Mandatory": "Yes"}))
    )
    groups = (_group(GROUP, "Visit", [i.value for i in Item])
              + _group(EVENT_GROUP, "Lifecycle event", [i.value for i in EventItem]))
    items = _item_defs((i.value, spec) for i, spec in ITEMS.items()) + _item_defs(
        (i.value, spec) for i, spec in EVENT_ITEMS.items())
    codes = (_codes(STATUS_LIST, "Visit status", (s.value for s in Status))
             + _codes(EVENT_LIST, "Lifecycle event type", (t.value for t in EventType)))
    return tag(
        "MetaDataVersion",
        {"OID": version_oid(version.version), "Name": f"Protocol version {version.version}"},
        tag("Protocol", content=refs) + "".join(_event_def(v) for v in visits) + unscheduled
        + lifecycle + forms + groups + items + codes,
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
