"""HL7 FHIR R4: what every resource of the export shares (pure: no database).

- the service's own names (code systems, identifier systems, extensions), all under the
  ``urn:followup:fhir:`` namespace, and the HL7 ones the export uses;
- resource ids (``[A-Za-z0-9.-]{1,64}``) and deterministic ``urn:uuid:`` full URLs, so
  that two exports of the same data are the same document, and references between the
  entries of the Bundle resolve inside it;
- how our visit statuses become ``Encounter.status`` or ``Appointment.status``, and a
  subject's lifecycle ``ResearchSubject.status``;
- dates and durations as FHIR writes them.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from app.schedule.lifecycle import Lifecycle
from app.schedule.status import Status

JSON = dict[str, Any]

OURS = "urn:followup:fhir:"
VISIT_STATUS_SYSTEM = f"{OURS}visit-status"
STUDY_SYSTEM = f"{OURS}study"
SITE_SYSTEM = f"{OURS}site"
VISIT_STATUS_EXT = f"{OURS}visit-status"
TARGET_EXT = f"{OURS}target-date"
WINDOW_EXT = f"{OURS}visit-window"
VERSION_EXT = f"{OURS}protocol-version"
# The HL7 Clinical Study Schedule of Activities IG (STU1, on R4): the acceptable range of
# a visit's offset from the action it is timed from.
ACCEPTABLE_RANGE_EXT = (
    "http://hl7.org/fhir/uv/vulcan-schedule/StructureDefinition/AcceptableOffsetRangeSoa"
)
CLINICALTRIALS_GOV = "https://clinicaltrials.gov"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PLAN_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"

_ID = re.compile(r"[A-Za-z0-9.\-]{1,64}")
_UUIDS = uuid.UUID("5d1f0b6e-1b7c-4f0e-9a55-6f6c6c6f7775")  # the namespace of our full URLs
_NAMESPACE = _UUIDS.bytes


def subject_system(study: str) -> str:
    """The identifier system of a study's subject ids."""
    return f"{OURS}{study}:subject"


def visit_system(study: str) -> str:
    """The code system of a study's visit codes."""
    return f"{OURS}{study}:visit"


def fhir_id(*parts: str) -> str:
    """A resource id from our keys: them joined by dots when FHIR allows it, else a hash."""
    joined = ".".join(parts)
    if _ID.fullmatch(joined):
        return joined
    return "h." + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Ref:
    """A resource of the Bundle: its type and id, its full URL, a reference to it."""

    type: str
    id: str

    @property
    def full_url(self) -> str:
        return f"urn:uuid:{uuid5(f'{self.type}/{self.id}')}"

    def reference(self, display: str | None = None) -> JSON:
        out: JSON = {"reference": self.full_url}
        if display:
            out["display"] = display
        return out


def uuid5(name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` in our namespace, without building UUID objects
    (several per visit in a big export: the hot path)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def entry(ref: Ref, resource: JSON) -> JSON:
    """A Bundle entry: the resource with its type and id first."""
    return {"fullUrl": ref.full_url,
            "resource": {"resourceType": ref.type, "id": ref.id, **resource}}


def instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def day(value: date) -> str:
    return value.isoformat()


class Unit(StrEnum):
    """UCUM units of time the schedule uses."""

    DAY = "d"
    MONTH = "mo"


UNIT_NAMES = {Unit.DAY: "days", Unit.MONTH: "months"}


def duration(value: int, unit: Unit) -> JSON:
    return {"value": value, "unit": UNIT_NAMES[unit], "system": UCUM, "code": unit.value}


def days_range(low: int, high: int) -> JSON:
    return {"low": duration(low, Unit.DAY), "high": duration(high, Unit.DAY)}


class Resource(StrEnum):
    """Which resource a visit of a subject's calendar becomes."""

    ENCOUNTER = "Encounter"
    APPOINTMENT = "Appointment"


@dataclass(frozen=True, slots=True)
class VisitMapping:
    resource: Resource
    status: str  # Encounter.status or Appointment.status


_FINISHED = VisitMapping(Resource.ENCOUNTER, "finished")
_PROPOSED = VisitMapping(Resource.APPOINTMENT, "proposed")
_NOSHOW = VisitMapping(Resource.APPOINTMENT, "noshow")
_CANCELLED = VisitMapping(Resource.APPOINTMENT, "cancelled")

# A visit that happened is an Encounter; every other visit an Appointment, proposed while
# it may still happen (its date is a window of days, never a booked instant).
VISIT_MAPPING: dict[Status, VisitMapping] = {
    Status.COMPLETED: _FINISHED,
    Status.COMPLETED_OUT_OF_WINDOW: _FINISHED,
    Status.SCHEDULED: _PROPOSED,
    Status.UPCOMING: _PROPOSED,
    Status.DUE: _PROPOSED,
    Status.OVERDUE: _PROPOSED,
    Status.PENDING: _PROPOSED,
    Status.MISSED: _NOSHOW,
    Status.MISSED_UNDOCUMENTED: _NOSHOW,
    Status.CANCELLED: _CANCELLED,
    Status.NOT_APPLICABLE: _CANCELLED,
}

RESEARCH_SUBJECT_STATUS: dict[Lifecycle, str] = {
    Lifecycle.ACTIVE: "on-study",
    Lifecycle.DIED: "off-study",
    Lifecycle.WITHDRAWN: "withdrawn",
    Lifecycle.LOST_TO_FOLLOW_UP: "off-study",
    Lifecycle.SCREEN_FAILED: "ineligible",
    Lifecycle.COMPLETED: "off-study",
}

# Encounter.class (v3 ActCode) of each kind of visit.
ENCOUNTER_CLASS: dict[str, tuple[str, str]] = {
    "clinic": ("AMB", "ambulatory"),
    "procedure": ("AMB", "ambulatory"),
    "inpatient": ("IMP", "inpatient encounter"),
    "phone": ("VR", "virtual"),
    "home": ("HH", "home health"),
}
